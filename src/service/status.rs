//! The service's own state, for `/health/ready` and the gauges of `/metrics`: whether the
//! database answers, free disk, semantic search and its queue, totals.

use crate::error::Result;
use crate::search::semantic::Health;
use crate::service::Services;

/// Below this much free disk robot reports itself unable to take writes.
const MIN_FREE_DISK: u64 = 100 * 1024 * 1024;

/// What readiness reports.
pub struct Readiness {
    /// Semantic search and its queue, or `None` when the database did not answer.
    pub health: Option<Health>,
    /// Free bytes where the data directory lives, when the system says.
    pub disk_free: Option<u64>,
}

impl Readiness {
    pub fn database_ok(&self) -> bool {
        self.health.is_some()
    }

    pub fn disk_ok(&self) -> bool {
        self.disk_free.is_none_or(|b| b > MIN_FREE_DISK)
    }

    /// Ready to serve writes. Semantic search being off does not count: everything
    /// else works without the model.
    pub fn ok(&self) -> bool {
        self.database_ok() && self.disk_ok()
    }
}

pub async fn readiness(state: &Services) -> Readiness {
    let sem = state.semantic.clone();
    let health = state
        .db
        .run(move |c| {
            crate::db::ping(c)?;
            sem.health(c)
        })
        .await;
    let health = match health {
        Ok(h) => Some(h),
        Err(e) => {
            e.log();
            None
        }
    };
    Readiness {
        health,
        disk_free: crate::ops::disk_free_bytes(&state.cfg.data_dir),
    }
}

/// Each cache of the core and of search, for `/metrics`.
pub fn caches(state: &Services) -> Vec<crate::cache::CacheStats> {
    let mut all = state.wikis.cache_stats();
    all.push(state.indexes.vector_cache().stats());
    all.push(state.trees.stats());
    all.push(state.views.stats());
    all
}

/// A gauge for `/metrics`: name, help text, value.
pub type Gauge = (&'static str, &'static str, f64);

/// The gauges read at scrape time.
pub async fn gauges(state: &Services) -> Result<Vec<Gauge>> {
    let sem = state.semantic.clone();
    state
        .db
        .run(move |c| {
            let totals = crate::db::totals(c)?;
            let health = sem.health(c)?;
            Ok(vec![
                ("robot_wikis", "Wikis.", totals.wikis as f64),
                ("robot_pages", "Pages in all wikis (full-text index).", totals.pages as f64),
                ("robot_users", "User accounts.", totals.users as f64),
                ("robot_sessions_active", "Live browser sessions.", totals.live_sessions as f64),
                ("robot_reindex_queue_depth", "Pages waiting for the embedding worker.", health.queue.items as f64),
                ("robot_reindex_queue_oldest_seconds", "Age of the oldest queued page.", health.queue.oldest_age_secs as f64),
                ("robot_reindex_queue_failing", "Queued pages whose last attempt failed.", health.queue.failing as f64),
                ("robot_semantic_enabled", "1 when the embedding model is loaded.", if health.enabled { 1.0 } else { 0.0 }),
                ("robot_embedding_seconds_total", "Time spent embedding since start.", health.worker.embed_seconds),
                ("robot_embedded_chunks_total", "Chunks embedded since start.", health.worker.chunks_embedded as f64),
                ("robot_embedded_pages_total", "Pages indexed since start.", health.worker.pages_indexed as f64),
                ("robot_pages_degraded_total", "Pages rendered with a limit applied (front matter dropped, nesting cut) since start.", crate::wiki::renders::degraded_total() as f64),
                ("robot_pages_failed_total", "Pages that could not be rendered or indexed at all since start.", crate::wiki::renders::failed_total() as f64),
                ("robot_open_fds", "File descriptors the process has open.", crate::ops::open_fds().unwrap_or(0) as f64),
                ("robot_resident_bytes", "Resident memory of the process.", crate::ops::resident_bytes().unwrap_or(0) as f64),
            ])
        })
        .await
}
