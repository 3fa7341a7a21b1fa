//! The tools' text output, in the reference implementation's formats (research/robotwtf.md
//! §2), so agents and prompts written for it read robot the same. Each function takes the
//! structured output the tool also returns, so the two never disagree.

use super::server::*;
use crate::error::Error;

fn short(rev: &str) -> &str {
    &rev[..rev.len().min(8)]
}

/// Front-matter keys as the reference shows them: `_` as space, title case.
fn key_label(k: &str) -> String {
    k.split(['_', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn read_note(o: &ReadNoteOut) -> String {
    let mut s = format!("# {}\nPath: {}\nRevision: {}\n", o.name, o.path, o.revision);
    if let Some(sec) = &o.section {
        s += &format!("Section: {sec}\n");
    }
    let meta: Vec<String> = o
        .metadata
        .iter()
        .filter(|(k, v)| k.as_str() != "title" && !v.is_empty())
        .map(|(k, v)| format!("{}: {v}", key_label(k)))
        .collect();
    if !meta.is_empty() {
        s += &format!("{}\n", meta.join(" | "));
    }
    if !o.links_to.is_empty() {
        s += &format!("Links to: {}\n", o.links_to.join(", "));
    }
    if !o.linked_from.is_empty() {
        s += &format!("Linked from: {}\n", o.linked_from.join(", "));
    }
    s += "\n---\n";
    s += &o.content;
    s
}

pub fn write_note(o: &WriteNoteOut) -> String {
    format!(
        "{} {} (revision: {})",
        if o.created { "Created" } else { "Updated" },
        o.path,
        short(&o.revision)
    )
}

pub fn edit_note(o: &WriteNoteOut) -> String {
    format!("Edited {} (revision: {})", o.path, short(&o.revision))
}

pub fn list_notes(o: &ListNotesOut, f: &ListNotes) -> String {
    let mut filters = Vec::new();
    for (k, v) in [
        ("prefix", &f.prefix),
        ("category", &f.category),
        ("tag", &f.tag),
    ] {
        if !v.is_empty() {
            filters.push(format!("{k}={v}"));
        }
    }
    if !f.updated_since.is_empty() {
        filters.push(format!("updated since {}", f.updated_since));
    }
    let mut s = format!(
        "Found {} notes{}:",
        o.total,
        if filters.is_empty() {
            String::new()
        } else {
            format!(" matching {}", filters.join(", "))
        }
    );
    for n in &o.notes {
        let mut meta = Vec::new();
        if let Some(c) = &n.category {
            meta.push(format!("category: {c}"));
        }
        if !n.tags.is_empty() {
            meta.push(format!("tags: {}", n.tags.join(", ")));
        }
        let meta = if meta.is_empty() {
            "no metadata".to_string()
        } else {
            meta.join(", ")
        };
        s += &format!("\n- {} ({meta}, {} words)", n.path, n.words);
    }
    s
}

pub fn search_notes(o: &SearchOut) -> String {
    let mut s = match &o.notice {
        Some(n) => format!("{n}\n"),
        None => String::new(),
    };
    s += &format!("{} results for \"{}\":", o.total, o.query);
    for (i, r) in o.results.iter().enumerate() {
        s += &format!(
            "\n{}. {} (score: {:.2})\n   {}",
            i + 1,
            r.path,
            r.score,
            r.snippet
        );
    }
    s
}

pub fn semantic_search(o: &SemanticOut) -> String {
    let mut s = format!("{} results for \"{}\":", o.total, o.query);
    for (i, r) in o.results.iter().enumerate() {
        s += &format!(
            "\n{}. {} (distance: {:.2}) [{}/{}] — {} words\n   Section: {}\n   {}",
            i + 1,
            r.path,
            r.distance,
            r.chunk_index + 1,
            r.total_chunks,
            r.page_word_count,
            r.section_path,
            r.text
        );
    }
    s
}

fn list_block(title: &str, items: &[String]) -> String {
    let mut s = format!("{title} ({}):", items.len());
    if items.is_empty() {
        s += "\n  (none)";
    }
    for i in items {
        s += &format!("\n  - {i}");
    }
    s
}

pub fn get_links(o: &LinksOut) -> String {
    format!(
        "Links for {}:\n{}\n{}",
        o.path,
        list_block("Links to", &o.links_to),
        list_block("Linked from", &o.linked_from)
    )
}

pub fn recent_changes(o: &ChangesOut) -> String {
    let mut s = format!("{} recent changes:", o.changes.len());
    for c in &o.changes {
        s += &format!(
            "\n- {} | {} | {}\n  {}",
            c.date,
            c.author,
            c.pages.join(", "),
            c.message
        );
    }
    s
}

pub fn history(o: &HistoryOut) -> String {
    if o.revisions.is_empty() {
        return format!("No history for {}.", o.path);
    }
    let mut s = format!("History for {} ({} revisions):", o.path, o.revisions.len());
    for c in &o.revisions {
        s += &format!(
            "\n- {} | {} | {}\n  {}",
            short(&c.revision),
            c.date,
            c.author,
            c.message
        );
    }
    s
}

pub fn rename(o: &RenameOut) -> String {
    let mut s = format!(
        "Renamed {} -> {} (revision: {})",
        o.from,
        o.to,
        short(&o.revision)
    );
    if o.updated_pages.is_empty() {
        s += "\nNo backreferences needed updating.";
    } else {
        s += &format!("\nUpdated {} backreferences:", o.updated_pages.len());
        for p in &o.updated_pages {
            s += &format!("\n  - {p}");
        }
    }
    s
}

pub fn orphans(o: &OrphansOut) -> String {
    if o.orphans.is_empty() {
        return "No orphaned notes found. All pages have at least one incoming link.".into();
    }
    let mut s = format!(
        "Found {} orphaned notes (no incoming links from any other page):",
        o.orphans.len()
    );
    for p in &o.orphans {
        s += &format!("\n- {p}");
    }
    s
}

pub fn attachments(o: &AttachmentsOut) -> String {
    let mut s = format!("Attachments for {} ({}):", o.path, o.attachments.len());
    if o.attachments.is_empty() {
        s += "\n  (no attachments)";
    }
    for a in &o.attachments {
        s += &format!("\n- {} ({} bytes, {})", a.filename, a.size, a.mime_type);
    }
    s
}

/// A failed call, as the reference words it (tool text, never a protocol error).
pub fn error(e: &Error, path: &str) -> String {
    match e {
        Error::NotFound(_) => format!(
            "Page not found: {path}. Use write_note to create it, or list_notes to see available pages."
        ),
        Error::Unauthorized => "Authentication failed. The API key may be misconfigured.".into(),
        Error::Forbidden(m) => format!("Permission denied: {m}"),
        Error::Conflict { message, .. } => format!(
            "Conflict: {message} Read the page again to get the current revision, then retry."
        ),
        Error::Invalid(m) | Error::BadRequest(m) => format!("Invalid request: {m}"),
        Error::Internal(_) => format!(
            "Wiki API error ({}): {}. The server may be restarting. Try again in a few seconds.",
            e.status().as_u16(),
            e.public_message()
        ),
        other => format!(
            "Wiki API error ({}): {}",
            other.status().as_u16(),
            other.public_message()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_formats() {
        assert_eq!(key_label("last_reviewed"), "Last Reviewed");
        let o = WriteNoteOut {
            path: "Notes/A".into(),
            revision: "0123456789abcdef".into(),
            created: true,
        };
        assert_eq!(write_note(&o), "Created Notes/A (revision: 01234567)");
        let l = LinksOut {
            path: "A".into(),
            links_to: vec!["B".into()],
            linked_from: vec![],
        };
        assert_eq!(
            get_links(&l),
            "Links for A:\nLinks to (1):\n  - B\nLinked from (0):\n  (none)"
        );
        assert_eq!(
            error(&Error::NotFound("x".into()), "Nope"),
            "Page not found: Nope. Use write_note to create it, or list_notes to see available pages."
        );
    }
}
