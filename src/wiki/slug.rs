//! Wiki slugs: the subdomain label naming a wiki (and its owner's username). Rules and
//! reserved names as robot.wtf had them, so existing names stay valid.

use crate::error::{Error, Result};

/// Names that never resolve to a wiki: infrastructure hosts and words users could be
/// misled by.
pub const RESERVED: &[&str] = &[
    "admin",
    "api",
    "app",
    "assets",
    "auth",
    "billing",
    "blog",
    "dev",
    "docs",
    "ftp",
    "git",
    "help",
    "imap",
    "mail",
    "mcp",
    "ns",
    "ns1",
    "ns2",
    "null",
    "pop",
    "smtp",
    "ssh",
    "static",
    "status",
    "support",
    "undefined",
    "user",
    "vpn",
    "wiki",
    "www",
];

/// Validates a slug: 3–30 characters of lowercase letters, digits and inner hyphens, not
/// reserved. Messages match the reference implementation's.
pub fn validate(input: &str) -> Result<String> {
    let s = input.trim();
    let err = |m: &str| Err(Error::Invalid(m.to_string()));
    if s.is_empty() {
        return err("slug is required");
    }
    if s.chars().any(|c| c.is_ascii_uppercase()) {
        return err("slug must be lowercase");
    }
    if s.chars().count() < 3 {
        return err("slug must be at least 3 characters");
    }
    if s.chars().count() > 30 {
        return err("slug must be at most 30 characters");
    }
    if s.starts_with('-') || s.ends_with('-') {
        return err("slug must not start or end with a hyphen");
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return err("slug must contain only lowercase letters, digits, and hyphens");
    }
    if RESERVED.contains(&s) {
        return err("slug is reserved");
    }
    Ok(s.to_string())
}

/// The username suggested for a handle: its first label, reduced to slug characters,
/// padded with "wiki" when short; empty when that would be reserved.
pub fn suggest_from_handle(handle: &str) -> String {
    let first = handle
        .trim()
        .trim_start_matches('@')
        .split('.')
        .next()
        .unwrap_or("");
    let mut s: String = first
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect();
    s = s.trim_matches('-').to_string();
    if s.len() < 3 {
        s.push_str("wiki");
    }
    s.truncate(30);
    let s = s.trim_matches('-').to_string();
    if RESERVED.contains(&s.as_str()) {
        String::new()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rules() {
        assert_eq!(validate("notes").unwrap(), "notes");
        assert_eq!(validate("a-b--c").unwrap(), "a-b--c");
        for (bad, msg) in [
            ("", "slug is required"),
            ("Notes", "slug must be lowercase"),
            ("ab", "slug must be at least 3 characters"),
            (&"a".repeat(31), "slug must be at most 30 characters"),
            ("-abc", "slug must not start or end with a hyphen"),
            (
                "a_bc",
                "slug must contain only lowercase letters, digits, and hyphens",
            ),
            ("www", "slug is reserved"),
        ] {
            match validate(bad) {
                Err(Error::Invalid(m)) => assert_eq!(m, msg, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn suggestions_from_handles() {
        assert_eq!(suggest_from_handle("@Alice.bsky.social"), "alice");
        assert_eq!(suggest_from_handle("jo.example.com"), "jowiki");
        assert_eq!(suggest_from_handle("www.example.com"), "");
        assert_eq!(suggest_from_handle("a_b-c.test"), "ab-c");
    }
}
