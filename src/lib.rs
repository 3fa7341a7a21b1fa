//! robot: one process serving many git-backed wikis, each on its own subdomain.
//!
//! Module map (see DESIGN.md for the request path):
//! - [`config`]: one `Config` from defaults, `robot.toml` and `ROBOT_*` variables.
//! - [`db`]: the SQLite pool, embedded migrations, one file per table family.
//! - [`wiki`]: the domain core: names ↔ paths, the git store, Markdown (with bounded front
//!   matter and nesting caps for hostile pages), snapshots, limits, and the caches that
//!   keep reads cheap (page texts by blob, renders shared per blob, last change by path).
//! - [`access`]: principals, sessions, roles and the one `authorize` function.
//! - [`atproto`]: sign-in with ATProto accounts (OAuth client, identity resolution).
//! - [`search`]: full-text and semantic search: the index, the embedder, the queue and its worker.
//! - [`manage`]: account and wiki management shared by the app and the API.
//! - [`api`]: JSON APIs (management `/api`, each wiki's `/api/v1`).
//! - [`mcp`]: the MCP endpoint of each wiki (`/mcp`).
//! - [`oauth`]: the OAuth 2.1 authorization server of each wiki, for MCP clients.
//! - [`web`]: HTML for wiki hosts and the root site, with embedded templates and assets.
//! - [`ops`]: operations: the audit log, backup and restore, the janitor, `/metrics`.
//! - [`githttp`]: read-only `git clone` over smart HTTP.
//! - [`app`]: shared state, host dispatch and the server loop.
//! - [`cli`]: the `robot` command.

pub mod access;
pub mod api;
pub mod app;
pub mod atproto;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod githttp;
pub mod manage;
pub mod mcp;
pub mod oauth;
pub mod ops;
pub mod search;
pub mod web;
pub mod wiki;
