//! The HTML allow-list every rendered page, and every highlighted source, passes through.
//!
//! A page's HTML is comrak's output plus whatever raw HTML its author wrote. We read it
//! as tokens ([`tokenizer`]: the HTML standard's tokenizer, so tags, attributes and
//! character references read as a browser reads them) and write a new document from the
//! tokens:
//!
//! - only the elements and attributes below, and URLs only of the schemes below;
//! - every text and attribute value escaped by us, every attribute value double-quoted;
//! - comments, doctypes and processing instructions dropped; `script` and `style` dropped
//!   with their content; other elements off the list dropped, their text kept;
//! - elements balanced: an end tag closes what it matches or is dropped, and what is left
//!   open is closed at the end;
//! - no element opened below [`MAX_HTML_DEPTH`] open ones, and no tag with more than
//!   [`tokenizer::MAX_ATTRIBUTES`] attributes: those are shown as text.
//!
//! **Why this is safe.** We write every byte of the output, and none of the elements we
//! write switches a browser's tokenizer out of its data state (no `script`, `style`,
//! `textarea`, `title`, `noscript`, `plaintext`, `svg` or `math`). So a browser reads our
//! output as exactly the tokens we wrote, and its tree builder makes elements only from
//! those tokens (plus implied `tbody`, `p` and copies of open formatting elements, all on
//! the list). The tests check the output against the list by reading it again with
//! html5ever's tokenizer ([`browser`]), and check that ours reads as that one does.
//!
//! **Why a page stays in its box.** A browser's tree builder closes and keeps open
//! elements on its own (a `</li>` closes what is open inside the list item, a second
//! `<table>` the first, an open `<li>` makes `</robot-page>` be ignored), so its idea of
//! what is open can differ from ours. The layout is built so that this cannot matter:
//! a page sits only under `html`, `body`, `main` and the layout's own `robot-*` elements,
//! names we never write, so no end tag in a page can close them; and it comes last in
//! the document, so an element it leaves open swallows nothing of the layout
//! (`assets/templates/base.html`, `page.html`; tested below with a real tree builder).
//!
//! **Why not a DOM sanitiser.** ammonia did this job before, by building a tree of the
//! whole page and serialising it: three quarters of a render's time and most of its
//! memory (1.2 s for a 1 MB page of headings), and quadratic in nesting depth.

use std::collections::HashMap;
use std::sync::LazyLock;

#[cfg(test)]
pub(crate) mod browser;
mod references;
pub mod tokenizer;

use tokenizer::{Tag, Token, Tokenizer};

/// Open elements below which a new element is shown as text. Real pages nest a handful.
pub const MAX_HTML_DEPTH: usize = 128;

/// Elements that may appear: ammonia's safe defaults plus what our Markdown writes.
const ELEMENTS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "area",
    "article",
    "aside",
    "audio",
    "b",
    "bdi",
    "bdo",
    "blockquote",
    "br",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "data",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "i",
    "img",
    "input",
    "ins",
    "kbd",
    "li",
    "map",
    "mark",
    "nav",
    "ol",
    "p",
    "pre",
    "q",
    "rp",
    "rt",
    "rtc",
    "ruby",
    "s",
    "samp",
    "section",
    "small",
    "source",
    "span",
    "strike",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
    "video",
    "wbr",
];

/// Attributes any allowed element may carry.
const GENERIC_ATTRIBUTES: &[&str] = &["id", "class", "title", "lang", "dir"];

