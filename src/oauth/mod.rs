//! The OAuth 2.1 authorization server embedded in each wiki, so MCP clients (Claude.ai,
//! Claude Code, the SDKs) can connect with a person's consent. Each wiki host is its own
//! issuer (`https://{slug}.example.org`) and protects two resources, its `/mcp` URL (the
//! default) and its REST API (`/api/v1`); a token is bound to (user, wiki, client,
//! scopes, audience), works only at the resource it was issued for (RFC 8707: never on
//! the other one, the web UI or git), and is re-checked against the user's current role
//! on every request. Requirements: research/mcp-auth.md.
//!
//! - `metadata`: protected-resource (RFC 9728) and server (RFC 8414) metadata;
//! - `register`: open dynamic client registration (RFC 7591);
//! - `client_document`: clients known by a Client ID Metadata Document (an https
//!   `client_id`), fetched, validated and cached;
//! - `client_assertion`: `private_key_jwt` client authentication (RFC 7523) for them;
//! - `authorize`: the authorization endpoint and the consent page;
//! - `token`: code and refresh-token grants, client authentication, revocation (RFC 7009).
//!
//! Secrets (client secrets, codes, tokens) are random 256-bit strings stored as SHA-256.

pub mod authorize;
mod client_assertion;
pub mod client_document;
mod metadata;
pub mod register;
mod token;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::service::Services;

/// Access tokens live an hour; clients refresh them.
pub const ACCESS_TTL_SECS: i64 = 3600;
/// Refresh tokens live 30 days from their issue (each refresh issues a new one).
pub const REFRESH_TTL_SECS: i64 = 30 * 24 * 3600;
/// A public client's exchanged refresh token still works this long, for clients that
/// refresh twice at once; presented later, it is refused (see `token::refresh_grant`).
pub const REFRESH_GRACE_SECS: i64 = 60;
/// Authorization codes live 10 minutes.
pub const CODE_TTL_SECS: i64 = 600;
pub use crate::db::oauth::UNUSED_CLIENT_SECS;

use crate::access::resource::ACCESS_TOKEN_PREFIX as ACCESS_PREFIX;
pub use crate::access::resource::{SCOPE_READ, SCOPE_WRITE, same_resource};
use crate::access::session::hash_secret;
use crate::http::cors;
const REFRESH_PREFIX: &str = "rrt_";

/// The paths of the endpoints, on each wiki host.
pub const AUTHORIZE_PATH: &str = "/-/oauth/authorize";
pub const TOKEN_PATH: &str = "/-/oauth/token";
pub const REGISTER_PATH: &str = "/-/oauth/register";
pub const REVOKE_PATH: &str = "/-/oauth/revoke";

pub fn router() -> Router<Services> {
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(metadata::protected_resource).options(metadata::preflight),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(metadata::protected_resource).options(metadata::preflight),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp/",
            get(metadata::protected_resource_slash).options(metadata::preflight),
        )
        .route(
            "/.well-known/oauth-protected-resource/api/v1",
            get(metadata::protected_resource_api).options(metadata::preflight),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::authorization_server).options(metadata::preflight),
        )
        .route("/.well-known/{*rest}", get(metadata::not_found))
        .route(
            REGISTER_PATH,
            post(register::register).options(metadata::preflight),
        )
        .route(
            AUTHORIZE_PATH,
            get(authorize::authorize).post(authorize::consent),
        )
        .route(TOKEN_PATH, post(token::token).options(metadata::preflight))
        .route(
            REVOKE_PATH,
            post(token::revoke).options(metadata::preflight),
        )
}

/// Why a `client_id` names no client this server can work with.
pub enum UnknownClient {
    /// Neither registered here nor a document URL.
    Unregistered,
    /// A document URL whose document was refused or could not be fetched.
    Refused(String),
    Internal,
}

/// The client a `client_id` names: a registration, or (an https URL) the client's metadata
/// document, fetched or from the cache. The authorization and token endpoints both ask.
pub async fn find_client(
    state: &Services,
    caller: &crate::access::Caller,
    client_id: &str,
) -> std::result::Result<crate::db::oauth::Client, UnknownClient> {
    if client_document::is_document_id(client_id) {
        return client_document::resolve(state, caller, client_id)
            .await
            .map_err(|r| UnknownClient::Refused(r.0));
    }
    let id = client_id.to_string();
    match state
        .db
        .run(move |c| crate::db::oauth::client(c, &id))
        .await
    {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(UnknownClient::Unregistered),
        Err(e) => {
            e.log();
            Err(UnknownClient::Internal)
        }
    }
}

/// The issuer: the wiki's origin, no trailing slash.
pub fn issuer(state: &Services, slug: &str) -> String {
    state.cfg.wiki_url(slug)
}

/// The resources a client may ask a token for, the default (the MCP endpoint) first.
pub fn resources(state: &Services, slug: &str) -> [String; 2] {
    use crate::access::resource::{api_resource, mcp_resource};
    [
        mcp_resource(&state.cfg, slug),
        api_resource(&state.cfg, slug),
    ]
}

/// The scopes granted: those asked for that exist (unknown ones are dropped, not
/// refused), capped by what the person may do; all they may do when none are asked.
pub fn grant_scopes(requested: &str, may_write: bool) -> String {
    let asked: Vec<&str> = requested
        .split_whitespace()
        .filter(|s| *s == SCOPE_READ || *s == SCOPE_WRITE)
        .collect();
    let want_write = if asked.is_empty() {
        true
    } else {
        asked.contains(&SCOPE_WRITE)
    };
    if want_write && may_write {
        format!("{SCOPE_READ} {SCOPE_WRITE}")
    } else {
        SCOPE_READ.to_string()
    }
}

