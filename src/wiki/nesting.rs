//! Caps on Markdown nesting, applied before the parser, so that rendering costs time
//! linear in the page's size.
//!
//! comrak checks each open block (`>`, list items) against each new line, so a page that
//! opens twenty thousand of them is quadratic: seconds for 20 KB, hours for the 1 MB a
//! page may hold. Real pages nest a handful of levels, so a line that opens more than
//! [`MAX_BLOCK_DEPTH`] containers has the rest of its markers escaped (shown as text).
//! Pages within the caps pass through byte for byte. (HTML nesting is capped by the
//! sanitiser, which keeps the stack of open elements: `sanitize::MAX_HTML_DEPTH`.)

use std::borrow::Cow;

/// Block containers (block quotes, list items) one line may open.
pub const MAX_BLOCK_DEPTH: usize = 32;
/// Columns one table may have; a wider one is shown as text.
pub const MAX_TABLE_COLUMNS: usize = 128;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_pages_pass_unchanged() {
        let md = "# T\n\n> quote\n> > nested\n\n- a\n  - b\n    1. c\n\n```\n> > > code\n```\n";
        assert_eq!(cap_markdown(md), (Cow::Borrowed(md), false));
    }

    #[test]
    fn deep_quotes_and_lists_are_cut_at_the_cap() {
        let md = ">".repeat(20_000);
        let (out, changed) = cap_markdown(&md);
        assert!(changed);
        assert_eq!(
            &out[..MAX_BLOCK_DEPTH + 1],
            format!("{}\\", ">".repeat(MAX_BLOCK_DEPTH))
        );
        let list = format!("{}x\n", "- ".repeat(1000));
        let (out, _) = cap_markdown(&list);
        assert!(
            out.starts_with(&format!("{}\\- ", "- ".repeat(MAX_BLOCK_DEPTH))),
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
    fn fenced_code_is_left_alone() {
        let md = format!("```\n{}\n```\n", ">".repeat(100));
        assert!(!cap_markdown(&md).1);
        let after = format!("```\nx\n```\n{}\n", ">".repeat(100));
        assert!(cap_markdown(&after).1);
    }
}
