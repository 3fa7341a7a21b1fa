//! The root site: landing page, health, sign-in by single-use link, the cross-host session
//! hand-off, and sign-out. (ATProto login and the management app build on this.)
//!
//! Sessions: in production the cookie carries `Domain=.{domain}`, so wiki hosts see it.
//! On localhost a cookie cannot span subdomains, so a wiki host that needs a session sends
//! the browser to the root, which — if signed in — hands over a 60-second single-use code
//! that the wiki host exchanges for its own host-only session cookie.
//!
//! A hand-off code is bound to the host it was minted for and to the browser that asked
//! for it ([`HandoffBinding`]), so nobody can sign someone else's browser in as
//! themselves with a code of their own: the wiki host's `/-/login` sets a host-only nonce
//! cookie ([`HANDOFF_NONCE`]) and passes the nonce to the root, which binds the code to
//! its hash; `/-/session` redeems it only with that cookie. An ATProto sign-in is bound the
//! same way to the nonce cookie `login_submit` sets on the root ([`SIGNIN_NONCE`]): checked
//! at the callback, or — for the loopback client, whose callback is on `127.0.0.1` — by
//! the root's `/auth/session`, which redeems a code bound to it.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};

use super::templates::{Landing, Layout, Message};
use super::{Caller, CurrentWiki, check_csrf, render, safe_local_path, session_cookie};
use crate::access::Principal;
use crate::access::session::{hash_secret, random_token};
use crate::error::Error;
use crate::service::Services;
use crate::service::signin::{self, HandoffBinding, HandoffRefused};

pub fn router() -> Router<Services> {
    Router::new()
        .route("/", get(landing))
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/static/{*file}", get(super::assets::serve))
        .route("/auth/login", get(login).post(login_submit))
        .route("/auth/callback", get(callback))
        .route("/auth/client-metadata.json", get(client_metadata))
        .route("/auth/jwks.json", get(jwks))
        .route("/auth/session", get(accept_root_handoff))
        .route("/auth/login-link", get(login_link))
        .route("/auth/logout", post(logout))
}

