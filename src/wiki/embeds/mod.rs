//! Otterwiki's embeds: `{{Name` … `}}` blocks that draw an info box, a framed image, a
//! figure, a video, a sortable table, the page's attachments or an index of the pages
//! below it.
//!
//! ```text
//! {{InfoBox
//! |caption=Otter
//! |Weight=10 kg
//! Text of the box, in **Markdown**.
//! }}
//! ```
//!
//! A block starts a line (outside fenced code) with `{{` and a name of letters and
//! spaces, and ends at the first line that ends with `}}`; `{{Name|a=b}}` on one line is
//! one too. A line made only of `|key=value` pairs gives options (`\|` and `\=` escape);
//! every other line is the block's Markdown. Names are matched ignoring case; an unknown
//! one says so where it stands.
//!
//! Rendering happens in two steps. [`extract`] replaces each block, before the page is
//! parsed, with a marker paragraph. After sanitising, [`splice`] puts the block's HTML
//! there: the embeds that depend on the page alone are drawn with the page (and cached
//! with it, per blob); those that read the wiki (attachments, page lists, a CSV file),
//! which change without the page changing, stay markers in the cached HTML and are
//! drawn at each view through [`Sources`], from the snapshot the reader was authorized
//! to read. Every value from the page in this HTML is either Markdown rendered and
//! sanitised like the page, or escaped; lengths and alignments are checked before they
//! reach a `style`, and the `style` option itself is not honoured.

mod blocks;
mod csv;

use std::borrow::Cow;

use super::dialect::{Fences, strip_indent};

pub use blocks::{AttachmentRow, Heading, IndexEntry};

/// Embeds one page may have; later blocks stay as written (each costs a render of its
/// Markdown, and an author needs a handful).
pub const MAX_EMBEDS: usize = 200;
/// Options one embed may have; later lines count as its text.
const MAX_OPTIONS: usize = 64;

/// Opens and closes a marker. Noncharacters: never text a page means, so an author's
/// own are replaced before the markers are written.
const MARK_OPEN: char = '\u{FDD0}';
const MARK_CLOSE: char = '\u{FDD1}';

/// One `{{Name …}}` block as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Embed {
    /// As written (`InfoBox`, `Image Frame`).
    pub name: String,
    /// `(key, value)`, unescaped, in the order written.
    pub options: Vec<(String, String)>,
    /// The lines that are not options: the block's Markdown.
    pub body: String,
}

impl Embed {
    /// The option `key` (any case); the first one written wins.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.trim())
    }

    /// A yes/no option (`true`, `1`, `on`, `yes` are yes), or `default` when absent.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        self.option(key).map_or(default, |v| {
            ["true", "1", "on", "yes"]
                .iter()
                .any(|t| v.eq_ignore_ascii_case(t))
        })
    }

    /// The name in lower case without its spaces (`Image Frame` is `imageframe`).
    fn kind(&self) -> String {
        self.name.to_ascii_lowercase().replace(' ', "")
    }
}

/// A page's Markdown with its embeds replaced by markers, and the embeds, by marker
/// number.
pub struct Extracted {
    pub text: String,
    pub embeds: Vec<Embed>,
    /// Blocks past [`MAX_EMBEDS`] were left as written.
    pub capped: bool,
}

