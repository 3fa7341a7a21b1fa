//! Who is calling: the one place a request's credentials become a [`Caller`] — the
//! session cookie (with its CSRF token), a wiki or personal token (Bearer, or Basic for
//! git), an OAuth access token at the resource it was issued for, or a platform JWT — and
//! the wiki the request is for. The server resolves both once per request, before any
//! surface sees it; surfaces read them from the request's extensions.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::Principal;
use super::session::{self, COOKIE, Keys};
use crate::config::Config;
use crate::db::wikis::Wiki;
use crate::error::{Error, Result};

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
    /// A token whose "last used" is to be written ([`LastUse::record`]): resolving a
    /// caller only reads, so it can run wherever the request is (`Db::read_now`).
    pub last_use: Option<LastUse>,
}

/// A credential to mark as used (at most once a minute each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastUse {
    Grant(i64),
    PersonalToken(i64),
}

impl LastUse {
    /// Writes the use (a write: on the blocking pool).
    pub fn record(self, conn: &rusqlite::Connection) -> Result<()> {
        let now = crate::db::now();
        match self {
            LastUse::Grant(id) => crate::db::oauth::touch_grant(conn, id, now),
            LastUse::PersonalToken(id) => crate::db::personal_tokens::touch(conn, id, now),
        }
    }
}

