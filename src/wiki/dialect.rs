//! Otterwiki's block syntax that CommonMark (and so comrak) does not know, rewritten
//! before parsing into HTML blocks that comrak passes through, with the Markdown inside
//! them still parsed as Markdown (an HTML block ends at a blank line, so each opening and
//! closing tag stands alone between blank lines):
//!
//! - `::: info` … `:::` fancy blocks (`info`/`blue`, `warning`/`yellow`, `danger`/`red`,
//!   `success`/`green`, `none`/`empty`, or a family of one's own), whose first line may be
//!   a `# heading`: the block's title, not a heading of the page (nor are headings inside
//!   the block: Otterwiki keeps them out of the contents);
//! - `>!` spoilers: consecutive lines, hidden until the reader opens them;
//! - `>|` folds: consecutive lines, a `<details>` whose summary is the first line's
//!   `# heading` (or `...`);
//! - alerts written without the space, `>[!TIP]`, which comrak wants as `> [!TIP]`.
//!
//! Only blocks that start a line (up to three spaces of indent) outside fenced code are
//! read, in one pass over the lines, so the cost is linear in the page. A page with none of
//! these passes through untouched. What is written here is still sanitised with the rest.

use std::borrow::Cow;

use super::markdown::html_escape_text;

/// Blocks one page may have rewritten; later ones stay as written. Each costs some two
/// hundred bytes of HTML from twenty of Markdown, so a 1 MB page of them would render to
/// 10 MB (`bench/render.sh`, "spoilers and folds"); real pages have dozens.
pub const MAX_BLOCKS: usize = 2000;

/// A rewritten page, and whether it had more blocks than [`MAX_BLOCKS`].
pub struct Rewritten<'a> {
    pub text: Cow<'a, str>,
    pub capped: bool,
}

/// Rewrites Otterwiki's block syntax into HTML blocks; borrowed when there is none.
pub fn rewrite(md: &str) -> Rewritten<'_> {
    if !(md.contains(":::") || md.contains(">!") || md.contains(">|") || md.contains(">[!")) {
        return Rewritten {
            text: Cow::Borrowed(md),
            capped: false,
        };
    }
    let mut blocks = 0;
    let lines: Vec<&str> = md.split_inclusive('\n').collect();
    let mut out = String::with_capacity(md.len() + 256);
    let mut changed = false;
    let mut fence: Option<(u8, usize)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let Some(rest) = strip_indent(line) else {
            out.push_str(line);
            i += 1;
            continue;
        };
        if let Some((ch, len)) = fence {
            let n = run(rest, ch);
            if n >= len && rest[n..].trim().is_empty() {
                fence = None;
            }
            out.push_str(line);
            i += 1;
            continue;
        }
        if let Some(open) = [b'`', b'~']
            .into_iter()
            .map(|ch| (ch, run(rest, ch)))
            .find(|(_, n)| *n >= 3)
        {
            fence = Some(open);
            out.push_str(line);
            i += 1;
            continue;
        }
        let fancy = fancy_open(rest);
        if fancy.is_some() || rest.starts_with(">!") || rest.starts_with(">|") {
            blocks += 1;
        }
        if blocks > MAX_BLOCKS {
            out.push_str(line);
            i += 1;
            continue;
        }
        if let Some(family) = fancy {
            let end = (i + 1..lines.len())
                .find(|&j| strip_indent(lines[j]).is_some_and(fancy_close))
                .unwrap_or(lines.len());
            fancy_block(&mut out, family, &lines[i + 1..end]);
            changed = true;
            i = (end + 1).min(lines.len()).max(i + 1);
            continue;
        }
        if rest.starts_with(">!") || rest.starts_with(">|") {
            let marker = &rest[..2];
            let end = (i..lines.len())
                .find(|&j| !strip_indent(lines[j]).is_some_and(|r| r.starts_with(marker)))
                .unwrap_or(lines.len());
            let inner: String = lines[i..end]
                .iter()
                .map(|l| {
                    let r = l.trim_start_matches(' ');
                    &r[2..]
                })
                .collect();
            if marker == ">!" {
                spoiler(&mut out, &inner);
            } else {
                fold(&mut out, &inner);
            }
            changed = true;
            i = end;
            continue;
        }
        if rest.starts_with(">[!") {
            out.push_str(&line[..line.len() - rest.len()]);
            out.push_str("> ");
            out.push_str(&rest[1..]);
            changed = true;
            i += 1;
            continue;
        }
        out.push_str(line);
        i += 1;
    }
    Rewritten {
        text: if changed {
            Cow::Owned(out)
        } else {
            Cow::Borrowed(md)
        },
        capped: blocks > MAX_BLOCKS,
    }
}

/// The line after at most three spaces of indent; `None` for an indented code line.
fn strip_indent(line: &str) -> Option<&str> {
    let spaces = line.bytes().take_while(|b| *b == b' ').count();
    (spaces <= 3).then(|| &line[spaces..])
}

/// How many `ch` the text starts with.
fn run(s: &str, ch: u8) -> usize {
    s.bytes().take_while(|b| *b == ch).count()
}

/// `::: family` opens a fancy block: three or more colons, then a family with no colon.
fn fancy_open(rest: &str) -> Option<&str> {
    let n = run(rest, b':');
    if n < 3 {
        return None;
    }
    let family = rest[n..].trim();
    (!family.contains(':')).then_some(family)
}

