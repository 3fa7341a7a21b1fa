//! A page's HTML as tokens: text, start tags and end tags, read as the HTML standard's
//! tokenizer reads them (a browser's), and nothing else (comments, doctypes and
//! processing instructions are skipped).
//!
//! It follows the standard's states that decide where tags, comments and text are: data,
//! tag open, the attribute states, comments, bogus comments, and the raw-text elements a
//! browser's tree builder switches its tokenizer into (`script`, `textarea`,
//! `plaintext`…, [`RAW_TEXT_ELEMENTS`]). Text and attribute values are decoded by
//! [`references`](super::references). Tests compare every token with html5ever's
//! tokenizer (`super::browser`), on the fixtures here and in the sanitiser's fuzz target.
//!
//! **Why our own.** The sanitiser writes every byte of its output from these tokens, so
//! what a browser makes of the page depends only on what the sanitiser writes, never on
//! how faithfully this read the input: reading as a browser does is what keeps a page
//! looking as its author meant, not what keeps it safe. html5ever's tokenizer, which did
//! this before, reads a character at a time into reference-counted buffers: two fifths of
//! a render. This one jumps from `<` to `<` and borrows what it does not change.
//!
//! **Bounded.** Each byte is read a bounded number of times, and a start tag with more
//! than [`MAX_ATTRIBUTES`] attributes (real tags carry a handful) is read as text, so
//! that checking each attribute against the earlier ones of its tag stays linear.

use std::borrow::Cow;
use std::ops::Range;

use memchr::memchr;

use super::references::{Context, decode};

/// Attributes one start tag may carry; a tag with more is read as text.
pub const MAX_ATTRIBUTES: usize = 64;