/// Attributes allowed on one element.
const ELEMENT_ATTRIBUTES: &[(&str, &[&str])] = &[
    (
        "a",
        &[
            "href",
            "hreflang",
            "data-footnote-ref",
            "data-footnote-backref",
            "data-footnote-backref-idx",
            "aria-label",
        ],
    ),
    ("audio", MEDIA_ATTRIBUTES),
    ("blockquote", &["cite"]),
    ("col", &["align", "char", "charoff", "span"]),
    ("colgroup", &["align", "char", "charoff", "span"]),
    ("del", &["cite", "datetime"]),
    ("details", &["open"]),
    ("hr", &["align", "size", "width"]),
    ("img", &["align", "alt", "height", "src", "width"]),
    ("input", &["type", "checked", "disabled"]),
    ("ins", &["cite", "datetime"]),
    ("ol", &["start"]),
    ("pre", &["data-lang", "data-math-style"]),
    ("q", &["cite"]),
    ("section", &["data-footnotes"]),
    ("source", &["src", "type"]),
    ("span", &["data-math-style"]),
    ("table", &["align", "char", "charoff", "summary"]),
    ("tbody", &["align", "char", "charoff"]),
    (
        "td",
        &["align", "char", "charoff", "colspan", "headers", "rowspan"],
    ),
    ("tfoot", &["align", "char", "charoff"]),
    (
        "th",
        &[
            "align", "char", "charoff", "colspan", "headers", "rowspan", "scope",
        ],
    ),
    ("thead", &["align", "char", "charoff"]),
    ("tr", &["align", "char", "charoff"]),
    ("video", MEDIA_ATTRIBUTES),
];

/// What `<video>` and `<audio>` may say: controls and size, never to play by themselves.
const MEDIA_ATTRIBUTES: &[&str] = &[
    "controls",
    "height",
    "loop",
    "muted",
    "playsinline",
    "poster",
    "preload",
    "src",
    "width",
];

/// Elements whose sources are media, played from the wiki's own attachments or https.
const MEDIA: &[&str] = &["audio", "source", "video"];

/// URL schemes a link or image may use; relative URLs are allowed too.
const URL_SCHEMES: &[&str] = &[
    "bitcoin",
    "ftp",
    "ftps",
    "geo",
    "http",
    "https",
    "im",
    "irc",
    "ircs",
    "magnet",
    "mailto",
    "mms",
    "mx",
    "news",
    "nntp",
    "openpgp4fpr",
    "sip",
    "sms",
    "smsto",
    "ssh",
    "tel",
    "url",
    "webcal",
    "wtai",
    "xmpp",
];

/// Every link gets this `rel`: a linked page cannot reach back into the wiki's window.
const LINK_REL: &str = "noopener noreferrer";

/// Elements that never hold content.
const VOID: &[&str] = &["area", "br", "col", "hr", "img", "input", "source", "wbr"];

/// Elements whose end tag may be left out (`<li>a<li>b`): they close themselves, so they
/// are not kept open (nor closed at the end); their end tags are written as they come.
const OPTIONAL_END: &[&str] = &[
    "p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "colgroup", "rt", "rp",
    "rtc",
];

/// What the lists above say about one allowed element, looked up once per tag.
struct Element {
    name: &'static str,
    /// Never holds content ([`VOID`]).
    void: bool,
    /// Closes itself ([`OPTIONAL_END`]).
    optional_end: bool,
    /// What it may carry beyond [`GENERIC_ATTRIBUTES`].
    attributes: &'static [&'static str],
}

impl Element {
    /// Kept open until its end tag, and counted against [`MAX_HTML_DEPTH`].
    fn stays_open(&self) -> bool {
        !self.void && !self.optional_end
    }
}

/// The allow-list by tag name: a page has a tag every few dozen bytes, and comparing
/// names against the lists one by one was a sixth of a render.
static ALLOWED: LazyLock<HashMap<&'static str, Element>> = LazyLock::new(|| {
    ELEMENTS
        .iter()
        .map(|&name| {
            let attributes = ELEMENT_ATTRIBUTES
                .iter()
                .find(|(e, _)| *e == name)
                .map_or(&[][..], |&(_, a)| a);
            let element = Element {
                name,
                void: VOID.contains(&name),
                optional_end: OPTIONAL_END.contains(&name),
                attributes,
            };
            (name, element)
        })
        .collect()
});

