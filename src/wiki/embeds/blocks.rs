//! The HTML of each embed, with Otterwiki's options and class names.
//!
//! Markdown inside a block (its text, option values) arrives rendered and sanitised
//! ([`Page::markdown`]); names, file names, authors and messages are escaped here;
//! lengths and alignments pass [`length`] and [`align`] before they reach a `style`.

use std::fmt::Write;

use super::{Embed, Live, Page, Sources, csv};
use crate::wiki::markdown::{html_escape_attr, html_escape_text};

/// CSV files larger than this are not drawn as tables.
const MAX_CSV_BYTES: usize = 1 << 20;
/// Rows of an attachment list or page index; a folder of more is cut, and says so.
const MAX_ROWS: usize = 1000;
/// Pages of a page index that show their headings (`toc`); each is a render, cached
/// by its blob, so a long index shows the first ones' headings only.
const MAX_TOC_PAGES: usize = 200;

/// One attachment, as an attachment list shows it.
#[derive(Debug, Clone)]
pub struct AttachmentRow {
    pub filename: String,
    pub url: String,
    pub size: u64,
    pub is_image: bool,
    /// The last change: seconds since the epoch, author, message.
    pub time: Option<i64>,
    pub author: String,
    pub message: String,
}

/// One page below the page, as a page index shows it.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// Its displayed name, relative to the page (`Alpha`, `Alpha/Notes`).
    pub title: String,
    /// Its full name, to ask [`Sources::headings`] for.
    pub name: String,
    pub url: String,
    /// How many folders below the page.
    pub depth: usize,
}

/// One heading of a page in a page index.
#[derive(Debug, Clone)]
pub struct Heading {
    pub level: u8,
    /// The heading's text with its inline formatting, safe to show as HTML.
    pub html: String,
    /// Its anchor on the page.
    pub id: String,
}

/// The HTML of an embed that depends on the page alone; `None` for one that reads the
/// wiki (drawn at each view by [`draw_with`]).
pub fn draw(embed: &Embed, page: &Page) -> Option<String> {
    let html = match embed.kind().as_str() {
        "infobox" => info_box(embed, page),
        "imageframe" => match embed.option("src") {
            Some(src) if !is_url(src) => return None,
            src => {
                let image = src
                    .map(|s| framed_image(s, embed.option("alt").unwrap_or("")))
                    .unwrap_or_default();
                let caption = embed.option("caption").map(|c| page.inline(c));
                image_frame(
                    embed,
                    &format!("{image}{}", (page.markdown)(&embed.body)),
                    caption,
                )
            }
        },
        "figure" => figure(embed, page),
        "video" => video(embed, page.url).unwrap_or_else(|e| error(&embed.name, &e)),
        "datatable" if embed.option("src").is_some() => return None,
        "datatable" => data_table(embed, &(page.markdown)(&embed.body)),
        "attachmentlist" | "attachments" | "pageindex" => return None,
        _ => unknown(&embed.name),
    };
    Some(html)
}

/// The HTML of an embed that reads the wiki, drawn from `sources`.
pub fn draw_with(live: &Live, sources: &dyn Sources) -> String {
    let embed = &live.embed;
    let drawn = match embed.kind().as_str() {
        "attachmentlist" | "attachments" => Ok(attachment_list(embed, sources)),
        "pageindex" => Ok(page_index(embed, sources)),
        "datatable" => csv_table(embed, sources).map(|table| data_table(embed, &table)),
        "imageframe" => {
            let src = embed.option("src").unwrap_or("");
            sources.attachment_url(src).map(|url| {
                let caption = (!live.caption.is_empty()).then(|| live.caption.clone());
                image_frame(
                    embed,
                    &framed_image(&url, embed.option("alt").unwrap_or("")),
                    caption,
                )
            })
        }
        _ => Ok(unknown(&embed.name)),
    };
    drawn.unwrap_or_else(|e| error(&embed.name, &e))
}

/// Otterwiki's notice for a name no embed has.
fn unknown(name: &str) -> String {
    format!(
        "<p class=\"embed-error\">Unknown Embedding:&nbsp;<code>{}</code></p>",
        html_escape_text(name)
    )
}

