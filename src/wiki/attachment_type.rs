//! How an attachment is served: the one decision of its `Content-Type` and
//! `Content-Disposition`, for every surface that hands out an attachment's bytes.
//!
//! Uploaded files share the wiki's origin, so nothing uploaded may run there. Only an
//! allow-list is shown inline, each type as itself: raster images, audio, video, PDF and
//! plain text (as `text/plain; charset=utf-8`), and SVG, which can carry script and is
//! therefore only ever served under the sandboxing CSP ([`SANDBOX_CSP`]). Everything else
//! — HTML, XML, JavaScript (`.js`, `.mjs`), CSS, unknown types — is
//! `application/octet-stream` with `Content-Disposition: attachment`: a download, never
//! a document or a script (a `<script src>` ignores the disposition, not the type).

/// The `Content-Security-Policy` every attachment is served with: a sandbox (no script,
/// a unique origin) that may show its own images and media.
pub const SANDBOX_CSP: &str =
    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'";

/// The headers an attachment is served with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The `Content-Type`.
    pub content_type: String,
    /// Shown in the browser (`inline`) or only downloaded (`attachment`).
    pub inline: bool,
    /// The `Content-Disposition`, the file name quoted and escaped (RFC 6266).
    pub disposition: String,
}

/// How to serve the attachment `file` (its type is guessed from its name).
pub fn serve_as(file: &str) -> Served {
    let mime = super::mime_of(file);
    let (content_type, inline) = match inline_type(&mime) {
        Some(t) => (t, true),
        None => ("application/octet-stream".to_string(), false),
    };
    Served {
        content_type,
        inline,
        disposition: content_disposition(inline, file),
    }
}

/// The type to show `mime` inline as, if it is on the allow-list.
fn inline_type(mime: &str) -> Option<String> {
    let (kind, sub) = mime.split_once('/')?;
    let allowed = match kind {
        // SVG is allowed only because it is always sandboxed (see the module).
        "image" | "audio" | "video" => true,
        "application" => sub == "pdf",
        "text" => sub == "plain",
        _ => false,
    };
    if !allowed {
        return None;
    }
    Some(if mime == "text/plain" {
        "text/plain; charset=utf-8".to_string()
    } else {
        mime.to_string()
    })
}

/// `inline` or `attachment`, with the file name: `filename="…"` in printable ASCII (a
/// quote, backslash, control or non-ASCII character becomes `_`), and when that is not
/// the name itself, `filename*=UTF-8''…` with the name percent-encoded (RFC 6266 §4.3,
/// RFC 8187).
pub fn content_disposition(inline: bool, file: &str) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    let fallback: String = file
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut out = format!("{kind}; filename=\"{fallback}\"");
    if fallback != file {
        // RFC 8187 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"; everything else encoded.
        const ATTR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'!')
            .remove(b'#')
            .remove(b'$')
            .remove(b'&')
            .remove(b'+')
            .remove(b'-')
            .remove(b'.')
            .remove(b'^')
            .remove(b'_')
            .remove(b'`')
            .remove(b'|')
            .remove(b'~');
        out.push_str("; filename*=UTF-8''");
        out.push_str(&percent_encoding::utf8_percent_encode(file, ATTR).to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_allow_list_is_inline() {
        for (file, ty) in [
            ("a.png", "image/png"),
            ("a.JPG", "image/jpeg"),
            ("a.svg", "image/svg+xml"),
            ("a.pdf", "application/pdf"),
            ("a.txt", "text/plain; charset=utf-8"),
            ("a.mp3", "audio/mpeg"),
            ("a.mp4", "video/mp4"),
        ] {
            let s = serve_as(file);
            assert_eq!((s.content_type.as_str(), s.inline), (ty, true), "{file}");
            assert!(s.disposition.starts_with("inline; "), "{file}");
        }
        for file in [
            "x.mjs",
            "x.js",
            "x.html",
            "x.htm",
            "x.xhtml",
            "x.xml",
            "x.css",
            "x.json",
            "x.wasm",
            "x.md",
            "x.exe",
            "x",
            "x.unknownext",
        ] {
            let s = serve_as(file);
            assert_eq!(
                (s.content_type.as_str(), s.inline),
                ("application/octet-stream", false),
                "{file}"
            );
            assert_eq!(s.disposition, format!("attachment; filename=\"{file}\""));
        }
    }

    #[test]
    fn file_names_are_quoted_and_escaped() {
        assert_eq!(
            content_disposition(false, "a b.txt"),
            "attachment; filename=\"a b.txt\""
        );
        assert_eq!(
            content_disposition(false, "a\"b\\c.js"),
            "attachment; filename=\"a_b_c.js\"; filename*=UTF-8''a%22b%5Cc.js"
        );
        assert_eq!(
            content_disposition(true, "café.png"),
            "inline; filename=\"caf_.png\"; filename*=UTF-8''caf%C3%A9.png"
        );
        assert_eq!(
            content_disposition(false, "x\r\nSet-Cookie: a=b"),
            "attachment; filename=\"x__Set-Cookie: a=b\"; filename*=UTF-8''x%0D%0ASet-Cookie%3A%20a%3Db"
        );
        // Always a valid header value.
        for name in ["日本語.pdf", "\u{0}", "a;b=c", "\u{7f}"] {
            let d = content_disposition(false, name);
            assert!(axum::http::HeaderValue::from_str(&d).is_ok(), "{d}");
        }
    }
}
