//! Chunking pages for semantic search, with the reference implementation's behaviour
//! (otterwiki-semantic-search `chunking.py`), so results read the same:
//!
//! 1. Front matter gives the metadata (`title`, `category`, `tags`); the title defaults to
//!    the page path; an empty body has no chunks.
//! 2. The body is split at ATX headings outside code fences; text before the first heading
//!    is a level-0 preamble.
//! 3. A section's path is `title > h1 > h2 > h3` (the title alone for the preamble).
//! 4. Stub sections (headed, under 50 words) merge forward into the next substantial
//!    section; trailing stubs merge back into the last substantial headed one.
//! 5. A page under 300 words is one chunk; so is a section under 300 words. Longer
//!    sections are packed paragraph by paragraph up to 150 words (a paragraph over 300
//!    words is split into sentences first), each later chunk prefixed with the previous
//!    chunk's last 35 words.
//! 6. Each chunk's text is `"[{section_path}] " + chunk`.

use crate::wiki::front_matter;

const TARGET_WORDS: usize = 150;
const OVERLAP_WORDS: usize = 35;
const MIN_CHUNK_WORDS: usize = 300;
const STUB_WORDS: usize = 50;
const MAX_PREFIX_DEPTH: usize = 3;

#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// `[{section_path}] {text}`: what is embedded and returned.
    pub text: String,
    /// The heading the chunk sits under (empty for the preamble).
    pub section: String,
    pub section_path: String,
    pub index: usize,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageMeta {
    pub title: String,
    pub category: Option<String>,
    /// Joined with ", ".
    pub tags: Option<String>,
    pub word_count: usize,
}

struct Section {
    level: usize,
    heading: String,
    path: String,
    text: String,
}

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

/// Chunks a page's Markdown. `page_path` is the page name (`Folder/Page`).
pub fn chunk_page(page_path: &str, markdown: &str) -> (PageMeta, Vec<Chunk>) {
    let (fm, body) = front_matter::split(markdown);
    let get = |k: &str| fm.get(k).map(front_matter::Value::display);
    let title = get("title")
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| page_path.to_string());
    let meta = PageMeta {
        category: get("category").filter(|c| !c.is_empty()),
        tags: get("tags").filter(|t| !t.is_empty()),
        word_count: words(body),
        title: title.clone(),
    };
    if body.trim().is_empty() {
        return (meta, Vec::new());
    }
    let texts: Vec<(String, String, String)> = if meta.word_count < MIN_CHUNK_WORDS {
        vec![(String::new(), title.clone(), body.trim().to_string())]
    } else {
        merge_stubs(split_sections(body, &title))
            .into_iter()
            .flat_map(|s| {
                pack(&s.text)
                    .into_iter()
                    .map(move |t| (s.heading.clone(), s.path.clone(), t))
            })
            .collect()
    };
    let chunks = texts
        .into_iter()
        .filter(|(_, _, t)| !t.trim().is_empty())
        .enumerate()
        .map(|(index, (section, path, text))| Chunk {
            text: format!("[{path}] {text}"),
            section,
            section_path: path,
            index,
        })
        .collect();
    (meta, chunks)
}

