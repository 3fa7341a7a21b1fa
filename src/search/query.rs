//! The limits every search query is held to, on every surface (web, REST, MCP) and in
//! every mode (full text, meaning, hybrid): a length cap, a cap on distinct words, and
//! repeated words folded into one. Without them a query of twenty thousand words took
//! minutes of SQLite time, asked anonymously of a public wiki.

use crate::error::{Error, Result};

/// The longest query, in bytes.
pub const MAX_QUERY_BYTES: usize = 500;
/// The most distinct words one query may look for.
pub const MAX_TERMS: usize = 32;

/// The query's words as the full-text index sees them (alphanumeric runs, lowercased),
/// each once, in first-seen order.
pub fn terms(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in query.split(|c: char| !c.is_alphanumeric()) {
        if w.is_empty() {
            continue;
        }
        let w = w.to_lowercase();
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// Refuses a query over the limits, with the reason a person can act on.
pub fn check(query: &str) -> Result<()> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(Error::BadRequest(format!(
            "The query is too long: at most {MAX_QUERY_BYTES} characters."
        )));
    }
    // At most MAX_QUERY_BYTES / 2 words fit, so this count is cheap.
    if terms(query).len() > MAX_TERMS {
        return Err(Error::BadRequest(format!(
            "The query has too many words: at most {MAX_TERMS} different ones."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_words_fold_and_limits_hold() {
        assert_eq!(terms("Vector vector VECTOR, search"), ["vector", "search"]);
        assert!(check(&"a ".repeat(250)).is_ok(), "one distinct word");
        assert!(check(&"a".repeat(MAX_QUERY_BYTES + 1)).is_err());
        let many: Vec<String> = (0..=MAX_TERMS).map(|i| format!("w{i}")).collect();
        assert!(check(&many.join(" ")).is_err());
        assert!(check(&many[..MAX_TERMS].join(" ")).is_ok());
        assert!(check("").is_ok());
    }
}
