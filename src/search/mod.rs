//! Search over wiki pages: the full-text index (this issue), later the chunker, embedder,
//! vector index and the queue worker that keep semantic search current.

pub mod chunk;
pub mod fts;
pub mod snippet;
