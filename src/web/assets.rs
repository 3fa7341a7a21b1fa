//! Static assets (CSS, JS, vendored KaTeX and mermaid) compiled into the binary by
//! `build.rs`, plus the highlighting stylesheet generated at start from syntect's themes.
//! Pages link them with the assets' fingerprint (`?v=`, see [`fingerprint`]); a request
//! carrying the current one may be kept by the browser for good.

use std::hash::{Hash, Hasher};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::service::Services;

include!(concat!(env!("OUT_DIR"), "/static_assets.rs"));

pub fn find(path: &str) -> Option<&'static [u8]> {
    FILES.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

/// Sets the fingerprint asset URLs carry: a hash of the embedded files and of the
/// highlighting stylesheet (made at start, so not among them).
pub fn fingerprint(highlight_css: &str) {
    let mut h = std::hash::DefaultHasher::new();
    (FILES_HASH, highlight_css).hash(&mut h);
    crate::http::set_asset_version(format!("{:012x}", h.finish() & 0xffff_ffff_ffff));
}

/// Serves `/-/static/{file}` (wiki hosts) and `/static/{file}` (root).
pub async fn serve(
    State(state): State<Services>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let body: Vec<u8> = if file == "highlight.css" {
        state.highlight_css.as_bytes().to_vec()
    } else {
        match find(&file) {
            Some(b) => b.to_vec(),
            None => return (StatusCode::NOT_FOUND, "not found").into_response(),
        }
    };
    let mime = mime_guess::from_path(&file).first_or_octet_stream();
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(mime.as_ref())
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    // A URL with this build's fingerprint names these bytes for good; any other (none,
    // or an older build's) is kept briefly.
    let current = query
        .as_deref()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("v=")))
        .is_some_and(|v| v == crate::http::asset_version());
    let cache = if current {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn assets_are_embedded() {
        assert!(super::find("robot.css").is_some());
        assert!(super::find("robot.js").is_some());
        assert!(super::find("vendor/katex/katex.min.js").is_some());
        assert!(super::find("vendor/mermaid/mermaid.min.js").is_some());
    }
}