/// The allow-list's entry for an element (by its lowercase name), if it is allowed.
fn allowed_element(name: &str) -> Option<&'static Element> {
    ALLOWED.get(name)
}

/// Elements dropped with their content (raw text, which the tokenizer reads to their
/// end tag).
const DROPPED_WITH_CONTENT: &[&str] = &["script", "style"];

/// Sanitised HTML, and whether tags were shown as text: nested past [`MAX_HTML_DEPTH`],
/// or carrying more than [`tokenizer::MAX_ATTRIBUTES`].
pub struct Clean {
    pub html: String,
    pub capped: bool,
}

/// Rewrites `html` to the allow-list (see the module comment).
pub fn clean(html: &str) -> Clean {
    let mut writer = Writer {
        html: String::with_capacity(html.len() + html.len() / 8),
        open: Vec::new(),
        shown_as_text: Vec::new(),
        dropping: false,
        capped: false,
    };
    let mut tokens = Tokenizer::new(html);
    for token in tokens.by_ref() {
        match token {
            Token::StartTag(tag) => writer.start_tag(&tag),
            Token::EndTag(name) => writer.end_tag(&name),
            Token::Text(text) if !writer.dropping => escape_text(&mut writer.html, &text),
            Token::Text(_) => {}
        }
    }
    writer.close_all();
    Clean {
        html: writer.html,
        capped: writer.capped || tokens.capped,
    }
}

struct Writer {
    html: String,
    /// Allowed elements written and not yet closed, innermost last.
    open: Vec<&'static str>,
    /// Elements opened past the depth cap and shown as text, innermost last; their end
    /// tags are shown as text too.
    shown_as_text: Vec<&'static str>,
    /// Inside `script` or `style`, whose content is dropped.
    dropping: bool,
    capped: bool,
}

impl Writer {
    fn start_tag(&mut self, tag: &Tag) {
        let Some(element) = allowed_element(&tag.name) else {
            if DROPPED_WITH_CONTENT.contains(&&*tag.name) {
                self.dropping = true;
            }
            return;
        };
        let name = element.name;
        if element.stays_open() && self.open.len() >= MAX_HTML_DEPTH {
            self.capped = true;
            self.html.push_str("&lt;");
            self.html.push_str(name);
            self.html.push_str("&gt;");
            self.shown_as_text.push(name);
            return;
        }
        self.html.push('<');
        self.html.push_str(name);
        for (attr_name, value) in &tag.attributes {
            if allowed_attribute(name, element, attr_name, value) {
                self.html.push(' ');
                self.html.push_str(attr_name);
                self.html.push_str("=\"");
                escape_attribute(&mut self.html, value);
                self.html.push('"');
            }
        }
        if name == "a" {
            self.html.push_str(" rel=\"");
            self.html.push_str(LINK_REL);
            self.html.push('"');
        }
        self.html.push('>');
        if element.stays_open() {
            self.open.push(name);
        }
    }

    fn end_tag(&mut self, name: &str) {
        if self.shown_as_text.last() == Some(&name) {
            self.shown_as_text.pop();
            self.html.push_str("&lt;/");
            self.html.push_str(name);
            self.html.push_str("&gt;");
            return;
        }
        let Some(element) = allowed_element(name) else {
            if DROPPED_WITH_CONTENT.contains(&name) {
                self.dropping = false;
            }
            return;
        };
        if element.void {
            return;
        }
        if element.optional_end {
            self.html.push_str("</");
            self.html.push_str(element.name);
            self.html.push('>');
            return;
        }
        // An end tag closes the innermost element it names and everything inside it; one
        // that names nothing open is dropped.
        if let Some(at) = self.open.iter().rposition(|n| *n == element.name) {
            while self.open.len() > at {
                self.close_innermost();
            }
        }
    }

    fn close_innermost(&mut self) {
        if let Some(name) = self.open.pop() {
            self.html.push_str("</");
            self.html.push_str(name);
            self.html.push('>');
        }
    }

    fn close_all(&mut self) {
        while !self.open.is_empty() {
            self.close_innermost();
        }
    }
}