/// An embed that could not be drawn, and why, where it stands.
fn error(name: &str, why: &str) -> String {
    format!(
        "<p class=\"embed-error\"><code>{}</code> Error: {}</p>",
        html_escape_text(name),
        html_escape_text(why)
    )
}

/// A CSS length an author may give (`30%`, `200px`, `12.5rem`, `300`): `None` for
/// anything else, which is then ignored.
fn length(v: &str) -> Option<&str> {
    let v = v.trim();
    let digits = v
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let unit = &v[digits..];
    (digits > 0
        && digits <= 8
        && v[..digits].bytes().filter(|b| *b == b'.').count() <= 1
        && ["", "%", "px", "em", "rem", "vw", "vh", "ch"].contains(&unit))
    .then_some(v)
}

fn align(v: &str) -> Option<&'static str> {
    ["left", "center", "right", "justify"]
        .into_iter()
        .find(|a| v.trim().eq_ignore_ascii_case(a))
}

/// `left` or `right` (the default) from `float`, `position` or `pos`.
fn float(embed: &Embed) -> &'static str {
    let side = embed
        .option("float")
        .or_else(|| embed.option("position"))
        .or_else(|| embed.option("pos"))
        .unwrap_or("right");
    if side.eq_ignore_ascii_case("left") {
        "left"
    } else {
        "right"
    }
}

fn style_attr(styles: &[String]) -> String {
    if styles.is_empty() {
        String::new()
    } else {
        format!(" style=\"{}\"", html_escape_attr(&styles.join(";")))
    }
}

fn is_url(src: &str) -> bool {
    src.starts_with("https://") || src.starts_with("http://")
}

fn framed_image(url: &str, alt: &str) -> String {
    let url = html_escape_attr(url);
    format!(
        "<a href=\"{url}\" target=\"_blank\" rel=\"noopener\"><img src=\"{url}\" alt=\"{}\" style=\"width:100%\"></a>",
        html_escape_attr(alt)
    )
}

/// `{{InfoBox}}`: a box beside the text with a caption, the block's text, and a row per
/// option.
fn info_box(embed: &Embed, page: &Page) -> String {
    const NOT_ROWS: [&str; 8] = [
        "caption",
        "width",
        "float",
        "position",
        "pos",
        "text-align",
        "align",
        "style",
    ];
    let side = float(embed);
    let width = embed.option("width").and_then(length).unwrap_or("30%");
    let text_align = embed
        .option("text-align")
        .or_else(|| embed.option("align"))
        .and_then(align);
    let mut html = String::new();
    let _ = write!(
        html,
        "<div class=\"infobox infobox-float-{side}\"{}>",
        style_attr(&[format!("width:{width}")])
    );
    if let Some(caption) = embed.option("caption") {
        let _ = write!(
            html,
            "<div class=\"infobox-caption\">{}</div>",
            page.inline(caption)
        );
    }
    html.push_str("<table class=\"infobox\">");
    if !embed.body.trim().is_empty() {
        let style = text_align
            .map(|a| format!(" style=\"text-align:{a}\""))
            .unwrap_or_default();
        let _ = write!(
            html,
            "<tr class=\"infobox-args\"><td colspan=\"2\"{style}>{}</td></tr>",
            (page.markdown)(&embed.body)
        );
    }
    for (key, value) in &embed.options {
        if NOT_ROWS.iter().any(|k| key.eq_ignore_ascii_case(k)) {
            continue;
        }
        let key = key.strip_prefix('_').unwrap_or(key);
        let _ = write!(
            html,
            "<tr class=\"infobox-key-value\"><td><strong>{}</strong></td><td>{}</td></tr>",
            html_escape_text(key),
            page.inline(value)
        );
    }
    html.push_str("</table></div>");
    html
}

/// `{{ImageFrame}}`: an image (or any content) in a frame beside the text, captioned.
fn image_frame(embed: &Embed, content: &str, caption: Option<String>) -> String {
    let side = float(embed);
    let mut styles = vec![format!(
        "width:{}",
        embed.option("width").and_then(length).unwrap_or("30%")
    )];
    if let Some(a) = embed
        .option("text-align")
        .or_else(|| embed.option("align"))
        .and_then(align)
    {
        styles.push(format!("text-align:{a}"));
    }
    let caption = caption
        .map(|c| format!("<div class=\"imageframe\">{c}</div>"))
        .unwrap_or_default();
    format!(
        "<div class=\"imageframe-caption imageframe-float-{side}\"{}>{content}{caption}</div>",
        style_attr(&styles)
    )
}

