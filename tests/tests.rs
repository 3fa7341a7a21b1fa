//! Integration tests: one binary (ripgrep's layout), each module a feature, every test
//! against the real server on a loopback port with real git repositories and SQLite.

mod common;

mod access;
mod api_v1;
mod atproto;
mod backup;
mod caches;
mod cli;
mod client_documents;
mod conformance;
mod corpus;
mod diagrams;
mod durability;
mod editing;
mod embed;
mod git;
mod git_push;
mod hostile;
mod hostile_input;
mod hostile_requests;
mod layering;
mod logs;
mod manage;
mod markdown;
mod mcp;
mod oauth;
mod ops;
mod otterwiki_embeds;
mod otterwiki_renderer;
mod personal_tokens;
mod search;
mod semantic;
mod signin_binding;
mod surfaces;