/// Finds the embeds of a page; `None` when it has none (the common case: one search).
pub fn extract(md: &str) -> Option<Extracted> {
    if !md.contains("{{") {
        return None;
    }
    let md: Cow<str> = if md.contains(MARK_OPEN) || md.contains(MARK_CLOSE) {
        Cow::Owned(md.replace([MARK_OPEN, MARK_CLOSE], "\u{FFFD}"))
    } else {
        Cow::Borrowed(md)
    };
    let lines: Vec<&str> = md.split_inclusive('\n').collect();
    // For each line, the first line at or after it that ends with `}}`: finding a
    // block's end is then one look-up, however many unclosed `{{` a page has.
    let mut closing = vec![usize::MAX; lines.len() + 1];
    for i in (0..lines.len()).rev() {
        closing[i] = if trim_eol(lines[i]).ends_with("}}") {
            i
        } else {
            closing[i + 1]
        };
    }
    let mut out = String::with_capacity(md.len());
    let mut embeds = Vec::new();
    let mut capped = false;
    let mut fences = Fences::default();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let opened = match (fences.is_code(line), strip_indent(line)) {
            (false, Some(rest)) => opening(rest),
            _ => None,
        };
        let Some((name, first)) = opened else {
            out.push_str(line);
            i += 1;
            continue;
        };
        let end = closing[i];
        if end == usize::MAX {
            out.push_str(line);
            i += 1;
            continue;
        }
        if embeds.len() >= MAX_EMBEDS {
            capped = true;
            out.push_str(line);
            i += 1;
            continue;
        }
        // The block's text: the rest of its first line, the lines between, and its last
        // line up to the `}}`.
        let mut text = String::new();
        if end == i {
            text.push_str(&first[..first.len() - 2]);
        } else {
            text.push_str(first);
            text.push('\n');
            for l in &lines[i + 1..end] {
                text.push_str(trim_eol(l));
                text.push('\n');
            }
            let last = trim_eol(lines[end]);
            text.push_str(&last[..last.len() - 2]);
        }
        embeds.push(parse(name, &text, end == i));
        out.push_str(&format!(
            "\n{MARK_OPEN}{}{MARK_CLOSE}\n\n",
            embeds.len() - 1
        ));
        i = end + 1;
    }
    Some(Extracted {
        text: out,
        embeds,
        capped,
    })
}

fn trim_eol(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
        .trim_end_matches([' ', '\t'])
}

/// `{{Name…`: the name (letters and spaces) and what follows it on the line.
fn opening(rest: &str) -> Option<(&str, &str)> {
    let after = rest.strip_prefix("{{")?;
    let len = after
        .bytes()
        .take_while(|b| b.is_ascii_alphabetic() || *b == b' ')
        .count();
    let name = &after[..len];
    if !name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    Some((name, trim_eol(&after[len..])))
}

/// Splits a block's text into options and Markdown.
fn parse(name: &str, text: &str, one_line: bool) -> Embed {
    let mut options = Vec::new();
    let mut body = Vec::new();
    for line in text.split('\n') {
        match option_line(line) {
            Some(pairs) if options.len() + pairs.len() <= MAX_OPTIONS => options.extend(pairs),
            _ => body.push(line),
        }
    }
    let mut body = body.join("\n");
    // `{{Name|text}}`: the `|` only separates the name.
    if one_line && body.starts_with('|') {
        body.remove(0);
    }
    Embed {
        name: name.trim_end().to_string(),
        options,
        body: body.trim_matches('\n').to_string(),
    }
}

/// A line of one or more `|key=value` pairs, unescaped; `None` for any other line.
fn option_line(line: &str) -> Option<Vec<(String, String)>> {
    let line = line.trim_matches([' ', '\t']);
    let rest = line.strip_prefix('|')?;
    let mut pairs = Vec::new();
    for segment in split_unescaped(rest, '|') {
        let eq = unescaped_find(segment, '=')?;
        let (key, value) = (&segment[..eq], &segment[eq + 1..]);
        if key.is_empty() || value.is_empty() {
            return None;
        }
        pairs.push((
            key.replace("\\=", "=").replace("\\|", "|"),
            value.replace("\\|", "|"),
        ));
    }
    Some(pairs)
}

/// `s` split at each `sep` not preceded by a backslash.
fn split_unescaped(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut prev = '\0';
    for (i, c) in s.char_indices() {
        if c == sep && prev != '\\' {
            parts.push(&s[start..i]);
            start = i + 1;
        }
        prev = c;
    }
    parts.push(&s[start..]);
    parts
}

