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
//! - alerts written without the space, `>[!TIP]`, which comrak wants as `> [!TIP]`;
//! - in table rows, a `|` inside a code span or a `[[Text|Page]]` wikilink, which would
//!   otherwise end the cell (and lose the rest of the row): escaped as `\|`, which the
//!   table reads back as `|` (GFM).
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
    let tables = table_cells(md);
    let md: &str = &tables;
    if !(md.contains(":::") || md.contains(">!") || md.contains(">|") || md.contains(">[!")) {
        return Rewritten {
            text: into_owned_if_changed(tables, None),
            capped: false,
        };
    }
    let mut blocks = 0;
    let lines: Vec<&str> = md.split_inclusive('\n').collect();
    let mut out = String::with_capacity(md.len() + 256);
    let mut changed = false;
    let mut fences = Fences::default();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let (false, Some(rest)) = (fences.is_code(line), strip_indent(line)) else {
            out.push_str(line);
            i += 1;
            continue;
        };
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
        text: into_owned_if_changed(tables, changed.then_some(out)),
        capped: blocks > MAX_BLOCKS,
    }
}

/// The page as the last pass that changed it left it.
fn into_owned_if_changed<'a>(tables: Cow<'a, str>, blocks: Option<String>) -> Cow<'a, str> {
    match blocks {
        Some(text) => Cow::Owned(text),
        None => tables,
    }
}

/// Fenced code, as a pass over a page's lines sees it.
#[derive(Default)]
pub(super) struct Fences {
    /// The open fence's character and length.
    open: Option<(u8, usize)>,
}

impl Fences {
    /// Whether `line` is code: inside a fence, a fence itself, or indented code.
    pub(super) fn is_code(&mut self, line: &str) -> bool {
        let Some(rest) = strip_indent(line) else {
            return true;
        };
        if let Some((ch, len)) = self.open {
            let n = run(rest, ch);
            if n >= len && rest[n..].trim().is_empty() {
                self.open = None;
            }
            return true;
        }
        if let Some(open) = [b'`', b'~']
            .into_iter()
            .map(|ch| (ch, run(rest, ch)))
            .find(|(_, n)| *n >= 3)
        {
            self.open = Some(open);
            return true;
        }
        false
    }
}

/// Escapes the `|` inside code spans and wikilinks of table rows (see the module comment).
fn table_cells(md: &str) -> Cow<'_, str> {
    if !(md.contains('|') && (md.contains('`') || md.contains("[["))) {
        return Cow::Borrowed(md);
    }
    let lines: Vec<&str> = md.split_inclusive('\n').collect();
    let mut out = String::new();
    let mut copied = 0;
    let mut fences = Fences::default();
    let mut in_table = false;
    for (i, line) in lines.iter().enumerate() {
        let code = fences.is_code(line);
        in_table = !code
            && line.contains('|')
            && (in_table || lines.get(i + 1).is_some_and(|next| is_delimiter_row(next)));
        if !in_table {
            continue;
        }
        if let Cow::Owned(escaped) = escape_cell_pipes(line) {
            let start = line.as_ptr() as usize - md.as_ptr() as usize;
            out.push_str(&md[copied..start]);
            out.push_str(&escaped);
            copied = start + line.len();
        }
    }
    if copied == 0 {
        return Cow::Borrowed(md);
    }
    out.push_str(&md[copied..]);
    Cow::Owned(out)
}

/// A table's delimiter row: `| --- | :-: |`.
fn is_delimiter_row(line: &str) -> bool {
    let t = line.trim();
    t.contains('-') && t.contains('|') && t.bytes().all(|b| b"|:- \t".contains(&b))
}

/// The row with `\|` for each unescaped `|` inside its code spans and `[[…]]` wikilinks.
fn escape_cell_pipes(row: &str) -> Cow<'_, str> {
    let bytes = row.as_bytes();
    // Every run of backticks, so each finds its closing run of the same length in one
    // pass: the next unused run of that length.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'`' {
            let n = run(&row[i..], b'`');
            runs.push((i, n));
            i += n;
        } else {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
    }
    let mut next_of_len: std::collections::HashMap<usize, Vec<usize>> = Default::default();
    for (k, (_, n)) in runs.iter().enumerate().rev() {
        next_of_len.entry(*n).or_default().push(k);
    }
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut k = 0;
    let mut code_until = 0;
    // Code spans first (they win over wikilinks, as in CommonMark).
    while k < runs.len() {
        let (start, n) = runs[k];
        let same = next_of_len.get_mut(&n).expect("every run is listed");
        // Drop this run and any before it from its length's list.
        while same.last().is_some_and(|&j| j <= k) {
            same.pop();
        }
        if start < code_until {
            k += 1;
            continue;
        }
        match same.pop() {
            Some(close) => {
                spans.push((start + n, runs[close].0));
                code_until = runs[close].0 + n;
                k = close + 1;
            }
            None => k += 1,
        }
    }
    // Wikilinks outside code spans.
    let mut at = 0;
    while let Some(open) = row[at..].find("[[").map(|o| o + at) {
        let Some(close) = row[open + 2..].find("]]").map(|c| c + open + 2) else {
            break;
        };
        if !spans.iter().any(|&(s, e)| open >= s && open < e) {
            spans.push((open + 2, close));
        }
        at = close + 2;
    }
    let needs = |&(s, e): &(usize, usize)| {
        (s..e).any(|p| bytes[p] == b'|' && (p == 0 || bytes[p - 1] != b'\\'))
    };
    if !spans.iter().any(needs) {
        return Cow::Borrowed(row);
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(row.len() + 8);
    let mut copied = 0;
    for (s, e) in spans {
        for p in s..e {
            if bytes[p] == b'|' && (p == 0 || bytes[p - 1] != b'\\') {
                out.push_str(&row[copied..p]);
                out.push_str("\\|");
                copied = p + 1;
            }
        }
    }
    out.push_str(&row[copied..]);
    Cow::Owned(out)
}

/// The line after at most three spaces of indent; `None` for an indented code line.
pub(super) fn strip_indent(line: &str) -> Option<&str> {
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
    fn pipes_in_code_and_wikilinks_stay_in_their_cell() {
        let md = "| a | b |\n|---|---|\n| `x|y` | [[Mary|people/Mary]] |\n\n[[A|B]] `c|d`\n";
        assert_eq!(
            rewrite(md).text,
            "| a | b |\n|---|---|\n| `x\\|y` | [[Mary\\|people/Mary]] |\n\n[[A|B]] `c|d`\n"
        );
        // Already escaped, in fenced code, or no table: as written.
        for md in [
            "| a |\n|---|\n| `x\\|y` |\n",
            "```\n| a |\n|---|\n| `x|y` |\n```\n",
            "a | `x|y`\nb\n",
        ] {
            assert!(matches!(rewrite(md).text, Cow::Borrowed(_)), "{md:?}");
        }
        // A wikilink inside a code span is code.
        assert_eq!(escape_cell_pipes("| `[[a|b]]` |"), "| `[[a\\|b]]` |");
        // Unmatched runs of every length cost one pass.
        let row: String = (1..200).map(|n| "`".repeat(n) + "|").collect();
        assert!(matches!(escape_cell_pipes(&row), Cow::Borrowed(_)));
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
