//! Footnotes numbered as Otterwiki numbers them, so links into an imported page's notes
//! keep working: note N is `#fn-N` (notes counted in the order they are first referred
//! to), reference R is `#fnref-R` (every reference on the page counted in order), and a
//! note referred to more than once links back to each reference as a, b, … z, aa, ab….
//! comrak would name both by the note's label (`#fn-bignote`, `#fnref-bignote-2`).
//!
//! Runs on the parsed tree, after comrak has matched references to notes and moved the
//! notes to the end of the page: each reference and note becomes HTML written here (the
//! note's own blocks stay Markdown nodes), inside one `section.footnotes`.

use std::collections::HashMap;
use std::fmt::Write;

use comrak::Arena;
use comrak::nodes::{AstNode, NodeHtmlBlock, NodeValue};

/// Rewrites the page's footnote references `refs` and notes `defs` (both in document
/// order) with Otterwiki's numbering.
pub fn number_as_otterwiki<'a>(
    arena: &'a Arena<'a>,
    refs: &[&'a AstNode<'a>],
    defs: &[&'a AstNode<'a>],
) {
    // Each note's number and the numbers of the references to it.
    let mut notes: HashMap<String, (u32, Vec<usize>)> = HashMap::new();
    for (i, node) in refs.iter().enumerate() {
        let reference = i + 1;
        let (label, note) = match &node.data().value {
            NodeValue::FootnoteReference(f) => (f.name.to_lowercase(), f.ix),
            _ => continue,
        };
        notes
            .entry(label)
            .or_insert((note, Vec::new()))
            .1
            .push(reference);
        let html = format!(
            "<sup class=\"footnote-ref\" id=\"fnref-{reference}\"><a href=\"#fn-{note}\">{note}</a></sup>"
        );
        node.insert_before(arena.alloc(NodeValue::HtmlInline(html).into()));
        node.detach();
    }
    let block = |html: String| {
        arena.alloc(
            NodeValue::HtmlBlock(NodeHtmlBlock {
                block_type: 6,
                literal: html,
            })
            .into(),
        )
    };
    let (Some(first), Some(last)) = (defs.first(), defs.last()) else {
        return;
    };
    first.insert_before(block("<section class=\"footnotes\">\n<ol>\n".into()));
    last.insert_after(block("</ol>\n</section>\n".into()));
    for def in defs {
        let label = match &def.data().value {
            NodeValue::FootnoteDefinition(f) => f.name.to_lowercase(),
            _ => continue,
        };
        let Some((note, references)) = notes.get(&label) else {
            def.detach();
            continue;
        };
        let back = back_links(references);
        def.insert_before(block(format!("<li id=\"fn-{note}\">\n")));
        // The links back open the note's first paragraph, as in Otterwiki.
        match def.first_child() {
            Some(p) if matches!(p.data().value, NodeValue::Paragraph) => {
                p.prepend(arena.alloc(NodeValue::HtmlInline(back).into()));
            }
            _ => def.insert_before(block(format!("<p>{back}</p>\n"))),
        }
        for child in def.children().collect::<Vec<_>>() {
            child.detach();
            def.insert_before(child);
        }
        def.insert_before(block("</li>\n".into()));
        def.detach();
    }
}

/// `↑` to the one reference, or `↑ a, b, c` to each of several.
fn back_links(references: &[usize]) -> String {
    let link =
        |r: usize, text: &str| format!("<a href=\"#fnref-{r}\" class=\"footnote\">{text}</a>");
    if let [only] = references {
        return format!("{} ", link(*only, "↑"));
    }
    let mut out = String::from("↑ ");
    for (i, r) in references.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}", link(*r, &letters(i)));
    }
    out.push(' ');
    out
}

/// 0 → a, 25 → z, 26 → aa, 27 → ab: Otterwiki's labels for a note's references.
fn letters(mut i: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_lettered_as_in_otterwiki() {
        assert_eq!(letters(0), "a");
        assert_eq!(letters(25), "z");
        assert_eq!(letters(26), "aa");
        assert_eq!(letters(27), "ab");
        assert_eq!(letters(26 + 26 * 26), "aaa");
    }
}