fn unescaped_find(s: &str, ch: char) -> Option<usize> {
    let mut prev = '\0';
    for (i, c) in s.char_indices() {
        if c == ch && prev != '\\' {
            return Some(i);
        }
        prev = c;
    }
    None
}

/// What drawing an embed needs from the page's render: its Markdown rendered and
/// sanitised as the page is, and where the page is.
pub struct Page<'a> {
    /// The page's URL path (`/Folder/Page`), under which its attachments are `/a/…`.
    pub url: &'a str,
    /// Renders Markdown as the page's own (sanitised) HTML.
    pub markdown: &'a dyn Fn(&str) -> String,
}

impl Page<'_> {
    /// Markdown of one line, without the paragraph around it.
    fn inline(&self, md: &str) -> String {
        let html = (self.markdown)(md);
        let t = html.trim();
        match t.strip_prefix("<p>").and_then(|t| t.strip_suffix("</p>")) {
            Some(inner) if !inner.contains("<p>") => inner.to_string(),
            _ => t.to_string(),
        }
    }
}

/// What an embed that reads the wiki reads: the page's attachments and the pages below
/// it, from the snapshot the reader was authorized to read.
pub trait Sources {
    /// The page's attachments, by name.
    fn attachments(&self) -> Vec<AttachmentRow>;
    /// The pages below the page, at any depth, sorted by name.
    fn pages_below(&self) -> Vec<IndexEntry>;
    /// A page's headings (by its full name), without the first one when it is the
    /// page's title.
    fn headings(&self, page: &str) -> Vec<Heading>;
    /// An attachment's URL, by `file` (of this page) or `/Page/file` (of another): the
    /// URL, or why there is none.
    fn attachment_url(&self, src: &str) -> Result<String, String>;
    /// An attachment's bytes, as for [`Sources::attachment_url`], at most `limit` of them.
    fn attachment_bytes(&self, src: &str, limit: usize) -> Result<Vec<u8>, String>;
}

/// An embed drawn at each view, by its marker number, with the parts of it rendered
/// with the page.
#[derive(Debug, Clone)]
pub struct Live {
    pub index: usize,
    pub embed: Embed,
    /// The caption, rendered with the page.
    pub caption: String,
}

/// Draws the embeds that depend only on the page into `html` (the page's sanitised
/// HTML, with markers); returns the ones to draw at each view, still markers.
pub fn splice(html: &mut String, embeds: &[Embed], page: &Page) -> Vec<Live> {
    let mut live = Vec::new();
    let mut drawn = Vec::with_capacity(embeds.len());
    for (index, embed) in embeds.iter().enumerate() {
        match blocks::draw(embed, page) {
            Some(block) => drawn.push((index, block)),
            None => live.push(Live {
                index,
                caption: embed
                    .option("caption")
                    .map(|c| page.inline(c))
                    .unwrap_or_default(),
                embed: embed.clone(),
            }),
        }
    }
    replace_markers(html, &drawn);
    live
}

/// Draws the embeds left for the view into a copy of the page's HTML.
pub fn draw_live(html: &str, live: &[Live], sources: &dyn Sources) -> String {
    let mut out = html.to_string();
    let drawn: Vec<(usize, String)> = live
        .iter()
        .map(|l| (l.index, blocks::draw_with(l, sources)))
        .collect();
    replace_markers(&mut out, &drawn);
    out
}

