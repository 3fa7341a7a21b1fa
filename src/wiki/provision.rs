//! Creating, importing into and deleting wikis. Creation is all-or-nothing: the bare
//! repository is built and filled from the bootstrap template in a temporary directory,
//! the row inserted in a transaction, and the directory renamed into place before the
//! transaction commits. Any failure removes what was made, so a retry starts clean.

use std::path::Path;

use crate::db::Db;
use crate::db::wikis::{self, NewWiki, Wiki};
use crate::error::{Error, Result};

use super::Wikis;
use super::names::PageName;
use super::store::{self, Author, Change};

/// The pages every new wiki starts with, as (file path, template text).
const BOOTSTRAP: &[(&str, &str)] = &[
    ("home.md", include_str!("../../assets/bootstrap/home.md")),
    (
        "getting started.md",
        include_str!("../../assets/bootstrap/getting started.md"),
    ),
    (
        "agent guide.md",
        include_str!("../../assets/bootstrap/agent guide.md"),
    ),
    (
        "administration.md",
        include_str!("../../assets/bootstrap/administration.md"),
    ),
    (
        "syntax.md",
        include_str!("../../assets/bootstrap/syntax.md"),
    ),
];

/// The Agent Guide, unfilled: used as the MCP server's instructions.
pub const AGENT_GUIDE: &str = include_str!("../../assets/bootstrap/agent guide.md");

pub struct CreateWiki<'a> {
    pub slug: &'a str,
    pub owner_did: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub is_public: bool,
}

impl Wikis {
    /// Creates a wiki: validated slug, database row, bare repository with the bootstrap
    /// template as its first commit. Nothing is left behind on failure.
    pub fn create_wiki(&self, req: &CreateWiki) -> Result<Wiki> {
        let slug = super::slug::validate(req.slug)?;
        let title = if req.title.trim().is_empty() {
            slug.clone()
        } else {
            req.title.trim().to_string()
        };
        if title.len() > 100 {
            return Err(Error::Invalid(
                "title must be at most 100 characters".into(),
            ));
        }
        if req.description.len() > 500 {
            return Err(Error::Invalid(
                "description must be at most 500 characters".into(),
            ));
        }
        let cfg = self.config();
        let final_dir = cfg.wikis_dir().join(&slug);
        if final_dir.exists() {
            return Err(Error::Conflict {
                message: format!(
                    "a wiki named {slug:?} already exists (or its directory is still on disk)"
                ),
                current: None,
            });
        }
        std::fs::create_dir_all(cfg.wikis_dir())?;
        let tmp = tempdir_in(&cfg.wikis_dir(), &slug)?;
        let result = (|| -> Result<Wiki> {
            let repo = store::init(&tmp.join("repo.git"))?;
            let vars = [
                ("{{wiki_title}}", title.clone()),
                ("{{wiki_url}}", cfg.wiki_url(&slug)),
                ("{{mcp_url}}", format!("{}/mcp", cfg.wiki_url(&slug))),
                ("{{clone_url}}", format!("{}/repo.git", cfg.wiki_url(&slug))),
                ("{{app_url}}", format!("{}/app", cfg.root_url())),
                ("{{slug}}", slug.clone()),
            ];
            let changes: Vec<Change> = BOOTSTRAP
                .iter()
                .map(|(path, text)| {
                    let filled = vars
                        .iter()
                        .fold(text.to_string(), |t, (k, v)| t.replace(k, v));
                    Change::Write {
                        path: path.to_string(),
                        content: filled.into_bytes(),
                    }
                })
                .collect();
            store::commit(&repo, None, &changes, &Author::robot(), "Initial commit")?;
            drop(repo);
            let mut conn = self.db().conn()?;
            let tx = conn.transaction()?;
            let wiki = wikis::insert(
                &tx,
                &NewWiki {
                    slug: &slug,
                    owner_did: req.owner_did,
                    title: &title,
                    description: req.description,
                    is_public: req.is_public,
                },
            )?;
            std::fs::rename(&tmp, &final_dir)?;
            if let Err(e) = tx.commit() {
                let _ = std::fs::remove_dir_all(&final_dir);
                return Err(e.into());
            }
            Ok(wiki)
        })();
        if tmp.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        let wiki = result?;
        self.reconcile(&wiki)?;
        tracing::info!(slug = %wiki.slug, owner = %wiki.owner_did, "wiki created");
        Ok(wiki)
    }

    /// Commits every file under `dir` (Markdown pages and their attachments) in one commit.
    /// Page file names go through the same validation as names typed in the editor.
    pub fn import_dir(
        &self,
        wiki: &Wiki,
        author: &Author,
        dir: &Path,
        message: &str,
    ) -> Result<(String, usize)> {
        let mut changes = Vec::new();
        let mut pages = 0;
        for entry in walk(dir)? {
            let rel = entry
                .strip_prefix(dir)
                .map_err(|e| Error::Internal(e.into()))?;
            let rel = rel
                .to_str()
                .ok_or_else(|| Error::BadRequest(format!("{} is not UTF-8", rel.display())))?;
            if rel.split('/').any(|s| s.starts_with('.')) {
                continue; // .git and other dot-files are not wiki content
            }
            let content = std::fs::read(&entry)?;
            let path = if rel.ends_with(".md") {
                pages += 1;
                PageName::parse(rel.trim_end_matches(".md"))?.file_path()
            } else {
                rel.to_string()
            };
            changes.push(Change::Write { path, content });
        }
        self.write(wiki, |repo, snap| {
        let bytes: u64 = changes
            .iter()
            .map(|c| match c {
                Change::Write { content, .. } => content.len() as u64,
                _ => 0,
            })
            .sum();
        let new_pages = changes
            .iter()
            .filter(|c| matches!(c, Change::Write { path, .. } if path.ends_with(".md") && !snap.has_page(path)))
            .count();
        self.check_limits(snap, new_pages, bytes, 0)?;
        let commit = store::commit(repo, snap.head, &changes, author, message)?;
        Ok((commit.to_string(), pages))
        })
    }

    /// Deletes a wiki: its row (collaborators and index rows follow) and its directory.
    pub fn delete_wiki(&self, wiki: &Wiki) -> Result<()> {
        self.inner.indexer.deleted(wiki.id)?;
        let conn = self.db().conn()?;
        wikis::delete(&conn, wiki.id)?;
        self.forget(wiki.id);
        let dir = self.config().wikis_dir().join(&wiki.slug);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        tracing::info!(slug = %wiki.slug, "wiki deleted");
        Ok(())
    }
}

/// Reconciles every wiki's derived indexes with its repository (run at start).
pub fn reconcile_all(wikis: &Wikis, db: &Db) -> Result<()> {
    let all = wikis::list(&*db.conn()?)?;
    for wiki in all {
        // A process killed while moving a branch leaves its lock, which would refuse every
        // later write on that wiki.
        store::remove_stale_locks(&wikis.repo_path(&wiki.slug), std::time::Duration::ZERO);
        // And a push killed the same way leaves its quarantined objects.
        super::push::remove_quarantines(&wikis.repo_path(&wiki.slug));
        match wikis.reconcile(&wiki) {
            Ok(0) => {}
            Ok(n) => tracing::info!(slug = %wiki.slug, pages = n, "full-text index caught up"),
            Err(e) => {
                tracing::error!(slug = %wiki.slug, error = %e, "reconciling the index failed")
            }
        }
    }
    Ok(())
}

fn tempdir_in(parent: &Path, slug: &str) -> Result<std::path::PathBuf> {
    let dir = parent.join(format!(".tmp-{slug}-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn walk(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}
