//! The browser-facing transport: HTML for wiki hosts (`wiki.rs`) and the root site
//! (`root.rs`), embedded assets (`assets.rs`) and templates (`templates.rs`). Handlers parse
//! the request, ask `access::authorize`, call the wiki core, and render; no rule lives here.

pub mod app;
pub mod assets;
pub mod redirect;
pub mod root;
pub mod templates;
pub mod wiki;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::access::Principal;
use crate::access::session::{self, COOKIE};
use crate::app::AppState;
use crate::db::wikis::Wiki;
use crate::error::Error;
use templates::{Layout, Message};

/// Who is calling, established once per request by the host dispatcher.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// CSRF token for this session's forms (empty when anonymous).
    pub csrf: String,
    /// The credentials came in the `Authorization` header, which a browser never sends on
    /// its own: no CSRF check is needed.
    pub bearer: bool,
    /// An `Authorization` header was sent but is not valid (APIs answer 401, not "anonymous").
    pub bad_bearer: bool,
    /// The client's address (from `X-Forwarded-For` only when the peer is one of the
    /// configured `trusted_proxies`; see [`client_ip`]).
    pub ip: std::net::IpAddr,
    /// The request may change state (POST, PUT, PATCH, DELETE): writes are rate limited.
    pub unsafe_method: bool,
}

impl Caller {
    pub fn anonymous() -> Caller {
        Caller {
            principal: Principal::Anonymous,
            csrf: String::new(),
            bearer: false,
            bad_bearer: false,
            ip: std::net::IpAddr::from([127, 0, 0, 1]),
            unsafe_method: false,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_else(Caller::anonymous))
    }
}

/// The wiki a wiki-host request is for.
#[derive(Debug, Clone)]
pub struct CurrentWiki(pub Wiki);

/// For an OAuth caller on a wiki host: its role on that wiki as `access::authorize`
/// decided it when the request arrived (`None`: no access). Decided together with the
/// caller and the wiki, so `/mcp`'s check costs no extra trip to the database.
#[derive(Debug, Clone, Copy)]
pub struct OAuthRole(pub Option<crate::access::Role>);

