//! Sections of a page, for reading one part of it (MCP `read_note(section=…)`), with the
//! reference implementation's rules: ATX headings outside code fences; a section's path
//! is its ancestors' titles joined by ` > `; a query matches, case-insensitively, the
//! exact path, then a path suffix, then an exact title; the section runs to the next
//! heading of the same or a higher level.

/// One heading and the lines it spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub level: usize,
    pub title: String,
    pub path: String,
    /// Line range in the page, heading included.
    pub start: usize,
    pub end: usize,
}

/// The headings of a Markdown text, with their paths and extents.
pub fn sections(markdown: &str) -> Vec<Section> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out: Vec<Section> = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if let Some((ch, len)) = fence_marker(trimmed) {
            match fence {
                None => fence = Some((ch, len)),
                Some((c, l))
                    if c == ch && len >= l && trimmed.trim_end().chars().all(|x| x == ch) =>
                {
                    fence = None
                }
                _ => {}
            }
            continue;
        }
        if fence.is_some() {
            continue;
        }
        let Some((level, title)) = heading(trimmed) else {
            continue;
        };
        while stack.last().is_some_and(|(l, _)| *l >= level) {
            stack.pop();
        }
        stack.push((level, title.clone()));
        let path = stack
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join(" > ");
        out.push(Section {
            level,
            title,
            path,
            start: i,
            end: lines.len(),
        });
    }
    // A section ends where the next heading of the same or a higher level starts.
    for i in 0..out.len() {
        if let Some(next) = out[i + 1..].iter().find(|s| s.level <= out[i].level) {
            out[i].end = next.start;
        }
    }
    out
}

fn fence_marker(line: &str) -> Option<(char, usize)> {
    let ch = line.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = line.chars().take_while(|c| *c == ch).count();
    (len >= 3).then_some((ch, len))
}

fn heading(line: &str) -> Option<(usize, String)> {
    let level = line.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &line[level..];
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let title = rest.trim().trim_end_matches('#').trim().to_string();
    (!title.is_empty()).then_some((level, title))
}

/// The text of the section `query` names, or the reference's error message.
pub fn extract(markdown: &str, query: &str) -> Result<(String, String), String> {
    let all = sections(markdown);
    let q = query.trim().to_lowercase();
    let found = all
        .iter()
        .find(|s| s.path.to_lowercase() == q)
        .or_else(|| {
            all.iter()
                .find(|s| s.path.to_lowercase().ends_with(&format!(" > {q}")))
        })
        .or_else(|| all.iter().find(|s| s.title.to_lowercase() == q));
    match found {
        Some(s) => {
            let lines: Vec<&str> = markdown.lines().collect();
            Ok((
                s.path.clone(),
                lines[s.start..s.end].join("\n").trim_end().to_string() + "\n",
            ))
        }
        None if all.is_empty() => Err(format!(
            "Section not found: '{query}'. This page has no sections."
        )),
        None => Err(format!(
            "Section not found: '{query}'. Available sections:\n{}",
            all.iter()
                .map(|s| format!("  - {}", s.path))
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# Guide\nintro\n## Setup\nsteps\n```\n# not a heading\n```\n### Linux\napt\n## Usage ##\nrun it\n";

    #[test]
    fn paths_extents_and_fences() {
        let s = sections(PAGE);
        let paths: Vec<&str> = s.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "Guide",
                "Guide > Setup",
                "Guide > Setup > Linux",
                "Guide > Usage"
            ]
        );
        let (path, text) = extract(PAGE, "setup").unwrap();
        assert_eq!(path, "Guide > Setup");
        assert_eq!(
            text,
            "## Setup\nsteps\n```\n# not a heading\n```\n### Linux\napt\n"
        );
    }

    #[test]
    fn matching_order_and_errors() {
        assert_eq!(
            extract(PAGE, "guide > setup > linux").unwrap().0,
            "Guide > Setup > Linux"
        );
        assert_eq!(
            extract(PAGE, "Setup > Linux").unwrap().0,
            "Guide > Setup > Linux"
        );
        assert_eq!(extract(PAGE, "USAGE").unwrap().1, "## Usage ##\nrun it\n");
        let e = extract(PAGE, "nope").unwrap_err();
        assert!(e.starts_with("Section not found: 'nope'. Available sections:\n  - Guide\n"));
        assert_eq!(
            extract("no headings", "x").unwrap_err(),
            "Section not found: 'x'. This page has no sections."
        );
    }
}