/// Puts each block where its marker is (once; the `<p>` around the marker goes too).
fn replace_markers(html: &mut String, blocks: &[(usize, String)]) {
    if blocks.is_empty() {
        return;
    }
    let mut out =
        String::with_capacity(html.len() + blocks.iter().map(|b| b.1.len()).sum::<usize>());
    let mut rest: &str = html;
    let mut blocks = blocks.iter().peekable();
    while let Some(open) = rest.find(MARK_OPEN) {
        let after = &rest[open + MARK_OPEN.len_utf8()..];
        let Some(close) = after.find(MARK_CLOSE) else {
            break;
        };
        let index: Option<usize> = after[..close].parse().ok();
        let Some((_, block)) = blocks.next_if(|(i, _)| Some(*i) == index) else {
            out.push_str(&rest[..open + MARK_OPEN.len_utf8()]);
            rest = after;
            continue;
        };
        let before = &rest[..open];
        let mut tail = &after[close + MARK_CLOSE.len_utf8()..];
        match (before.strip_suffix("<p>"), tail.strip_prefix("</p>")) {
            (Some(b), Some(t)) => {
                out.push_str(b);
                tail = t;
            }
            _ => out.push_str(before),
        }
        out.push_str(block);
        rest = tail;
    }
    out.push_str(rest);
    *html = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(md: &str) -> Embed {
        let x = extract(md).expect("an embed");
        assert_eq!(x.embeds.len(), 1, "{md}");
        x.embeds[0].clone()
    }

    #[test]
    fn blocks_split_into_options_and_markdown() {
        let e = one(
            "{{InfoBox\n|caption=Otter\n|Weight=10 kg|Length=1 m\nSome *text*\n| a | b |\n}}\n",
        );
        assert_eq!(e.name, "InfoBox");
        assert_eq!(e.option("CAPTION"), Some("Otter"));
        assert_eq!(e.option("length"), Some("1 m"));
        assert_eq!(e.body, "Some *text*\n| a | b |");
    }

    #[test]
    fn one_line_forms_and_escapes() {
        let e = one("{{Attachments}}");
        assert_eq!((e.name.as_str(), e.body.as_str()), ("Attachments", ""));
        let e = one("{{Video|src=/a.mp4}}\n");
        assert_eq!(e.option("src"), Some("/a.mp4"));
        let e = one("{{InfoBox\n|a\\=b=value\\|x\n\\|Pipe in text\n}}");
        assert_eq!(e.options, vec![("a=b".to_string(), "value|x".to_string())]);
        assert_eq!(e.body, "\\|Pipe in text");
        // `}}` at the end of a text line closes the block too.
        assert_eq!(one("{{Figure\nlast line}}").body, "last line");
    }

    #[test]
    fn only_line_starts_outside_code_open_blocks() {
        assert!(extract("text {{InfoBox}}\n").unwrap().embeds.is_empty());
        assert!(
            extract("```\n{{InfoBox}}\n```\n")
                .unwrap()
                .embeds
                .is_empty()
        );
        assert!(
            extract("{{InfoBox\nnever closed\n")
                .unwrap()
                .embeds
                .is_empty()
        );
        assert!(extract("{{ 42 }}\n").unwrap().embeds.is_empty());
        assert!(extract("no braces").is_none());
    }

    #[test]
    fn markers_are_replaced_once_with_their_paragraph() {
        let x = extract("a\n{{X}}\nb\n").unwrap();
        assert!(x.text.contains("\u{FDD0}0\u{FDD1}"));
        let mut html = "<p>a</p>\n<p>\u{FDD0}0\u{FDD1}</p>\n<p>b</p>".to_string();
        replace_markers(&mut html, &[(0, "<div>X</div>".into())]);
        assert_eq!(html, "<p>a</p>\n<div>X</div>\n<p>b</p>");
        // An author's own noncharacters are not markers.
        let x = extract("\u{FDD0}0\u{FDD1}\n{{X}}\n").unwrap();
        assert_eq!(x.text.matches('\u{FDD0}').count(), 1);
    }

    #[test]
    fn a_page_of_unclosed_blocks_costs_one_pass() {
        let md = "{{InfoBox\n".repeat(50_000);
        let x = extract(&md).unwrap();
        assert!(x.embeds.is_empty() && x.text == md);
        let md = "{{X}}\n".repeat(MAX_EMBEDS + 5);
        let x = extract(&md).unwrap();
        assert_eq!(x.embeds.len(), MAX_EMBEDS);
        assert!(x.capped);
    }
}