impl OAuthRole {
    /// The decision for `caller` on `wiki`; `None` for callers that are not OAuth tokens.
    pub fn of(conn: &rusqlite::Connection, caller: &Caller, wiki: &Wiki) -> Option<OAuthRole> {
        let Principal::OAuth { .. } = caller.principal else {
            return None;
        };
        let grant =
            crate::access::authorize(conn, &caller.principal, wiki, crate::access::Action::Read);
        Some(OAuthRole(grant.ok().and_then(|g| g.role)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentWiki {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentWiki>()
            .cloned()
            .ok_or_else(|| (StatusCode::NOT_FOUND, "not a wiki host").into_response())
    }
}

/// The credential a request presents, read from its headers without any I/O.
#[derive(Clone)]
pub enum Credential {
    None,
    /// `Authorization: Bearer …` (a wiki token, an OAuth access token or a platform JWT).
    Bearer(String),
    /// An `Authorization` header that is not a usable bearer token.
    BadHeader,
    /// The browser session cookie.
    Cookie(String),
}

impl Credential {
    pub fn of(headers: &HeaderMap) -> Credential {
        if let Some(auth) = headers.get(header::AUTHORIZATION) {
            let token = auth
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
                .filter(|t| !t.is_empty());
            return match token {
                Some(t) => Credential::Bearer(t.to_string()),
                None => Credential::BadHeader,
            };
        }
        match cookie_value(headers, COOKIE) {
            Some(c) => Credential::Cookie(c),
            None => Credential::None,
        }
    }
}

/// Who is calling: a bearer token (a wiki token, an OAuth access token or a platform
/// JWT) in the `Authorization` header, else the session cookie. Every check reads the
/// database, so a revoked session or token stops working on its next request.
///
/// `resource` is the OAuth protected resource the request is for ([`target_resource`]):
/// an OAuth access token is a credential only there (RFC 8707 audience), and anywhere
/// else — another resource, the web UI, git — it is an invalid bearer token.
/// Blocking: async callers use [`caller_from_headers`], or run it on the blocking pool
/// together with their own look-ups.
pub fn resolve_caller(
    conn: &rusqlite::Connection,
    state: &AppState,
    credential: &Credential,
    ip: std::net::IpAddr,
    resource: Option<&str>,
) -> crate::error::Result<Caller> {
    let mut caller = Caller::anonymous();
    caller.ip = ip;
    match credential {
        Credential::None => {}
        Credential::BadHeader => caller.bad_bearer = true,
        Credential::Bearer(token) => match principal_from_bearer(conn, state, token, resource)? {
            Some(p) => {
                caller.principal = p;
                caller.bearer = true;
            }
            None => caller.bad_bearer = true,
        },
        Credential::Cookie(token) => {
            if let Some((principal, jti)) = principal_from_jwt(conn, state, token)? {
                caller.csrf = session::csrf_token(&state.keys, &jti);
                caller.principal = principal;
            }
        }
    }
    Ok(caller)
}

/// [`resolve_caller`] on the blocking pool, for requests that target no OAuth resource
/// (the root host; wiki hosts resolve theirs with the wiki, in `app::route`); a database
/// error leaves the caller anonymous.
pub async fn caller_from_headers(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
) -> Caller {
    let credential = Credential::of(headers);
    let ip = client_ip(headers, peer, &state.cfg.trusted_proxies);
    if matches!(credential, Credential::None) {
        return Caller {
            ip,
            ..Caller::anonymous()
        };
    }
    let st = state.clone();
    let resolved = state
        .db
        .run(move |c| resolve_caller(c, &st, &credential, ip, None))
        .await;
    resolved.unwrap_or_else(|e| {
        e.log();
        Caller {
            ip,
            ..Caller::anonymous()
        }
    })
}

/// The OAuth protected resource a request on a wiki host is for, from its path: the
/// wiki's `/mcp` (and `/mcp/`), its REST API (`/api/v1/…`), or none (the web UI, git,
/// the OAuth endpoints themselves). Paths the REST router does not own (`/api/v1` alone
/// is a wiki page) are none, so a token can never reach another router through them.
pub fn target_resource(state: &AppState, slug: &str, path: &str) -> Option<String> {
    if path == "/mcp" || path == "/mcp/" {
        return Some(crate::oauth::resource(state, slug));
    }
    if path.len() > "/api/v1/".len() && path.starts_with("/api/v1/") {
        return Some(crate::oauth::api_resource(state, slug));
    }
    None
}

/// The principal a bearer token stands for. An OAuth access token counts only at the
/// resource it was issued for (`resource`, see [`resolve_caller`]); elsewhere it is `None`,
/// an invalid token.
fn principal_from_bearer(
    conn: &rusqlite::Connection,
    state: &AppState,
    token: &str,
    resource: Option<&str>,
) -> crate::error::Result<Option<Principal>> {
    if token.starts_with(crate::access::tokens::PREFIX) {
        let Some(wiki_id) = crate::access::tokens::wiki_of(conn, token)? else {
            return Ok(None);
        };
        let slug: String = conn
            .prepare_cached("SELECT slug FROM wikis WHERE id = ?1")?
            .query_row([wiki_id], |r| r.get(0))?;
        return Ok(Some(Principal::WikiToken { wiki_id, slug }));
    }
    if token.starts_with("rat_") {
        let Some(resource) = resource else {
            return Ok(None);
        };
        return crate::oauth::principal_for_access_token(conn, token, resource);
    }
    Ok(principal_from_jwt(conn, state, token)?.map(|(p, _)| p))
}

/// A platform JWT whose session row is live.
fn principal_from_jwt(
    conn: &rusqlite::Connection,
    state: &AppState,
    token: &str,
) -> crate::error::Result<Option<(Principal, String)>> {
    let Some(claims) = session::verify(&state.keys, &state.cfg.root_url(), token) else {
        return Ok(None);
    };
    if !crate::db::sessions::is_live(conn, &claims.jti, &claims.sub)? {
        return Ok(None);
    }
    Ok(Some((
        Principal::User {
            did: claims.sub,
            handle: claims.handle,
            session_id: claims.jti.clone(),
        },
        claims.jti,
    )))
}

/// The client address: the peer, unless the peer is one of the `trusted` proxies (the
/// `trusted_proxies` option; none by default). Then `X-Forwarded-For` is read from the
/// right, past every trusted proxy, to the first address that is not one: the client as
/// the outermost trusted proxy saw it. From any other peer the header is ignored, so a
/// client cannot pick its own address (rate limits are counted per address).
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
    trusted: &[crate::config::IpNet],
) -> std::net::IpAddr {
    let is_trusted = |ip: std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut ip = peer
        .map(|p| p.ip().to_canonical())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    if !is_trusted(ip) {
        return ip;
    }
    // Several headers are one list, in order (RFC 9110 §5.3).
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        let Ok(addr) = hop.parse::<std::net::IpAddr>() else {
            break; // not an address: nothing left of it can be believed
        };
        ip = addr.to_canonical();
        if !is_trusted(ip) {
            break;
        }
    }
    ip
}

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

/// The `Set-Cookie` value for a session (or for clearing it, with `max_age` 0).
pub fn session_cookie(state: &AppState, value: &str, max_age: i64, host_only: bool) -> HeaderValue {
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

/// Checks the CSRF token of a form post (or the `X-CSRF-Token` header).
pub fn check_csrf(
    state: &AppState,
    caller: &Caller,
    form_token: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), Error> {
    if caller.bearer {
        return Ok(());
    }
    let Principal::User { session_id, .. } = &caller.principal else {
        return Err(Error::Unauthorized);
    };
    let presented = form_token
        .map(String::from)
        .or_else(|| {
            headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        })
        .unwrap_or_default();
    if session::check_csrf(&state.keys, session_id, &presented) {
        Ok(())
    } else {
        tracing::warn!("CSRF token missing or wrong");
        Err(Error::Forbidden(
            "The form has expired or did not come from this site. Reload the page and try again."
                .into(),
        ))
    }
}

/// An error shown as an HTML page (or a redirect to sign in, for an anonymous GET).
pub struct WebError {
    pub error: Error,
    pub layout: Layout,
    pub login_redirect: Option<String>,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        self.error.log();
        if let (Error::Unauthorized, Some(to)) = (&self.error, &self.login_redirect) {
            return Redirect::to(to).into_response();
        }
        let status = self.error.status();
        let mut l = self.layout;
        l.title = match status {
            StatusCode::NOT_FOUND => "Not found".into(),
            StatusCode::FORBIDDEN => "Access denied".into(),
            StatusCode::UNAUTHORIZED => "Sign in required".into(),
            StatusCode::CONFLICT => "Conflict".into(),
            StatusCode::PAYLOAD_TOO_LARGE => "Too large".into(),
            _ if status.is_server_error() => "Something went wrong".into(),
            _ => "Cannot do that".into(),
        };
        let link = match self.error {
            Error::Unauthorized => Some((l.login_url.clone(), "Sign in".to_string())),
            _ => None,
        };
        let page = Message {
            l,
            paragraphs: vec![self.error.public_message()],
            link,
        };
        let mut resp = render(&page);
        *resp.status_mut() = status;
        if let Error::RateLimited { retry_after_secs } = self.error {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        resp
    }
}

/// Renders a template to an HTML response (a render failure is a logged 500).
pub fn render<T: askama::Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

/// The request id the request-id layer assigned (or the client's `X-Request-Id`), for audit
/// entries.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// Parses an `application/x-www-form-urlencoded` body (`+` is a space).
pub fn parse_form(body: &[u8]) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let dec = |s: &[u8]| {
            let plus: Vec<u8> = s
                .iter()
                .map(|b| if *b == b'+' { b' ' } else { *b })
                .collect();
            percent_encoding::percent_decode(&plus)
                .decode_utf8_lossy()
                .into_owned()
        };
        out.insert(dec(k), dec(v));
    }
    out
}

