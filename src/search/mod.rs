//! Search over wiki pages:
//! - `query`: the limits every query is held to, in every mode;
//! - `index`: every wiki's indexes, kept current commit by commit (the core's `Indexer`);
//! - `fts`: the full-text index (SQLite FTS5), and `snippet`: its result snippets;
//! - `chunk`: pages into sections and chunks for semantic search;
//! - `embed`: the embedding model (all-MiniLM-L6-v2 through ONNX Runtime);
//! - `vectors`: the per-wiki vector index (exact inner product, LRU-cached);
//! - `queue`: the durable reindex queue, and `worker`: the thread that drains it;
//! - `semantic`: search by meaning and hybrid search, and `hybrid`: rank fusion.

pub mod chunk;
pub mod embed;
pub mod fts;
pub mod hybrid;
pub mod index;
pub mod query;
pub mod queue;
pub mod semantic;
pub mod snippet;
pub mod vectors;
pub mod worker;
