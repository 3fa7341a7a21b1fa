//! Markdown in Otterwiki's dialect, rendered to sanitised HTML.
//!
//! comrak parses CommonMark + GFM (tables, task lists, strikethrough, autolinks,
//! footnotes), `[[Text|Page]]` wikilinks, `> [!NOTE]` alerts and `$math$`; Otterwiki's own
//! blocks (`::: info`, `>!` spoilers, `>|` folds) are rewritten before parsing
//! (`dialect`). We then adjust
//! the tree (wikilinks get their page URL and a `missing` class when the page does not
//! exist), give headings Otterwiki's anchors, highlight fenced code with syntect (CSS
//! classes, no inline styles), hand ```` ```mermaid ```` and ```` ```math ```` to the client
//! renderers, and finally pass everything — including raw HTML the author wrote — through
//! our allow-list (`sanitize`). Rendering costs milliseconds, so callers cache the result
//! per blob.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write};
use std::sync::{Arc, LazyLock, Mutex};

use comrak::adapters::{
    CodefenceRendererAdapter, HeadingAdapter, HeadingMeta, SyntaxHighlighterAdapter,
};
use comrak::nodes::{NodeValue, Sourcepos};
use comrak::options::{Plugins, URLRewriter};
use comrak::{Arena, Options};

use super::footnotes;
use serde::Serialize;
use syntect::html::{ClassStyle, ClassedHTMLGenerator};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

use super::dialect;
use super::embeds;
use super::front_matter;
use super::links::{parse_wikilink, target_name};
use super::names::{PageName, slugify};
use super::nesting;
use super::sanitize;

/// One heading in the table of contents.
#[derive(Debug, Clone, Serialize)]
pub struct TocEntry {
    pub level: u8,
    pub text: String,
    /// The heading's text with its inline formatting (`<strong>`, `<em>`, `<code>`,
    /// `<del>`, `<mark>`), escaped and built here, so safe to show as HTML.
    pub html: String,
    pub id: String,
}

/// A rendered page.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub html: String,
    pub toc: Vec<TocEntry>,
    /// Front matter as (key, displayed value), in document order.
    pub properties: Vec<(String, String)>,
    /// The first level-1 heading's text, if any.
    pub title: Option<String>,
    pub needs_math: bool,
    pub needs_mermaid: bool,
    /// Every wikilink target (file path) and whether it existed when rendered; a cached
    /// render is stale once any of these flips.
    pub link_targets: Vec<(String, bool)>,
    /// What could not be rendered as written (front matter over its limits, nesting past
    /// the caps), to show above the page.
    pub notices: Vec<String>,
    /// The embeds that read the wiki (attachments, page lists), drawn at each view into
    /// the markers they left in `html` (`embeds::draw_live`).
    pub live: Vec<embeds::Live>,
}

impl Rendered {
    /// About how much memory the render holds, for the cache's budget.
    pub fn heap_bytes(&self) -> usize {
        const SLOT: usize = 48;
        let strings = |v: &[String]| v.iter().map(|s| s.len() + SLOT).sum::<usize>();
        self.html.len()
            + self
                .toc
                .iter()
                .map(|t| t.text.len() + t.html.len() + t.id.len() + 2 * SLOT)
                .sum::<usize>()
            + self
                .properties
                .iter()
                .map(|(k, v)| k.len() + v.len() + SLOT)
                .sum::<usize>()
            + self.title.as_ref().map_or(0, String::len)
            + self
                .link_targets
                .iter()
                .map(|(p, _)| p.len() + SLOT)
                .sum::<usize>()
            + strings(&self.notices)
            + self
                .live
                .iter()
                .map(|l| {
                    l.caption.len()
                        + l.embed.name.len()
                        + l.embed.body.len()
                        + l.embed
                            .options
                            .iter()
                            .map(|(k, v)| k.len() + v.len() + SLOT)
                            .sum::<usize>()
                })
                .sum::<usize>()
            + 4 * SLOT
    }
}

static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(two_face::syntax::extra_newlines);

/// Fence names people write that no grammar lists as its own, and the token that does.
const LANGUAGE_ALIASES: &[(&str, &str)] = &[
    ("apache", "htaccess"),
    ("apacheconf", "htaccess"),
    ("httpd", "htaccess"),
    ("docker", "dockerfile"),
    ("shell", "sh"),
    ("console", "sh"),
    ("shell-session", "sh"),
    ("jsonc", "json"),
    ("json5", "json"),
    ("psql", "sql"),
    ("postgresql", "sql"),
    ("sshconfig", "ssh_config"),
    ("systemd", "ini"),
    ("service", "ini"),
];

