//! The embedding worker: one thread that takes due pages from the reindex queue in
//! batches across pages and wikis, chunks each page as it is at HEAD, embeds all the
//! chunks together, and replaces each page's chunks in its wiki's vector index (on disk,
//! then in memory). A failed batch stays queued with exponential backoff and its error
//! visible; writers never wait for it.
//!
//! Reconciliation makes the queue complete: each index records a commit (its "mark")
//! such that every page changed up to that commit is indexed or queued. Comparing the
//! mark with HEAD at start, periodically and before each semantic query, queues the
//! pages changed since, then moves the mark — so a crash between a commit and its queue
//! entry, or a commit made with plain `git`, loses nothing.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::chunk::chunk_page;
use super::embed::Embed;
use super::index::Indexes;
use super::queue::{self, Item};
use super::semantic::{Semantic, lower_thread_priority};
use super::vectors::{ChunkRecord, PageChunks};
use crate::db::wikis::Wiki;
use crate::error::Result;
use crate::wiki::{Wikis, store};

/// Pages taken from the queue at once.
const BATCH_PAGES: usize = 32;
/// Texts per inference call: large enough to use both cores, small enough that a query
/// waiting for the model is not held up long.
const EMBED_BATCH: usize = 16;
/// How long the worker sleeps when idle (a new save wakes it at once).
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// How often every wiki's mark is compared with its HEAD.
const RECONCILE_EVERY: Duration = Duration::from_secs(60);

/// What one batch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct BatchReport {
    /// Pages taken from the queue.
    pub pages: usize,
    /// Chunks embedded.
    pub chunks: usize,
    /// Pages that failed and stay queued for a retry.
    pub failed: usize,
}

/// One page read and chunked, waiting for its vectors.
struct PreparedPage {
    path: String,
    chunks: Vec<ChunkRecord>,
}

struct PreparedWiki {
    wiki: Wiki,
    items: Vec<Item>,
    pages: Vec<PreparedPage>,
}

impl Semantic {
    /// Starts the worker thread (none when semantic search is off).
    pub fn spawn_worker(&self) -> Option<JoinHandle<()>> {
        self.inner.embedder.as_ref()?;
        let me = self.clone();
        std::thread::Builder::new()
            .name("embed-worker".into())
            .spawn(move || me.run_worker())
            .map_err(|e| tracing::error!("cannot start the embedding worker: {e}"))
            .ok()
    }

    /// Asks the worker to stop after its current batch.
    pub fn stop_worker(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.indexes.reindex_wakeup().notify();
    }

    fn run_worker(&self) {
        lower_thread_priority();
        let mut last_reconcile: Option<Instant> = None;
        while !self.inner.stop.load(Ordering::SeqCst) {
            if last_reconcile.is_none_or(|t| t.elapsed() >= RECONCILE_EVERY) {
                reconcile_all(&self.inner.wikis, &self.inner.indexes);
                last_reconcile = Some(Instant::now());
            }
            match self.step(None) {
                Ok(r) if r.pages > 0 => {}
                Ok(_) => self.inner.indexes.reindex_wakeup().wait(IDLE_WAIT),
                Err(e) => {
                    tracing::warn!(error = %e, "embedding worker");
                    self.inner.indexes.reindex_wakeup().wait(IDLE_WAIT);
                }
            }
        }
        tracing::info!("embedding worker stopped");
    }

