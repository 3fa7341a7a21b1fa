//! The root site: landing page, health, sign-in by single-use link, the cross-host session
//! hand-off, and sign-out. (ATProto login and the management app build on this.)
//!
//! Sessions: in production the cookie carries `Domain=.{domain}`, so wiki hosts see it.
//! On localhost a cookie cannot span subdomains, so a wiki host that needs a session sends
//! the browser to the root, which — if signed in — hands over a 60-second single-use code
//! that the wiki host exchanges for its own host-only session cookie.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};

use super::templates::{Landing, Layout, Message};
use super::{Caller, CurrentWiki, check_csrf, render, safe_local_path, session_cookie};
use crate::access::Principal;
use crate::access::session::{self, hash_secret, random_token};
use crate::app::AppState;
use crate::db::{sessions, users, wikis};
use crate::error::Error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(landing))
        .route("/app", get(landing))
        .route("/health", get(health))
        .route("/static/{*file}", get(super::assets::serve))
        .route("/auth/login", get(login))
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

async fn landing(State(state): State<AppState>, caller: Caller) -> Response {
    let mut list = Vec::new();
    if let Some(did) = caller.principal.did().map(String::from) {
        let res = state
            .db
            .run(move |c| {
                let mut out: Vec<(String, String, String)> = wikis::owned_by(c, &did)?
                    .into_iter()
                    .map(|w| (w.slug, w.title, "owner".to_string()))
                    .collect();
                let mut stmt = c.prepare(
                    "SELECT w.slug, w.title, c.role FROM collaborators c JOIN wikis w ON w.id = c.wiki_id WHERE c.did = ?1 ORDER BY w.slug",
                )?;
                let rows = stmt.query_map([&did], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                for r in rows {
                    out.push(r?);
                }
                Ok(out)
            })
            .await;
        match res {
            Ok(rows) => {
                list = rows
                    .into_iter()
                    .map(|(slug, title, role)| (state.cfg.wiki_url(&slug), title, role))
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

/// Signs the user in on the root host from an operator's single-use link.
async fn login_link(
    State(state): State<AppState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    let hash = hash_secret(&token);
    let did = state
        .db
        .run(move |c| sessions::consume_link(c, &hash, "login"))
        .await;
    let anon = Caller {
        principal: Principal::Anonymous,
        csrf: String::new(),
    };
    match did {
        Ok(Some(did)) => match start_session(&state, &did, false).await {
            Ok(cookie) => {
                let to = q.get("return_to").and_then(|r| safe_local_path(r)).unwrap_or("/");
                ([(header::SET_COOKIE, cookie)], Redirect::to(to)).into_response()
            }
            Err(e) => error_page(&anon, e),
        },
        Ok(None) => error_page(
            &anon,
            Error::Forbidden("This sign-in link is invalid, expired or already used. Ask the operator for a new one (robot admin login-link).".into()),
        ),
        Err(e) => error_page(&anon, e),
    }
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

/// Creates a session row and returns the `Set-Cookie` value.
async fn start_session(
    state: &AppState,
    did: &str,
    host_only: bool,
) -> Result<axum::http::HeaderValue, Error> {
    let did2 = did.to_string();
    let user = state
        .db
        .run(move |c| users::get(c, &did2))
        .await?
        .ok_or_else(|| Error::Forbidden("That account no longer exists.".into()))?;
    let claims = session::issue(
        &state.cfg.root_url(),
        &user.did,
        &user.handle,
        state.cfg.session_hours,
    )?;
    let token = session::encode(&state.keys, &claims)?;
    let (jti, did3, exp) = (claims.jti.clone(), user.did.clone(), claims.exp);
    state
        .db
        .run(move |c| sessions::create(c, &jti, &did3, exp))
        .await?;
    tracing::info!(did = %user.did, "session started");
    Ok(session_cookie(
        state,
        &token,
        state.cfg.session_hours * 3600,
        host_only,
    ))
}

/// The sign-in page. A signed-in user coming from a wiki host is handed back to it.
async fn login(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let return_to = q.get("return_to").cloned().unwrap_or_default();
    if let Principal::User { did, .. } = &caller.principal {
        if let Some((origin, path)) = wiki_return(&state, &return_to) {
            let code = random_token();
            let (hash, did) = (hash_secret(&code), did.clone());
            if let Err(e) = state
                .db
                .run(move |c| sessions::create_link(c, &hash, &did, "handoff", 60))
                .await
            {
                return error_page(&caller, e);
            }
            let to = format!(
                "{origin}/-/session?token={code}&return_to={}",
                super::wiki::urlencode(path)
            );
            return Redirect::to(&to).into_response();
        }
        let to = safe_local_path(&return_to).unwrap_or("/");
        return Redirect::to(to).into_response();
    }
    render(&Message {
        l: root_layout(&caller, "Sign in"),
        paragraphs: vec![
            "Sign in with the single-use link your operator gives you.".into(),
            "Operators create one with: robot admin login-link HANDLE_OR_DID".into(),
        ],
        link: None,
    })
}

/// Splits `http://slug.localhost:8080/Page` into its origin and path, if it is one of
/// our wiki hosts.
fn wiki_return<'a>(state: &AppState, url: &'a str) -> Option<(String, &'a str)> {
    let scheme = format!("{}://", state.cfg.scheme());
    let rest = url.strip_prefix(&scheme)?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let suffix = format!(".{}", state.cfg.domain);
    let slug = host.strip_suffix(&suffix)?;
    crate::wiki::slug::validate(slug).ok()?;
    Some((format!("{scheme}{host}"), safe_local_path(path)?))
}

/// On a wiki host: exchanges a hand-off code for a host-only session.
pub async fn accept_handoff(
    State(state): State<AppState>,
    CurrentWiki(_wiki): CurrentWiki,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let hash = hash_secret(q.get("token").map(String::as_str).unwrap_or(""));
    let anon = Caller {
        principal: Principal::Anonymous,
        csrf: String::new(),
    };
    match state
        .db
        .run(move |c| sessions::consume_link(c, &hash, "handoff"))
        .await
    {
        Ok(Some(did)) => match start_session(&state, &did, true).await {
            Ok(cookie) => {
                let to = q
                    .get("return_to")
                    .and_then(|r| safe_local_path(r))
                    .unwrap_or("/");
                ([(header::SET_COOKIE, cookie)], Redirect::to(to)).into_response()
            }
            Err(e) => error_page(&anon, e),
        },
        Ok(None) => error_page(
            &anon,
            Error::Forbidden("This sign-in hand-off has expired. Go back and try again.".into()),
        ),
        Err(e) => error_page(&anon, e),
    }
}

/// Signs out everywhere: all of the user's sessions are revoked and this host's cookie is
/// cleared. (Also mounted at `/-/logout` on wiki hosts.)
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form: BTreeMap<String, String> = url_form(&body);
    if let Err(e) = check_csrf(
        &state,
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
        let res = state
            .db
            .run(move |c| {
                c.execute(
                    "UPDATE sessions SET revoked_at = ?2 WHERE did = ?1 AND revoked_at IS NULL",
                    rusqlite::params![did, crate::db::now()],
                )?;
                Ok(())
            })
            .await;
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

fn url_form(body: &[u8]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let s = String::from_utf8_lossy(pair).replace('+', " ");
        let (k, v) = s.split_once('=').unwrap_or((&s, ""));
        let d = |x: &str| {
            percent_encoding::percent_decode_str(x)
                .decode_utf8_lossy()
                .into_owned()
        };
        out.insert(d(k), d(v));
    }
    out
}
