//! Caps on nesting depth, applied before the Markdown parser and before the HTML
//! sanitiser, so that rendering costs time linear in the page's size.
//!
//! Both parsers walk their stack of open containers for every line or tag: comrak checks
//! each open block (`>`, list items) against each new line, html5ever scans its stack of
//! open elements for each tag. A page that opens twenty thousand of either makes that
//! quadratic: seconds for 20 KB, hours for the 1 MB a page may hold. Real pages nest a
//! handful of levels, so a line that opens more than [`MAX_BLOCK_DEPTH`] containers has the
//! rest of its markers escaped (shown as text), and an element opened below
//! [`MAX_HTML_DEPTH`] open elements is shown as text. Pages within the caps pass through
//! byte for byte.

use std::borrow::Cow;

/// Block containers (block quotes, list items) one line may open.
pub const MAX_BLOCK_DEPTH: usize = 32;
/// Columns one table may have; a wider one is shown as text.
pub const MAX_TABLE_COLUMNS: usize = 128;
/// Open HTML elements below which a new element is shown as text.
pub const MAX_HTML_DEPTH: usize = 128;

/// Escapes the container markers past [`MAX_BLOCK_DEPTH`] on each line, outside fenced
/// code. Returns the text and whether anything changed.
pub fn cap_markdown(md: &str) -> (Cow<'_, str>, bool) {
    let mut out: Option<String> = None;
    let mut fence: Option<(u8, usize)> = None;
    let mut done = 0; // bytes of `md` already copied to `out`
    let mut line_start = 0;
    for line in md.split_inclusive('\n') {
        let b = line.as_bytes();
        let (depth_end, escape_at) = scan_prefix(b);
        let rest = &b[depth_end..];
        match fence {
            Some((ch, len)) => {
                if fence_run(rest, ch) >= len && rest[fence_run(rest, ch)..].trim_ascii().is_empty()
                {
                    fence = None;
                }
            }
            None => {
                let escape_at =
                    escape_at.or_else(|| wide_delimiter_row(rest).map(|at| depth_end + at));
                if let Some(at) = escape_at {
                    let o = out.get_or_insert_with(|| String::with_capacity(md.len() + 16));
                    o.push_str(&md[done..line_start + at]);
                    o.push('\\');
                    done = line_start + at;
                } else {
                    for ch in [b'`', b'~'] {
                        let n = fence_run(rest, ch);
                        if n >= 3 {
                            fence = Some((ch, n));
                        }
                    }
                }
            }
        }
        line_start += line.len();
    }
    match out {
        None => (Cow::Borrowed(md), false),
        Some(mut o) => {
            o.push_str(&md[done..]);
            (Cow::Owned(o), true)
        }
    }
}

/// If `rest` is a table's delimiter row (`|---|:-:|`) with more than [`MAX_TABLE_COLUMNS`]
/// columns, the offset of its first character, whose escape unmakes the table. comrak
/// fills every later row up to the header's width, so a 10 KB page of thousand-column
/// rows would otherwise become half a million cells.
fn wide_delimiter_row(rest: &[u8]) -> Option<usize> {
    let text = rest.trim_ascii();
    if text.is_empty()
        || !text.contains(&b'-')
        || !text
            .iter()
            .all(|c| matches!(c, b'|' | b'-' | b':' | b' ' | b'\t'))
    {
        return None;
    }
    let columns = text
        .split(|&c| c == b'|')
        .filter(|cell| !cell.trim_ascii().is_empty())
        .count();
    (columns > MAX_TABLE_COLUMNS).then(|| rest.len() - rest.trim_ascii_start().len())
}

/// How many `ch` the text starts with (after up to three spaces).
fn fence_run(rest: &[u8], ch: u8) -> usize {
    let skip = rest.iter().take(3).take_while(|&&c| c == b' ').count();
    rest[skip..].iter().take_while(|&&c| c == ch).count()
}

