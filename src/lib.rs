//! robot: one process serving many git-backed wikis, each on its own subdomain.
//!
//! The module map, bottom first: each module imports only those above it in this list
//! (`tests/layering.rs` fails, naming the edge, when one does not), and no surface
//! imports another. DESIGN.md gives the request path.
//! - [`config`]: one `Config` from defaults, `robot.toml` and `ROBOT_*` variables.
//! - [`cache`]: the byte-budgeted, least-recently-used map every in-memory cache is.
//! - [`error`]: the domain error, with the variants surfaces map (not found, conflict
//!   with the current revision, limits, forbidden, rate limited with its wait...).
//! - [`http`]: what every HTTP surface shares and no rule lives in: the HTML frame
//!   (layout, message page, error page), form and query encoding, CORS headers.
//! - [`db`]: the SQLite pool, embedded migrations, one file per table family.
//! - [`wiki`]: the domain core: names ↔ paths, the git store, Markdown (with bounded front
//!   matter and nesting caps for hostile pages), snapshots, limits, and the caches that
//!   keep reads cheap. It tells an `Indexer` of every commit and knows no index.
//! - [`search`]: full-text and semantic search: the indexes (the core's `Indexer`), the
//!   embedder, the queue and its worker.
//! - [`access`]: who is calling (decided once per request from the session cookie, a wiki
//!   token or a person's own token, an OAuth token at its resource, or a platform
//!   JWT), roles, the one `authorize`, rate limits.
//! - [`atproto`]: the ATProto OAuth client and identity resolution, for sign-in.
//! - [`ops`]: the audit log, backup and restore, the janitor, `/metrics`.
//! - [`service`]: the operation layer every surface calls: the shared state, the
//!   operation skeleton (authorize, the write-rate rule, blocking pool, domain call), page
//!   and search operations, account and wiki management.
//! - The surfaces, thin adapters that parse, call an operation and render:
//!   [`web`] (HTML for wiki hosts and the root site), [`api`] (JSON: management `/api`,
//!   each wiki's `/api/v1`), [`mcp`] (`/mcp`), [`oauth`] (the authorization server of each
//!   wiki, for MCP clients), [`githttp`] (`git clone` over smart HTTP).
//! - [`server`]: the router assembly, host dispatch and the serving loop.
//! - [`cli`]: the `robot` command.

pub mod access;
pub mod api;
pub mod atproto;
pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod githttp;
pub mod http;
pub mod mcp;
pub mod oauth;
pub mod ops;
pub mod search;
pub mod server;
pub mod service;
pub mod web;
pub mod wiki;
