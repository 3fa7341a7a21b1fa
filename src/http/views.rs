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
    body: Body,
    /// The hash of the page's bytes, quoted (the gzip form adds `-gz` inside the quotes:
    /// another encoding is another representation).
    etag: String,
    /// The page's last change, in HTTP date form.
    last_modified: Option<HeaderValue>,
    /// May a shared cache keep it (an anonymous view of a public wiki)?
    public: bool,
}

enum Body {
    Plain(Bytes),
    /// A kept view: gzip is about a quarter of the HTML, so four times as many views fit
    /// the same budget. Sent as it is to clients that accept gzip (browsers do), inflated
    /// for the others.
    Gzip(Bytes),
}

impl View {
    /// A view of `html`; `last_change` is the page's last commit time (seconds).
    pub fn new(html: String, last_change: Option<i64>, public: bool) -> View {
        let mut hash = std::hash::DefaultHasher::new();
        html.hash(&mut hash);
        let last_modified = last_change
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .and_then(|d| {
                HeaderValue::from_str(&d.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).ok()
            });
        View {
            body: Body::Plain(Bytes::from(html)),
            etag: format!("\"{:016x}\"", hash.finish()),
            last_modified,
            public,
        }
    }

    /// The same view, compressed, to keep.
    pub fn compressed(&self) -> View {
        use std::io::Write;
        let body = match &self.body {
            Body::Plain(html) => {
                let mut gz = flate2::write::GzEncoder::new(
                    Vec::with_capacity(html.len() / 3),
                    flate2::Compression::default(),
                );
                let done = gz.write_all(html).and_then(|()| gz.finish());
                match done {
                    Ok(bytes) => Body::Gzip(Bytes::from(bytes)),
                    Err(_) => Body::Plain(html.clone()),
                }
            }
            Body::Gzip(bytes) => Body::Gzip(bytes.clone()),
        };
        View {
            body,
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
            public: self.public,
        }
    }

    /// What keeping the view costs.
    pub fn bytes(&self) -> usize {
        let (Body::Plain(b) | Body::Gzip(b)) = &self.body;
        b.len() + self.etag.len() + 160
    }

    /// The response to a request with `headers`: 304 when the browser's copy is this one.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let gzip_ok = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(accepts_gzip);
        let (body, gzipped) = match &self.body {
            Body::Plain(html) => (html.clone(), false),
            Body::Gzip(gz) if gzip_ok => (gz.clone(), true),
            Body::Gzip(gz) => {
                use std::io::Read;
                let mut html = Vec::with_capacity(gz.len() * 4);
                match flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut html) {
                    Ok(_) => (Bytes::from(html), false),
                    Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }
        };
        let etag = if gzipped {
            format!("{}-gz\"", self.etag.trim_end_matches('"'))
        } else {
            self.etag.clone()
        };
        let unchanged = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|tags| etag_matches(tags, &etag));
        let mut resp = if unchanged {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut r = body.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            if gzipped {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        };
        let h = resp.headers_mut();
        if let Ok(tag) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, tag);
        }
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
            HeaderValue::from_static("Accept-Encoding, Cookie, Authorization"),
        );
        resp
    }
}

/// Whether an `Accept-Encoding` value takes gzip (`gzip`, `x-gzip` or `*`, not `;q=0`).
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|part| {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim();
        let refused = it.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                == Some(0.0)
        });
        !refused
            && (coding.eq_ignore_ascii_case("gzip")
                || coding.eq_ignore_ascii_case("x-gzip")
                || coding == "*")
    })
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, as RFC 9110 asks of
/// `If-None-Match`; `*` matches any current representation).
fn etag_matches(tags: &str, etag: &str) -> bool {
    tags.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_requests_get_a_304_without_a_body() {
        let view = View::new("<p>hi</p>".into(), Some(0), true);
        let etag = view.etag.clone();
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
        // Kept compressed: gzip to those who take it (another tag), HTML to the others.
        let kept = View::new("<p>hi</p>".repeat(200), None, true).compressed();
        let mut h = HeaderMap::new();
        let plain = kept.respond(&h);
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        let gz = kept.respond(&h);
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
        assert_ne!(gz.headers()[header::ETAG], plain.headers()[header::ETAG]);
        assert!(kept.bytes() < 400, "{}", kept.bytes());
        h.insert(header::IF_NONE_MATCH, gz.headers()[header::ETAG].clone());
        assert_eq!(kept.respond(&h).status(), StatusCode::NOT_MODIFIED);
        assert!(!accepts_gzip("gzip;q=0, br"));
        assert!(accepts_gzip("deflate, gzip"));
    }
}
