//! Links between pages: extracting `[[Wikilinks]]` and root-relative Markdown links
//! (`[text](/Page)`) from page source, and rewriting them when a page is renamed. Code
//! (fenced blocks and inline spans) is left alone in both directions, so an example of
//! link syntax is never mistaken for a link.

use std::sync::LazyLock;

use regex::Regex;

use super::names::{PageName, url_path_encode};

static WIKILINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[\[([^\]\|\n]+?)(?:\|([^\]\n]+?))?\]\]").expect("valid regex"));
static MD_LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(!?)\[([^\]\n]*)\]\((/[^)\s]*)\)").expect("valid regex"));

/// A wikilink's parts, in Otterwiki's default `[[Text|Page]]` order.
pub struct WikiLink<'a> {
    pub text: Option<&'a str>,
    pub target: &'a str,
}

pub fn parse_wikilink<'a>(inner_left: &'a str, inner_right: Option<&'a str>) -> WikiLink<'a> {
    match inner_right {
        Some(page) => WikiLink {
            text: Some(inner_left),
            target: page,
        },
        None => WikiLink {
            text: None,
            target: inner_left,
        },
    }
}

/// The file path a link target names (`Folder/Page#frag` → `folder/page.md`), if it can
/// name a page at all.
pub fn target_path(target: &str) -> Option<String> {
    target_name(target).map(|n| n.file_path())
}

/// The page a link target names (`/Folder/Page#frag` → `Folder/Page`), if it can name one.
pub fn target_name(target: &str) -> Option<PageName> {
    let t = target.trim();
    let t = t.split('#').next().unwrap_or("");
    let t = t.trim_start_matches('/');
    if t.is_empty() {
        return None;
    }
    PageName::parse(t).ok()
}

/// Splits Markdown into (is_code, text) runs: fenced code blocks and inline code spans are
/// code; everything else is prose where links live.
pub fn segments(md: &str) -> Vec<(bool, &str)> {
    let mut out: Vec<(bool, &str)> = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    let mut pos = 0;
    let mut prose_start = 0;
    for line in md.split_inclusive('\n') {
        let start = pos;
        pos += line.len();
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker
            .map(|c| trimmed.chars().take_while(|x| *x == c).count())
            .unwrap_or(0);
        match fence {
            None if indent <= 3 && run >= 3 => {
                if prose_start < start {
                    push_prose(&mut out, &md[prose_start..start]);
                }
                fence = Some((marker.expect("run > 0 implies a marker"), run));
                prose_start = start;
            }
            Some((c, n))
                if indent <= 3
                    && marker == Some(c)
                    && run >= n
                    && trimmed[run..].trim().is_empty() =>
            {
                out.push((true, &md[prose_start..pos]));
                fence = None;
                prose_start = pos;
            }
            _ => {}
        }
    }
    if prose_start < md.len() {
        if fence.is_some() {
            out.push((true, &md[prose_start..]));
        } else {
            push_prose(&mut out, &md[prose_start..]);
        }
    }
    out
}

/// Splits prose further at inline code spans (matching backtick runs).
fn push_prose<'a>(out: &mut Vec<(bool, &'a str)>, s: &'a str) {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        if bytes[i] == b'`' {
            let run = bytes[i..].iter().take_while(|b| **b == b'`').count();
            let open_end = i + run;
            // Find the closing run of exactly the same length.
            let mut j = open_end;
            let mut close = None;
            while j < bytes.len() {
                if bytes[j] == b'`' {
                    let r = bytes[j..].iter().take_while(|b| **b == b'`').count();
                    if r == run {
                        close = Some(j + r);
                        break;
                    }
                    j += r;
                } else {
                    j += 1;
                }
            }
            if let Some(end) = close {
                if last < i {
                    out.push((false, &s[last..i]));
                }
                out.push((true, &s[i..end]));
                last = end;
                i = end;
                continue;
            }
            i = open_end;
        } else {
            i += 1;
        }
    }
    if last < s.len() {
        out.push((false, &s[last..]));
    }
}