impl Caller {
    pub fn anonymous() -> Caller {
        Caller {
            principal: Principal::Anonymous,
            csrf: String::new(),
            bearer: false,
            bad_bearer: false,
            last_use: None,
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

/// For an OAuth caller on a wiki host: its role on that wiki as [`super::authorize`]
/// decided it when the request arrived, and the person's own role there. Decided
/// together with the caller and the wiki, so `/mcp`'s checks cost no extra trip to the
/// database.
#[derive(Debug, Clone, Copy)]
pub struct OAuthRole {
    /// What the token may do: the person's role capped by its scopes (`None`: no access).
    pub token: Option<super::Role>,
    /// What the person may do, and so what a new authorization could grant them.
    pub person: Option<super::Role>,
}

impl OAuthRole {
    /// The decision for `caller` on `wiki`; `None` for callers that are not OAuth tokens.
    pub fn of(conn: &rusqlite::Connection, caller: &Caller, wiki: &Wiki) -> Option<OAuthRole> {
        let Principal::OAuth { did, can_write, .. } = &caller.principal else {
            return None;
        };
        let grant = super::authorize(conn, &caller.principal, wiki, super::Action::Read);
        let token = grant.ok().and_then(|g| g.role);
        // A token with `wiki:write` is capped at nothing less than the person's role, so
        // its role is theirs; only a read-only token needs the person's looked up.
        let person = if *can_write {
            token
        } else {
            super::person_role(conn, did, wiki).ok().flatten()
        };
        Some(OAuthRole { token, person })
    }
}

/// The credential a request presents, read from its headers without any I/O.
#[derive(Clone)]
pub enum Credential {
    None,
    /// `Authorization: Bearer …` (a wiki or personal token, an OAuth access token or a
    /// platform JWT).
    Bearer(String),
    /// The password of `Authorization: Basic …`, read only on git's paths: git sends a
    /// wiki or personal token that way. (Elsewhere it is a bad header: browsers resend Basic
    /// credentials on their own, so they could not be trusted without a CSRF check.)
    Basic(String),
    /// An `Authorization` header that is not a usable bearer token.
    BadHeader,
    /// The browser session cookie.
    Cookie(String),
}

impl Credential {
    /// The credential of a request; `git` says whether it is for git's paths
    /// ([`super::resource::is_git_path`]), where Basic credentials count.
    pub fn of(headers: &HeaderMap, git: bool) -> Credential {
        if let Some(auth) = headers.get(header::AUTHORIZATION) {
            if git && let Some(password) = auth.to_str().ok().and_then(basic_password) {
                return Credential::Basic(password);
            }
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
    keys: &Keys,
    cfg: &Config,
    credential: &Credential,
    ip: std::net::IpAddr,
    resource: Option<&str>,
) -> Result<Caller> {
    let mut caller = Caller::anonymous();
    caller.ip = ip;
    match credential {
        Credential::None => {}
        Credential::BadHeader => caller.bad_bearer = true,
        Credential::Bearer(token) => {
            match principal_from_bearer(conn, keys, cfg, token, resource)? {
                Some((p, used)) => {
                    caller.principal = p;
                    caller.bearer = true;
                    caller.last_use = used;
                }
                None => caller.bad_bearer = true,
            }
        }
        Credential::Basic(password) => match token_principal(conn, password)? {
            Some((p, used)) => {
                caller.principal = p;
                caller.bearer = true;
                caller.last_use = used;
            }
            None => caller.bad_bearer = true,
        },
        Credential::Cookie(token) => {
            if let Some((principal, jti)) = principal_from_jwt(conn, keys, cfg, token)? {
                caller.csrf = session::csrf_token(keys, &jti);
                caller.principal = principal;
            }
        }
    }
    Ok(caller)
}

/// The principal a bearer token stands for, and the use to record. An OAuth access token
/// counts only at the resource it was issued for (`resource`, see [`resolve_caller`]);
/// elsewhere it is `None`, an invalid token.
fn principal_from_bearer(
    conn: &rusqlite::Connection,
    keys: &Keys,
    cfg: &Config,
    token: &str,
    resource: Option<&str>,
) -> Result<Option<(Principal, Option<LastUse>)>> {
    if token.starts_with(super::tokens::PREFIX) || token.starts_with(super::tokens::PERSONAL_PREFIX)
    {
        return token_principal(conn, token);
    }
    if token.starts_with(super::resource::ACCESS_TOKEN_PREFIX) {
        let Some(resource) = resource else {
            return Ok(None);
        };
        let found = super::resource::principal_for_access_token(conn, token, resource)?;
        return Ok(found.map(|(p, stale)| {
            let used = match (&p, stale) {
                (Principal::OAuth { grant_id, .. }, true) => Some(LastUse::Grant(*grant_id)),
                _ => None,
            };
            (p, used)
        }));
    }
    Ok(principal_from_jwt(conn, keys, cfg, token)?.map(|(p, _)| (p, None)))
}

/// The principal of a wiki token or a personal token (`None` when it is unknown, or a
/// personal token that expired).
fn token_principal(
    conn: &rusqlite::Connection,
    token: &str,
) -> Result<Option<(Principal, Option<LastUse>)>> {
    if token.starts_with(super::tokens::PERSONAL_PREFIX) {
        return Ok(super::tokens::holder_of(conn, token)?.map(|(h, stale)| {
            let used = stale.then_some(LastUse::PersonalToken(h.token_id));
            let p = Principal::PersonalToken {
                did: h.did,
                handle: h.handle,
                wiki_id: h.wiki_id,
                token_id: h.token_id,
                name: h.name,
                can_write: h.can_write,
            };
            (p, used)
        }));
    }
    let Some(wiki_id) = super::tokens::wiki_of(conn, token)? else {
        return Ok(None);
    };
    Ok(crate::db::wikis::by_id(conn, wiki_id)?.map(|w| {
        let p = Principal::WikiToken {
            wiki_id,
            slug: w.slug,
        };
        (p, None)
    }))
}

/// A platform JWT whose session row is live.
fn principal_from_jwt(
    conn: &rusqlite::Connection,
    keys: &Keys,
    cfg: &Config,
    token: &str,
) -> Result<Option<(Principal, String)>> {
    // The platform issues its JWTs as the root site.
    let Some(claims) = session::verify(keys, &cfg.root_url(), token) else {
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

/// The password of a Basic `Authorization` header (`None` when the scheme is not Basic);
/// empty when the credentials do not decode to `user:password`.
pub fn basic_password(authorization: &str) -> Option<String> {
    let b64 = authorization
        .strip_prefix("Basic ")
        .or_else(|| authorization.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|d| String::from_utf8(d).ok());
    Some(
        decoded
            .as_deref()
            .and_then(|d| d.split_once(':'))
            .map(|(_, p)| p.to_string())
            .unwrap_or_default(),
    )
}

/// Checks the CSRF token of a form post (or the `X-CSRF-Token` header).
pub fn check_csrf(
    keys: &Keys,
    caller: &Caller,
    form_token: Option<&str>,
    headers: &HeaderMap,
) -> Result<()> {
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
    if session::check_csrf(keys, session_id, &presented) {
        Ok(())
    } else {
        tracing::warn!("CSRF token missing or wrong");
        Err(Error::Forbidden(
            "The form has expired or did not come from this site. Reload the page and try again."
                .into(),
        ))
    }
}

#[cfg(test)]
mod client_ip_tests {
    use super::*;
    use axum::http::HeaderValue;

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
