//! What the tokenizer is given: the page's HTML with two changes, made in one scan.
//!
//! 1. **A cap on attributes per tag.** html5ever's tokenizer checks each new attribute
//!    against every earlier one of its tag, so one tag with a hundred thousand attributes
//!    (`<span a0 a1 a2 …`, 1 MB) costs seconds. Real tags carry a handful. Every tag that
//!    starts more than [`MAX_ATTRIBUTES`] is shown as text (every `<` in it escaped).
//! 2. **Cheap text.** comrak writes `>` and `"` in text as `&gt;` and `&quot;`, and the
//!    tokenizer decodes each reference by a table lookup per letter: a 1 MB page of `>`
//!    took half a second. In text (the data state) a reference and the character it names
//!    make the same character token, so these two are written as the characters there.
//!    Nowhere else: in a tag, a comment or a raw-text element they mean something else.
//!
//! Both need to know where the tokenizer's tags, comments and text are, so this pass
//! follows the HTML standard's tokenizer states that decide it: data, tag open, the
//! attribute states, comments, bogus comments, and the raw-text elements that the
//! sanitiser's sink switches the tokenizer into (`super::raw_text`, which both follow).
//! Other character references and errors do not move those boundaries, so they are not
//! followed. Each byte is scanned once.

use std::borrow::Cow;

use super::{RawText, raw_text};

/// Attributes one tag may start; a tag with more is shown as text.
pub const MAX_ATTRIBUTES: usize = 64;

/// The references written as characters in text, and the characters.
const TEXT_REFERENCES: &[(&[u8], &str)] = &[(b"&gt;", ">"), (b"&quot;", "\"")];

/// Gives `html` the two changes above. Returns the HTML and whether a tag was capped.
pub fn prepare(html: &str) -> (Cow<'_, str>, bool) {
    let b = html.as_bytes();
    let mut edits = Edits::new(html);
    let mut capped_any = false;
    // Inside a raw-text element: the byte range of its name, whose end tag ends it.
    let mut raw: Option<(usize, usize)> = None;
    let mut i = 0;
    loop {
        let lt = b[i..].iter().position(|&c| c == b'<').map(|off| i + off);
        if raw.is_none() {
            unescape_text(b, i, lt.unwrap_or(b.len()), &mut edits);
        }
        let Some(lt) = lt else { break };
        i = lt + 1;
        if let Some((ns, ne)) = raw {
            // Only the element's own end tag (`</name` then a space, `/` or `>`) counts.
            let name_end = lt + 2 + (ne - ns);
            let is_end_tag = b.get(lt + 1) == Some(&b'/')
                && b.len() >= name_end
                && b[lt + 2..name_end].eq_ignore_ascii_case(&b[ns..ne])
                && b.get(name_end).is_none_or(|&c| ends_name(c));
            if is_end_tag {
                let (end, capped) = read_tag(b, lt, name_end, &mut edits);
                capped_any |= capped;
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
                let (end, capped) = read_tag(b, lt, name_end, &mut edits);
                capped_any |= capped;
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
                    let (end, capped) = read_tag(b, lt, name_end, &mut edits);
                    capped_any |= capped;
                    i = end;
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
    (edits.finish(), capped_any)
}

/// The input with replacements of some of its byte ranges, made in order; copied only
/// once the first is made.
struct Edits<'a> {
    input: &'a str,
    out: Option<String>,
    /// Bytes of `input` accounted for in `out`.
    done: usize,
}

impl<'a> Edits<'a> {
    fn new(input: &'a str) -> Self {
        Edits {
            input,
            out: None,
            done: 0,
        }
    }

    /// Replaces `len` bytes at `at` (after every earlier edit) with `with`.
    fn replace(&mut self, at: usize, len: usize, with: &str) {
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(self.input.len()));
        out.push_str(&self.input[self.done..at]);
        out.push_str(with);
        self.done = at + len;
    }

    fn finish(self) -> Cow<'a, str> {
        match self.out {
            None => Cow::Borrowed(self.input),
            Some(mut out) => {
                out.push_str(&self.input[self.done..]);
                Cow::Owned(out)
            }
        }
    }
}

