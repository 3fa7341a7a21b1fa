//! A cap on attributes per tag, applied before the tokenizer.
//!
//! html5ever's tokenizer checks each new attribute against every earlier one of its tag,
//! so one tag with a hundred thousand attributes (`<span a0 a1 a2 …`, 1 MB) costs seconds.
//! Real tags carry a handful. This pass finds the tags the tokenizer will read and shows
//! as text (escapes every `<` in) every tag that starts more than [`MAX_ATTRIBUTES`].
//!
//! To find the same tags the tokenizer finds, it follows the HTML standard's tokenizer
//! states that decide where a tag begins and ends: data, tag open, the attribute states,
//! comments, bogus comments, and the raw-text elements that the sanitiser's sink switches
//! the tokenizer into (`super::raw_text`, which both follow). Character references and errors do not
//! move those boundaries, so they are not followed. Each byte is scanned once.

use std::borrow::Cow;

use super::{RawText, raw_text};

/// Attributes one tag may start; a tag with more is shown as text.
pub const MAX_ATTRIBUTES: usize = 64;

/// Escapes the `<` of every tag with more than [`MAX_ATTRIBUTES`] attributes. Returns the
/// HTML and whether anything changed.
pub fn cap(html: &str) -> (Cow<'_, str>, bool) {
    let b = html.as_bytes();
    let mut escapes: Vec<usize> = Vec::new();
    // Inside a raw-text element: the byte range of its name, whose end tag ends it.
    let mut raw: Option<(usize, usize)> = None;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let lt = i + off;
        i = lt + 1;
        if let Some((ns, ne)) = raw {
            // Only the element's own end tag (`</name` then a space, `/` or `>`) counts.
            let name_end = lt + 2 + (ne - ns);
            let is_end_tag = b.get(lt + 1) == Some(&b'/')
                && b.len() >= name_end
                && b[lt + 2..name_end].eq_ignore_ascii_case(&b[ns..ne])
                && b.get(name_end).is_none_or(|&c| ends_name(c));
            if is_end_tag {
                let (end, capped) = read_tag(b, lt, name_end, &mut escapes);
                i = end;
                if !capped {
                    raw = None;
                }
            }
            continue;
        }
        match b.get(lt + 1) {
            Some(c) if c.is_ascii_alphabetic() => {
                let name_end = tag_name_end(b, lt + 1);
                let (end, capped) = read_tag(b, lt, name_end, &mut escapes);
                i = end;
                if capped {
                    continue;
                }
                match raw_text(&b[lt + 1..name_end]) {
                    Some(RawText::ToTheEnd) => break, // everything after is text
                    Some(_) => raw = Some((lt + 1, name_end)),
                    None => {}
                }
            }
            Some(b'/') => match b.get(lt + 2) {
                Some(c) if c.is_ascii_alphabetic() => {
                    let name_end = tag_name_end(b, lt + 2);
                    i = read_tag(b, lt, name_end, &mut escapes).0;
                }
                Some(b'>') => i = lt + 3,
                Some(_) => i = bogus_comment_end(b, lt + 2),
                None => break,
            },
            Some(b'!') if b[lt + 2..].starts_with(b"--") => i = comment_end(b, lt + 4),
            Some(b'!') | Some(b'?') => i = bogus_comment_end(b, lt + 2),
            _ => {}
        }
    }
    if escapes.is_empty() {
        return (Cow::Borrowed(html), false);
    }
    let mut out = String::with_capacity(html.len() + 3 * escapes.len());
    let mut done = 0;
    for at in escapes {
        out.push_str(&html[done..at]);
        out.push_str("&lt;");
        done = at + 1;
    }
    out.push_str(&html[done..]);
    (Cow::Owned(out), true)
}

/// Reads the tag at `lt` whose name ends at `name_end`, and escapes it whole if it has
/// more than [`MAX_ATTRIBUTES`]. Returns where it ends and whether it was escaped.
fn read_tag(b: &[u8], lt: usize, name_end: usize, escapes: &mut Vec<usize>) -> (usize, bool) {
    let tag = scan_tag(b, name_end);
    let capped = tag.attributes > MAX_ATTRIBUTES;
    if capped {
        escape_all(b, lt, tag.end, escapes);
    }
    (tag.end, capped)
}

/// Just past a tag name that starts at `start`.
fn tag_name_end(b: &[u8], start: usize) -> usize {
    b[start..]
        .iter()
        .position(|&c| ends_name(c))
        .map_or(b.len(), |off| start + off)
}

/// Escapes every `<` from a capped tag's start to its end. With its own `<` escaped, the
/// tokenizer reads the whole tag as text, in which any `<` would start a tag; escaping
/// them all keeps it reading text to the same end, so scanning resumes there once
/// (resuming inside would rescan the rest of the page for each `<` in it: quadratic).
fn escape_all(b: &[u8], from: usize, to: usize, escapes: &mut Vec<usize>) {
    escapes.extend((from..to).filter(|&p| b[p] == b'<'));
}

/// Where a tag's attributes end, and how many it started.
struct Scanned {
    attributes: usize,
    /// Just past its `>`, or the end of the input.
    end: usize,
}