/// A token. Names are lowercase, as the standard reads them.
#[derive(Debug, PartialEq)]
pub enum Token<'a> {
    Text(Cow<'a, str>),
    StartTag(Tag<'a>),
    EndTag(Cow<'a, str>),
}

#[derive(Debug, PartialEq)]
pub struct Tag<'a> {
    pub name: Cow<'a, str>,
    /// Each name once (the first of duplicates), in the order written.
    pub attributes: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// How a browser reads the content of an element, for the elements whose content is
/// text, not markup.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum RawText {
    /// Text up to the element's end tag, references not decoded (`script`, `xmp`).
    Raw,
    /// The same, references decoded (`textarea`, `title`).
    Escapable,
    /// Text to the end of the input (`plaintext`).
    ToTheEnd,
}

/// The elements a browser's tree builder reads as raw text. None of them is ever
/// allowed, so only their end (or, for `plaintext`, none) matters to us.
pub const RAW_TEXT_ELEMENTS: &[(&str, RawText)] = &[
    ("script", RawText::Raw),
    ("style", RawText::Raw),
    ("xmp", RawText::Raw),
    ("iframe", RawText::Raw),
    ("noembed", RawText::Raw),
    ("noframes", RawText::Raw),
    ("noscript", RawText::Raw),
    ("textarea", RawText::Escapable),
    ("title", RawText::Escapable),
    ("plaintext", RawText::ToTheEnd),
];

/// The raw-text element `name` (lowercase), if it is one.
fn raw_text(name: &str) -> Option<(&'static str, RawText)> {
    RAW_TEXT_ELEMENTS.iter().find(|(n, _)| *n == name).copied()
}

/// Where the tokenizer is reading.
enum Mode {
    Data,
    /// Inside a raw-text element: its name (lowercase), which only its end tag ends.
    Raw(&'static str, RawText),
}

pub struct Tokenizer<'a> {
    html: &'a str,
    at: usize,
    mode: Mode,
    /// A start tag had more than [`MAX_ATTRIBUTES`] and was read as text.
    pub capped: bool,
}

impl<'a> Tokenizer<'a> {
    pub fn new(html: &'a str) -> Self {
        Tokenizer {
            html,
            at: 0,
            mode: Mode::Data,
            capped: false,
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.html.as_bytes()
    }

    /// Text from `at` up to the next `<` that starts markup (a `<` that starts none,
    /// as in `a < b`, is text).
    fn text_end(&self, from: usize) -> usize {
        let b = self.bytes();
        let mut p = from;
        while let Some(off) = memchr(b'<', &b[p..]) {
            let lt = p + off;
            if starts_markup(b, lt) {
                return lt;
            }
            p = lt + 1;
        }
        b.len()
    }

    /// The token of the markup at `lt`, or `None` for markup that makes none (a comment,
    /// `</>`, a tag the input ends inside). Moves past it either way.
    fn markup(&mut self, lt: usize) -> Option<Token<'a>> {
        let b = self.bytes();
        match b.get(lt + 1) {
            Some(c) if c.is_ascii_alphabetic() => self.start_tag(lt),
            Some(b'/') => match b.get(lt + 2) {
                Some(c) if c.is_ascii_alphabetic() => {
                    let name_end = name_end(b, lt + 2);
                    let tag = scan_tag(b, name_end, false);
                    self.at = tag.end.unwrap_or(b.len());
                    tag.end
                        .map(|_| Token::EndTag(name(&self.html[lt + 2..name_end])))
                }
                Some(b'>') => {
                    self.at = lt + 3;
                    None
                }
                _ => {
                    self.at = bogus_comment_end(b, lt + 2);
                    None
                }
            },
            Some(b'!') if b[lt + 2..].starts_with(b"--") => {
                self.at = comment_end(b, lt + 4);
                None
            }
            _ => {
                // `<!…>` (doctypes among them) and `<?…>`.
                self.at = bogus_comment_end(b, lt + 2);
                None
            }
        }
    }

    fn start_tag(&mut self, lt: usize) -> Option<Token<'a>> {
        let b = self.bytes();
        let name_end = name_end(b, lt + 1);
        let tag = scan_tag(b, name_end, true);
        let end = tag.end.unwrap_or(b.len());
        self.at = end;
        if tag.count > MAX_ATTRIBUTES {
            // As text, every `<` in it included: reading on from inside the tag would
            // read the rest of the page once for each `<` in it.
            self.capped = true;
            return Some(Token::Text(decode(&self.html[lt..end], Context::Data)));
        }
        tag.end?;
        let tag_name = name(&self.html[lt + 1..name_end]);
        if let Some((element, kind)) = raw_text(&tag_name) {
            self.mode = Mode::Raw(element, kind);
        }
        let mut attributes: Vec<(Cow<'a, str>, Cow<'a, str>)> =
            Vec::with_capacity(tag.attributes.len());
        for (name_range, value_range) in tag.attributes {
            let attribute = name(&self.html[name_range]);
            if attributes.iter().any(|(n, _)| *n == attribute) {
                continue;
            }
            let value = match value_range {
                Some(range) => decode(&self.html[range], Context::Attribute),
                None => Cow::Borrowed(""),
            };
            attributes.push((attribute, value));
        }
        Some(Token::StartTag(Tag {
            name: tag_name,
            attributes,
        }))
    }

    /// Inside a raw-text element: its text up to its end tag, then the end tag.
    fn raw(&mut self, element: &'static str, kind: RawText) -> Option<Token<'a>> {
        let b = self.bytes();
        let context = match kind {
            RawText::Escapable => Context::EscapableRawText,
            _ => Context::RawText,
        };
        if kind == RawText::ToTheEnd {
            let text = &self.html[self.at..];
            self.at = b.len();
            return Some(Token::Text(decode(text, context)));
        }
        let mut p = self.at;
        let end_tag = loop {
            let Some(off) = memchr(b'<', &b[p..]) else {
                break None;
            };
            let lt = p + off;
            let name_end = lt + 2 + element.len();
            // Only its own end tag (`</name` then a space, `/` or `>`) ends it.
            if b.get(lt + 1) == Some(&b'/')
                && b.len() > name_end
                && b[lt + 2..name_end].eq_ignore_ascii_case(element.as_bytes())
                && ends_name(b[name_end])
            {
                break Some((lt, name_end));
            }
            p = lt + 1;
        };
        let text_end = end_tag.map_or(b.len(), |(lt, _)| lt);
        if text_end > self.at {
            let text = &self.html[self.at..text_end];
            self.at = text_end;
            return Some(Token::Text(decode(text, context)));
        }
        let (_, name_end) = end_tag?;
        let tag = scan_tag(b, name_end, false);
        self.at = tag.end.unwrap_or(b.len());
        self.mode = Mode::Data;
        tag.end.map(|_| Token::EndTag(Cow::Borrowed(element)))
    }
}

impl<'a> Iterator for Tokenizer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        while self.at < self.html.len() {
            if let Mode::Raw(element, kind) = self.mode {
                if let Some(token) = self.raw(element, kind) {
                    return Some(token);
                }
                continue;
            }
            let end = self.text_end(self.at);
            if end > self.at {
                let text = &self.html[self.at..end];
                self.at = end;
                return Some(Token::Text(decode(text, Context::Data)));
            }
            if let Some(token) = self.markup(end) {
                return Some(token);
            }
        }
        None
    }
}

