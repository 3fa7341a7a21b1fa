//! The search indexes of every wiki, kept current with its repository: the full-text
//! index is brought to HEAD within each commit, and the pages a commit changed are queued
//! for the semantic index (whose worker is woken). This is the domain core's
//! [`Indexer`]: the core tells it of commits and knows nothing else of search.
//!
//! It also holds what semantic search and its worker share: the loaded vector indexes
//! (LRU-cached), each wiki's on-disk vector store and its "mark" (the commit up to which
//! every changed page is indexed or queued, see `worker.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use git2::{Oid, Repository};

use super::fts;
use super::queue::{self, Wakeup};
use super::vectors::{self, IndexCache};
use crate::config::Config;
use crate::db::Db;
use crate::db::wikis::Wiki;
use crate::error::Result;
use crate::wiki::Indexer;
use crate::wiki::snapshot::Snapshot;
use crate::wiki::store;

/// The indexes of every wiki. Cheap to clone.
#[derive(Clone)]
pub struct Indexes {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    wikis_dir: PathBuf,
    /// Loaded semantic indexes (semantic search reads them, the worker updates them).
    vectors: IndexCache,
    /// Rung after every commit's pages are queued, so the worker starts at once.
    wakeup: Arc<Wakeup>,
    /// Each wiki's vector mark, once read from its store (`None` inside: never indexed).
    marks: Mutex<HashMap<i64, Option<Oid>>>,
    /// The loaded model's fingerprint: a stored index made by another is emptied before
    /// use (and rebuilt), one made by this one is kept (after a restore, say).
    model: std::sync::OnceLock<String>,
}

impl Indexes {
    pub fn new(cfg: &Config, db: Db) -> Indexes {
        Indexes {
            inner: Arc::new(Inner {
                db,
                wikis_dir: cfg.wikis_dir(),
                vectors: IndexCache::new(cfg.cache.vectors.bytes()),
                wakeup: Arc::default(),
                marks: Mutex::default(),
                model: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The on-disk store of a wiki's vector index (derived data, beside the repository).
    pub fn vector_store(&self, wiki: &Wiki) -> vectors::Store {
        vectors::Store::new(&self.inner.wikis_dir.join(&wiki.slug).join("index"))
    }

    pub fn vector_cache(&self) -> &IndexCache {
        &self.inner.vectors
    }

    pub fn reindex_wakeup(&self) -> &Arc<Wakeup> {
        &self.inner.wakeup
    }

    /// Says which model embeds from now on (once, when it is loaded).
    pub fn set_model(&self, fingerprint: &str) {
        let _ = self.inner.model.set(fingerprint.to_string());
    }

    /// The commit the wiki's vector index reflects: every page changed up to it is
    /// indexed or queued. An index another model made reflects nothing: it is emptied.
    pub fn vector_mark(&self, wiki: &Wiki) -> Result<Option<Oid>> {
        let mut marks = self.inner.marks.lock().expect("vector mark lock");
        if let Some(m) = marks.get(&wiki.id) {
            return Ok(*m);
        }
        let store = self.vector_store(wiki);
        if let (Some(now), Some(then)) = (self.inner.model.get(), store.model()?)
            && *now != then
        {
            tracing::info!(wiki = %wiki.slug, index = %then, model = %now, "the vector index is of another model: rebuilding it");
            store.clear()?;
            self.inner.vectors.forget(wiki.id);
        }
        let stored = store.indexed_commit()?.and_then(|c| Oid::from_str(&c).ok());
        marks.insert(wiki.id, stored);
        Ok(stored)
    }

    /// Records the commit the vector index reflects (after its changes are queued).
    pub fn set_vector_mark(&self, wiki: &Wiki, head: Option<Oid>) -> Result<()> {
        let mut marks = self.inner.marks.lock().expect("vector mark lock");
        if let Some(h) = head {
            let model = self.inner.model.get().map(String::as_str);
            self.vector_store(wiki).set_commit(&h.to_string(), model)?;
        }
        marks.insert(wiki.id, head);
        Ok(())
    }
}

impl Indexer for Indexes {
    fn committed(
        &self,
        wiki: &Wiki,
        repo: &Repository,
        snap: &Snapshot,
        before: Option<Oid>,
    ) -> Result<()> {
        let mut conn = self.inner.db.conn()?;
        fts::sync(&mut conn, wiki.id, repo, snap)?;
        let pages: Vec<String> = store::changed_paths(repo, before, snap.head)?
            .into_iter()
            .filter(|p| p.ends_with(".md"))
            .collect();
        if std::env::var_os("ROBOT_FAULT_CRASH_AFTER_COMMIT").is_some() {
            // Fault injection for the crash tests: die like kill -9 between a commit and
            // its queue entry.
            std::process::abort();
        }
        queue::enqueue(&conn, wiki.id, &pages, crate::db::now())?;
        self.inner.wakeup.notify();
        Ok(())
    }

    fn reconcile(&self, wiki: &Wiki, repo: &Repository, snap: &Snapshot) -> Result<usize> {
        let mut conn = self.inner.db.conn()?;
        fts::sync(&mut conn, wiki.id, repo, snap)
    }

    fn is_current(&self, wiki: &Wiki, head: Option<Oid>) -> Result<bool> {
        let indexed = fts::indexed_commit(&*self.inner.db.conn()?, wiki.id)?;
        Ok(indexed.as_deref() == Some(head.map(|h| h.to_string()).unwrap_or_default().as_str()))
    }

    fn deleted(&self, wiki_id: i64) -> Result<()> {
        fts::drop_wiki(&*self.inner.db.conn()?, wiki_id)
    }

    fn forget(&self, wiki_id: i64) {
        self.inner.vectors.forget(wiki_id);
        self.inner
            .marks
            .lock()
            .expect("vector mark lock")
            .remove(&wiki_id);
    }
}