/// The grammar for a fence's language: by name or file extension (case-insensitive),
/// then through the aliases.
fn syntax_for(lang: &str) -> Option<&'static syntect::parsing::SyntaxReference> {
    SYNTAXES.find_syntax_by_token(lang).or_else(|| {
        let lower = lang.to_ascii_lowercase();
        LANGUAGE_ALIASES
            .iter()
            .find(|(alias, _)| *alias == lower)
            .and_then(|(_, token)| SYNTAXES.find_syntax_by_token(token))
    })
}

const CLASS_STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

/// The stylesheet for highlighted code: a light theme, and a dark one that applies under
/// `data-theme="dark"` or, without an explicit choice, a dark system preference.
pub fn highlight_css() -> String {
    let themes = syntect::highlighting::ThemeSet::load_defaults();
    let light = syntect::html::css_for_theme_with_class_style(
        &themes.themes["InspiredGitHub"],
        CLASS_STYLE,
    )
    .unwrap_or_default();
    let dark = syntect::html::css_for_theme_with_class_style(
        &themes.themes["base16-ocean.dark"],
        CLASS_STYLE,
    )
    .unwrap_or_default();
    let scoped = |css: &str, scope: &str| -> String {
        css.lines()
            .map(|l| {
                if l.starts_with('.') {
                    l.split(", ")
                        .map(|sel| format!("{scope} {sel}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "/* generated from syntect themes */\n{light}\n{}\n@media (prefers-color-scheme: dark) {{\n{}\n}}\n",
        scoped(&dark, "html[data-theme=\"dark\"]"),
        scoped(&dark, "html:not([data-theme=\"light\"])")
    )
}

fn options<'c>(page_url: &str) -> Options<'c> {
    let mut o = Options::default();
    o.extension.strikethrough = true;
    // Otterwiki's `==mark==`.
    o.extension.highlight = true;
    o.extension.table = true;
    o.extension.autolink = true;
    o.extension.tasklist = true;
    o.extension.footnotes = true;
    o.extension.alerts = true;
    o.extension.math_dollars = true;
    o.extension.wikilinks_title_before_pipe = true;
    o.extension.front_matter_delimiter = None; // handled before parsing, see split_front_matter
    let rewriter: Arc<dyn URLRewriter + 'c> = Arc::new(AttachmentLinks {
        page_url: page_url.to_string(),
    });
    o.extension.link_url_rewriter = Some(rewriter.clone());
    o.extension.image_url_rewriter = Some(rewriter);
    // Raw HTML is passed to the sanitiser, which decides what survives.
    o.render.r#unsafe = true;
    // `<pre lang="…">` lets the highlighter label blocks; ```math becomes
    // `<pre lang="math" data-math-style="display">`, which the client renders.
    o.render.github_pre_lang = true;
    o
}

/// `./file.png` in a page is the page's attachment `/{page}/a/file.png`.
struct AttachmentLinks {
    page_url: String,
}

impl URLRewriter for AttachmentLinks {
    fn to_html(&self, url: &str) -> String {
        match url.strip_prefix("./") {
            Some(file) if !file.is_empty() && !file.contains("..") => {
                format!("{}/a/{}", self.page_url, file)
            }
            _ => url.to_string(),
        }
    }
}

/// Renders `md`, the source of `page`. `exists` says whether a file path names a page.
///
/// Hostile pages are expected: front matter is read within bounds (`front_matter`), and
/// nesting is capped before parsing and before sanitising (`nesting`), so the cost is
/// linear in the page's size; what was cut is said in [`Rendered::notices`].
pub fn render(md: &str, page: &PageName, exists: &dyn Fn(&str) -> bool) -> Rendered {
    render_part(md, page, exists, Part::Page)
}

/// What is being rendered: a whole page, or the Markdown inside one of its embeds (no
/// front matter, no embeds of its own).
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Page,
    Embed,
}

fn render_part(md: &str, page: &PageName, exists: &dyn Fn(&str) -> bool, part: Part) -> Rendered {
    let (fm, body) = match part {
        Part::Page => front_matter::split(md),
        Part::Embed => (front_matter::FrontMatter::None, md),
    };
    let mut out = Rendered {
        properties: fm
            .properties()
            .iter()
            .map(|p| (p.key.clone(), p.value.display()))
            .collect(),
        notices: fm.notice().into_iter().collect(),
        ..Default::default()
    };
    let (body, capped) = nesting::cap_markdown(body);
    if capped {
        out.notices.push(format!(
            "This page nests quotes or lists deeper than {} levels; the deeper levels are shown as text.",
            nesting::MAX_BLOCK_DEPTH
        ));
    }
    // `{{InfoBox …}}` and the other embeds become markers, drawn after sanitising.
    let extracted = match part {
        Part::Page => embeds::extract(&body),
        Part::Embed => None,
    };
    let body = match &extracted {
        Some(x) => {
            if x.capped {
                out.notices.push(format!(
                    "This page has more than {} embeds; the later ones are shown as written.",
                    embeds::MAX_EMBEDS
                ));
            }
            std::borrow::Cow::Borrowed(x.text.as_str())
        }
        None => body,
    };
    // Otterwiki's fancy blocks, spoilers, folds and spaceless alerts, as HTML blocks.
    let dialect::Rewritten { text, capped } = dialect::rewrite(&body);
    if capped {
        out.notices.push(format!(
            "This page has more than {} fancy blocks, spoilers and folds; the later ones are shown as written.",
            dialect::MAX_BLOCKS
        ));
    }
    let rewritten = match text {
        std::borrow::Cow::Owned(rewritten) => Some(rewritten),
        std::borrow::Cow::Borrowed(_) => None,
    };
    let body = rewritten.map(std::borrow::Cow::Owned).unwrap_or(body);
    let page_url = page.url();
    let mut opts = options(&page_url);
    // comrak's footnote pass walks the whole tree after parsing, a tenth of a render;
    // a footnote reference always starts with `[^`.
    opts.extension.footnotes = body.contains("[^");
    let arena = Arena::new();
    let root = comrak::parse_document(&arena, &body, &opts);

    // One walk over the tree finds what the later steps need: wikilinks to rewrite,
    // whether the client must load math or mermaid, and whether the page has a title.
    let mut links = Vec::new();
    let mut empty_links = Vec::new();
    let mut marks = Vec::new();
    let mut math = 0;
    let mut math_as_text = Vec::new();
    let mut code_math = Vec::new();
    let mut task_items = Vec::new();
    let mut footnote_refs = Vec::new();
    let mut footnote_defs = Vec::new();
    let mut heading_htmls = Vec::new();
    let mut has_h1 = false;
    for node in root.descendants() {
        match &node.data().value {
            // Otterwiki reads a code span that is all `$…$` as a formula.
            NodeValue::Code(c) if is_code_math(&c.literal) && math < MAX_MATH => {
                math += 1;
                out.needs_math = true;
                code_math.push(node);
            }
            NodeValue::TaskItem(_) => task_items.push(node),
            NodeValue::FootnoteReference(_) => footnote_refs.push(node),
            NodeValue::FootnoteDefinition(_) => footnote_defs.push(node),
            NodeValue::Heading(h) => {
                has_h1 |= h.level == 1;
                if heading_htmls.len() < MAX_ANCHORED_HEADINGS {
                    let mut html = String::new();
                    inline_html(node, 0, &mut html);
                    heading_htmls.push(html);
                }
            }
            NodeValue::WikiLink(_) => links.push(node),
            // `[](https://x)`: Otterwiki shows the URL rather than an invisible link.
            NodeValue::Link(_) if node.first_child().is_none() => empty_links.push(node),
            NodeValue::Highlight => marks.push(node),
            NodeValue::Math(_) if math >= MAX_MATH => math_as_text.push(node),
            NodeValue::Math(_) => {
                math += 1;
                out.needs_math = true;
            }
            NodeValue::CodeBlock(cb) => match cb.info.split_whitespace().next() {
                Some("math") => out.needs_math = true,
                Some("mermaid") => out.needs_mermaid = true,
                _ => {}
            },
            _ => {}
        }
    }

    for node in code_math {
        let mut data = node.data_mut();
        if let NodeValue::Code(c) = &data.value {
            let literal = c.literal[1..c.literal.len() - 1].to_string();
            data.value = NodeValue::Math(comrak::nodes::NodeMath {
                dollar_math: true,
                display_math: false,
                literal,
            });
        }
    }
    // In a loose list, comrak writes a task's checkbox above its paragraph; Otterwiki
    // (and GitHub) put it at the start of the text.
    for node in task_items {
        let list = match node.parent().map(|p| p.data().value.clone()) {
            Some(NodeValue::List(l)) if !l.tight => l,
            _ => continue,
        };
        let Some(paragraph) = node
            .first_child()
            .filter(|c| matches!(c.data().value, NodeValue::Paragraph))
        else {
            continue;
        };
        let checked = matches!(&node.data().value, NodeValue::TaskItem(t) if t.symbol.is_some());
        node.data_mut().value = NodeValue::Item(list);
        let input = if checked {
            "<input type=\"checkbox\" checked=\"\" disabled=\"\"> "
        } else {
            "<input type=\"checkbox\" disabled=\"\"> "
        };
        paragraph.prepend(arena.alloc(NodeValue::HtmlInline(input.into()).into()));
    }
    if !footnote_refs.is_empty() {
        footnotes::number_as_otterwiki(&arena, &footnote_refs, &footnote_defs);
    }

    if !math_as_text.is_empty() {
        for node in math_as_text {
            let mut data = node.data_mut();
            if let NodeValue::Math(m) = &data.value {
                let dollars = if m.display_math { "$$" } else { "$" };
                data.value = NodeValue::Text(format!("{dollars}{}{dollars}", m.literal).into());
            }
        }
        out.notices.push(format!(
            "This page has more than {MAX_MATH} formulas; the later ones are shown as written."
        ));
    }

    // Otterwiki marks `==text==` only when the text has no `=` of its own
    // (`==m=a=r=k==` stays as written).
    for node in marks {
        let plain: Option<String> = node
            .children()
            .map(|c| match &c.data().value {
                NodeValue::Text(t) => Some(t.to_string()),
                _ => None,
            })
            .collect();
        if let Some(text) = plain.filter(|t| t.contains('=')) {
            node.data_mut().value = NodeValue::Text(format!("=={text}==").into());
            for c in node.children().collect::<Vec<_>>() {
                c.detach();
            }
        }
    }
    for node in empty_links {
        let url = match &node.data().value {
            NodeValue::Link(l) => l.url.clone(),
            _ => continue,
        };
        node.append(arena.alloc(NodeValue::Text(url.into()).into()));
    }

    // Wikilinks: resolve targets, mark missing ones, and wrap the link text in our own <a>.
    let mut seen_targets = std::collections::HashSet::new();
    for node in links {
        let url = match &node.data().value {
            NodeValue::WikiLink(l) => l.url.clone(),
            _ => continue,
        };
        let link = parse_wikilink(&url, None);
        // `Folder/Page#frag`: the page's name, parsed once (a page of links is mostly
        // this), and the fragment.
        let target = link.target.trim();
        let frag = target.split_once('#').map(|(_, f)| f);
        let (href, class) = match (target_name(link.target), frag) {
            (Some(name), _) => {
                let path = name.file_path();
                let found = exists(&path);
                if seen_targets.insert(path.clone()) {
                    out.link_targets.push((path, found));
                }
                let frag = frag.map(|f| format!("#{}", slugify(f))).unwrap_or_default();
                (
                    format!("{}{frag}", name.url()),
                    if found {
                        "wikilink"
                    } else {
                        "wikilink missing"
                    },
                )
            }
            // Only a fragment (`#frag`, `/#frag`): a heading of this page.
            (None, Some(f)) if target.trim_start_matches('/').starts_with('#') => {
                (format!("#{}", slugify(f)), "wikilink")
            }
            (None, _) => ("#".to_string(), "wikilink missing"),
        };
        let open = arena.alloc(
            NodeValue::HtmlInline(format!(
                "<a class=\"{class}\" href=\"{}\">",
                html_escape_attr(&href)
            ))
            .into(),
        );
        node.insert_before(open);
        let children: Vec<_> = node.children().collect();
        for child in children {
            child.detach();
            node.insert_before(child);
        }
        node.insert_before(arena.alloc(NodeValue::HtmlInline("</a>".into()).into()));
        node.detach();
    }

    let headings = Headings::default();
    headings.state.lock().expect("heading lock").htmls = heading_htmls;
    let highlighter = Highlighter::default();
    let mermaid = Mermaid;
    let mut plugins = Plugins::default();
    plugins.render.heading_adapter = Some(&headings);
    plugins.render.codefence_syntax_highlighter = Some(&highlighter);
    plugins
        .render
        .codefence_renderers
        .insert("mermaid".into(), &mermaid);

    let mut html = String::with_capacity(body.len() * 2);
    if !out.properties.is_empty() {
        html.push_str("<details class=\"frontmatter\" open><summary>Properties</summary><dl>");
        for (k, v) in &out.properties {
            let _ = write!(
                html,
                "<dt>{}</dt><dd>{}</dd>",
                html_escape_text(k),
                html_escape_text(v)
            );
        }
        html.push_str("</dl></details>\n");
    }
    if !has_h1 && let Some((_, t)) = out.properties.iter().find(|(k, _)| k == "title") {
        let id = slugify(t);
        let _ = writeln!(
            html,
            "<h1 id=\"{id}\">{}<a class=\"anchor\" href=\"#{id}\">#</a></h1>",
            html_escape_text(t)
        );
        out.title = Some(t.clone());
        headings
            .state
            .lock()
            .expect("heading lock")
            .toc
            .push(TocEntry {
                level: 1,
                text: t.clone(),
                html: html_escape_text(t),
                id,
            });
    }
    // Writing into a String cannot fail.
    let _ = comrak::format_html_with_plugins(root, &opts, &mut html, &plugins);
    let clean = sanitize::clean(&html);
    if clean.capped {
        out.notices.push(format!(
            "This page nests HTML elements deeper than {} levels, or gives a tag too many attributes; those tags are shown as text.",
            sanitize::MAX_HTML_DEPTH
        ));
    }
    out.html = clean.html;
    if let Some(x) = extracted.filter(|x| !x.embeds.is_empty()) {
        // The Markdown inside embeds renders as the page's own; what it needs (math,
        // diagrams, the links it depends on) is the page's too.
        let parts = std::cell::RefCell::new(Vec::new());
        let markdown = |md: &str| {
            let part = render_part(md, page, exists, Part::Embed);
            let html = part.html.clone();
            parts.borrow_mut().push(part);
            html
        };
        let embed_page = embeds::Page {
            url: &page_url,
            markdown: &markdown,
        };
        out.live = embeds::splice(&mut out.html, &x.embeds, &embed_page);
        for part in parts.into_inner() {
            out.needs_math |= part.needs_math;
            out.needs_mermaid |= part.needs_mermaid;
            for target in part.link_targets {
                if !out.link_targets.contains(&target) {
                    out.link_targets.push(target);
                }
            }
        }
    }
    let state = headings.state.into_inner().expect("heading lock");
    if out.title.is_none() {
        out.title = state
            .toc
            .iter()
            .find(|t| t.level == 1)
            .map(|t| t.text.clone());
    }
    out.toc = state.toc;
    if state.unanchored > 0 {
        out.notices.push(format!(
            "This page has more than {MAX_ANCHORED_HEADINGS} headings; the later ones have no anchor and are not in the contents."
        ));
    }
    out
}

/// `` `$a \ne 0$` ``: a code span Otterwiki typesets.
fn is_code_math(literal: &str) -> bool {
    literal.len() >= 3 && literal.starts_with('$') && literal.ends_with('$')
}

/// Inline formatting a contents entry keeps; deeper nesting is written as its text.
const MAX_INLINE_DEPTH: usize = 16;

/// A heading's inline content as HTML for the table of contents: text escaped, the
/// formatting tags kept, everything else (links, images, raw HTML) as its text alone.
fn inline_html<'a>(node: &'a comrak::nodes::AstNode<'a>, depth: usize, out: &mut String) {
    for child in node.children() {
        let tag = match &child.data().value {
            NodeValue::Text(t) => {
                out.push_str(&html_escape_text(t));
                continue;
            }
            NodeValue::Code(c) => {
                let _ = write!(out, "<code>{}</code>", html_escape_text(&c.literal));
                continue;
            }
            NodeValue::Math(m) => {
                out.push_str(&html_escape_text(&m.literal));
                continue;
            }
            NodeValue::SoftBreak | NodeValue::LineBreak => {
                out.push(' ');
                continue;
            }
            NodeValue::HtmlInline(_) => continue,
            NodeValue::Strong => Some("strong"),
            NodeValue::Emph => Some("em"),
            NodeValue::Strikethrough => Some("del"),
            NodeValue::Highlight => Some("mark"),
            _ => None,
        };
        if depth >= MAX_INLINE_DEPTH {
            // Deeper than any real heading: its text alone, without recursing further.
            for d in child.descendants() {
                match &d.data().value {
                    NodeValue::Text(t) => out.push_str(&html_escape_text(t)),
                    NodeValue::Code(c) => out.push_str(&html_escape_text(&c.literal)),
                    _ => {}
                }
            }
            continue;
        }
        match tag {
            Some(tag) => {
                let _ = write!(out, "<{tag}>");
                inline_html(child, depth + 1, out);
                let _ = write!(out, "</{tag}>");
            }
            None => inline_html(child, depth + 1, out),
        }
    }
}

/// Formulas one page has typeset. Each is about forty bytes of HTML and a typesetting
/// run in the reader's browser, so a 1 MB page of `$a` would be 10 MB of HTML and minutes
/// of script; real pages have dozens, a textbook chapter hundreds.
const MAX_MATH: usize = 5000;

/// Gives headings Otterwiki's ids (deduplicated with -1, -2, …), an anchor link, and
/// records the table of contents.
#[derive(Default)]
struct Headings {
    state: Mutex<HeadingState>,
}

#[derive(Default)]
struct HeadingState {
    used: HashMap<String, usize>,
    toc: Vec<TocEntry>,
    /// The id of each heading being written, innermost last; `None` past the cap.
    open_ids: Vec<Option<String>>,
    /// Headings past [`MAX_ANCHORED_HEADINGS`].
    unanchored: usize,
    /// Each heading's inline HTML, in the order they are written (see [`inline_html`]).
    htmls: Vec<String>,
    /// Headings written so far.
    entered: usize,
}

/// Headings one page gives an id, an anchor and a contents entry; later ones are plain.
/// Each costs a slug and about 60 bytes of HTML, so a 1 MB page of `#` lines would
/// otherwise render to 10 MB. Real pages have dozens.
const MAX_ANCHORED_HEADINGS: usize = 1000;

impl HeadingAdapter for Headings {
    fn enter(
        &self,
        output: &mut dyn fmt::Write,
        heading: &HeadingMeta,
        _: Option<Sourcepos>,
    ) -> fmt::Result {
        let mut st = self.state.lock().expect("heading lock");
        let html = st.htmls.get(st.entered).cloned();
        st.entered += 1;
        if st.toc.len() >= MAX_ANCHORED_HEADINGS {
            st.unanchored += 1;
            st.open_ids.push(None);
            return write!(output, "<h{}>", heading.level);
        }
        let base = match slugify(&heading.content) {
            s if s.is_empty() => "section".to_string(),
            s => s,
        };
        let n = st.used.entry(base.clone()).or_insert(0);
        let id = if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        *n += 1;
        st.toc.push(TocEntry {
            level: heading.level,
            html: html.unwrap_or_else(|| html_escape_text(&heading.content)),
            text: heading.content.clone(),
            id: id.clone(),
        });
        write!(output, "<h{} id=\"{}\">", heading.level, id)?;
        st.open_ids.push(Some(id));
        Ok(())
    }

    fn exit(&self, output: &mut dyn fmt::Write, heading: &HeadingMeta) -> fmt::Result {
        let id = self
            .state
            .lock()
            .expect("heading lock")
            .open_ids
            .pop()
            .flatten();
        match id {
            Some(id) => write!(
                output,
                "<a class=\"anchor\" href=\"#{id}\">#</a></h{}>",
                heading.level
            ),
            None => write!(output, "</h{}>", heading.level),
        }
    }
}

/// The most code one page has highlighted; later blocks, and any one block larger than
/// this, stay plain. Highlighting and sanitising its output cost some four microseconds a
/// byte (`bench/render.sh`, "code blocks": 150 ms for a page past this budget), and some
/// grammars backtrack on crafted input; 32 KB is some 800 lines of code.
const MAX_HIGHLIGHT_BYTES: usize = 32 * 1024;

/// Server-side highlighting with CSS classes (`hl-*`); unknown languages stay plain.
#[derive(Default)]
struct Highlighter {
    /// Bytes highlighted so far on this page.
    spent: std::sync::atomic::AtomicUsize,
}

impl SyntaxHighlighterAdapter for Highlighter {
    fn write_highlighted(
        &self,
        output: &mut dyn fmt::Write,
        lang: Option<&str>,
        code: &str,
    ) -> fmt::Result {
        use std::sync::atomic::Ordering;
        // ```` ```python= ````: Otterwiki's line numbers.
        let numbered = lang.is_some_and(|l| l.ends_with('='));
        let lang = lang
            .map(|l| l.trim_end_matches('='))
            .filter(|l| !l.is_empty());
        let spent = self.spent.fetch_add(code.len(), Ordering::Relaxed) + code.len();
        let syntax = lang
            .filter(|_| spent <= MAX_HIGHLIGHT_BYTES)
            .and_then(syntax_for);
        let html = syntax
            .and_then(|syntax| {
                let mut generator =
                    ClassedHTMLGenerator::new_with_class_style(syntax, &SYNTAXES, CLASS_STYLE);
                for line in LinesWithEndings::from(code) {
                    generator
                        .parse_html_for_line_which_includes_newline(line)
                        .ok()?;
                }
                Some(generator.finalize())
            })
            .unwrap_or_else(|| html_escape_text(code));
        if numbered {
            output.write_str(&one_span_per_line(&html))
        } else {
            output.write_str(&html)
        }
    }

    fn write_pre_tag(
        &self,
        output: &mut dyn fmt::Write,
        attributes: HashMap<&'static str, std::borrow::Cow<'_, str>>,
    ) -> fmt::Result {
        match attributes.get("lang") {
            Some(lang) => write!(
                output,
                "<pre class=\"code{}\" data-lang=\"{}\">",
                if lang.ends_with('=') { " linenos" } else { "" },
                html_escape_attr(lang.trim_end_matches('='))
            ),
            None => output.write_str("<pre class=\"code\">"),
        }
    }

    fn write_code_tag(
        &self,
        output: &mut dyn fmt::Write,
        _: HashMap<&'static str, std::borrow::Cow<'_, str>>,
    ) -> fmt::Result {
        output.write_str("<code>")
    }
}

/// Highlighted code with each line in a `<span class="line">` (numbered by the style
/// sheet): the highlighter's spans that cross a line end are closed before it and opened
/// again after, so every line is whole. The input is the highlighter's own output (spans
/// and escaped text only).
fn one_span_per_line(html: &str) -> String {
    // The code's last line end (the block's own) ends the last line: nothing follows it
    // but the closing tags of spans already closed with that line.
    let mut line_ends = html.matches('\n').count();
    let mut out = String::with_capacity(html.len() + html.len() / 4);
    let mut open: Vec<&str> = Vec::new();
    out.push_str("<span class=\"line\">");
    let mut rest = html;
    while let Some(at) = rest.find(['<', '\n']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if rest.starts_with('\n') {
            line_ends -= 1;
            out.push_str(&"</span>".repeat(open.len()));
            out.push_str("</span>\n");
            rest = &rest[1..];
            let only_tags = |s: &str| {
                s.split('<').all(|part| {
                    part.find('>')
                        .map_or(part.is_empty(), |e| e + 1 == part.len())
                })
            };
            if line_ends == 0 && only_tags(rest) {
                return out;
            }
            out.push_str("<span class=\"line\">");
            for tag in &open {
                out.push_str(tag);
            }
            continue;
        }
        let end = rest.find('>').map_or(rest.len(), |e| e + 1);
        let tag = &rest[..end];
        if tag.starts_with("</") {
            open.pop();
        } else {
            open.push(tag);
        }
        out.push_str(tag);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out.push_str("</span>");
    out
}

struct Mermaid;

impl CodefenceRendererAdapter for Mermaid {
    fn write(
        &self,
        output: &mut dyn fmt::Write,
        _: &str,
        _: &str,
        code: &str,
        _: Option<Sourcepos>,
    ) -> fmt::Result {
        writeln!(
            output,
            "<pre class=\"mermaid\">{}</pre>",
            html_escape_text(code)
        )
    }
}

/// A page's Markdown source, highlighted as Markdown (plain past [`MAX_HIGHLIGHT_BYTES`]),
/// sanitised.
pub fn source_html(src: &str) -> String {
    let plain = || html_escape_text(src);
    let Some(syntax) = SYNTAXES
        .find_syntax_by_token("md")
        .filter(|_| src.len() <= MAX_HIGHLIGHT_BYTES)
    else {
        return plain();
    };
    let mut g = ClassedHTMLGenerator::new_with_class_style(syntax, &SYNTAXES, CLASS_STYLE);
    for line in LinesWithEndings::from(src) {
        if g.parse_html_for_line_which_includes_newline(line).is_err() {
            return plain();
        }
    }
    sanitize::clean(&g.finalize()).html
}

pub fn html_escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

pub fn html_escape_attr(s: &str) -> String {
    html_escape_text(s)
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The list of properties as an ordered map, for structured output.
pub fn properties_map(props: &[(String, String)]) -> BTreeMap<String, String> {
    props.iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(md: &str) -> Rendered {
        let page = PageName::parse("Folder/Here").unwrap();
        render(md, &page, &|p| p == "exists.md" || p == "folder/here.md")
    }

    #[test]
    fn wikilinks_resolve_and_missing_ones_are_red() {
        let out = r("[[Exists]] [[Label|Nope Page#Some Part]]");
        assert!(
            out.html.contains(
                r#"<a class="wikilink" href="/Exists" rel="noopener noreferrer">Exists</a>"#
            ),
            "{}",
            out.html
        );
        assert!(out.html.contains(r#"<a class="wikilink missing" href="/Nope%20Page#some-part" rel="noopener noreferrer">Label</a>"#), "{}", out.html);
        assert_eq!(
            out.link_targets,
            vec![("exists.md".into(), true), ("nope page.md".into(), false)]
        );
    }

    #[test]
    fn numbered_code_keeps_every_line_whole() {
        let out = r("```python=\nx = \"a\nb\"\ny = 1\n```\n");
        assert!(
            out.html
                .contains("<pre class=\"code linenos\" data-lang=\"python\">"),
            "{}",
            out.html
        );
        assert_eq!(
            out.html.matches("<span class=\"line\">").count(),
            3,
            "{}",
            out.html
        );
        // Balanced on every line: the string's span is closed and opened again.
        for line in out.html.lines().filter(|l| l.contains("class=\"line\"")) {
            let body = line
                .split("<code>")
                .last()
                .unwrap()
                .split("</code>")
                .next()
                .unwrap();
            assert_eq!(
                body.matches("<span").count(),
                body.matches("</span>").count(),
                "{line}"
            );
        }
        let plain = r("```nolang=\na < b\nc\n```\n");
        assert!(
            plain
                .html
                .contains("<span class=\"line\">a &lt; b</span>\n<span class=\"line\">c</span>"),
            "{}",
            plain.html
        );
    }

    #[test]
    fn headings_get_ids_anchors_and_toc() {
        let out = r("# Title\n\n## Part\n\n## Part\n");
        assert!(out.html.contains(r##"<h2 id="part-1">Part<a class="anchor" href="#part-1" rel="noopener noreferrer">#</a></h2>"##), "{}", out.html);
        assert_eq!(
            out.toc.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["title", "part", "part-1"]
        );
        assert_eq!(out.title.as_deref(), Some("Title"));
    }

    #[test]
    fn scripts_are_removed() {
        let out = r(
            "<script>alert(1)</script><img src=x onerror=alert(1)> <a href=\"javascript:alert(1)\">x</a>",
        );
        assert!(!out.html.contains("script"), "{}", out.html);
        assert!(!out.html.contains("onerror"), "{}", out.html);
        assert!(!out.html.contains("javascript:"), "{}", out.html);
    }

    /// Issue 12: pages that once crashed or stalled the server render, with a notice.
    #[test]
    fn hostile_pages_render_with_a_notice() {
        let bomb = "---\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n---\nBody\n";
        let out = r(bomb);
        assert!(out.properties.is_empty());
        assert!(out.html.contains("Body"));
        assert_eq!(out.notices.len(), 1, "{:?}", out.notices);
        let quotes = r(&">".repeat(20_000));
        assert!(
            quotes.notices[0].contains(&format!("{} levels", nesting::MAX_BLOCK_DEPTH)),
            "{:?}",
            quotes.notices
        );
        assert_eq!(
            quotes.html.matches("<blockquote>").count(),
            nesting::MAX_BLOCK_DEPTH
        );
        let divs = r(&"<div>".repeat(20_000));
        assert!(divs.notices[0].contains("HTML"), "{:?}", divs.notices);
        let attrs: String = (0..10_000).map(|i| format!(" a{i}")).collect();
        let tag = r(&format!("<span{attrs}>x</span>"));
        assert!(tag.notices[0].contains("attributes"), "{:?}", tag.notices);
        assert!(
            tag.html.starts_with("<p>&lt;span a0"),
            "{}",
            &tag.html[..40]
        );
        let formulas = r(&"$x$ ".repeat(MAX_MATH + 10));
        assert_eq!(formulas.html.matches("data-math-style").count(), MAX_MATH);
        assert!(
            formulas.html.ends_with("$x$</p>\n"),
            "{}",
            &formulas.html[formulas.html.len() - 40..]
        );
        assert!(
            formulas.notices[0].contains("formulas"),
            "{:?}",
            formulas.notices
        );
        let headings = r(&"# same\n".repeat(MAX_ANCHORED_HEADINGS + 500));
        assert_eq!(headings.toc.len(), MAX_ANCHORED_HEADINGS);
        assert_eq!(headings.toc.last().unwrap().id, "same-999");
        assert!(headings.html.ends_with("<h1>same</h1>\n<h1>same</h1>"));
        assert!(
            headings.notices[0].contains("headings"),
            "{:?}",
            headings.notices
        );
        assert!(r("# Fine\n\n> quote\n").notices.is_empty());
    }

    #[test]
    fn attachments_and_front_matter() {
        let out = r("---\ntitle: Hello\ntags: [a, b]\n---\nSee ![pic](./p.png)\n");
        assert!(
            out.html.contains(r#"src="/Folder/Here/a/p.png""#),
            "{}",
            out.html
        );
        assert_eq!(
            out.properties,
            vec![
                ("title".into(), "Hello".into()),
                ("tags".into(), "a, b".into())
            ]
        );
        assert_eq!(out.title.as_deref(), Some("Hello"), "title injected as H1");
        assert!(out.html.contains("<h1 id=\"hello\">"));
    }
}
