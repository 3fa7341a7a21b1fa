//! What every HTTP surface shares and no rule lives in: the HTML frame (`page`), form
//! and query encoding, the request id, and the CORS headers of the endpoints browsers
//! call cross-origin. It depends on nothing but the error type, so every surface (and
//! the clients that build URLs) can use it.

pub mod page;
pub mod views;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

pub use page::{Layout, Message, WebError, render};

/// The fingerprint every static asset URL carries (`robot.css?v=…`): set once at start
/// from the assets' contents, so a new build's assets are new URLs and a browser may keep
/// each one for good.
static ASSET_VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the asset fingerprint (the first call wins: the assets are the binary's).
pub fn set_asset_version(version: String) {
    let _ = ASSET_VERSION.set(version);
}

pub fn asset_version() -> &'static str {
    ASSET_VERSION.get().map_or("dev", String::as_str)
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

/// Percent-encodes a query value, leaving RFC 3986's unreserved characters alone.
pub fn urlencode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// Metadata, registration and token endpoints are called from browsers (the MCP
/// Inspector, the TypeScript SDK): open CORS, no cookies involved.
pub fn cors(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, Accept, MCP-Protocol-Version"),
    );
}