/// The file paths of the pages a page links to, in order of first appearance, without
/// duplicates. Markdown links are included only when `is_page` says they name a page,
/// since `/Page/a/file.png` is an attachment, not a link to a page.
pub fn outgoing(md: &str, is_page: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let add = |p: String, out: &mut Vec<String>| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    for (code, text) in segments(md) {
        if code {
            continue;
        }
        for cap in WIKILINK.captures_iter(text) {
            let link = parse_wikilink(&cap[1], cap.get(2).map(|m| m.as_str()));
            if let Some(p) = target_path(link.target) {
                add(p, &mut out);
            }
        }
        for cap in MD_LINK.captures_iter(text) {
            if &cap[1] == "!" {
                continue;
            }
            let url = &cap[3];
            if url.starts_with("/-/") {
                continue;
            }
            let decoded = percent_encoding::percent_decode_str(url).decode_utf8_lossy();
            if let Some(p) = target_path(&decoded)
                && is_page(&p)
            {
                add(p, &mut out);
            }
        }
    }
    out
}

/// Rewrites links to `old` so they point at `new`: `[[Old]]`, `[[Text|Old#x]]`,
/// `[t](/Old)`, `[t](/Old#x)` and `![](/Old/a/file)`. Returns `None` if nothing changed.
pub fn rewrite(md: &str, old: &PageName, new: &PageName) -> Option<String> {
    let old_path = old.file_path();
    let mut changed = false;
    let mut out = String::with_capacity(md.len());
    for (code, text) in segments(md) {
        if code {
            out.push_str(text);
            continue;
        }
        let step = WIKILINK.replace_all(text, |cap: &regex::Captures| {
            let link = parse_wikilink(&cap[1], cap.get(2).map(|m| m.as_str()));
            if target_path(link.target).as_deref() != Some(old_path.as_str()) {
                return cap[0].to_string();
            }
            changed = true;
            let frag = link
                .target
                .find('#')
                .map(|i| &link.target[i..])
                .unwrap_or("");
            match link.text {
                Some(t) => format!("[[{t}|{}{frag}]]", new.as_str()),
                None => format!("[[{}{frag}]]", new.as_str()),
            }
        });
        let step = MD_LINK.replace_all(&step, |cap: &regex::Captures| {
            let url = &cap[3];
            let decoded = percent_encoding::percent_decode_str(&url[1..]).decode_utf8_lossy();
            let lower = decoded.to_lowercase();
            let old_lower = old.as_str().to_lowercase();
            let matches = lower == old_lower
                || lower.starts_with(&format!("{old_lower}#"))
                || lower.starts_with(&format!("{old_lower}/"));
            if !matches {
                return cap[0].to_string();
            }
            changed = true;
            let rest = &decoded[old_lower.len()..];
            let rest_enc = if rest.is_empty() {
                String::new()
            } else {
                url_path_encode(rest).replace("%23", "#")
            };
            format!("{}[{}]({}{})", &cap[1], &cap[2], new.url(), rest_enc)
        });
        out.push_str(&step);
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> PageName {
        PageName::parse(s).unwrap()
    }

    #[test]
    fn extracts_links_outside_code() {
        let md = "See [[Alpha]] and [[the beta|Beta#Part]].\n\n```\n[[Not A Link]]\n```\n\nInline `[[Nope]]` and [x](/Gamma%20Page) and ![i](/Alpha/a/pic.png).\n";
        let links = outgoing(md, |p| p == "gamma page.md");
        assert_eq!(links, vec!["alpha.md", "beta.md", "gamma page.md"]);
    }

    #[test]
    fn unterminated_fence_is_code_to_the_end() {
        let segs = segments("a [[X]]\n~~~~\n[[Y]]\n~~~\n");
        assert_eq!(segs.len(), 2);
        assert!(segs[1].0);
        assert_eq!(
            outgoing("a [[X]]\n~~~~\n[[Y]]\n~~~\n", |_| true),
            vec!["x.md"]
        );
    }

    #[test]
    fn rename_rewrites_every_form() {
        let md = "[[Old Page]] [[text|old page#sec]] [[Other]] [t](/Old%20Page) [u](/Old%20Page#h) ![p](/Old%20Page/a/f.png)\n`[[Old Page]]`\n";
        let out = rewrite(md, &name("Old Page"), &name("New/Place")).unwrap();
        assert_eq!(
            out,
            "[[New/Place]] [[text|New/Place#sec]] [[Other]] [t](/New/Place) [u](/New/Place#h) ![p](/New/Place/a/f.png)\n`[[Old Page]]`\n"
        );
        assert!(rewrite("[[Other]]", &name("Old"), &name("New")).is_none());
        // A page whose name merely starts with the old name is not touched.
        assert!(rewrite("[x](/Old%20Pages)", &name("Old Page"), &name("New")).is_none());
    }
}