    /// Processes one batch of due pages (of one wiki when `only` is given).
    pub fn step(&self, only: Option<i64>) -> Result<BatchReport> {
        let embedder = self.embedder()?;
        let wikis = &self.inner.wikis;
        let items = {
            let conn = wikis.db().conn()?;
            queue::due(&conn, only, crate::db::now(), BATCH_PAGES)?
        };
        let mut report = BatchReport {
            pages: items.len(),
            ..Default::default()
        };
        if items.is_empty() {
            return Ok(report);
        }
        let mut by_wiki: BTreeMap<i64, Vec<Item>> = BTreeMap::new();
        for item in items {
            by_wiki.entry(item.wiki_id).or_default().push(item);
        }
        let mut work = Vec::new();
        for (wiki_id, items) in by_wiki {
            let wiki = {
                let conn = wikis.db().conn()?;
                crate::db::wikis::by_id(&conn, wiki_id)?
            };
            let Some(wiki) = wiki else {
                continue; // deleted meanwhile: its rows went with it
            };
            match prepare(wikis, &wiki, &items) {
                Ok(pages) => work.push(PreparedWiki { wiki, items, pages }),
                Err(e) => {
                    report.failed += items.len();
                    self.fail(&items, &format!("reading the pages: {e}"))?;
                }
            }
        }

        let texts: Vec<&str> = work
            .iter()
            .flat_map(|w| w.pages.iter())
            .flat_map(|p| p.chunks.iter().map(|c| c.text.as_str()))
            .collect();
        let started = Instant::now();
        let vectors = match embed_all(&*embedder, &texts) {
            Ok(v) => v,
            Err(e) => {
                let msg = format!("embedding failed: {e:#}");
                tracing::warn!(error = %msg, pages = report.pages, "embedding batch failed; will retry");
                for w in &work {
                    report.failed += w.items.len();
                    self.fail(&w.items, &msg)?;
                }
                return Ok(report);
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        report.chunks = texts.len();

        let mut vectors = vectors.into_iter();
        for w in work {
            let pages: Vec<PageChunks> = w
                .pages
                .into_iter()
                .map(|p| {
                    let with_vectors = p
                        .chunks
                        .into_iter()
                        .map(|c| (c, vectors.next().unwrap_or_default()))
                        .collect();
                    (p.path, with_vectors)
                })
                .collect();
            match self.inner.indexes.vector_store(&w.wiki).apply(&pages, None) {
                Ok(()) => {
                    self.inner
                        .indexes
                        .vector_cache()
                        .update(w.wiki.id, |index| {
                            for (path, chunks) in &pages {
                                index.replace_page(path, chunks);
                            }
                        });
                    let conn = wikis.db().conn()?;
                    for item in &w.items {
                        queue::done(&conn, item)?;
                    }
                }
                Err(e) => {
                    report.failed += w.items.len();
                    self.fail(&w.items, &format!("writing the index: {e}"))?;
                }
            }
        }
        let mut stats = self.inner.stats.lock().expect("stats lock");
        stats.batches += 1;
        stats.pages_indexed += (report.pages - report.failed) as u64;
        stats.chunks_embedded += report.chunks as u64;
        stats.embed_seconds += seconds;
        stats.last_batch_at = Some(crate::db::now());
        Ok(report)
    }

    fn fail(&self, items: &[Item], error: &str) -> Result<()> {
        let conn = self.inner.wikis.db().conn()?;
        let now = crate::db::now();
        for item in items {
            queue::failed(&conn, item, error, now)?;
        }
        self.inner.stats.lock().expect("stats lock").last_error = Some(error.to_string());
        Ok(())
    }
}

/// Reads and chunks the queued pages as they are at HEAD (a page that is gone has no
/// chunks, which removes it from the index).
fn prepare(wikis: &Wikis, wiki: &Wiki, items: &[Item]) -> Result<Vec<PreparedPage>> {
    let repo = wikis.open_repo(wiki)?;
    let snap = wikis.snapshot(wiki)?;
    let mut pages = Vec::with_capacity(items.len());
    for item in items {
        let chunks = match snap.page(&item.path).filter(|e| e.path == item.path) {
            Some(entry) => {
                let content = store::read_blob(&repo, entry.blob)?;
                let text = String::from_utf8_lossy(&content);
                // A page that cannot be chunked is logged and indexed as empty; the
                // rest of the batch goes on.
                let (meta, chunks) = crate::wiki::renders::isolated("chunking", &item.path, || {
                    chunk_page(&entry.name.to_string(), &text)
                })
                .unwrap_or_default();
                let total = chunks.len();
                chunks
                    .into_iter()
                    .map(|c| ChunkRecord {
                        path: item.path.clone(),
                        chunk_index: c.index,
                        total_chunks: total,
                        section: c.section,
                        section_path: c.section_path,
                        text: c.text,
                        page_word_count: meta.word_count,
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        pages.push(PreparedPage {
            path: item.path.clone(),
            chunks,
        });
    }
    Ok(pages)
}

/// Embeds texts in batches of similar length (less padding), returning vectors in the
/// order of `texts`.
pub fn embed_all(embedder: &dyn Embed, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].len());
    let mut out = vec![Vec::new(); texts.len()];
    for group in order.chunks(EMBED_BATCH) {
        let batch: Vec<&str> = group.iter().map(|&i| texts[i]).collect();
        let vectors = embedder.embed(&batch)?;
        if vectors.len() != batch.len() {
            anyhow::bail!(
                "the embedder returned {} vectors for {} texts",
                vectors.len(),
                batch.len()
            );
        }
        for (&i, v) in group.iter().zip(vectors) {
            out[i] = v;
        }
    }
    Ok(out)
}

/// Queues the pages changed between a wiki's mark and its HEAD, then moves the mark to
/// HEAD. Cheap when they are equal (two reads). Returns how many pages were added.
pub fn reconcile_wiki(wikis: &Wikis, indexes: &Indexes, wiki: &Wiki) -> Result<usize> {
    let repo = wikis.open_repo(wiki)?;
    let head = store::head(&repo)?;
    let mark = indexes.vector_mark(wiki)?;
    if mark == head {
        return Ok(0);
    }
    // A mark the repository no longer has (history replaced, a restore): start over.
    let known = mark.filter(|c| repo.find_commit(*c).is_ok());
    let mut paths: Vec<String> = store::changed_paths(&repo, known, head)?
        .into_iter()
        .filter(|p| p.ends_with(".md"))
        .collect();
    if known.is_none() {
        paths.extend(indexes.vector_store(wiki).paths()?);
        paths.sort();
        paths.dedup();
    }
    let added = {
        let conn = wikis.db().conn()?;
        queue::ensure(&conn, wiki.id, &paths, crate::db::now())?
    };
    indexes.set_vector_mark(wiki, head)?;
    if added > 0 {
        tracing::info!(wiki = %wiki.slug, pages = added, "queued pages changed outside the queue");
        indexes.reindex_wakeup().notify();
    }
    Ok(added)
}

/// Reconciles every wiki (errors are logged per wiki; one broken repository does not
/// stop the others).
pub fn reconcile_all(wikis: &Wikis, indexes: &Indexes) {
    let list = match wikis.db().conn().and_then(|c| crate::db::wikis::list(&c)) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "listing wikis to reconcile");
            return;
        }
    };
    for wiki in list {
        if let Err(e) = reconcile_wiki(wikis, indexes, &wiki) {
            tracing::warn!(wiki = %wiki.slug, error = %e, "reconciling the vector index");
        }
    }
}