fn root_layout(caller: &Caller, title: &str) -> Layout {
    Layout {
        title: title.into(),
        site_title: "robot".into(),
        static_prefix: "/static",
        is_wiki: false,
        user: caller.principal.handle().map(String::from),
        csrf: caller.csrf.clone(),
        login_url: "/auth/login".into(),
        logout_url: "/auth/logout".into(),
        ..Default::default()
    }
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers, there is disk space, and the state of semantic
/// search and its queue. 503 when robot cannot serve writes (database or disk).
async fn ready(State(state): State<Services>) -> Response {
    let r = crate::service::status::readiness(&state).await;
    let (queue, worker) = match &r.health {
        Some(h) => (
            serde_json::to_value(&h.queue).unwrap_or_default(),
            serde_json::to_value(&h.worker).unwrap_or_default(),
        ),
        None => (serde_json::Value::Null, serde_json::Value::Null),
    };
    let ok = r.ok();
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "unavailable" },
        "database": if r.database_ok() { "ok" } else { "error" },
        "disk_free_bytes": r.disk_free,
        "disk": if r.disk_ok() { "ok" } else { "low" },
        // Off is not "unavailable": everything else works without the model.
        "semantic_search": {
            "enabled": state.semantic.enabled(),
            "message": state.semantic.off_reason(),
            "worker": worker,
        },
        "queue": queue,
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// Prometheus metrics: from loopback without a proxy in between, or with the token.
async fn metrics(State(state): State<Services>, req: axum::extract::Request) -> Response {
    let peer_loopback = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|c| c.0.ip().is_loopback());
    let proxied = req.headers().contains_key("x-forwarded-for");
    let token_ok = state.cfg.metrics_token.as_deref().is_some_and(|want| {
        use subtle::ConstantTimeEq;
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|got| got.as_bytes().ct_eq(want.as_bytes()).into())
    });
    if !(token_ok || peer_loopback && !proxied) {
        return (
            StatusCode::FORBIDDEN,
            "metrics are available from loopback or with the metrics token\n",
        )
            .into_response();
    }
    let gauges = crate::service::status::gauges(&state).await;
    let caches = crate::service::status::caches(&state);
    match gauges {
        Ok(g) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            state.metrics.render(&g, &caches),
        )
            .into_response(),
        Err(e) => {
            e.log();
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn landing(State(state): State<Services>, caller: Caller) -> Response {
    // Signed in: the wikis they own or share, as the management app lists them.
    let mut list = Vec::new();
    if caller.principal.did().is_some() {
        match crate::service::manage::my_wikis(&state, &caller).await {
            Ok(wikis) => {
                list = wikis
                    .into_iter()
                    .map(|w| {
                        let role = w.role.map_or("", |r| r.as_str()).to_string();
                        (w.url, w.title, role)
                    })
                    .collect()
            }
            Err(e) => e.log(),
        }
    }
    render(&Landing {
        l: root_layout(&caller, "Home"),
        wikis: list,
    })
}

/// Refusal of a hand-off code minted for another host or another browser.
const WRONG_PLACE: &str =
    "This sign-in hand-off was not started in this browser for this site. Please sign in again.";

/// Redeems a single-use code (an operator's link or a bound hand-off) into a session cookie
/// and redirects to `return_to` (a local path) or `default_to`. Used by the operator's
/// sign-in link and by both ends of the cross-host hand-off.
async fn redeem(
    state: &Services,
    q: &BTreeMap<String, String>,
    kind: signin::Code,
    host_only: bool,
    default_to: &str,
    expired: &str,
) -> Response {
    let code = q.get("token").map(String::as_str).unwrap_or("");
    let anon = Caller::anonymous();
    let consumed = signin::redeem(state, code, kind).await;
    match consumed {
        Ok(Ok(did)) => match start_session(state, &did, host_only).await {
            Ok(cookie) => {
                let to = q
                    .get("return_to")
                    .and_then(|r| safe_local_path(r))
                    .unwrap_or(default_to);
                ([(header::SET_COOKIE, cookie)], Redirect::to(to)).into_response()
            }
            Err(e) => error_page(&anon, e),
        },
        Ok(Err(HandoffRefused::Gone)) => error_page(&anon, Error::Forbidden(expired.into())),
        Ok(Err(HandoffRefused::WrongPlace)) => {
            tracing::warn!("hand-off code presented on another host or by another browser");
            error_page(&anon, Error::Forbidden(WRONG_PLACE.into()))
        }
        Err(e) => error_page(&anon, e),
    }
}

/// The nonce cookie a wiki host sets when it sends the browser to sign in (the hand-off
/// code the root mints for it is bound to the nonce).
pub const HANDOFF_NONCE: &str = "robot_handoff";
/// The nonce cookie the root sets when an ATProto sign-in starts (the sign-in is bound to
/// it).
pub const SIGNIN_NONCE: &str = "robot_signin";

/// A nonce cookie's name on this server: over https with the `__Host-` prefix, which
/// browsers accept only Secure, with `Path=/` and without `Domain`, so a sibling subdomain
/// can neither set nor toss it; on plain http (localhost) the bare name, host-only.
pub fn nonce_cookie_name(state: &Services, base: &str) -> String {
    if state.cfg.scheme() == "https" {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

/// The `Set-Cookie` value of a host-only nonce cookie.
pub fn nonce_cookie(
    state: &Services,
    base: &str,
    value: &str,
    max_age: i64,
) -> axum::http::HeaderValue {
    let secure = if state.cfg.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let c = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        nonce_cookie_name(state, base)
    );
    axum::http::HeaderValue::from_str(&c).expect("ASCII cookie")
}

/// The request's nonce cookie `base`, if it is one we could have set.
pub fn nonce_from(state: &Services, headers: &HeaderMap, base: &str) -> Option<String> {
    super::cookie_value(headers, &nonce_cookie_name(state, base)).filter(|n| valid_nonce(n))
}

/// A nonce looks like one of ours (`random_token`: 43 URL-safe characters).
pub fn valid_nonce(n: &str) -> bool {
    (32..=128).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The SHA-256 a code is bound to for the browser presenting `nonce` (empty without one,
/// which matches no code).
fn browser_hash(nonce: Option<&str>) -> String {
    nonce.map(hash_secret).unwrap_or_default()
}

/// The host a hand-off to wiki `slug` is bound to.
pub fn wiki_binding_host(state: &Services, slug: &str) -> String {
    format!("{}.{}", slug.to_ascii_lowercase(), state.cfg.domain_host())
}

/// Signs the user in on the root host from an operator's single-use link.
async fn login_link(
    State(state): State<Services>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    redeem(
        &state,
        &q,
        signin::Code::Login,
        false,
        "/",
        "This sign-in link is invalid, expired or already used. Ask the operator for a new one (robot admin login-link).",
    )
    .await
}

fn error_page(caller: &Caller, e: Error) -> Response {
    e.log();
    let status = e.status();
    let mut r = render(&Message {
        l: root_layout(caller, "Cannot sign in"),
        paragraphs: vec![e.public_message()],
        link: None,
    });
    *r.status_mut() = status;
    r
}

/// Starts a session and returns its `Set-Cookie` value.
async fn start_session(
    state: &Services,
    did: &str,
    host_only: bool,
) -> Result<axum::http::HeaderValue, Error> {
    let started = signin::start_session(state, did).await?;
    Ok(session_cookie(
        state,
        &started.token,
        started.max_age_secs,
        host_only,
    ))
}

/// The sign-in page. A signed-in user coming from a wiki host is handed back to it, with
/// a code bound to that host and to the browser's nonce (`nonce`, from the wiki host's
/// `/-/login`); without a nonce the browser is sent to the wiki host's `/-/login` first.
async fn login(
    State(state): State<Services>,
    caller: Caller,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let return_to = q.get("return_to").cloned().unwrap_or_default();
    if let Principal::User { did, .. } = &caller.principal {
        if let Some(w) = wiki_return(&state, &return_to) {
            let Some(nonce) = q.get("nonce").filter(|n| valid_nonce(n)) else {
                let to = format!(
                    "{}/-/login?return_to={}",
                    w.origin,
                    crate::http::urlencode(w.path)
                );
                return Redirect::to(&to).into_response();
            };
            let binding = HandoffBinding {
                host: w.host,
                browser_hash: browser_hash(Some(nonce)),
            };
            let code = match signin::mint_handoff(&state, did, binding).await {
                Ok(c) => c,
                Err(e) => return error_page(&caller, e),
            };
            let to = format!(
                "{}/-/session?token={code}&return_to={}",
                w.origin,
                crate::http::urlencode(w.path)
            );
            return Redirect::to(&to).into_response();
        }
        let to = safe_local_path(&return_to).unwrap_or("/");
        return Redirect::to(to).into_response();
    }
    login_page(&state, &caller, &return_to, None, StatusCode::OK)
}

/// The double-submit cookie that protects the sign-in form (there is no session yet).
const LOGIN_CSRF: &str = "robot_login_csrf";

fn login_page(
    state: &Services,
    caller: &Caller,
    return_to: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let token = random_token();
    let mut l = root_layout(caller, "Sign in");
    l.csrf = token.clone();
    let page = super::templates::Form {
        l,
        heading: "Sign in".into(),
        intro: "Sign in with your Bluesky or other ATProto account.".into(),
        action: "/auth/login".into(),
        fields: vec![
            super::templates::Field::text("handle", "Handle", "")
                .required()
                .hint("For example alice.bsky.social. A DID or your PDS address also works."),
            super::templates::Field {
                kind: "hidden",
                ..super::templates::Field::text("return_to", "", return_to)
            },
        ],
        submit: "Sign in".into(),
        cancel: "/".into(),
        danger: false,
        confirm: String::new(),
        error,
    };
    let mut r = render(&page);
    *r.status_mut() = status;
    let secure = if state.cfg.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie =
        format!("{LOGIN_CSRF}={token}; Path=/auth; HttpOnly; SameSite=Lax; Max-Age=3600{secure}");
    r.headers_mut().append(
        header::SET_COOKIE,
        axum::http::HeaderValue::from_str(&cookie).expect("ASCII cookie"),
    );
    r
}

/// Starts an ATProto sign-in and sends the browser to the account's server.
async fn login_submit(
    State(state): State<Services>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = super::parse_form(&body);
    let return_to = form.get("return_to").cloned().unwrap_or_default();
    let cookie = super::cookie_value(&headers, LOGIN_CSRF).unwrap_or_default();
    let presented = form.get("csrf").cloned().unwrap_or_default();
    use subtle::ConstantTimeEq;
    if cookie.is_empty() || !bool::from(cookie.as_bytes().ct_eq(presented.as_bytes())) {
        return login_page(
            &state,
            &caller,
            &return_to,
            Some("The form expired. Please try again.".into()),
            StatusCode::FORBIDDEN,
        );
    }
    let input = form.get("handle").cloned().unwrap_or_default();
    match state.atproto.start(&input, &return_to).await {
        Ok(signin) => {
            let cookie = nonce_cookie(
                &state,
                SIGNIN_NONCE,
                &signin.browser_nonce,
                crate::atproto::LOGIN_TTL_SECS,
            );
            ([(header::SET_COOKIE, cookie)], Redirect::to(&signin.url)).into_response()
        }
        Err(e) => {
            let status = e.status();
            e.log();
            login_page(
                &state,
                &caller,
                &return_to,
                Some(e.public_message()),
                status,
            )
        }
    }
}

/// The authorization server sends the browser back here.
async fn callback(
    State(state): State<Services>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let anon = Caller::anonymous();
    let Some(st) = q.get("state") else {
        return error_page(
            &anon,
            Error::BadRequest("The sign-in response carries no state.".into()),
        );
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let on_root =
        crate::config::host_without_port(host).eq_ignore_ascii_case(&state.cfg.domain_host());
    let nonce = nonce_from(&state, &headers, SIGNIN_NONCE);
    let browser = if on_root {
        crate::atproto::CallbackBrowser::Cookie(nonce.as_deref())
    } else {
        crate::atproto::CallbackBrowser::Elsewhere
    };
    let result = state
        .atproto
        .finish(
            st,
            q.get("code").map(String::as_str),
            q.get("iss").map(String::as_str),
            q.get("error").map(String::as_str),
            browser,
        )
        .await;
    let identity = match result {
        Ok(i) => i,
        Err(e) => return error_page(&anon, e),
    };
    signin::record_sign_in(
        &state,
        &identity.did,
        &identity.handle,
        super::request_id(&headers),
    )
    .await;
    let target = post_login_target(&state, &identity.return_to);
    if !on_root {
        // The loopback client's callback lands on 127.0.0.1: hand the session over to the
        // root domain, where the cookie must live, bound to the root and to the nonce of
        // the browser that started the sign-in (which only the root can see).
        let binding = HandoffBinding {
            host: state.cfg.domain_host(),
            browser_hash: identity.browser_hash.clone(),
        };
        let code = match signin::mint_handoff(&state, &identity.did, binding).await {
            Ok(c) => c,
            Err(e) => return error_page(&anon, e),
        };
        let to = format!(
            "{}/auth/session?token={code}&return_to={}",
            state.cfg.root_url(),
            crate::http::urlencode(&target)
        );
        return Redirect::to(&to).into_response();
    }
    match start_session(&state, &identity.did, false).await {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to(&target)).into_response(),
        Err(e) => error_page(&anon, e),
    }
}

/// Where to go after signing in: the page that asked (a local path or one of our wiki
/// URLs), else the management app.
fn post_login_target(state: &Services, return_to: &str) -> String {
    if let Some(p) = safe_local_path(return_to) {
        return p.to_string();
    }
    if wiki_return(state, return_to).is_some() {
        return format!(
            "/auth/login?return_to={}",
            crate::http::urlencode(return_to)
        );
    }
    "/app".to_string()
}

/// On the root host: exchanges a hand-off code for a session (the loopback callback).
/// The code must be bound to the root and to this browser's sign-in nonce.
async fn accept_root_handoff(
    State(state): State<Services>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let nonce = nonce_from(&state, &headers, SIGNIN_NONCE);
    let binding = HandoffBinding {
        host: state.cfg.domain_host(),
        browser_hash: browser_hash(nonce.as_deref()),
    };
    redeem(
        &state,
        &q,
        signin::Code::Handoff(binding),
        false,
        "/app",
        "This sign-in hand-off has expired. Please sign in again.",
    )
    .await
}

async fn client_metadata(State(state): State<Services>) -> Response {
    match state.atproto.client_metadata() {
        Some(m) => Json(m).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "this server uses the ATProto loopback client",
        )
            .into_response(),
    }
}

async fn jwks(State(state): State<Services>) -> Response {
    Json(state.atproto.jwks()).into_response()
}

/// A `return_to` on one of our wiki hosts.
struct WikiReturn<'a> {
    /// `http://slug.localhost:8080`
    origin: String,
    /// The host a hand-off to it is bound to ([`wiki_binding_host`]).
    host: String,
    /// The local path on it.
    path: &'a str,
}

/// Splits `http://slug.localhost:8080/Page` into its origin and path, if it is one of
/// our wiki hosts.
fn wiki_return<'a>(state: &Services, url: &'a str) -> Option<WikiReturn<'a>> {
    let scheme = format!("{}://", state.cfg.scheme());
    let rest = url.strip_prefix(&scheme)?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let suffix = format!(".{}", state.cfg.domain);
    let slug = host.strip_suffix(&suffix)?;
    crate::wiki::slug::validate(slug).ok()?;
    Some(WikiReturn {
        origin: format!("{scheme}{host}"),
        host: wiki_binding_host(state, slug),
        path: safe_local_path(path)?,
    })
}