fn allowed_attribute(name: &str, element: &Element, attribute: &str, value: &str) -> bool {
    let listed = GENERIC_ATTRIBUTES.contains(&attribute) || element.attributes.contains(&attribute);
    if !listed {
        return false;
    }
    match attribute {
        "src" | "poster" if MEDIA.contains(&name) => media_url(value),
        "href" | "src" => allowed_url(value),
        // Task-list checkboxes are the only inputs.
        "type" if name == "input" => value.eq_ignore_ascii_case("checkbox"),
        _ => true,
    }
}

/// A URL of an allowed scheme, or a relative one. Parsed as a browser parses it (the URL
/// standard strips the tabs, newlines and leading controls that hide `javascript:`);
/// character references were already decoded by the tokenizer.
fn allowed_url(value: &str) -> bool {
    // A path, query or fragment has no scheme (a scheme starts with a letter, and the
    // URL parser strips nothing before a `/`, `?` or `#`): the common case, without a parse.
    if value.starts_with(['/', '?', '#']) {
        return true;
    }
    match url::Url::parse(value) {
        Ok(url) => URL_SCHEMES.contains(&url.scheme()),
        Err(url::ParseError::RelativeUrlWithoutBase) => true,
        Err(_) => false,
    }
}

/// A media source: a path on this wiki (its attachments) or an https URL; no other
/// scheme (no `http:` mixed content, no `data:` blobs).
fn media_url(value: &str) -> bool {
    if value.starts_with(['/', '?', '#']) {
        return !value.starts_with("//");
    }
    match url::Url::parse(value) {
        Ok(url) => url.scheme() == "https",
        Err(url::ParseError::RelativeUrlWithoutBase) => true,
        Err(_) => false,
    }
}

fn escape_text(out: &mut String, text: &str) {
    escape(out, text, false);
}

fn escape_attribute(out: &mut String, value: &str) {
    escape(out, value, true);
}