/// Writes the [`TEXT_REFERENCES`] in the text `b[from..to]` as their characters.
fn unescape_text(b: &[u8], from: usize, to: usize, edits: &mut Edits) {
    let mut p = from;
    while let Some(off) = b[p..to].iter().position(|&c| c == b'&') {
        let at = p + off;
        p = at + 1;
        for &(reference, character) in TEXT_REFERENCES {
            if b[at..to].starts_with(reference) {
                edits.replace(at, reference.len(), character);
                p = at + reference.len();
                break;
            }
        }
    }
}

/// Reads the tag at `lt` whose name ends at `name_end`, and escapes it whole if it has
/// more than [`MAX_ATTRIBUTES`]. Returns where it ends and whether it was escaped.
fn read_tag(b: &[u8], lt: usize, name_end: usize, edits: &mut Edits) -> (usize, bool) {
    let tag = scan_tag(b, name_end);
    let capped = tag.attributes > MAX_ATTRIBUTES;
    if capped {
        escape_all(b, lt, tag.end, edits);
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
fn escape_all(b: &[u8], from: usize, to: usize, edits: &mut Edits) {
    for p in (from..to).filter(|&p| b[p] == b'<') {
        edits.replace(p, 1, "&lt;");
    }
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
        assert_eq!(prepare(html), (Cow::Borrowed(html), false));
    }

    #[test]
    fn text_references_become_characters_only_in_text() {
        assert_eq!(
            prepare("a &gt; b &quot;c&quot; &amp;gt; &lt; &gt").0,
            "a > b \"c\" &amp;gt; &lt; &gt"
        );
        // Not in a tag, a comment, raw text or a tag shown as text, where `>` and `"` mean
        // something else (or references are not read).
        for kept in [
            "<a title=\"&quot;&gt;\" href=&gt;>",
            "<!-- &gt; -->",
            "<! &gt; >",
            "<xmp>&gt;</xmp>",
            "<textarea>&gt;</textarea>",
            "<plaintext>&gt;",
        ] {
            assert_eq!(prepare(kept).0, kept);
        }
        assert_eq!(prepare("<xmp>&gt;</xmp>&gt;").0, "<xmp>&gt;</xmp>>");
        let capped = format!("<b{} t=\"&gt;\">&gt;", many(100));
        let (out, changed) = prepare(&capped);
        assert!(changed);
        assert!(out.ends_with("t=\"&gt;\">>"), "{out}");
    }

    #[test]
    fn a_tag_with_too_many_attributes_is_text() {
        let html = format!("<span{}>x</span><b>y</b>", many(100));
        let (out, changed) = prepare(&html);
        assert!(changed);
        assert!(out.starts_with("&lt;span a0"));
        assert!(out.ends_with("x</span><b>y</b>"));
        let ok = format!("<span{}>x</span>", many(MAX_ATTRIBUTES));
        assert!(!prepare(&ok).1);
        // Unterminated, and on end tags: the tokenizer pays for those too.
        assert!(prepare(&format!("<b{}", many(100))).1);
        assert!(prepare(&format!("</b{}>", many(100))).1);
    }

    #[test]
    fn tags_hidden_from_the_tokenizer_are_not_counted_and_none_escape_it() {
        // Inside a quoted value, a comment, or script text, `<` starts no tag...
        let inside = format!(
            "<a title=\"<b{m}>\">x</a><!-- <b{m}> --><script><b{m}></script>",
            m = many(100)
        );
        assert!(!prepare(&inside).1, "{}", &prepare(&inside).0[..80]);
        // ...but a quote inside a comment or script does not hide the tags after it.
        for hider in ["<!-- \" -->", "<script>\"</script>", "<style>'</style>"] {
            let html = format!("{hider}<b{}>", many(100));
            assert!(prepare(&html).1, "{hider}");
        }
        // A tag shown as text is text to its end: any `<` inside it is escaped too.
        let nested = format!("<i{m} title=\"<b>\">x", m = many(100));
        let (out, _) = prepare(&nested);
        assert_eq!(out.matches("&lt;").count(), 2);
        assert!(out.ends_with("&lt;b>\">x"));
        // Open tags that swallow the rest of the page: each byte is scanned once, and
        // the tokenizer is left nothing but text.
        let open = "<a ".repeat(50_000);
        let (out, changed) = prepare(&open);
        assert!(changed);
        assert!(!out.contains('<'));
    }
}