/// On a wiki host: exchanges a hand-off code for a host-only session. The code must be
/// bound to this wiki's host and to this browser's nonce (set by `/-/login`).
pub async fn accept_handoff(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let nonce = nonce_from(&state, &headers, HANDOFF_NONCE);
    let binding = HandoffBinding {
        host: wiki_binding_host(&state, &wiki.slug),
        browser_hash: browser_hash(nonce.as_deref()),
    };
    redeem(
        &state,
        &q,
        signin::Code::Handoff(binding),
        true,
        "/",
        "This sign-in hand-off has expired. Go back and try again.",
    )
    .await
}

/// Signs out everywhere: all of the user's sessions are revoked and this host's cookie is
/// cleared. (Also mounted at `/-/logout` on wiki hosts.)
pub async fn logout(
    State(state): State<Services>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form: BTreeMap<String, String> = super::parse_form(&body);
    if let Err(e) = check_csrf(
        &state.keys,
        &caller,
        form.get("csrf").map(String::as_str),
        &headers,
    ) {
        if matches!(e, Error::Unauthorized) {
            return Redirect::to("/").into_response();
        }
        return error_page(&caller, e);
    }
    if let Some(did) = caller.principal.did().map(String::from) {
        let res = signin::sign_out(&state, &did, super::request_id(&headers)).await;
        if let Err(e) = res {
            return error_page(&caller, e);
        }
    }
    let clear_shared = session_cookie(&state, "", 0, false);
    let clear_host = session_cookie(&state, "", 0, true);
    let mut r = Redirect::to(&format!("{}/", state.cfg.root_url())).into_response();
    r.headers_mut().append(header::SET_COOKIE, clear_shared);
    r.headers_mut().append(header::SET_COOKIE, clear_host);
    *r.status_mut() = StatusCode::SEE_OTHER;
    r
}