/// `&`, `<`, `>` and no-break spaces always, `"` in attribute values, and a carriage return
/// as a reference (`&#13;` decodes to one, which a browser, and our next pass, would
/// otherwise read as a line feed). `<` and `>` are harmless inside a quoted value, but
/// escaping them there too means no `<` in our output ever starts anything but a tag we
/// wrote, for whatever reads it next.
fn escape(out: &mut String, s: &str, attribute: bool) {
    // Bytewise: every character replaced is ASCII but the no-break space, C2 A0 in UTF-8,
    // and a C2 byte always starts a character, so slicing at these bytes is sound.
    let bytes = s.as_bytes();
    let mut done = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (replacement, len) = match bytes[i] {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'"' if attribute => ("&quot;", 1),
            b'\r' => ("&#13;", 1),
            0xC2 if bytes.get(i + 1) == Some(&0xA0) => ("&nbsp;", 2),
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[done..i]);
        out.push_str(replacement);
        i += len;
        done = i;
    }
    out.push_str(&s[done..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(html: &str) -> String {
        clean(html).html
    }

    #[test]
    fn video_and_audio_play_attachments_and_https_only() {
        assert_eq!(
            c(
                "<video controls width=\"80%\" autoplay><source src=\"/Page/a/clip.mp4\" type=\"video/mp4\"></video>"
            ),
            "<video controls=\"\" width=\"80%\"><source src=\"/Page/a/clip.mp4\" type=\"video/mp4\"></video>"
        );
        assert_eq!(
            c("<audio controls src=\"https://example.org/a.mp3\"></audio>"),
            "<audio controls=\"\" src=\"https://example.org/a.mp3\"></audio>"
        );
        for bad in [
            "http://example.org/a.mp4",
            "data:video/mp4;base64,AAAA",
            "javascript:alert(1)",
            "//evil.example/a.mp4",
        ] {
            let out = c(&format!("<video src=\"{bad}\" poster=\"{bad}\"></video>"));
            assert_eq!(out, "<video></video>", "{bad}");
        }
    }

    #[test]
    fn the_allow_list_is_read_by_tag_name() {
        let get = allowed_element;
        assert!(ELEMENTS.iter().all(|e| get(e).is_some()));
        assert!(get("script").is_none() && get("zzz").is_none() && get("A").is_none());
        assert!(get("br").is_some_and(|e| e.void && !e.stays_open()));
        assert!(get("li").is_some_and(|e| e.optional_end && !e.stays_open()));
        assert!(get("div").is_some_and(|e| e.stays_open()));
        assert!(get("a").is_some_and(|e| e.attributes.contains(&"href")));
        assert!(
            tokenizer::RAW_TEXT_ELEMENTS
                .iter()
                .all(|(n, _)| get(n).is_none()),
            "a raw-text element is never allowed: only its end matters"
        );
    }

    #[test]
    fn scripts_styles_and_handlers_go() {
        assert_eq!(c("<script>alert('<b>')</script>x"), "x");
        assert_eq!(c("<style>b{}</style><b onclick=\"x\">y</b>"), "<b>y</b>");
        assert_eq!(c("<img src=x onerror=alert(1)>"), "<img src=\"x\">");
        assert_eq!(c("<!-- c --><!doctype html>t"), "t");
        assert_eq!(c("<textarea><b>t</b></textarea>"), "&lt;b&gt;t&lt;/b&gt;");
        assert_eq!(c("<svg><script>1</script></svg>"), "");
        assert_eq!(c("<plaintext><b>"), "&lt;b&gt;");
    }

    #[test]
    fn urls_keep_only_allowed_schemes() {
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "&#106;avascript:alert(1)",
            "&#x6A;avascript:alert(1)",
            "\u{1}javascript:alert(1)",
            "vbscript:x",
            "data:text/html,<script>alert(1)</script>",
        ] {
            let out = c(&format!("<a href=\"{bad}\">x</a>"));
            assert_eq!(out, "<a rel=\"noopener noreferrer\">x</a>", "{bad}");
        }
        for good in [
            "https://e.org/?a=1&amp;b=2",
            "/Page#x",
            "mailto:a@b",
            "#top",
            "p.png",
        ] {
            assert!(
                c(&format!("<a href=\"{good}\">x</a>")).contains("href="),
                "{good}"
            );
        }
    }

    #[test]
    fn values_are_quoted_and_escaped() {
        assert_eq!(
            c("<a title='\"><script>' href=/x>y</a>"),
            "<a title=\"&quot;&gt;&lt;script&gt;\" href=\"/x\" rel=\"noopener noreferrer\">y</a>"
        );
        assert_eq!(c("a &lt; b &amp; c > d"), "a &lt; b &amp; c &gt; d");
        // Found by fuzzing: `<style` inside a value, harmless there, is escaped too.
        assert!(!c("<a aria-label=\"x<style>y\">z</a>").contains("<style"));
        assert_eq!(
            c("<input type=text><input type=checkbox checked>"),
            "<input><input type=\"checkbox\" checked=\"\">"
        );
    }

    #[test]
    fn elements_are_balanced() {
        assert_eq!(c("<div><b>x</div>y</b>"), "<div><b>x</b></div>y");
        assert_eq!(c("</div></article>x<div>"), "x<div></div>");
        assert_eq!(c("<ul><li>a<li>b</ul>"), "<ul><li>a<li>b</ul>");
    }

    #[test]
    fn deep_nesting_is_shown_as_text() {
        let html = "<div>".repeat(200) + &"</div>".repeat(200);
        let out = clean(&html);
        assert!(out.capped);
        assert_eq!(out.html.matches("<div>").count(), MAX_HTML_DEPTH);
        assert_eq!(out.html.matches("</div>").count(), MAX_HTML_DEPTH);
        assert_eq!(
            out.html.matches("&lt;div&gt;").count(),
            200 - MAX_HTML_DEPTH
        );
        assert!(!clean("<p><b>x</b></p>").capped);
    }

    /// Our tokenizer reads every token as a browser's does (html5ever's): on the
    /// fixtures, on what we write for them, and on the forms the standard reads specially.
    #[test]
    fn reads_as_a_browser_reads() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/markdown");
        let mut inputs: Vec<String> = std::fs::read_dir(fixtures)
            .unwrap()
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
            .collect();
        inputs.extend(
            [
                "a<DIV Class=x id='y' title=\"z\" hidden>b</div >c",
                "<b x=1 X=2 x=3 =4 \"q=5 a<b=6>",
                "<a href=x/>y</a/><br/ ><img src=\"a\"/ alt=b>",
                "<a title=\"a>b\" t='c\"d' u=e\"f>x",
                "<a href=\"?a=1&copy=2&not;x&amp=3&copy\">&copy=2&notit;&#x80;&#0;</a>",
                "&#65;&#x42;&#X43&#x;&#;&#xD800;&#1114112;&#99999999999;&NotNestedLessLess;",
                "a\r\nb\rc\0d<b t=\"\r\n\0\" \0=x>\0</b\0>",
                "a<!-- <b> -->b<!doctype html>c<?x>d</>e<!-->f<!--->g</ x>h<!---->i<!-- --!>j",
                "<!-- a --->k<!-- -- -->l<!-- --!-->m<!x",
                "<script><b>&amp;</scriptx></script ><i>&amp;</i><script>x</script",
                "<textarea>&amp;<b></TEXTAREA x=\">\">t<title>&lt;</title/>",
                "<style>a</style\n>b<xmp><i></xmp><iframe><b></iframe>c",
                "<noscript><b></noscript><noembed>a</noembed><noframes>b</noframes>",
                "a < b <3 <_x <1 </ <",
                "x</",
                "x<b title='open",
                "<plaintext></plaintext><b>&amp;\0",
                "\u{feff}<b>\u{a0}</b>",
                "<a\thref=x\nid=y\x0cclass=z>",
                "<ÿ>x</ÿ><b\u{e9}=1>",
            ]
            .map(String::from),
        );
        for input in &inputs {
            let ours = tokenizer::describe(input).expect("no tag past the attribute cap");
            assert_eq!(ours, browser::describe(input), "{input:?}");
            let out = c(input);
            let ours = tokenizer::describe(&out).unwrap();
            assert_eq!(ours, browser::describe(&out), "{out:?}");
        }
    }

    /// What we write reads back as only allowed elements and attributes, and cleaning it
    /// again changes nothing.
    #[test]
    fn output_is_a_fixed_point() {
        let corpus = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/markdown/sanitize.md"
        ))
        .unwrap();
        for input in [
            corpus.as_str(),
            "a&#13;b<b title=\"&#13;\">",
            "\u{feff}\u{feff}x",
        ] {
            let once = c(input);
            assert_eq!(c(&once), once, "{input:?}");
        }
    }

    /// A page cannot leave its box, whatever a browser's tree builder does with its
    /// elements: parsed with the layout around it (html5ever's tree builder, as a browser
    /// builds it), the page's content stays in `robot-page` and the layout's own elements
    /// stay where they were.
    #[test]
    fn pages_stay_inside_the_layout() {
        use html5ever::tendril::TendrilSink;
        use markup5ever_rcdom::{Handle, NodeData, RcDom};

        /// `name>[children]` for an element: element names, and `#text` for text that
        /// is not only whitespace.
        fn children(h: &Handle) -> Vec<String> {
            h.children
                .borrow()
                .iter()
                .filter_map(|c| match &c.data {
                    NodeData::Element { name, .. } => Some(name.local.to_string()),
                    NodeData::Text { contents } if !contents.borrow().trim().is_empty() => {
                        Some("#text".to_string())
                    }
                    _ => None,
                })
                .collect()
        }
        fn find(h: &Handle, tag: &str) -> Option<Handle> {
            if let NodeData::Element { name, .. } = &h.data
                && &*name.local == tag
            {
                return Some(h.clone());
            }
            h.children.borrow().iter().find_map(|c| find(c, tag))
        }
        /// The children of `body`, of the layout element and of `main`.
        fn outline(layout: (&str, &str), page: &str) -> Vec<Vec<String>> {
            let doc = format!(
                "<!doctype html><html><body>{}{page}{}</body></html>",
                layout.0, layout.1
            );
            let dom = html5ever::parse_document(RcDom::default(), Default::default()).one(doc);
            let body = find(&dom.document, "body").expect("a body");
            let layout_element = body
                .children
                .borrow()
                .iter()
                .find(|c| matches!(c.data, NodeData::Element { .. }))
                .cloned()
                .expect("a layout");
            let main = find(&dom.document, "main").expect("a main");
            vec![children(&body), children(&layout_element), children(&main)]
        }

        let hostile = [
            "</div></div></article></main></body><p>out</p>",
            "<li><article></li></article><div>out</div>",
            "<li><div><li></div><div>out</div>",
            "<dd><div><dd></div><div>out</div>",
            "<dt><article><dt></article><div>out</div>",
            "<table><article><table></table></article><div>out</div>",
            "<table><td><div></td></table></div><p>out</p>",
            "<ul><li><div></ul></div><p>out</p>",
            "<p><div></p></div><p>out</p>",
            "<h1><div><h2></div></h1><p>out</p>",
            "<a><div><a></div></a><p>out</p>",
            "<b><div></b></div><p>out</p>",
            "<ruby><div><rt></div><p>out</p>",
            "<table><caption><div></caption></div><p>out</p>",
            "<table><tr><td><article></td></tr></table></article><p>out</p>",
            "<dl><dt><div><dd></div></dl><p>out</p>",
            "<details><summary><div></summary></details></div><p>out</p>",
            "<li><div><li>open to the end",
            "<table><tr><td><li>open",
            "<p><dd><dt><li><div>",
        ];
        // The layout as base.html and page.html build it around a page.
        let ours = (
            "<robot-layout class=layout><aside class=sidebar></aside><main class=content>\
             <div class=page-header></div><aside class=page-aside></aside>\
             <robot-page class=markdown>",
            "</robot-page></main></robot-layout>",
        );
        let expected = [
            vec!["robot-layout"],
            vec!["aside", "main"],
            vec!["div", "aside", "robot-page"],
        ];
        for page in hostile {
            assert_eq!(outline(ours, &c(page)), expected, "{page}");
        }
        // The layout this replaced (a div and an article around the page, the aside
        // after it) let the same pages out, or swallowed the aside into them.
        let old = (
            "<div class=layout><aside class=sidebar></aside><main class=content>\
             <div class=page-header></div><article class=markdown>",
            "</article><aside class=page-aside></aside></main></div>",
        );
        let old_expected = [
            vec!["div"],
            vec!["aside", "main"],
            vec!["div", "article", "aside"],
        ];
        let escaped = hostile
            .iter()
            .filter(|page| outline(old, &c(page)) != old_expected)
            .count();
        assert!(escaped >= 3, "only {escaped} escaped the old layout");

        // And the templates are still built that way: the page is the last thing in
        // page.html's block, and nothing but closing tags follows the block in base.html.
        let templates = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/templates/");
        let page_html = std::fs::read_to_string(format!("{templates}page.html")).unwrap();
        assert!(
            page_html.trim_end().ends_with(
                "<robot-page class=\"markdown\" role=\"article\">{{ html|safe }}</robot-page>\n{% endblock %}"
            ),
            "page.html must end with the page"
        );
        let base = std::fs::read_to_string(format!("{templates}base.html")).unwrap();
        let after_block = base
            .split("{% block content %}{% endblock %}")
            .nth(1)
            .unwrap();
        let closing: String = after_block.split_whitespace().collect();
        assert_eq!(closing, "</main></robot-layout></body></html>");
    }
}
