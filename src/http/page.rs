//! The HTML frame every page shares: the [`Layout`] of `base.html`, the one-message page,
//! rendering a template to a response, and [`WebError`], an error shown as a page.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::error::Error;

/// What the shared layout needs: site, user, CSRF token, sidebar.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub title: String,
    pub site_title: String,
    pub static_prefix: &'static str,
    pub is_wiki: bool,
    pub user: Option<String>,
    pub csrf: String,
    pub can_write: bool,
    /// The current page's name, for scripts (empty off page routes).
    pub page: String,
    /// Pre-rendered page tree (escaped when built).
    pub sidebar: String,
    pub login_url: String,
    pub logout_url: String,
}

impl Layout {
    /// The fingerprint of the static assets, for their URLs.
    pub fn asset_version(&self) -> &'static str {
        super::asset_version()
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct Message {
    pub l: Layout,
    pub paragraphs: Vec<String>,
    pub link: Option<(String, String)>,
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