/// `{{Figure}}`: content set apart, centred (or left, right), with a caption below.
fn figure(embed: &Embed, page: &Page) -> String {
    let mut styles = vec![format!(
        "width:{}",
        embed.option("width").and_then(length).unwrap_or("100%")
    )];
    let (left, right) = match embed.option("align").and_then(align) {
        Some("left") => ("0", "auto"),
        Some("right") => ("auto", "0"),
        _ => ("auto", "auto"),
    };
    styles.push(format!("margin-left:{left}"));
    styles.push(format!("margin-right:{right}"));
    let content_style = embed
        .option("height")
        .and_then(length)
        .map(|h| vec![format!("max-height:{h}"), "overflow-y:auto".into()])
        .unwrap_or_default();
    let caption = embed
        .option("caption")
        .map(|c| {
            format!(
                "<div class=\"figure-embedding-caption\">{}</div>",
                page.inline(c)
            )
        })
        .unwrap_or_default();
    format!(
        "<div class=\"figure-embedding\"{}><div class=\"figure-embedding-content\"{}>{}</div>{caption}</div>",
        style_attr(&styles),
        style_attr(&content_style),
        (page.markdown)(&embed.body)
    )
}

/// `{{Video}}`: a player for the sources given by `src` and the block's lines; a source
/// is a file of the page, a path on this wiki, or an `https` address.
fn video(embed: &Embed, page_url: &str) -> Result<String, String> {
    let sources: Vec<&str> = embed
        .options
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("src"))
        .map(|(_, v)| v.trim())
        .chain(embed.body.lines().map(str::trim))
        .filter(|s| !s.is_empty())
        .collect();
    if sources.is_empty() {
        return Err("No src given.".into());
    }
    let width = embed.option("width").and_then(length).unwrap_or("100%");
    let youtube: Vec<&str> = sources.iter().filter_map(|s| youtube_id(s)).collect();
    if !youtube.is_empty() {
        if youtube.len() != sources.len() {
            return Err("Cannot mix YouTube links and file sources.".into());
        }
        return Ok(youtube_frames(embed, &youtube, width));
    }
    let mut html = String::new();
    let mut flags = Vec::new();
    let muted = embed.flag("muted", true);
    for (flag, default) in [("controls", true), ("muted", true), ("loop", true)] {
        if embed.flag(flag, default) {
            flags.push(flag);
        }
    }
    // Only a muted video starts by itself, as browsers allow.
    if embed.flag("autoplay", false) && muted {
        flags.push("autoplay");
    }
    let _ = write!(
        html,
        "<video width=\"{}\" {} playsinline>",
        html_escape_attr(width),
        flags.join(" ")
    );
    for src in sources {
        let url = if src.starts_with("https://") || (src.starts_with('/') && !src.starts_with("//"))
        {
            src.to_string()
        } else if !src.contains(['/', ':', '\\']) {
            format!("{page_url}/a/{}", crate::wiki::names::url_path_encode(src))
        } else {
            return Err(format!(
                "{src}: a video is a file of this page, a path on this wiki, or an https address."
            ));
        };
        let kind = if src.ends_with(".mp4") {
            " type=\"video/mp4\""
        } else if src.ends_with(".ogg") || src.ends_with(".ogv") {
            " type=\"video/ogg\""
        } else if src.ends_with(".webm") {
            " type=\"video/webm\""
        } else {
            ""
        };
        let _ = write!(html, "<source src=\"{}\"{kind}>", html_escape_attr(&url));
    }
    html.push_str("Your browser does not support the video tag.</video>");
    Ok(html)
}

