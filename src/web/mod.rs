//! The browser-facing transport: HTML for wiki hosts (`wiki.rs`) and the root site
//! (`root.rs`), embedded assets (`assets.rs`) and templates (`templates.rs`). Handlers parse
//! the request, ask `access::authorize`, call the wiki core, and render; no rule lives here.

pub mod assets;
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
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Caller>().cloned().unwrap_or(Caller {
            principal: Principal::Anonymous,
            csrf: String::new(),
        }))
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

/// Reads the session cookie, verifies it, and checks its row is live.
pub async fn caller_from_headers(state: &AppState, headers: &HeaderMap) -> Caller {
    let anonymous = Caller {
        principal: Principal::Anonymous,
        csrf: String::new(),
    };
    let Some(token) = cookie_value(headers, COOKIE) else {
        return anonymous;
    };
    let Some(claims) = session::verify(&state.keys, &state.cfg.root_url(), &token) else {
        return anonymous;
    };
    let (jti, did) = (claims.jti.clone(), claims.sub.clone());
    let live = state
        .db
        .run(move |c| crate::db::sessions::is_live(c, &jti, &did))
        .await;
    match live {
        Ok(true) => Caller {
            csrf: session::csrf_token(&state.keys, &claims.jti),
            principal: Principal::User {
                did: claims.sub,
                handle: claims.handle,
                session_id: claims.jti,
            },
        },
        Ok(false) => anonymous,
        Err(e) => {
            e.log();
            anonymous
        }
    }
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

/// A `return_to` we will redirect to: a path on this host, never another origin.
pub fn safe_local_path(p: &str) -> Option<&str> {
    (p.starts_with('/')
        && !p.starts_with("//")
        && !p.starts_with("/\\")
        && !p.contains(['\r', '\n']))
    .then_some(p)
}
