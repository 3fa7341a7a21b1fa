//! Static assets (CSS, JS, vendored KaTeX and mermaid) compiled into the binary by
//! `build.rs`, plus the highlighting stylesheet generated at start from syntect's themes.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::service::Services;

include!(concat!(env!("OUT_DIR"), "/static_assets.rs"));

pub fn find(path: &str) -> Option<&'static [u8]> {
    FILES.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

/// Serves `/-/static/{file}` (wiki hosts) and `/static/{file}` (root).
pub async fn serve(State(state): State<Services>, Path(file): Path<String>) -> Response {
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
    // Not fingerprinted, so cache briefly; vendored libraries are versioned in their path.
    let cache = if file.starts_with("vendor/") {
        "public, max-age=86400"
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