/// Walks a line's container markers. Returns where they end and, if the line opens more
/// than [`MAX_BLOCK_DEPTH`], the byte offset at which to insert a backslash.
fn scan_prefix(b: &[u8]) -> (usize, Option<usize>) {
    let mut pos = 0;
    let mut depth = 0;
    loop {
        let p = pos
            + b[pos..]
                .iter()
                .take_while(|&&c| c == b' ' || c == b'\t')
                .count();
        // Where the marker's escapable character is, and where the marker ends.
        let marker = match b.get(p) {
            Some(b'>') => Some((p, p + 1)),
            Some(b'-' | b'*' | b'+') if is_gap(b.get(p + 1)) => Some((p, p + 1)),
            Some(c) if c.is_ascii_digit() => {
                let digits = b[p..]
                    .iter()
                    .take(9)
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                match b.get(p + digits) {
                    Some(b'.' | b')') if is_gap(b.get(p + digits + 1)) => {
                        Some((p + digits, p + digits + 1))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let Some((at, end)) = marker else {
            return (pos, None);
        };
        if depth == MAX_BLOCK_DEPTH {
            return (pos, Some(at));
        }
        depth += 1;
        pos = end;
    }
}

fn is_gap(c: Option<&u8>) -> bool {
    matches!(c, None | Some(b' ' | b'\t' | b'\n' | b'\r'))
}

/// Elements that never hold content.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];
/// Elements whose end tag may be left out: they close themselves, so they do not deepen
/// the stack the way an unclosed `<div>` does.
const SELF_CLOSING: &[&str] = &[
    "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot",
    "colgroup", "rt", "rp",
];

/// Shows as text every start tag that would open an element below [`MAX_HTML_DEPTH`] open
/// ones (and the end tags that match them), and splits text runs longer than
/// [`MAX_TEXT_RUN`]. Returns the HTML and whether any element was shown as text.
pub fn cap_html(html: &str) -> (Cow<'_, str>, bool) {
    let b = html.as_bytes();
    let mut out: Option<String> = None;
    let mut done = 0;
    let mut depth = 0usize;
    let mut shown_as_text = 0usize;
    let mut cut = false;
    let mut i = 0;
    loop {
        let next_lt = b[i..].iter().position(|&c| c == b'<').map(|off| i + off);
        // A long run of text is split where no entity is open (see MAX_TEXT_RUN).
        let run_end = next_lt.unwrap_or(b.len());
        let mut at = i + MAX_TEXT_RUN;
        while at < run_end {
            match text_split_point(b, at, run_end) {
                Some(split) => {
                    let o = out.get_or_insert_with(|| String::with_capacity(html.len() + 64));
                    o.push_str(&html[done..split]);
                    o.push_str(TEXT_SPLIT);
                    done = split;
                    at = split + MAX_TEXT_RUN;
                }
                None => break,
            }
        }
        let Some(lt) = next_lt else { break };
        let Some(tag) = read_tag(b, lt) else {
            i = lt + 1;
            continue;
        };
        i = tag.end;
        let name = &html[tag.name.0..tag.name.1];
        let counts = !tag.self_closing
            && !VOID.iter().any(|v| v.eq_ignore_ascii_case(name))
            && !SELF_CLOSING.iter().any(|v| v.eq_ignore_ascii_case(name));
        if !counts {
            continue;
        }
        let escape = if tag.closing {
            if shown_as_text > 0 {
                shown_as_text -= 1;
                true
            } else {
                depth = depth.saturating_sub(1);
                false
            }
        } else if depth >= MAX_HTML_DEPTH {
            shown_as_text += 1;
            true
        } else {
            depth += 1;
            false
        };
        if escape {
            cut = true;
            let o = out.get_or_insert_with(|| String::with_capacity(html.len() + 64));
            o.push_str(&html[done..lt]);
            o.push_str("&lt;");
            done = lt + 1;
        }
    }
    match out {
        None => (Cow::Borrowed(html), false),
        Some(mut o) => {
            o.push_str(&html[done..]);
            (Cow::Owned(o), cut)
        }
    }
}

/// The longest run of text handed to the sanitiser in one piece. html5ever escapes a text
/// node by searching for `<`, `>` and `"` to the end of the node before each `&` it
/// finds, so a long node full of `&` costs time quadratic in its length.
pub const MAX_TEXT_RUN: usize = 4096;
/// What splits a run: an empty element, invisible and allowed by the sanitiser.
const TEXT_SPLIT: &str = "<span></span>";

/// The first offset at or after `from` (before `end`) where text can be split: a char
/// boundary after whitespace or the `;` that ends an entity.
fn text_split_point(b: &[u8], from: usize, end: usize) -> Option<usize> {
    (from..end).find(|&p| p > 0 && matches!(b[p - 1], b' ' | b'\n' | b'\t' | b';'))
}

struct Tag {
    closing: bool,
    self_closing: bool,
    /// Byte range of the name.
    name: (usize, usize),
    /// Just past the closing `>`.
    end: usize,
}

/// Reads a start or end tag at `lt` (which holds `<`); `None` for anything else (text,
/// comments, doctypes), which the sanitiser handles on its own.
fn read_tag(b: &[u8], lt: usize) -> Option<Tag> {
    let mut p = lt + 1;
    let closing = b.get(p) == Some(&b'/');
    if closing {
        p += 1;
    }
    if !b.get(p)?.is_ascii_alphabetic() {
        return None;
    }
    let start = p;
    while b
        .get(p)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-')
    {
        p += 1;
    }
    let name = (start, p);
    // Attributes: skip to the `>` that is not inside quotes.
    let mut quote: Option<u8> = None;
    while let Some(&c) = b.get(p) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'>' => {
                return Some(Tag {
                    closing,
                    self_closing: p > 0 && b[p - 1] == b'/',
                    name,
                    end: p + 1,
                });
            }
            None => {}
        }
        p += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_pages_pass_unchanged() {
        let md = "# T\n\n> quote\n> > nested\n\n- a\n  - b\n    1. c\n\n```\n> > > code\n```\n";
        assert_eq!(cap_markdown(md), (Cow::Borrowed(md), false));
        let html = "<div><p>a<p>b<ul><li>x<li>y</ul><br><img src=x/></div>";
        assert_eq!(cap_html(html), (Cow::Borrowed(html), false));
    }

    #[test]
    fn deep_quotes_and_lists_are_cut_at_the_cap() {
        let md = ">".repeat(20_000);
        let (out, changed) = cap_markdown(&md);
        assert!(changed);
        assert_eq!(&out[..MAX_BLOCK_DEPTH + 1], format!("{}\\", ">".repeat(32)));
        let list = format!("{}x\n", "- ".repeat(1000));
        let (out, _) = cap_markdown(&list);
        assert!(
            out.starts_with(&format!("{}\\- ", "- ".repeat(32))),
            "{}",
            &out[..80]
        );
        let ordered = format!("{}x\n", "1. ".repeat(100));
        assert!(cap_markdown(&ordered).0.contains("1\\. "));
    }

    #[test]
    fn tables_wider_than_the_cap_are_text() {
        let ok = format!("{}|\n{}|\n|x\n", "|a".repeat(10), "|-".repeat(10));
        assert!(!cap_markdown(&ok).1);
        let wide = format!("{}|\n{}|\n|x\n", "|a".repeat(1000), "|-".repeat(1000));
        let (out, changed) = cap_markdown(&wide);
        assert!(changed);
        assert!(out.contains("\n\\|-|-"), "{}", &out[..10]);
    }

    #[test]
    fn long_text_runs_are_split_between_entities() {
        let html = format!("<p>{}</p>", "&amp;".repeat(5000));
        let (out, cut) = cap_html(&html);
        assert!(!cut, "splitting text cuts nothing");
        assert_eq!(out.replace(TEXT_SPLIT, ""), html);
        assert!(
            out.split(TEXT_SPLIT)
                .all(|part| part.len() <= MAX_TEXT_RUN + 16)
        );
        assert!(!out.contains("&am<span>"));
        let plain = format!("<p>{}</p>", "x".repeat(10_000));
        assert_eq!(cap_html(&plain).0, plain, "no split point: left as it is");
    }

    #[test]
    fn fenced_code_is_left_alone() {
        let md = format!("```\n{}\n```\n", ">".repeat(100));
        assert!(!cap_markdown(&md).1);
        let after = format!("```\nx\n```\n{}\n", ">".repeat(100));
        assert!(cap_markdown(&after).1);
    }

    #[test]
    fn deep_html_is_shown_as_text_past_the_cap() {
        let html = format!("{}x{}", "<div>".repeat(1000), "</div>".repeat(1000));
        let (out, changed) = cap_html(&html);
        assert!(changed);
        assert_eq!(out.matches("<div>").count(), MAX_HTML_DEPTH);
        assert_eq!(out.matches("</div>").count(), MAX_HTML_DEPTH);
        assert_eq!(out.matches("&lt;div>").count(), 1000 - MAX_HTML_DEPTH);
        // Quoted `>` in attributes does not end a tag.
        let attr = "<span title=\"a>b\">".repeat(200);
        assert_eq!(
            cap_html(&attr).0.matches("&lt;span").count(),
            200 - MAX_HTML_DEPTH
        );
    }
}
