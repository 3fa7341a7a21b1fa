//! Conditional GET for page views: every view carries an `ETag` (a hash of its bytes)
//! and `Last-Modified`; a browser's `If-None-Match` that still matches gets a 304 with no
//! body; `Cache-Control` says who may keep it (`public` only for a view that is the same
//! for everyone, `private` wherever a session decided what the page shows). A [`View`]
//! is ready to send again, so a surface may keep one (by [`ViewKey`]) and answer the next
//! reader without rendering.

use std::hash::{Hash, Hasher};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use git2::Oid;

/// What a view that is the same for every reader is a function of.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ViewKey {
    pub wiki_id: i64,
    /// A hash of the wiki's settings the page shows (title, visibility, slug).
    pub settings: u64,
    pub head: Option<Oid>,
    /// The page's path as requested.
    pub uri: String,
}

impl ViewKey {
    /// What keeping the view under this key costs, besides the view.
    pub fn bytes(&self) -> usize {
        self.uri.len() + 96
    }
}

/// A page view, ready to send again.
pub struct View {
    body: Bytes,
    etag: HeaderValue,
    /// The page's last change, in HTTP date form.
    last_modified: Option<HeaderValue>,
    /// May a shared cache keep it (an anonymous view of a public wiki)?
    public: bool,
}

impl View {
    /// A view of `html`; `last_change` is the page's last commit time (seconds).
    pub fn new(html: String, last_change: Option<i64>, public: bool) -> View {
        let mut hash = std::hash::DefaultHasher::new();
        html.hash(&mut hash);
        let etag = HeaderValue::from_str(&format!("\"{:016x}\"", hash.finish()))
            .expect("hex is a valid header");
        let last_modified = last_change
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .and_then(|d| {
                HeaderValue::from_str(&d.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).ok()
            });
        View {
            body: Bytes::from(html),
            etag,
            last_modified,
            public,
        }
    }

    /// The response to a request with `headers`: 304 when the browser's copy is this one.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let unchanged = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|tags| etag_matches(tags, &self.etag));
        let mut resp = if unchanged {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut r = self.body.clone().into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        };
        let h = resp.headers_mut();
        h.insert(header::ETAG, self.etag.clone());
        if let Some(lm) = &self.last_modified {
            h.insert(header::LAST_MODIFIED, lm.clone());
        }
        // Always revalidated (a page changes with every commit); only a view that is the
        // same for everyone may be kept by a shared cache.
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if self.public {
                "public, no-cache"
            } else {
                "private, no-cache"
            }),
        );
        h.insert(
            header::VARY,
            HeaderValue::from_static("Cookie, Authorization"),
        );
        resp
    }
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, as RFC 9110 asks of
/// `If-None-Match`; `*` matches any current representation).
fn etag_matches(tags: &str, etag: &HeaderValue) -> bool {
    let want = etag.to_str().unwrap_or_default();
    tags.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == want)
}

impl View {
    /// What keeping the view costs.
    pub fn bytes(&self) -> usize {
        self.body.len() + 160
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_requests_get_a_304_without_a_body() {
        let view = View::new("<p>hi</p>".into(), Some(0), true);
        let etag = view.etag.to_str().unwrap().to_string();
        let mut h = HeaderMap::new();
        assert_eq!(view.respond(&h).status(), StatusCode::OK);
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"x\", W/{etag}")).unwrap(),
        );
        let r = view.respond(&h);
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.headers()[header::ETAG], etag.as_str());
        assert_eq!(
            r.headers()[header::LAST_MODIFIED],
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert_eq!(view.respond(&h).status(), StatusCode::OK);
        let private = View::new("<p>hi</p>".into(), None, false);
        assert_eq!(
            private.respond(&HeaderMap::new()).headers()[header::CACHE_CONTROL],
            "private, no-cache"
        );
        assert_eq!(private.etag, view.etag, "the tag is the bytes'");
    }
}
