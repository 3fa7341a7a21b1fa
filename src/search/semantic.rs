//! Semantic search, the service every transport calls: the embedder (or the reason it is
//! off), search by meaning over a wiki's vector index, hybrid search, reindex requests and
//! index status. Its worker (`worker.rs`) keeps the indexes current from the queue.
//!
//! Without the model, robot serves everything else; this service then answers
//! [`Error::Unavailable`] with the reason and how to turn semantic search on.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::embed::{Embed, Embedder};
use super::index::Indexes;
use super::{hybrid, queue};
use crate::db::wikis::Wiki;
use crate::error::{Error, Result};
use crate::wiki::Wikis;
use crate::wiki::names::PageName;

/// How many candidates each ranking contributes to a hybrid search.
const HYBRID_POOL: usize = 50;
/// Snippet length, as the reference (150 characters, cut at a word).
const SNIPPET_CHARS: usize = 150;

/// The semantic search service. Cheap to clone.
#[derive(Clone)]
pub struct Semantic {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) wikis: Wikis,
    pub(super) indexes: Indexes,
    pub(super) embedder: Option<Arc<dyn Embed>>,
    /// Why semantic search is off (when there is no embedder), with how to turn it on.
    pub(super) off_reason: Option<String>,
    pub(super) stats: Mutex<Stats>,
    pub(super) stop: AtomicBool,
}

/// What the worker has done since start, for health and the admin page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub pages_indexed: u64,
    pub chunks_embedded: u64,
    pub embed_seconds: f64,
    pub batches: u64,
    pub last_error: Option<String>,
    pub last_batch_at: Option<i64>,
}

/// One result of [`Semantic::search`], in the reference's shape.
#[derive(Debug, Clone, Serialize)]
pub struct SemanticHit {
    /// The page name (`Folder/Page`).
    pub name: String,
    /// The page's file path (`Folder/Page.md`); the APIs show the name here, as the
    /// reference does.
    #[serde(skip)]
    pub file: String,
    /// The full chunk, `[section path] text`.
    pub text: String,
    /// The chunk without its prefix, at most 150 characters, cut at a word.
    pub snippet: String,
    /// 1 − cosine similarity: 0 is identical.
    pub distance: f32,
    pub section: String,
    pub section_path: String,
    pub chunk_index: usize,
    pub total_chunks: usize,
    pub page_word_count: usize,
}

/// Which rankings found a hybrid result.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct FoundBy {
    pub text: bool,
    pub meaning: bool,
}

/// One result of [`Semantic::hybrid`]: a page.
#[derive(Debug, Clone, Serialize)]
pub struct HybridHit {
    pub file: String,
    pub score: f64,
    pub snippet: String,
    /// Escaped, with `<mark>` around full-text matches.
    pub snippet_html: String,
    pub found_by: FoundBy,
}

/// A wiki's index as the reindex status endpoint reports it.
#[derive(Debug, Clone, Serialize)]
pub struct IndexStatus {
    /// `off`, `in_progress`, `error`, `complete` or `idle` (never indexed, nothing queued).
    pub status: &'static str,
    pub pending: i64,
    pub failing: i64,
    pub oldest_pending_secs: i64,
    pub error_message: Option<String>,
    pub pages_indexed: usize,
    pub chunks: usize,
    pub indexed_commit: Option<String>,
    pub head: Option<String>,
    pub message: Option<String>,
}

/// Semantic search's state for `/health/ready` and the admin page.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub enabled: bool,
    pub reason: Option<String>,
    pub queue: queue::Depth,
    pub worker: Stats,
}

impl Semantic {
    /// Loads the model the configuration names, or records why semantic search is off.
    /// Never fails: without a model the rest of robot works, and says so.
    pub fn load(wikis: Wikis, indexes: Indexes) -> Semantic {
        let cfg = wikis.config();
        if !cfg.search.semantic {
            let reason = "semantic search is turned off in the configuration \
                          (search.semantic = false / ROBOT_SEMANTIC=false)"
                .to_string();
            tracing::warn!("{reason}");
            return Semantic::new(wikis, indexes, None, Some(reason));
        }
        let dir = cfg.model_dir();
        let threads = cfg.search.embed_threads.max(1);
        let d2 = dir.clone();
        // Loaded on a lowered-priority thread: ONNX Runtime's pool threads inherit it,
        // so indexing yields the CPU to HTTP when both want it.
        let loaded = std::thread::spawn(move || {
            lower_thread_priority();
            Embedder::load(&d2, threads)
        })
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the model loader panicked")));
        match loaded {
            Ok(e) => {
                tracing::info!(model_dir = %dir.display(), threads, "semantic search is on");
                Semantic::new(wikis, indexes, Some(Arc::new(e)), None)
            }
            Err(e) => {
                let reason = format!(
                    "semantic search is off: {e:#}. To turn it on, install the model with \
                     `ROBOT_DATA_DIR={} scripts/fetch-model.sh` and restart robot",
                    cfg.data_dir.display()
                );
                tracing::warn!("{reason}");
                Semantic::new(wikis, indexes, None, Some(reason))
            }
        }
    }