/// An ATX heading line: (level, text).
fn heading(line: &str) -> Option<(usize, String)> {
    let t = line.trim_start_matches(' ');
    if line.len() - t.len() > 3 {
        return None;
    }
    let level = t.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &t[level..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim().to_string();
    Some((level, text))
}

fn split_sections(body: &str, title: &str) -> Vec<Section> {
    let mut sections = vec![Section {
        level: 0,
        heading: String::new(),
        path: title.to_string(),
        text: String::new(),
    }];
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    for line in body.lines() {
        let t = line.trim_start();
        let marker = t.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker
            .map(|c| t.chars().take_while(|x| *x == c).count())
            .unwrap_or(0);
        match fence {
            None if run >= 3 => fence = Some((marker.expect("run implies marker"), run)),
            Some((c, n)) if marker == Some(c) && run >= n && t[run..].trim().is_empty() => {
                fence = None
            }
            None => {
                if let Some((level, text)) = heading(line) {
                    while stack.last().is_some_and(|(l, _)| *l >= level) {
                        stack.pop();
                    }
                    stack.push((level, text.clone()));
                    let mut path = vec![title.to_string()];
                    path.extend(stack.iter().take(MAX_PREFIX_DEPTH).map(|(_, t)| t.clone()));
                    sections.push(Section {
                        level,
                        heading: text,
                        path: path.join(" > "),
                        text: String::new(),
                    });
                    continue;
                }
            }
            _ => {}
        }
        let s = sections.last_mut().expect("at least the preamble");
        s.text.push_str(line);
        s.text.push('\n');
    }
    sections.retain(|s| s.level > 0 || !s.text.trim().is_empty());
    sections
}

fn merge_stubs(sections: Vec<Section>) -> Vec<Section> {
    let is_stub = |s: &Section| s.level > 0 && words(&s.text) < STUB_WORDS;
    let mut out: Vec<Section> = Vec::new();
    let mut pending = String::new();
    for mut s in sections {
        if is_stub(&s) {
            pending.push_str(&format!("{}\n{}", s.heading, s.text));
            continue;
        }
        if !pending.is_empty() {
            s.text = format!("{pending}{}", s.text);
            pending.clear();
        }
        out.push(s);
    }
    if !pending.is_empty() {
        match out.iter_mut().rev().find(|s| s.level > 0) {
            Some(last) => {
                last.text.push('\n');
                last.text.push_str(&pending);
            }
            None => out.push(Section {
                level: 0,
                heading: String::new(),
                path: out.first().map(|s| s.path.clone()).unwrap_or_default(),
                text: pending,
            }),
        }
    }
    out
}

/// Splits a section into chunks of about [`TARGET_WORDS`], with overlap.
fn pack(text: &str) -> Vec<String> {
    let text = text.trim();
    if words(text) < MIN_CHUNK_WORDS {
        return vec![text.to_string()];
    }
    let mut pieces: Vec<String> = Vec::new();
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        if words(para) > MIN_CHUNK_WORDS {
            pieces.extend(sentences(para));
        } else {
            pieces.push(para.to_string());
        }
    }
    let mut chunks: Vec<String> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut count = 0;
    for p in pieces {
        let n = words(&p);
        if count > 0 && count + n > TARGET_WORDS {
            chunks.push(current.join("\n\n"));
            current.clear();
            count = 0;
        }
        count += n;
        current.push(p);
    }
    if !current.is_empty() {
        chunks.push(current.join("\n\n"));
    }
    // Each later chunk carries the previous one's last words as context.
    let mut out = Vec::with_capacity(chunks.len());
    for (i, c) in chunks.iter().enumerate() {
        if i == 0 {
            out.push(c.clone());
        } else {
            let prev: Vec<&str> = chunks[i - 1].split_whitespace().collect();
            let tail = prev[prev.len().saturating_sub(OVERLAP_WORDS)..].join(" ");
            out.push(format!("{tail} {c}"));
        }
    }
    out
}