/// Whether the `<` at `lt` starts a tag, a comment or a bogus comment.
fn starts_markup(b: &[u8], lt: usize) -> bool {
    match b.get(lt + 1) {
        Some(c) if c.is_ascii_alphabetic() => true,
        Some(b'!' | b'?') => true,
        // `</` at the very end is text.
        Some(b'/') => lt + 2 < b.len(),
        _ => false,
    }
}

/// A tag or attribute name as the standard reads it: ASCII letters lowercased, NUL
/// replaced.
fn name(raw: &str) -> Cow<'_, str> {
    if raw.bytes().any(|c| c.is_ascii_uppercase() || c == 0) {
        Cow::Owned(raw.to_ascii_lowercase().replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(raw)
    }
}

/// Just past a tag name that starts at `start`.
fn name_end(b: &[u8], start: usize) -> usize {
    b[start..]
        .iter()
        .position(|&c| ends_name(c))
        .map_or(b.len(), |off| start + off)
}

/// A tag's attributes as byte ranges of the input, and where it ends.
struct Scanned {
    /// Names and values (`None`: no `=`), up to [`MAX_ATTRIBUTES`] + 1 of them.
    attributes: Vec<(Range<usize>, Option<Range<usize>>)>,
    /// How many attributes it starts.
    count: usize,
    /// Just past its `>`; `None` if the input ends inside it.
    end: Option<usize>,
}

