//! Search-result snippets: a short window of a page's text around the first match, with
//! matches wrapped in `<mark>`. Built in Rust for the few rows returned, because SQLite's
//! `snippet()` is evaluated for every matching row before the sort and re-tokenises each.

use crate::wiki::markdown::html_escape_text;

/// The words a query looks for, lowercased, as the prefixes that count as a match: a
/// stem-like prefix for longer words, so `zebras` also marks `zebra`.
pub fn match_prefixes(query: &str) -> Vec<String> {
    super::query::terms(query)
        .into_iter()
        .map(|w| {
            let n = w.chars().count();
            let keep = if n > 5 { n - 2 } else { n };
            w.chars().take(keep).collect()
        })
        .collect()
}

/// Markup characters that make raw Markdown noisy in a snippet.
fn is_markup(c: char) -> bool {
    matches!(c, '#' | '*' | '_' | '[' | ']' | '|' | '`' | '~')
}

/// Does `word` start with the lowercase `prefix`, ignoring case? (No allocation for ASCII.)
fn starts_with_ci(word: &str, prefix: &str) -> bool {
    if prefix.is_ascii() {
        word.len() >= prefix.len()
            && word.is_char_boundary(prefix.len())
            && word[..prefix.len()].eq_ignore_ascii_case(prefix)
    } else {
        word.to_lowercase().starts_with(prefix)
    }
}

fn is_hit(word: &str, prefixes: &[String]) -> bool {
    prefixes
        .iter()
        .any(|p| !p.is_empty() && starts_with_ci(word, p))
}

/// Byte ranges of the alphanumeric words of `s`.
fn words(s: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut iter = s.char_indices().peekable();
    std::iter::from_fn(move || {
        while let Some(&(_, c)) = iter.peek() {
            if c.is_alphanumeric() {
                break;
            }
            iter.next();
        }
        let (start, _) = *iter.peek()?;
        let mut end = start;
        while let Some(&(i, c)) = iter.peek() {
            if !c.is_alphanumeric() {
                break;
            }
            end = i + c.len_utf8();
            iter.next();
        }
        Some((start, end))
    })
}

/// (plain text, HTML with `<mark>`) of about `width` characters around the first match.
/// Only the text up to the end of the window is looked at, not the whole page.
pub fn snippet(text: &str, prefixes: &[String], width: usize) -> (String, String) {
    let first_hit = words(text)
        .find(|&(s, e)| is_hit(&text[s..e], prefixes))
        .map(|(s, _)| s);
    // Start a few words before the hit (at a word start), or at the beginning.
    let from = match first_hit {
        Some(hit) => {
            let mut back = hit.saturating_sub(48);
            while !text.is_char_boundary(back) {
                back -= 1;
            }
            match text[back..hit].find(char::is_whitespace) {
                Some(ws) if back > 0 => back + ws + 1,
                _ => back,
            }
        }
        None => 0,
    };
    // Take raw text generously (markup is dropped below), then flatten it.
    let mut to = (from + width * 2).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    let mut flat = String::with_capacity(to - from);
    let mut space = false;
    for c in text[from..to].chars() {
        if c.is_whitespace() || is_markup(c) {
            space = !flat.is_empty();
        } else {
            if space {
                flat.push(' ');
                space = false;
            }
            flat.push(c);
        }
    }
    // Cut the flattened text at a word end within `width` characters.
    let mut cut = flat.len();
    if flat.chars().count() > width {
        let limit = flat
            .char_indices()
            .nth(width)
            .map(|(i, _)| i)
            .unwrap_or(flat.len());
        cut = words(&flat)
            .take_while(|&(_, e)| e <= limit)
            .last()
            .map(|(_, e)| e)
            .unwrap_or(limit);
        // Keep punctuation that ends the last word's sentence.
        cut += flat[cut..]
            .chars()
            .take_while(|c| !c.is_alphanumeric() && *c != ' ')
            .map(char::len_utf8)
            .sum::<usize>();
    }
    let shown = &flat[..cut];
    let truncated = cut < flat.len() || to < text.len();
    let mut plain = String::with_capacity(shown.len() + 8);
    let mut html = String::with_capacity(shown.len() + 64);
    if from > 0 {
        plain.push('…');
        html.push('…');
    }
    let mut pos = 0;
    for (s, e) in words(shown) {
        let gap = &shown[pos..s];
        html.push_str(&html_escape_text(gap));
        let word = &shown[s..e];
        if is_hit(word, prefixes) {
            html.push_str("<mark>");
            html.push_str(&html_escape_text(word));
            html.push_str("</mark>");
        } else {
            html.push_str(&html_escape_text(word));
        }
        pos = e;
    }
    html.push_str(&html_escape_text(&shown[pos..]));
    plain.push_str(shown);
    if truncated {
        plain.push('…');
        html.push('…');
    }
    (plain, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_matches_in_a_window() {
        let text = "# Title\n\nOne two three four five six seven eight nine ten. The **zebra** grazes <b>here</b>. And more words follow after the match, many of them.";
        let (plain, html) = snippet(text, &match_prefixes("zebras"), 60);
        assert!(plain.starts_with('…'), "{plain}");
        assert!(plain.contains("The zebra grazes"), "{plain}");
        assert!(html.contains("<mark>zebra</mark>"), "{html}");
        assert!(html.contains("&lt;b&gt;here&lt;"), "escaped: {html}");
        assert!(plain.ends_with('…'));
        assert!(plain.chars().count() < 90, "{plain}");
    }

    #[test]
    fn no_match_gives_the_beginning() {
        let (plain, html) = snippet("Alpha beta gamma.", &match_prefixes("zzz"), 100);
        assert_eq!(plain, "Alpha beta gamma.");
        assert!(!html.contains("<mark>"));
    }

    #[test]
    fn prefixes_are_stem_like() {
        assert_eq!(match_prefixes("Zebras ran"), vec!["zebr", "ran"]);
        assert_eq!(match_prefixes("embedding"), vec!["embeddi"]);
    }
}