/// Sentences: after `.`, `!` or `?` followed by whitespace and a capital, or at a newline.
fn sentences(p: &str) -> Vec<String> {
    let chars: Vec<(usize, char)> = p.char_indices().collect();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..chars.len() {
        let (pos, c) = chars[i];
        let boundary = if c == '\n' {
            Some((pos, pos + 1))
        } else if ".!?".contains(c) && i + 1 < chars.len() && chars[i + 1].1.is_whitespace() {
            let mut j = i + 1;
            while j < chars.len() && chars[j].1.is_whitespace() {
                j += 1;
            }
            (j < chars.len() && chars[j].1.is_uppercase()).then(|| (pos + c.len_utf8(), chars[j].0))
        } else {
            None
        };
        if let Some((end, next)) = boundary
            && end > start
        {
            let s = p[start..end].trim();
            if !s.is_empty() {
                out.push(s.to_string());
            }
            start = next;
        }
    }
    let tail = p[start.min(p.len())..].trim();
    if !tail.is_empty() {
        out.push(tail.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lorem(n: usize, word: &str) -> String {
        (0..n)
            .map(|i| format!("{word}{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn short_pages_are_one_chunk_with_metadata() {
        let md = "---\ntitle: Garden Notes\ncategory: hobby\ntags: [plants, soil]\n---\n# Intro\n\nTomatoes need sun.\n";
        let (meta, chunks) = chunk_page("Garden", md);
        assert_eq!(meta.title, "Garden Notes");
        assert_eq!(meta.category.as_deref(), Some("hobby"));
        assert_eq!(meta.tags.as_deref(), Some("plants, soil"));
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].section_path, "Garden Notes");
        assert!(chunks[0].text.starts_with("[Garden Notes] # Intro"));
        assert!(chunk_page("Empty", "---\ntitle: x\n---\n  \n").1.is_empty());
    }

    #[test]
    fn sections_have_paths_and_stubs_merge_forward() {
        let md = format!(
            "Preamble {}\n\n# One\n\n{}\n\n## Stub\n\nshort bit\n\n## Two\n\n{}\n\n```\n# not a heading\n```\n\n# Three\n\n{}\n\n### Trailing stub\n\nend\n",
            lorem(20, "p"),
            lorem(120, "a"),
            lorem(100, "b"),
            lorem(80, "c")
        );
        let (meta, chunks) = chunk_page("Doc", &md);
        assert!(meta.word_count >= 300);
        let paths: Vec<&str> = chunks.iter().map(|c| c.section_path.as_str()).collect();
        assert_eq!(
            paths,
            vec!["Doc", "Doc > One", "Doc > One > Two", "Doc > Three"]
        );
        // The stub went into the next section, the code block's line stayed text, and the
        // trailing stub joined the last headed section.
        assert!(
            chunks[2].text.contains("Stub\n\nshort bit"),
            "{}",
            chunks[2].text
        );
        assert!(chunks[2].text.contains("# not a heading"));
        assert!(chunks[3].text.contains("Trailing stub\n\nend"));
        assert_eq!(
            chunks.iter().map(|c| c.index).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
    }

    #[test]
    fn long_sections_pack_to_150_words_with_35_word_overlap() {
        let paras: Vec<String> = (0..8).map(|i| lorem(60, &format!("w{i}x"))).collect();
        let md = format!("# Long\n\n{}\n", paras.join("\n\n"));
        let (_, chunks) = chunk_page("P", &md);
        // 8 paragraphs of 60 words pack two by two: 4 chunks.
        assert_eq!(chunks.len(), 4);
        let body = |c: &Chunk| c.text.trim_start_matches("[P > Long] ").to_string();
        assert_eq!(words(&body(&chunks[0])), 120);
        // Later chunks start with the previous chunk's last 35 words.
        let prev_tail: Vec<&str> = chunks[0]
            .text
            .split_whitespace()
            .rev()
            .take(35)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        assert!(body(&chunks[1]).starts_with(&prev_tail.join(" ")));
        assert_eq!(words(&body(&chunks[1])), 120 + 35);
    }

    #[test]
    fn huge_paragraphs_split_into_sentences() {
        let sentence = |i: usize| format!("Sentence number {i} has exactly eight words here.");
        let para = (0..60).map(sentence).collect::<Vec<_>>().join(" ");
        let (_, chunks) = chunk_page("S", &format!("# Big\n\n{para}\n"));
        assert!(chunks.len() >= 3, "{}", chunks.len());
        for c in &chunks {
            assert!(
                words(&c.text) <= TARGET_WORDS + OVERLAP_WORDS + 10,
                "{}",
                words(&c.text)
            );
        }
        assert_eq!(
            sentences("One. Two! three? Four\nfive"),
            vec!["One.", "Two! three?", "Four", "five"]
        );
    }
}