/// The video id of a YouTube link (`youtube.com/watch?v=ID`, `youtu.be/ID`, `/embed/ID`,
/// `/e/ID`, `/shorts/ID`, on www., m. or youtube-nocookie.com), if `src` is one.
fn youtube_id(src: &str) -> Option<&str> {
    let rest = src
        .strip_prefix("https://")
        .or_else(|| src.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let host = host.strip_prefix("www.").unwrap_or(host);
    let host = host.strip_prefix("m.").unwrap_or(host);
    let id = match host {
        "youtu.be" => path.split(['?', '#', '/']).next(),
        "youtube.com" | "youtube-nocookie.com" => {
            let (route, query) = path.split_once('?').unwrap_or((path, ""));
            match route.split_once('/') {
                Some(("embed" | "e" | "shorts" | "v", id)) => id.split(['/', '#']).next(),
                None if route == "watch" => {
                    query.split(['&', '#']).find_map(|p| p.strip_prefix("v="))
                }
                _ => None,
            }
        }
        _ => None,
    }?;
    let valid = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then_some(id)
}

/// One YouTube player per link, with the block's flags as the player's parameters
/// (Otterwiki's defaults: muted and looping, with controls, not playing by itself).
fn youtube_frames(embed: &Embed, ids: &[&str], width: &str) -> String {
    let height = embed.option("height").and_then(length);
    let mut html = String::new();
    for id in ids {
        let mut params = Vec::new();
        if !embed.flag("controls", true) {
            params.push("controls=0".to_string());
        }
        if embed.flag("autoplay", false) {
            params.push("autoplay=1".to_string());
        }
        if embed.flag("muted", true) {
            params.push("mute=1".to_string());
        }
        if embed.flag("loop", true) {
            // A single video loops only as its own playlist.
            params.push(format!("loop=1&playlist={id}"));
        }
        let query = if params.is_empty() {
            String::new()
        } else {
            format!("?{}", params.join("&"))
        };
        let _ = write!(
            html,
            "<iframe class=\"video-embedding-youtube\" width=\"{}\"{} src=\"{}\" title=\"YouTube video\" \
             allow=\"encrypted-media; picture-in-picture; fullscreen\" allowfullscreen \
             referrerpolicy=\"strict-origin-when-cross-origin\" \
             sandbox=\"allow-scripts allow-same-origin allow-presentation allow-popups\"></iframe>",
            html_escape_attr(width),
            height
                .map(|h| format!(" height=\"{}\"", html_escape_attr(h)))
                .unwrap_or_default(),
            html_escape_attr(&format!("https://www.youtube.com/embed/{id}{query}")),
        );
    }
    html
}

/// `{{DataTable}}`: every table of `tables` becomes sortable, searchable and paged
/// (in the browser, by `robot.js`), with the block's options.
fn data_table(embed: &Embed, tables: &str) -> String {
    let per_page: u32 = embed
        .option("perPage")
        .and_then(|v| v.parse().ok())
        .unwrap_or(25)
        .min(10_000);
    let mut attrs = format!(" class=\"datatable\" data-per-page=\"{per_page}\"");
    for (option, default) in [
        ("paging", true),
        ("searchable", true),
        ("sortable", true),
        ("fixedHeight", true),
    ] {
        let _ = write!(
            attrs,
            " data-{}=\"{}\"",
            option.to_ascii_lowercase(),
            embed.flag(option, default)
        );
    }
    let caption = embed
        .option("caption")
        .map(|c| format!("<caption>{}</caption>", html_escape_text(c)))
        .unwrap_or_default();
    tables.replace("<table>", &format!("<table{attrs}>{caption}"))
}

/// The rows of a `{{DataTable|src=file.csv}}`, as a table.
fn csv_table(embed: &Embed, sources: &dyn Sources) -> Result<String, String> {
    let src = embed.option("src").unwrap_or("");
    let bytes = sources.attachment_bytes(src, MAX_CSV_BYTES)?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("csv attachment \"{src}\" is not UTF-8."))?;
    let delimiter = embed
        .option("delimiter")
        .or_else(|| embed.option("sep"))
        .or_else(|| embed.option("separator"))
        .map(|d| if d == "\\t" { "\t" } else { d })
        .and_then(|d| d.chars().next())
        .unwrap_or(';');
    let quote = embed
        .option("quotechar")
        .and_then(|q| q.chars().next())
        .unwrap_or('"');
    let rows = csv::parse(&text, delimiter, quote);
    let header = embed.flag("header", true);
    let (head, data) = match (header, rows.split_first()) {
        (true, Some((head, data))) => (Some(head), data),
        _ => (None, &rows[..]),
    };
    let width = head.or(data.first()).map_or(0, Vec::len);
    let columns: Vec<usize> = if let Some(spec) = embed.option("columns") {
        column_list(spec, 1, head)
    } else if let Some(spec) = embed.option("column0") {
        column_list(spec, 0, head)
    } else {
        (0..width).collect()
    };
    let cell = |row: &[String], i: usize| html_escape_text(row.get(i).map_or("", String::as_str));
    let mut html = String::from("<table>");
    if let Some(labels) = embed.option("headers") {
        html.push_str("<thead><tr>");
        for label in labels.split(',') {
            let _ = write!(html, "<th>{}</th>", html_escape_text(label.trim()));
        }
        html.push_str("</tr></thead>");
    } else if let Some(head) = head {
        html.push_str("<thead><tr>");
        for &i in &columns {
            let _ = write!(html, "<th>{}</th>", cell(head, i));
        }
        html.push_str("</tr></thead>");
    }
    html.push_str("<tbody>");
    for row in data {
        html.push_str("<tr>");
        for &i in &columns {
            let _ = write!(html, "<td>{}</td>", cell(row, i));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    Ok(html)
}

/// `1,3` (numbered from `base`) or `Name,Score` (header names) as column indices.
fn column_list(spec: &str, base: usize, head: Option<&Vec<String>>) -> Vec<usize> {
    let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
    let numbers: Option<Vec<usize>> = parts
        .iter()
        .map(|p| p.parse::<usize>().ok().and_then(|n| n.checked_sub(base)))
        .collect();
    match numbers {
        Some(n) => n,
        None => parts
            .iter()
            .filter_map(|p| head.and_then(|h| h.iter().position(|c| c == p)))
            .collect(),
    }
}

/// A shell pattern (`*`, `?`) against a name, ignoring case; linear in both.
fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// `{{AttachmentList}}` (`{{Attachments}}`): the page's files as a table, `full`,
/// `details` or `minimal`, filtered by a pattern.
fn attachment_list(embed: &Embed, sources: &dyn Sources) -> String {
    let filter = embed.option("filter").unwrap_or("*");
    let format = embed
        .option("format")
        .or_else(|| embed.option("fmt"))
        .unwrap_or("full")
        .to_ascii_lowercase();
    let icons = embed.flag("icons", format != "minimal");
    let files: Vec<AttachmentRow> = sources
        .attachments()
        .into_iter()
        .filter(|f| glob(filter, &f.filename))
        .take(MAX_ROWS)
        .collect();
    let caption = embed
        .option("caption")
        .map(|c| format!("<caption>{}</caption>", html_escape_text(c)))
        .unwrap_or_default();
    let mut html =
        format!("<div class=\"attachmentlist-embedding\"><table class=\"table\">{caption}");
    if files.is_empty() {
        html.push_str("</table></div>");
        return html;
    }
    html.push_str("<thead><tr>");
    if icons {
        html.push_str("<th></th>");
    }
    html.push_str(match format.as_str() {
        "minimal" => "<th>Attachment</th>",
        "details" => "<th>Filename</th><th>Size</th><th>Date</th>",
        _ => "<th>Attachment</th><th>Size</th><th>Date</th><th>Author</th><th>Comment</th>",
    });
    html.push_str("</tr></thead><tbody>");
    for f in files {
        let url = html_escape_attr(&f.url);
        let name = html_escape_text(&f.filename);
        html.push_str("<tr>");
        if icons {
            let icon = if f.is_image {
                format!("<img src=\"{url}?thumbnail=48\" alt=\"\" loading=\"lazy\">")
            } else {
                let ext = f.filename.rsplit_once('.').map_or("file", |(_, e)| e);
                format!(
                    "<span class=\"attachment-icon\">{}</span>",
                    html_escape_text(&ext.chars().take(4).collect::<String>().to_uppercase())
                )
            };
            let _ = write!(html, "<td width=\"1\"><a href=\"{url}\">{icon}</a></td>");
        }
        let _ = write!(html, "<td><a href=\"{url}\">{name}</a></td>");
        if format != "minimal" {
            let date = f
                .time
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default();
            let _ = write!(html, "<td>{}</td><td>{date}</td>", human_size(f.size));
        }
        if format != "minimal" && format != "details" {
            let _ = write!(
                html,
                "<td>{}</td><td class=\"text-wrap\">{}</td>",
                html_escape_text(&f.author),
                html_escape_text(&f.message)
            );
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table></div>");
    html
}

/// `{{PageIndex}}`: the pages below this one, grouped by first letter (or, with
/// `style=list`, as one list), filtered by `src`; with `toc`, each page's headings
/// below it (a switch shows and hides them, unless `toggle=false`).
fn page_index(embed: &Embed, sources: &dyn Sources) -> String {
    let filter = embed.option("src").unwrap_or("*");
    let show_toc = embed.flag("toc", false);
    let pages: Vec<(IndexEntry, Vec<Heading>)> = sources
        .pages_below()
        .into_iter()
        .filter(|p| glob(filter, p.title.rsplit('/').next().unwrap_or(&p.title)))
        .take(MAX_ROWS)
        .enumerate()
        .map(|(i, p)| {
            let headings = match show_toc && i < MAX_TOC_PAGES {
                true => sources.headings(&p.name),
                false => Vec::new(),
            };
            (p, headings)
        })
        .collect();
    let link = |p: &IndexEntry| {
        format!(
            "<a href=\"{}\">{}</a>",
            html_escape_attr(&p.url),
            html_escape_text(p.title.rsplit('/').next().unwrap_or(&p.title))
        )
    };
    let heading_link = |p: &IndexEntry, h: &Heading| {
        format!(
            "<a href=\"{}#{}\">{}</a>",
            html_escape_attr(&p.url),
            html_escape_attr(&h.id),
            h.html
        )
    };
    let mut html = String::from("<div class=\"pageindex-embedding\">");
    if embed
        .option("style")
        .is_some_and(|s| s.eq_ignore_ascii_case("list"))
    {
        html.push_str("<ul>");
        for (p, headings) in &pages {
            let _ = write!(html, "<li>{}", link(p));
            if !headings.is_empty() {
                html.push_str("<ul>");
                for h in headings {
                    let _ = write!(html, "<li>{}</li>", heading_link(p, h));
                }
                html.push_str("</ul>");
            }
            html.push_str("</li>");
        }
        html.push_str("</ul></div>");
        return html;
    }
    if show_toc && embed.flag("toggle", true) {
        html.push_str(
            "<label class=\"pageindex-toggle\"><input type=\"checkbox\" checked data-toggle-headings> Page headings</label>",
        );
    }
    html.push_str("<div class=\"pageindex-columns\">");
    let mut letter = None;
    for (p, headings) in &pages {
        let first = p.title.chars().next().map(|c| c.to_uppercase().to_string());
        if first != letter {
            if letter.is_some() {
                html.push_str("</div>");
            }
            let _ = write!(
                html,
                "<div class=\"pageindex-letterblock\"><h2 class=\"pageindex-header\">{}</h2>",
                html_escape_text(first.as_deref().unwrap_or(""))
            );
            letter = first;
        }
        let _ = write!(
            html,
            "<div class=\"pageindex-pageblock pageindex-depth-{0}\" style=\"padding-left:{1}rem\">{2}",
            p.depth,
            p.depth as f32 * 1.5,
            link(p)
        );
        if !headings.is_empty() {
            html.push_str("<div class=\"pagetoc\">");
            let top = headings.iter().map(|h| h.level).min().unwrap_or(1);
            for h in headings {
                let depth = h.level - top;
                let _ = write!(
                    html,
                    "<div class=\"pageindex-heading pageindex-heading-{depth}\" style=\"padding-left:{depth}rem\">{}</div>",
                    heading_link(p, h)
                );
            }
            html.push_str("</div>");
        }
        html.push_str("</div>");
    }
    if letter.is_some() {
        html.push_str("</div>");
    }
    html.push_str("</div></div>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_globs() {
        assert_eq!(length("30%"), Some("30%"));
        assert_eq!(length("12.5rem"), Some("12.5rem"));
        assert_eq!(length("1;background:url(x)"), None);
        assert_eq!(length("calc(1px)"), None);
        assert!(glob("*.txt", "Notes.TXT"));
        assert!(glob("Ca*", "car"));
        assert!(!glob("Ca*", "dog"));
        assert!(glob("a?c", "abc"));
        assert!(!glob(&"*a".repeat(100), &"b".repeat(1000)));
    }
}