/// Follows the attribute states from `p`, just past the tag's name, to the tag's end;
/// keeps the attributes' ranges if `keep`.
fn scan_tag(b: &[u8], mut p: usize, keep: bool) -> Scanned {
    #[derive(Clone, Copy)]
    enum State {
        BeforeName,
        Name(usize),
        AfterName,
        BeforeValue,
        Quoted(u8, usize),
        AfterQuoted,
        Unquoted(usize),
        SelfClosing,
    }
    let mut scanned = Scanned {
        attributes: Vec::new(),
        count: 0,
        end: None,
    };
    fn set_value(scanned: &mut Scanned, range: Range<usize>) {
        if let Some(last) = scanned.attributes.last_mut() {
            last.1 = Some(range);
        }
    }
    let mut state = State::BeforeName;
    while let Some(&c) = b.get(p) {
        let mut next = p + 1;
        state = match state {
            State::Unquoted(start) if is_space(c) || c == b'>' => {
                set_value(&mut scanned, start..p);
                next = p;
                State::AfterQuoted
            }
            // In these states a `>` ends the tag (in the others it is part of a name or
            // value, or is reconsumed in `AfterName`).
            State::AfterName | State::BeforeValue | State::AfterQuoted | State::SelfClosing
                if c == b'>' =>
            {
                scanned.end = Some(p + 1);
                return scanned;
            }
            State::BeforeName if is_space(c) => State::BeforeName,
            State::BeforeName if c == b'/' || c == b'>' => {
                next = p;
                State::AfterName
            }
            State::BeforeName => {
                scanned.count += 1;
                State::Name(p) // `=` here starts a name too
            }
            State::Name(start) if ends_name(c) || c == b'=' => {
                if keep && scanned.count <= MAX_ATTRIBUTES + 1 {
                    scanned.attributes.push((start..p, None));
                }
                if c == b'=' {
                    State::BeforeValue
                } else {
                    next = p;
                    State::AfterName
                }
            }
            State::Name(start) => State::Name(start),
            State::AfterName if is_space(c) => State::AfterName,
            State::AfterName if c == b'/' => State::SelfClosing,
            State::AfterName if c == b'=' => State::BeforeValue,
            State::AfterName => {
                scanned.count += 1;
                next = p;
                State::Name(p)
            }
            State::BeforeValue if is_space(c) => State::BeforeValue,
            State::BeforeValue if c == b'"' || c == b'\'' => State::Quoted(c, p + 1),
            State::BeforeValue => {
                next = p;
                State::Unquoted(p)
            }
            State::Quoted(q, start) => match memchr(q, &b[p..]) {
                // Straight to the closing quote: nothing inside matters.
                Some(off) => {
                    set_value(&mut scanned, start..p + off);
                    next = p + off + 1;
                    State::AfterQuoted
                }
                None => break,
            },
            State::AfterQuoted if is_space(c) => State::BeforeName,
            State::AfterQuoted if c == b'/' => State::SelfClosing,
            State::AfterQuoted => {
                next = p;
                State::BeforeName
            }
            State::Unquoted(start) => State::Unquoted(start),
            State::SelfClosing => {
                next = p;
                State::BeforeName
            }
        };
        p = next;
    }
    scanned
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
    while let Some(off) = memchr(b'-', &rest[at..]) {
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
    let from = p.min(b.len());
    memchr(b'>', &b[from..]).map_or(b.len(), |off| from + off + 1)
}

/// What ends a tag or attribute name: whitespace, `/` or `>`.
fn ends_name(c: u8) -> bool {
    is_space(c) || c == b'/' || c == b'>'
}

/// The tokenizer's whitespace (CR is read as LF).
fn is_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// The tokens of `html` in the form `super::browser` writes html5ever's, adjacent texts
/// joined; `None` if a tag was read as text for its attributes (html5ever reads it as a
/// tag). For the tests and the fuzz target that compare the two.
#[doc(hidden)]
pub fn describe(html: &str) -> Option<Vec<String>> {
    let mut tokenizer = Tokenizer::new(html);
    let mut out: Vec<String> = Vec::new();
    for token in tokenizer.by_ref() {
        match token {
            Token::Text(t) if t.is_empty() => {}
            Token::Text(t) => match out.last_mut() {
                Some(last) if last.starts_with("text ") => last.push_str(&t),
                _ => out.push(format!("text {t}")),
            },
            Token::StartTag(tag) => {
                let mut s = format!("start {}", tag.name);
                for (name, value) in &tag.attributes {
                    s.push_str(&format!(" {name}={value:?}"));
                }
                out.push(s);
            }
            Token::EndTag(name) => out.push(format!("end {name}")),
        }
    }
    (!tokenizer.capped).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(html: &str) -> Vec<Token<'_>> {
        Tokenizer::new(html).collect()
    }

    fn text(s: &str) -> Token<'_> {
        Token::Text(Cow::Borrowed(s))
    }

    fn many(n: usize) -> String {
        (0..n).map(|i| format!(" a{i}")).collect()
    }

    #[test]
    fn tags_attributes_and_text() {
        let t = tokens("a<DIV Class=x id='y' title=\"z\" hidden>b</div >");
        assert_eq!(t[0], text("a"));
        let Token::StartTag(tag) = &t[1] else {
            panic!("{t:?}")
        };
        assert_eq!(tag.name, "div");
        let attrs: Vec<(&str, &str)> = tag.attributes.iter().map(|(n, v)| (&**n, &**v)).collect();
        assert_eq!(
            attrs,
            [("class", "x"), ("id", "y"), ("title", "z"), ("hidden", "")]
        );
        assert_eq!(t[2], text("b"));
        assert_eq!(t[3], Token::EndTag(Cow::Borrowed("div")));
    }

    #[test]
    fn duplicates_keep_the_first() {
        let t = tokens("<b x=1 X=2 x=3>");
        let Token::StartTag(tag) = &t[0] else {
            panic!()
        };
        assert_eq!(tag.attributes, [(Cow::Borrowed("x"), Cow::Borrowed("1"))]);
    }

    #[test]
    fn comments_and_declarations_make_no_tokens() {
        assert_eq!(
            tokens("a<!-- <b> -->b<!doctype html>c<?x>d</>e<!-->f<!--->g</ x>h"),
            ["a", "b", "c", "d", "e", "f", "g", "h"].map(text)
        );
        assert_eq!(tokens("a < b <"), [text("a < b <")]);
        assert_eq!(tokens("x</"), [text("x</")]);
        assert_eq!(tokens("x<b title='open"), [text("x")]);
    }

    #[test]
    fn raw_text_ends_only_at_its_end_tag() {
        let t = tokens("<script><b>&amp;</scriptx></script><i>");
        assert_eq!(t[1], text("<b>&amp;</scriptx>"));
        assert_eq!(t[2], Token::EndTag(Cow::Borrowed("script")));
        assert!(matches!(&t[3], Token::StartTag(tag) if tag.name == "i"));
        let t = tokens("<textarea>&amp;<b></TEXTAREA>");
        assert_eq!(t[1], Token::Text(Cow::Owned("&<b>".into())));
        assert_eq!(tokens("<plaintext></plaintext>").len(), 2);
        assert_eq!(tokens("<xmp>a</xmp")[1], text("a</xmp"));
    }

    #[test]
    fn a_tag_with_too_many_attributes_is_text() {
        let html = format!("<span{}>x</span><b>y</b>", many(100));
        let mut tokenizer = Tokenizer::new(&html);
        let first = tokenizer.next();
        assert!(tokenizer.capped);
        assert!(matches!(first, Some(Token::Text(t)) if t.starts_with("<span a0")));
        let ok = format!("<span{}>x</span>", many(MAX_ATTRIBUTES));
        let mut tokenizer = Tokenizer::new(&ok);
        assert!(matches!(tokenizer.next(), Some(Token::StartTag(_))));
        assert!(!tokenizer.capped);
    }

    #[test]
    fn quotes_comments_and_scripts_hide_tags() {
        // Inside a quoted value, a comment, or script text, `<` starts no tag...
        let inside = format!(
            "<a title=\"<b{m}>\">x</a><!-- <b{m}> --><script><b{m}></script>",
            m = many(100)
        );
        let mut tokenizer = Tokenizer::new(&inside);
        assert_eq!(tokenizer.by_ref().count(), 6);
        assert!(!tokenizer.capped);
        // ...but a quote inside a comment or script does not hide the tags after it.
        for hider in ["<!-- \" -->", "<script>\"</script>", "<style>'</style>"] {
            let html = format!("{hider}<b{}>", many(100));
            let mut tokenizer = Tokenizer::new(&html);
            tokenizer.by_ref().for_each(drop);
            assert!(tokenizer.capped, "{hider}");
        }
    }
}
