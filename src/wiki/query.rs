//! Operations the REST API and MCP share beyond plain reads and saves: the page list
//! with its metadata and filters, and the edit that replaces one unique string.

use serde::Serialize;

use super::Wikis;
use super::front_matter;
use super::names::PageName;
use super::store::{self, Author};
use crate::db::wikis::Wiki;
use crate::error::{Error, Result};

/// Which pages [`Wikis::list_pages`] returns (empty strings match everything).
#[derive(Debug, Clone, Default)]
pub struct PageFilter {
    /// Page-name prefix, case-insensitive.
    pub prefix: String,
    /// Front-matter `category`, case-insensitive.
    pub category: String,
    /// One of the front-matter `tags`, case-insensitive.
    pub tag: String,
    /// Changed at or after this time (seconds since the epoch).
    pub updated_since: Option<i64>,
}

/// A page with its metadata, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct PageSummary {
    /// `Folder/Page`.
    pub name: String,
    /// The file as stored (`folder/page.md`).
    pub file: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    /// Front matter as (key, display value), in file order.
    pub metadata: Vec<(String, String)>,
    /// When the page last changed (seconds since the epoch; 0 if unknown).
    pub updated: i64,
    /// Words of the body (front matter excluded).
    pub words: usize,
}

impl Wikis {
    /// Pages at HEAD matching `filter`, in name order.
    pub fn list_pages(&self, wiki: &Wiki, filter: &PageFilter) -> Result<Vec<PageSummary>> {
        let snap = self.snapshot(wiki)?;
        let last = self.last_changes(wiki)?;
        let repo = self.open_repo(wiki)?;
        let (prefix, category, tag) = (
            filter.prefix.to_lowercase(),
            filter.category.to_lowercase(),
            filter.tag.to_lowercase(),
        );
        let mut out = Vec::new();
        for p in snap.pages.values() {
            if !p.name.as_str().to_lowercase().starts_with(&prefix) {
                continue;
            }
            let updated = last.get(&p.path).map(|c| c.time).unwrap_or(0);
            if filter.updated_since.is_some_and(|s| updated < s) {
                continue;
            }
            let content = String::from_utf8_lossy(&store::read_blob(&repo, p.blob)?).into_owned();
            let (metadata, tags) = front_matter_of(&content);
            let cat = metadata
                .iter()
                .find(|(k, _)| k == "category")
                .map(|(_, v)| v.clone())
                .filter(|c| !c.is_empty());
            if !category.is_empty()
                && cat.as_deref().map(str::to_lowercase) != Some(category.clone())
            {
                continue;
            }
            if !tag.is_empty() && !tags.iter().any(|t| t.to_lowercase() == tag) {
                continue;
            }
            let body = front_matter::body(&content);
            out.push(PageSummary {
                name: p.name.to_string(),
                file: p.path.clone(),
                category: cat,
                tags,
                metadata,
                updated,
                words: body.split_whitespace().count(),
            });
        }
        Ok(out)
    }

    /// Replaces the one occurrence of `old` with `new`, against the revision the writer
    /// read (the page's last change). A newer version is a conflict; `old` missing or
    /// found more than once is refused. Returns the new commit.
    // The edit's parts are what the caller sent; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn edit_page(
        &self,
        wiki: &Wiki,
        author: &Author,
        name: &PageName,
        revision: &str,
        old: &str,
        new: &str,
        message: &str,
    ) -> Result<String> {
        if old.is_empty() {
            return Err(Error::Invalid("old_string must not be empty".into()));
        }
        if old == new {
            return Err(Error::Invalid(
                "old_string and new_string are identical".into(),
            ));
        }
        let page = self.read_page(wiki, name, None)?;
        let stale = || self.revision_mismatch(wiki, &page.path);
        let base = self
            .read_page(wiki, name, Some(revision))
            .map_err(|_| stale())?;
        if base.blob != page.blob {
            return Err(stale());
        }
        let content = match page.content.matches(old).count() {
            0 => {
                return Err(Error::Invalid(
                    "old_string not found in page content".into(),
                ));
            }
            1 => page.content.replacen(old, new, 1),
            n => {
                return Err(Error::Invalid(format!(
                    "old_string is ambiguous: found {n} occurrences. Provide a longer unique string."
                )));
            }
        };
        match self.save_page(wiki, author, name, &content, Some(revision), message)? {
            super::SaveOutcome::Saved { commit, .. } => Ok(commit),
            super::SaveOutcome::Conflict(_) => Err(stale()),
        }
    }

    /// The conflict a stale revision gets, naming the page's current revision.
    pub fn revision_mismatch(&self, wiki: &Wiki, path: &str) -> Error {
        Error::Conflict {
            message: "Revision mismatch: page has been modified since last read.".into(),
            current: self.last_change(wiki, path).ok().flatten().map(|c| c.id),
        }
    }
}

/// Seconds since the epoch as RFC 3339 (`2026-11-22T14:03:00Z`), as the APIs show times.
pub fn iso_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// `2026-11-22` or an RFC 3339 time, as seconds since the epoch (the APIs' date filters).
pub fn parse_date(s: &str) -> Option<i64> {
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp())
}

/// Front matter as (key, display value) pairs, and its tags (a list, or a comma-separated
/// string).
pub fn front_matter_of(content: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut pairs = Vec::new();
    let mut tags = Vec::new();
    for p in front_matter::split(content).0.properties() {
        if p.key == "tags" {
            tags = match &p.value {
                front_matter::Value::List(items) => items.clone(),
                front_matter::Value::Text(t) => {
                    t.split(',').map(|t| t.trim().to_string()).collect()
                }
            };
            tags.retain(|t| !t.is_empty());
        }
        pairs.push((p.key.clone(), p.value.display()));
    }
    (pairs, tags)
}
