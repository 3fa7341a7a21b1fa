//! Search as every surface calls it, in three modes: full text (BM25), by meaning
//! (semantic) and both fused (hybrid). Without the embedding model, a search by meaning
//! or hybrid search answers with full-text results and a notice saying why — on every
//! surface — rather than an error. Queries are held to `search::query`'s limits inside
//! each mode.

use crate::access::{Action, Caller};
use crate::db::wikis::Wiki;
use crate::error::{Error, Result};
use crate::search::semantic::{IndexStatus, SemanticHit};
use crate::wiki::markdown::html_escape_text;
use crate::wiki::names::PageName;

use super::Services;

/// How to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Text,
    Semantic,
    Hybrid,
}

impl Mode {
    /// `text`, `semantic` or `hybrid`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "text" => Some(Mode::Text),
            "semantic" => Some(Mode::Semantic),
            "hybrid" => Some(Mode::Hybrid),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Text => "text",
            Mode::Semantic => "semantic",
            Mode::Hybrid => "hybrid",
        }
    }

    /// The mode when none is asked for: hybrid while search by meaning is on.
    pub fn default_for(s: &Services) -> Mode {
        if s.semantic.enabled() {
            Mode::Hybrid
        } else {
            Mode::Text
        }
    }
}

/// One page found.
#[derive(Debug, Clone)]
pub struct Found {
    pub name: PageName,
    /// As stored (`folder/page.md`).
    pub file: String,
    /// The page's display title.
    pub title: String,
    pub snippet: String,
    /// Escaped, with `<mark>` around full-text matches.
    pub snippet_html: String,
    /// Higher is better; comparable only within one search.
    pub score: f64,
    /// How it was found, for people: "matches words", a section and similarity...
    pub how: String,
}

/// A search's answer.
#[derive(Debug, Clone)]
pub struct Results {
    /// The mode that answered (full text when the one asked for is off).
    pub mode: Mode,
    /// Why the mode asked for did not answer, when it did not.
    pub notice: Option<String>,
    pub hits: Vec<Found>,
    /// Matches in all (more than `hits` when paged).
    pub total: usize,
}

/// Searches the wiki. `limit` and `offset` page through the results.
pub async fn search(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    query: String,
    mode: Mode,
    limit: usize,
    offset: usize,
) -> Result<Results> {
    if query.trim().is_empty() {
        return Err(Error::Invalid("Missing required parameter: q".into()));
    }
    let semantic = s.semantic.clone();
    let (mode, notice) = match mode {
        Mode::Semantic | Mode::Hybrid if !semantic.enabled() => (
            Mode::Text,
            Some(format!(
                "Search by meaning is off on this server, so these are full-text results. ({})",
                semantic.off_reason().unwrap_or("no embedding model")
            )),
        ),
        m => (m, None),
    };
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        let snap = w.snapshot(wiki)?;
        let page = |file: &str| match snap.page(file) {
            Some(e) => (e.name.clone(), e.title.clone()),
            None => {
                let name = PageName::from_path(file);
                let title = name.to_string();
                (name, title)
            }
        };
        let (hits, total) = match mode {
            Mode::Text => {
                let (hits, total) =
                    crate::search::fts::search_wiki(w, wiki, &query, limit, offset)?;
                let found = hits
                    .into_iter()
                    .map(|h| {
                        let (name, title) = page(&h.path);
                        Found {
                            name,
                            title,
                            score: ((-h.rank) * 100.0).round() / 100.0,
                            file: h.path,
                            snippet: h.snippet,
                            snippet_html: h.snippet_html,
                            how: String::new(),
                        }
                    })
                    .collect();
                (found, total)
            }
            Mode::Hybrid => {
                let all = semantic.hybrid(wiki, &query)?;
                let total = all.len();
                let found = all
                    .into_iter()
                    .skip(offset)
                    .take(limit)
                    .map(|h| {
                        let (name, title) = page(&h.file);
                        let how = match (h.found_by.text, h.found_by.meaning) {
                            (true, true) => "matches words and meaning",
                            (true, false) => "matches words",
                            _ => "matches meaning",
                        };
                        Found {
                            name,
                            title,
                            score: h.score,
                            file: h.file,
                            snippet: h.snippet,
                            snippet_html: h.snippet_html,
                            how: how.into(),
                        }
                    })
                    .collect();
                (found, total)
            }
            Mode::Semantic => {
                // One passage a page, the nearest: a page list like the other modes.
                let all = semantic.search(wiki, &query, 50, 1)?;
                let total = all.len();
                let found = all
                    .into_iter()
                    .skip(offset)
                    .take(limit)
                    .map(|h| {
                        let (name, title) = page(&h.file);
                        Found {
                            name,
                            title,
                            score: f64::from(1.0 - h.distance),
                            how: format!("{} · similarity {:.2}", h.section_path, 1.0 - h.distance),
                            snippet_html: html_escape_text(&h.snippet),
                            snippet: h.snippet,
                            file: h.file,
                        }
                    })
                    .collect();
                (found, total)
            }
        };
        Ok(Results {
            mode,
            notice,
            hits,
            total,
        })
    })
    .await
}

/// The passages closest in meaning to `query`: at most `n`, `per_page` from one page.
/// Without the model this is an error saying why (the modes above fall back instead).
pub async fn passages(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    query: String,
    n: usize,
    per_page: usize,
) -> Result<Vec<SemanticHit>> {
    let semantic = s.semantic.clone();
    s.run(caller, wiki, Action::Read, move |_, wiki, _| {
        semantic.search(wiki, &query, n, per_page)
    })
    .await
}

/// How far the wiki's vector index is from HEAD.
pub async fn index_status(s: &Services, caller: &Caller, wiki: &Wiki) -> Result<IndexStatus> {
    let semantic = s.semantic.clone();
    s.run(caller, wiki, Action::Read, move |_, wiki, _| {
        semantic.status(wiki)
    })
    .await
}

/// Queues every page of the wiki for re-embedding (a write: it costs the worker's time);
/// returns how many pages were queued.
pub async fn reindex(s: &Services, caller: &Caller, wiki: &Wiki) -> Result<usize> {
    let semantic = s.semantic.clone();
    s.run(caller, wiki, Action::Write, move |_, wiki, _| {
        semantic.request_reindex(wiki)
    })
    .await
}
