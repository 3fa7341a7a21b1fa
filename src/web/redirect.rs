//! The one check for where a sign-in may send the browser afterwards.
//!
//! Every sign-in path (`/auth/login`, `/auth/login-link`, `/auth/session`, a wiki host's
//! `/-/login` and `/-/session`, the ATProto callback's target) redirects to a `return_to`
//! the request named. [`safe_local_path`] decides whether that value is a path on the
//! same host, by parsing it, so a browser cannot be sent to another origin
//! (`/\t/evil.example` is `//evil.example` to a browser, which strips tabs and newlines
//! from URLs and treats `\` as `/`).

use unicode_normalization::UnicodeNormalization;

/// The base the candidate is resolved against: a name that cannot exist (RFC 6761).
const PROBE_BASE: &str = "http://return-to.invalid/";
const PROBE_HOST: &str = "return-to.invalid";

/// `p` if it is a relative URL naming a path on this host (with an optional query and
/// fragment), else `None`. The rules, all of which must hold:
///
/// - It starts with exactly one `/`, not followed by `/` or `\` (no scheme, no authority,
///   no scheme-relative `//host` or `/\host`).
/// - Every character is printable ASCII other than `\`: no control character (C0, DEL;
///   C1 and every other non-ASCII character must be percent-encoded), no whitespace (TAB,
///   which browsers strip, included), no backslash anywhere.
/// - Every `%` starts a well-formed escape, and the value decoded once is UTF-8 with no
///   control character and no whitespace other than the space.
/// - The path (before `?` or `#`) holds no encoded `/` or `\` (`%2f`, `%5c`, any case,
///   also double-encoded as `%252f`), no empty segment (`//` anywhere) and no dot
///   segment (`.`, `..`): legitimate targets never need them, and they are what turns
///   `/.//evil` or `/..//evil` into `//evil` once a browser normalises it. Its decoded
///   form, compatibility-normalised (NFKC, so the fullwidth `／` counts as `/`), holds no
///   `//` and no `\` either. The query and fragment may carry encoded slashes: a sign-in
///   that started at `/-/oauth/authorize?redirect_uri=https%3A%2F%2F…` must come back to it.
/// - Resolved by a WHATWG URL parser against a probe origin, it stays on that origin
///   (same scheme, host and port, no credentials) and its path does not start with `//`.
pub fn safe_local_path(p: &str) -> Option<&str> {
    let rest = p.strip_prefix('/')?;
    if rest.starts_with(['/', '\\']) {
        return None;
    }
    if !p.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
        return None;
    }
    let decoded = decode_strict(p)?;
    if decoded
        .chars()
        .any(|c| c.is_control() || (c.is_whitespace() && c != ' '))
    {
        return None;
    }
    let path = &p[..p.find(['?', '#']).unwrap_or(p.len())];
    let lower = path.to_ascii_lowercase();
    if ["%2f", "%5c", "%252f", "%255c"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return None;
    }
    let decoded_path = decode_strict(path)?;
    if has_odd_segment(path) || has_odd_segment(&decoded_path) {
        return None;
    }
    let folded: String = decoded_path.nfkc().collect();
    if folded.contains("//")
        || folded.contains('\\')
        || folded.to_ascii_lowercase().contains("%2f")
        || folded.to_ascii_lowercase().contains("%5c")
    {
        return None;
    }
    let base = url::Url::parse(PROBE_BASE).expect("the probe base parses");
    let resolved = base.join(p).ok()?;
    let same_origin = resolved.scheme() == base.scheme()
        && resolved.host_str() == Some(PROBE_HOST)
        && resolved.port() == base.port()
        && resolved.username().is_empty()
        && resolved.password().is_none()
        && !resolved.path().starts_with("//");
    same_origin.then_some(p)
}

/// True when the path (after its leading `/`) has a dot segment or an empty segment other
/// than a trailing one (`/a/` is fine, `/a//b` is not).
fn has_odd_segment(path: &str) -> bool {
    let segs: Vec<&str> = path[1..].split('/').collect();
    let last = segs.len() - 1;
    segs.iter()
        .enumerate()
        .any(|(i, s)| matches!(*s, "." | "..") || (s.is_empty() && i != last))
}

/// `s` percent-decoded once, if every `%` is followed by two hex digits and the result is
/// UTF-8.
fn decode_strict(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                return None;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::safe_local_path;

    /// Known ways to leave the origin (or to smuggle something into a `Location`).
    const REFUSED: &[&str] = &[
        "",
        ".",
        "..",
        "evil.com",
        "@evil.com",
        "//evil.com",
        "///evil.com",
        "////evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "\\/evil.com",
        "/\t/evil.com",
        "/\t/evil.example/phish",
        "\t//evil.com",
        "/%09/evil.com",
        "/%2f%2fevil.com",
        "/%2F%2Fevil.com",
        "/%2fevil.com",
        "/%5cevil.com",
        "/%5Cevil.com",
        "/%252f%252fevil.com",
        "/%5c%5cevil.com",
        "/a/%2f/b",
        "%2f%2fevil.com",
        "https://evil.com",
        "http://evil.com/",
        "http:evil.com",
        "http:/evil.com",
        "HTTPS://evil.com",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/ /evil.com",
        "/\n/evil.com",
        "/\r/evil.com",
        "/\r\n/evil.com",
        "/\u{0b}/evil.com",
        "/\u{0c}/evil.com",
        "/\u{00}/evil.com",
        "/\u{7f}/evil.com",
        "/\u{85}/evil.com",
        "/\u{a0}/evil.com",
        "/\u{2028}/evil.com",
        "/%0d%0aSet-Cookie:x=1",
        "/%0D%0ASet-Cookie:x=1",
        "/page?x=%0d%0aSet-Cookie:x",
        "/%00",
        "/%7f",
        "/%c2%85/evil.com",
        "/%e2%80%a8",
        "/%zz",
        "/page%",
        "/%ff",
        "/\u{ff0f}\u{ff0f}evil.com",
        "\u{ff0f}\u{ff0f}evil.com",
        "/%EF%BC%8F%EF%BC%8Fevil.com",
        "/%ef%bc%8fevil.com",
        "/\u{ff3c}evil.com",
        "/%EF%BC%BCevil.com",
        "/.//evil.com",
        "/..//evil.com",
        "/./evil.com",
        "/../evil.com",
        "/a/../../evil.com",
        "/a//b",
        "/%2e%2e//evil.com",
        "/Caf\u{e9}",
    ];

    /// Paths robot itself sends people back to.
    const ACCEPTED: &[&str] = &[
        "/",
        "/app",
        "/app/account",
        "/Page%20Name?revision=abc#frag",
        "/-/login",
        "/-/search?q=a+b",
        "/a/b/c",
        "/Foo/Bar%20Baz",
        "/Caf%C3%A9",
        "/Home/history",
        "/-/oauth/authorize?response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&state=xyz",
        "/auth/login?return_to=http%3A%2F%2Fnotes.localhost%3A8080%2FHome",
        "/Page#section-2",
        "/http:evil",
        "/a.b/c..d",
    ];

    #[test]
    fn refuses_every_way_off_the_origin() {
        assert!(REFUSED.len() >= 30);
        for p in REFUSED {
            assert_eq!(safe_local_path(p), None, "{p:?} must be refused");
        }
    }

    #[test]
    fn accepts_local_paths() {
        for p in ACCEPTED {
            assert_eq!(safe_local_path(p), Some(*p), "{p:?} must be accepted");
        }
    }
}