/// Follows the attribute states from `p`, just past the tag's name, to the tag's end.
fn scan_tag(b: &[u8], mut p: usize) -> Scanned {
    #[derive(Clone, Copy)]
    enum State {
        BeforeName,
        Name,
        AfterName,
        BeforeValue,
        Quoted(u8),
        AfterQuoted,
        Unquoted,
        SelfClosing,
    }
    let mut state = State::BeforeName;
    let mut attributes = 0;
    while let Some(&c) = b.get(p) {
        let mut next = p + 1;
        state = match state {
            // In these states a `>` ends the tag (in the others it is part of a name or
            // value, or is reconsumed in `AfterName`).
            State::AfterName
            | State::BeforeValue
            | State::AfterQuoted
            | State::Unquoted
            | State::SelfClosing
                if c == b'>' =>
            {
                return Scanned {
                    attributes,
                    end: p + 1,
                };
            }
            State::BeforeName if is_space(c) => State::BeforeName,
            State::BeforeName if c == b'/' || c == b'>' => {
                next = p;
                State::AfterName
            }
            State::BeforeName => {
                attributes += 1;
                State::Name // `=` here starts a name too
            }
            State::Name if ends_name(c) => {
                next = p;
                State::AfterName
            }
            State::Name if c == b'=' => State::BeforeValue,
            State::Name => State::Name,
            State::AfterName if is_space(c) => State::AfterName,
            State::AfterName if c == b'/' => State::SelfClosing,
            State::AfterName if c == b'=' => State::BeforeValue,
            State::AfterName => {
                attributes += 1;
                next = p;
                State::Name
            }
            State::BeforeValue if is_space(c) => State::BeforeValue,
            State::BeforeValue if c == b'"' || c == b'\'' => State::Quoted(c),
            State::BeforeValue => {
                next = p;
                State::Unquoted
            }
            State::Quoted(q) if c == q => State::AfterQuoted,
            State::Quoted(q) => {
                // Skip to the closing quote at once: nothing inside matters.
                match b[p..].iter().position(|&x| x == q) {
                    Some(off) => next = p + off,
                    None => next = b.len(),
                }
                State::Quoted(q)
            }
            State::AfterQuoted if is_space(c) => State::BeforeName,
            State::AfterQuoted if c == b'/' => State::SelfClosing,
            State::AfterQuoted => {
                next = p;
                State::BeforeName
            }
            State::Unquoted if is_space(c) => State::BeforeName,
            State::Unquoted => State::Unquoted,
            State::SelfClosing => {
                next = p;
                State::BeforeName
            }
        };
        p = next;
    }
    Scanned {
        attributes,
        end: b.len(),
    }
}

/// Just past the end of a comment whose text starts at `p` (after `<!--`): `-->` or
/// `--!>`, or the abrupt `<!-->` and `<!--->`.
fn comment_end(b: &[u8], p: usize) -> usize {
    let rest = &b[p.min(b.len())..];
    if rest.starts_with(b">") {
        return p + 1;
    }
    if rest.starts_with(b"->") {
        return p + 2;
    }
    let mut at = 0;
    while let Some(off) = rest[at..].iter().position(|&c| c == b'-') {
        let d = at + off;
        if rest[d..].starts_with(b"-->") {
            return p + d + 3;
        }
        if rest[d..].starts_with(b"--!>") {
            return p + d + 4;
        }
        at = d + 1;
    }
    b.len()
}

/// Just past the `>` that ends a bogus comment (`<!…>`, `<?…>`, `</…>`), or the end.
fn bogus_comment_end(b: &[u8], p: usize) -> usize {
    b[p.min(b.len())..]
        .iter()
        .position(|&c| c == b'>')
        .map_or(b.len(), |off| p + off + 1)
}

/// What ends a tag or attribute name: whitespace, `/` or `>`.
fn ends_name(c: u8) -> bool {
    is_space(c) || c == b'/' || c == b'>'
}

/// The tokenizer's whitespace (CR is read as LF).
fn is_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn many(n: usize) -> String {
        (0..n).map(|i| format!(" a{i}")).collect()
    }

    #[test]
    fn ordinary_html_passes_unchanged() {
        let html = "<div class=\"a\" id=b><p>x<img src=\"y\" alt='z'/></p><!-- c --></div>";
        assert_eq!(cap(html), (Cow::Borrowed(html), false));
    }

    #[test]
    fn a_tag_with_too_many_attributes_is_text() {
        let html = format!("<span{}>x</span><b>y</b>", many(100));
        let (out, changed) = cap(&html);
        assert!(changed);
        assert!(out.starts_with("&lt;span a0"));
        assert!(out.ends_with("x</span><b>y</b>"));
        let ok = format!("<span{}>x</span>", many(MAX_ATTRIBUTES));
        assert!(!cap(&ok).1);
        // Unterminated, and on end tags: the tokenizer pays for those too.
        assert!(cap(&format!("<b{}", many(100))).1);
        assert!(cap(&format!("</b{}>", many(100))).1);
    }

    #[test]
    fn tags_hidden_from_the_tokenizer_are_not_counted_and_none_escape_it() {
        // Inside a quoted value, a comment, or script text, `<` starts no tag...
        let inside = format!(
            "<a title=\"<b{m}>\">x</a><!-- <b{m}> --><script><b{m}></script>",
            m = many(100)
        );
        assert!(!cap(&inside).1, "{}", &cap(&inside).0[..80]);
        // ...but a quote inside a comment or script does not hide the tags after it.
        for hider in ["<!-- \" -->", "<script>\"</script>", "<style>'</style>"] {
            let html = format!("{hider}<b{}>", many(100));
            assert!(cap(&html).1, "{hider}");
        }
        // A tag shown as text is text to its end: any `<` inside it is escaped too.
        let nested = format!("<i{m} title=\"<b>\">x", m = many(100));
        let (out, _) = cap(&nested);
        assert_eq!(out.matches("&lt;").count(), 2);
        assert!(out.ends_with("&lt;b>\">x"));
        // Open tags that swallow the rest of the page: each byte is scanned once, and
        // the tokenizer is left nothing but text.
        let open = "<a ".repeat(50_000);
        let (out, changed) = cap(&open);
        assert!(changed);
        assert!(!out.contains('<'));
    }
}