/// A loopback redirect (`http://localhost`, `127.0.0.1`, `[::1]`): native apps pick the
/// port at run time (RFC 8252 §7.3).
fn loopback_host(url: &reqwest::Url) -> bool {
    url.scheme() == "http"
        && matches!(
            url.host_str(),
            Some("localhost") | Some("127.0.0.1") | Some("[::1]") | Some("::1")
        )
}

/// The longest redirect URI accepted, in bytes.
pub const MAX_REDIRECT_URI: usize = 2000;

/// Why `uri` cannot be a redirect URI, or `None` when it can be one: an https URL with a
/// host or a loopback http URL (RFC 8252 §7.3), without a fragment (RFC 6749 §3.1.2), at
/// most [`MAX_REDIRECT_URI`] bytes, written in URL characters only — no space, control or
/// non-ASCII character, and no percent-encoded control character (a URL parser turns a
/// raw control into one, so a loopback URI would match with it) — so that it goes into
/// a `Location` header exactly as registered. Registration and authorization both ask.
pub fn redirect_uri_problem(uri: &str) -> Option<String> {
    if uri.len() > MAX_REDIRECT_URI {
        return Some(format!("it is longer than {MAX_REDIRECT_URI} bytes"));
    }
    if uri.chars().any(|c| !c.is_ascii_graphic()) {
        return Some("it contains a space, a control character or a non-ASCII character".into());
    }
    let bytes = uri.as_bytes();
    let encoded_control = bytes.windows(3).any(|w| {
        w[0] == b'%'
            && std::str::from_utf8(&w[1..])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .is_some_and(|b| b < 0x20 || b == 0x7f)
    });
    if encoded_control {
        return Some("it contains a percent-encoded control character".into());
    }
    let Ok(url) = reqwest::Url::parse(uri) else {
        return Some("it is not an absolute URL".into());
    };
    if url.fragment().is_some() {
        return Some("it has a fragment (#…)".into());
    }
    if !(url.scheme() == "https" && url.host_str().is_some() || loopback_host(&url)) {
        return Some("it is not an https URL or a loopback http URL".into());
    }
    None
}

/// Whether `given` matches a registered redirect: exactly, or for loopback URLs, any port.
pub fn redirect_matches(registered: &[String], given: &str) -> bool {
    if registered.iter().any(|r| r == given) {
        return true;
    }
    let Ok(g) = reqwest::Url::parse(given) else {
        return false;
    };
    loopback_host(&g)
        && registered.iter().any(|r| {
            reqwest::Url::parse(r).is_ok_and(|r| {
                loopback_host(&r)
                    && r.host_str() == g.host_str()
                    && r.path() == g.path()
                    && r.query() == g.query()
            })
        })
}

/// An OAuth error body (`{"error", "error_description"}`), never cached.
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    no_store(&mut r);
    cors(&mut r);
    r
}

fn no_store(r: &mut Response) {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn new_secret(prefix: &str) -> String {
    format!("{prefix}{}", crate::access::session::random_token())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_filtered_and_capped() {
        assert_eq!(grant_scopes("", true), "wiki:read wiki:write");
        assert_eq!(grant_scopes("claudeai", true), "wiki:read wiki:write");
        assert_eq!(grant_scopes("wiki:read", true), "wiki:read");
        assert_eq!(
            grant_scopes("wiki:read wiki:write offline_access", false),
            "wiki:read"
        );
    }

    #[test]
    fn loopback_redirects_match_any_port() {
        let reg = vec![
            "http://127.0.0.1/callback".to_string(),
            "https://claude.ai/api/mcp/auth_callback".to_string(),
        ];
        assert!(redirect_matches(&reg, "http://127.0.0.1:53117/callback"));
        assert!(redirect_matches(
            &reg,
            "https://claude.ai/api/mcp/auth_callback"
        ));
        assert!(!redirect_matches(
            &reg,
            "https://claude.ai/api/mcp/auth_callback?x=1"
        ));
        assert!(!redirect_matches(&reg, "http://127.0.0.1:53117/other"));
        assert!(!redirect_matches(
            &reg,
            "https://evil.example/api/mcp/auth_callback"
        ));
        assert!(same_resource(
            "https://w.example/mcp/",
            "https://w.example/mcp"
        ));
    }

    #[test]
    fn malformed_redirect_uris_are_named() {
        for good in [
            "http://127.0.0.1:1234/cb",
            "http://localhost/cb?x=1",
            "http://[::1]:9/cb",
            "https://claude.ai/api/mcp/auth_callback",
            "https://a.example/cb%20x",
        ] {
            assert_eq!(redirect_uri_problem(good), None, "{good}");
        }
        let long = format!("http://127.0.0.1/{}", "a".repeat(2100));
        for bad in [
            "http://127.0.0.1:1234/cb%01",
            "http://127.0.0.1:1234/cb%7F",
            "http://127.0.0.1/\u{1}",
            "http://127.0.0.1/a b",
            "http://127.0.0.1/cb\r\nSet-Cookie: x=1",
            "http://127.0.0.1/caf\u{e9}",
            "https://a.example/cb#frag",
            "http://evil.example/cb",
            "javascript:alert(1)",
            "/relative",
            long.as_str(),
        ] {
            assert!(redirect_uri_problem(bad).is_some(), "{bad:?}");
        }
    }
}