/// A run of three or more colons (and tildes), alone on its line, closes one.
fn fancy_close(rest: &str) -> bool {
    run(rest, b':') >= 3 && rest.trim_end().bytes().all(|b| b == b':' || b == b'~')
}

/// A `# heading` first line: the block's title.
fn title_of(first: &str) -> Option<&str> {
    let hashes = run(first, b'#');
    (1..=5).contains(&hashes).then(|| first[hashes..].trim())
}

fn fancy_block(out: &mut String, family: &str, body: &[&str]) {
    let family = family.to_lowercase();
    let class = match family.as_str() {
        "info" | "blue" => "alert alert-primary".to_string(),
        "warning" | "yellow" => "alert alert-secondary".to_string(),
        "danger" | "red" => "alert alert-danger".to_string(),
        "success" | "green" => "alert alert-success".to_string(),
        "" | "none" | "empty" => "alert".to_string(),
        // A family of one's own becomes a class name: only the characters one may hold.
        other => {
            let name: String = other
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .take(40)
                .collect();
            format!("alert alert-{name}")
        }
    };
    let (title, body) = match body.first().and_then(|l| title_of(l)) {
        Some(t) => (Some(t), &body[1..]),
        None => (None, body),
    };
    out.push_str("\n<div class=\"");
    out.push_str(&class);
    out.push_str(" mb-20\">");
    if let Some(t) = title {
        out.push_str("<h4 class=\"alert-heading\">");
        out.push_str(&html_escape_text(t));
        out.push_str("</h4>");
    }
    out.push_str("\n\n");
    for line in body {
        // Headings inside the block stay text: they are not the page's sections.
        match strip_indent(line) {
            Some(r) if r.starts_with('#') => {
                out.push_str(&line[..line.len() - r.len()]);
                out.push('\\');
                out.push_str(r);
            }
            _ => out.push_str(line),
        }
    }
    out.push_str("\n\n</div>\n\n");
}

fn spoiler(out: &mut String, inner: &str) {
    out.push_str(
        "\n<details class=\"spoiler\"><summary class=\"spoiler-button\">Spoiler</summary>\n\n",
    );
    out.push_str(inner);
    out.push_str("\n\n</details>\n\n");
}

fn fold(out: &mut String, inner: &str) {
    let inner = inner.trim();
    let (first, rest) = inner.split_once('\n').unwrap_or((inner, ""));
    let (title, body) = match title_of(first) {
        Some(t) => (t, rest),
        None => ("...", inner),
    };
    out.push_str("\n<details class=\"collapse-panel\"><summary class=\"collapse-header\">");
    out.push_str(&html_escape_text(title));
    out.push_str("</summary><div class=\"collapse-content\">\n\n");
    out.push_str(body);
    out.push_str("\n\n</div></details>\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_without_the_syntax_pass_through() {
        for md in ["# Title\n\ntext: more\n", "a > b\n", "```\n:::\n```\n", ""] {
            assert!(matches!(rewrite(md).text, Cow::Borrowed(_)), "{md:?}");
        }
    }

    #[test]
    fn fancy_blocks_spoilers_and_folds_become_html_blocks() {
        let out = rewrite("::: info\n# Head <b>\nSome *text*\n## inner\n:::\nafter\n").text;
        assert_eq!(
            out,
            "\n<div class=\"alert alert-primary mb-20\"><h4 class=\"alert-heading\">Head &lt;b&gt;</h4>\n\nSome *text*\n\\## inner\n\n\n</div>\n\nafter\n"
        );
        let out = rewrite(">! secret\n>! more\nafter\n").text;
        assert!(out.starts_with("\n<details class=\"spoiler\">"), "{out}");
        assert!(out.contains("\n\n secret\n more\n\n\n</details>"), "{out}");
        let out = rewrite(">| # Details\n>| hidden\n").text;
        assert!(
            out.contains("<summary class=\"collapse-header\">Details</summary>")
                && out.contains("\n\n hidden\n\n</div></details>"),
            "{out}"
        );
        assert!(rewrite(">| no title\n").text.contains(">...</summary>"));
        assert_eq!(rewrite(">[!TIP]\n> x\n").text, "> [!TIP]\n> x\n");
    }

    #[test]
    fn fenced_code_and_odd_families_are_safe() {
        let code = "```\n::: info\n>! x\n```\n";
        assert!(matches!(rewrite(code).text, Cow::Borrowed(_)));
        let out = rewrite("::: x\" onmouseover=\"y\nz\n").text;
        assert!(
            out.contains("class=\"alert alert-xonmouseovery mb-20\""),
            "{out}"
        );
        // Unclosed: to the end of the page.
        assert!(rewrite("::: danger\nz\n").text.contains("alert-danger"));
        // Not a fancy block: a colon in the family.
        assert!(matches!(rewrite("::: a:b\n").text, Cow::Borrowed(_)));
        // Past the cap, blocks stay as written, and the page says so.
        let many = ">! s\n\n".repeat(MAX_BLOCKS + 5);
        let out = rewrite(&many);
        assert!(out.capped);
        assert_eq!(out.text.matches("<details").count(), MAX_BLOCKS);
    }
}
