//! Search over wiki pages:
//! - `fts`: the full-text index (SQLite FTS5), and `snippet`: its result snippets;
//! - `chunk`: pages into sections and chunks for semantic search;
//! - `vectors`: the per-wiki vector index (exact inner product, LRU-cached).
//!
//! The embedder, the reindex queue and its worker, and hybrid ranking come next.

pub mod chunk;
pub mod embed;
pub mod fts;
pub mod queue;
pub mod snippet;
pub mod vectors;