/// A `return_to` we will redirect to: a path on this host, never another origin (the one
/// check, in `redirect.rs`).
pub use redirect::safe_local_path;

#[cfg(test)]
mod client_ip_tests {
    use super::*;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<crate::config::IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn peer(s: &str) -> Option<std::net::SocketAddr> {
        Some(s.parse().unwrap())
    }

    fn ip(s: &str) -> std::net::IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_ignored_without_trusted_proxies() {
        let h = xff(&["203.0.113.9"]);
        // The default: no proxy is trusted, not even loopback.
        assert_eq!(client_ip(&h, peer("127.0.0.1:5000"), &[]), ip("127.0.0.1"));
        assert_eq!(client_ip(&h, peer("[::1]:5000"), &[]), ip("::1"));
        assert_eq!(
            client_ip(&h, peer("198.51.100.7:5000"), &[]),
            ip("198.51.100.7")
        );
        // A peer that is not a trusted proxy cannot choose its address.
        let trusted = nets(&["127.0.0.1/8", "::1"]);
        assert_eq!(
            client_ip(&h, peer("198.51.100.7:5000"), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(&xff(&[]), peer("127.0.0.1:1"), &[]),
            ip("127.0.0.1")
        );
        assert_eq!(client_ip(&xff(&[]), None, &[]), ip("127.0.0.1"));
    }

    #[test]
    fn forwarded_for_is_read_from_trusted_proxies() {
        let trusted = nets(&["127.0.0.1/8", "::1"]);
        let h = xff(&["203.0.113.9"]);
        assert_eq!(
            client_ip(&h, peer("127.0.0.1:5000"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(&h, peer("[::1]:5000"), &trusted),
            ip("203.0.113.9")
        );
        // A dual-stack listener reports IPv4 peers as IPv4-mapped IPv6 addresses.
        assert_eq!(
            client_ip(&h, peer("[::ffff:127.0.0.1]:5000"), &trusted),
            ip("203.0.113.9")
        );
        // A trusted proxy without the header: the proxy itself.
        assert_eq!(
            client_ip(&xff(&[]), peer("127.0.0.1:5000"), &trusted),
            ip("127.0.0.1")
        );
        // What the client wrote itself is left of the address the proxy appended.
        let h = xff(&["6.6.6.6, 203.0.113.9"]);
        assert_eq!(
            client_ip(&h, peer("127.0.0.1:5000"), &trusted),
            ip("203.0.113.9")
        );
        // A chain of trusted proxies is walked past; several headers are one list.
        let chain = nets(&["127.0.0.1", "10.0.0.0/8"]);
        let h = xff(&["6.6.6.6, 203.0.113.9", "10.0.0.5"]);
        assert_eq!(
            client_ip(&h, peer("127.0.0.1:5000"), &chain),
            ip("203.0.113.9")
        );
        // Garbage stops the walk at the last hop that could be believed.
        let h = xff(&["203.0.113.9, not-an-ip"]);
        assert_eq!(
            client_ip(&h, peer("127.0.0.1:5000"), &trusted),
            ip("127.0.0.1")
        );
    }
}