    /// A service with the given embedder (`None`: off, for `off_reason`).
    pub fn new(
        wikis: Wikis,
        indexes: Indexes,
        embedder: Option<Arc<dyn Embed>>,
        off_reason: Option<String>,
    ) -> Semantic {
        if let Some(model) = embedder.as_ref().and_then(|e| e.fingerprint()) {
            indexes.set_model(model);
        }
        Semantic {
            inner: Arc::new(Inner {
                wikis,
                indexes,
                embedder,
                off_reason,
                stats: Mutex::default(),
                stop: AtomicBool::new(false),
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.inner.embedder.is_some()
    }

    /// Why semantic search is off, if it is.
    pub fn off_reason(&self) -> Option<&str> {
        self.inner.off_reason.as_deref()
    }

    pub(super) fn embedder(&self) -> Result<Arc<dyn Embed>> {
        self.inner.embedder.clone().ok_or_else(|| {
            Error::Unavailable(
                self.inner
                    .off_reason
                    .clone()
                    .unwrap_or_else(|| "semantic search is off".into()),
            )
        })
    }

    pub fn stats(&self) -> Stats {
        self.inner.stats.lock().expect("stats lock").clone()
    }

    /// The `n` chunks nearest in meaning to `query`, at most `per_page` from one page,
    /// nearest first.
    pub fn search(
        &self,
        wiki: &Wiki,
        query: &str,
        n: usize,
        per_page: usize,
    ) -> Result<Vec<SemanticHit>> {
        super::query::check(query)?;
        let embedder = self.embedder()?;
        let wikis = &self.inner.wikis;
        // Commits made behind robot's back are queued here, not only periodically.
        super::worker::reconcile_wiki(wikis, &self.inner.indexes, wiki)?;
        let q = embedder
            .embed(&[query])
            .map_err(|e| Error::Internal(e.context("embedding the query")))?
            .pop()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("no query vector")))?;
        let indexes = &self.inner.indexes;
        let index = indexes
            .vector_cache()
            .get_or_load(wiki.id, || indexes.vector_store(wiki).load())?;
        let hits = index.read().expect("index lock").search(&q, n, per_page);
        let snap = wikis.snapshot(wiki)?;
        Ok(hits
            .into_iter()
            .map(|h| {
                let c = h.chunk;
                let name = snap
                    .page(&c.path)
                    .map(|e| e.name.to_string())
                    .unwrap_or_else(|| PageName::from_path(&c.path).to_string());
                SemanticHit {
                    name,
                    snippet: snippet_of(&c.text, &c.section_path),
                    file: c.path,
                    text: c.text,
                    distance: h.distance,
                    section: c.section,
                    section_path: c.section_path,
                    chunk_index: c.chunk_index,
                    total_chunks: c.total_chunks,
                    page_word_count: c.page_word_count,
                }
            })
            .collect())
    }

    /// Pages ranked by words (BM25) and by meaning together (reciprocal rank fusion).
    pub fn hybrid(&self, wiki: &Wiki, query: &str) -> Result<Vec<HybridHit>> {
        let wikis = &self.inner.wikis;
        let (text_hits, _) = super::fts::search_wiki(wikis, wiki, query, HYBRID_POOL, 0)?;
        let meaning_hits = self.search(wiki, query, HYBRID_POOL, 1)?;
        let text_rank: Vec<String> = text_hits.iter().map(|h| h.path.clone()).collect();
        let meaning_rank: Vec<String> = meaning_hits.iter().map(|h| h.file.clone()).collect();
        Ok(hybrid::fuse(&[&text_rank, &meaning_rank])
            .into_iter()
            .map(|(file, score)| {
                let text = text_hits.iter().find(|h| h.path == file);
                let meaning = meaning_hits.iter().find(|h| h.file == file);
                let (snippet, snippet_html) = match (text, meaning) {
                    (Some(t), _) => (t.snippet.clone(), t.snippet_html.clone()),
                    (None, Some(m)) => (
                        m.snippet.clone(),
                        crate::wiki::markdown::html_escape_text(&m.snippet),
                    ),
                    (None, None) => Default::default(),
                };
                HybridHit {
                    found_by: FoundBy {
                        text: text.is_some(),
                        meaning: meaning.is_some(),
                    },
                    file,
                    score,
                    snippet,
                    snippet_html,
                }
            })
            .collect())
    }

    /// Queues every page of the wiki (and every page its index still holds) for
    /// re-embedding. Returns how many pages were queued.
    pub fn request_reindex(&self, wiki: &Wiki) -> Result<usize> {
        self.embedder()?;
        let wikis = &self.inner.wikis;
        let snap = wikis.snapshot(wiki)?;
        let mut paths: Vec<String> = snap.pages.values().map(|e| e.path.clone()).collect();
        paths.extend(self.inner.indexes.vector_store(wiki).paths()?);
        paths.sort();
        paths.dedup();
        let conn = wikis.db().conn()?;
        queue::enqueue(&conn, wiki.id, &paths, crate::db::now())?;
        self.inner.indexes.set_vector_mark(wiki, snap.head)?;
        self.inner.indexes.reindex_wakeup().notify();
        Ok(paths.len())
    }

    /// The state of a wiki's index and its queued work.
    pub fn status(&self, wiki: &Wiki) -> Result<IndexStatus> {
        let wikis = &self.inner.wikis;
        if self.enabled() {
            // Queues what changed since the index's mark, so "complete" means up to HEAD.
            super::worker::reconcile_wiki(wikis, &self.inner.indexes, wiki)?;
        }
        let now = crate::db::now();
        let (depth, failure) = {
            let conn = wikis.db().conn()?;
            let depth = queue::wiki_depth(&conn, wiki.id, now)?;
            (depth, queue::last_wiki_error(&conn, wiki.id)?)
        };
        let store = self.inner.indexes.vector_store(wiki);
        let (pages_indexed, chunks) = store.counts()?;
        let head = wikis.snapshot(wiki)?.head.map(|h| h.to_string());
        let status = if !self.enabled() {
            "off"
        } else if depth.failing > 0 {
            "error"
        } else if depth.items > 0 {
            "in_progress"
        } else if pages_indexed > 0 {
            "complete"
        } else {
            "idle"
        };
        Ok(IndexStatus {
            status,
            pending: depth.items,
            failing: depth.failing,
            oldest_pending_secs: depth.oldest_age_secs,
            error_message: failure,
            pages_indexed,
            chunks,
            indexed_commit: store.indexed_commit()?,
            head,
            message: self.inner.off_reason.clone(),
        })
    }

    /// For `/health/ready` and the admin page.
    pub fn health(&self, conn: &rusqlite::Connection) -> Result<Health> {
        Ok(Health {
            enabled: self.enabled(),
            reason: self.inner.off_reason.clone(),
            queue: queue::depth(conn, crate::db::now())?,
            worker: self.stats(),
        })
    }
}

/// The chunk without its `[section path] ` prefix, cut at a word to 150 characters.
fn snippet_of(text: &str, section_path: &str) -> String {
    let body = text
        .strip_prefix(&format!("[{section_path}] "))
        .unwrap_or(text)
        .trim();
    if body.chars().count() <= SNIPPET_CHARS {
        return body.to_string();
    }
    let cut: String = body.chars().take(SNIPPET_CHARS).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(i) if i > 0 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}...", cut.trim_end())
}

/// Lowers the calling thread's scheduling priority (Linux applies `setpriority` to one
/// thread; threads it starts inherit the value).
pub(super) fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_drop_the_prefix_and_cut_at_a_word() {
        assert_eq!(snippet_of("[A > B] short text", "A > B"), "short text");
        let long = format!("[T] {}", "word ".repeat(60));
        let s = snippet_of(&long, "T");
        assert!(s.ends_with("word..."), "{s}");
        assert!(s.chars().count() <= SNIPPET_CHARS + 3);
    }
}
