//! The browser-facing transport: HTML for wiki hosts (`wiki.rs`) and the root site
//! (`root.rs`), embedded assets (`assets.rs`) and templates (`templates.rs`). Handlers parse
//! the request, ask `access::authorize`, call the wiki core, and render; no rule lives here.

pub mod app;
pub mod assets;
pub mod feeds;
pub mod redirect;
pub mod root;
pub mod templates;
pub mod views;
pub mod wiki;

use axum::http::HeaderValue;

use crate::access::session::COOKIE;
use crate::service::Services;

// What every page handler uses, from the layers below.
use crate::access::caller::{Caller, CurrentWiki, check_csrf, cookie_value};
use crate::http::{WebError, parse_form, render, request_id};

/// The `Set-Cookie` value for a session (or for clearing it, with `max_age` 0).
pub fn session_cookie(state: &Services, value: &str, max_age: i64, host_only: bool) -> HeaderValue {
    let cfg = &state.cfg;
    let mut c = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}");
    if cfg.scheme() == "https" {
        c.push_str("; Secure");
    }
    if !host_only && !cfg.is_localhost() {
        c.push_str(&format!("; Domain=.{}", cfg.domain_host()));
    }
    HeaderValue::from_str(&c).expect("cookie is ASCII")
}

/// A `return_to` we will redirect to: a path on this host, never another origin (the one
/// check, in `redirect.rs`).
pub use redirect::safe_local_path;
