//! Page names, file paths and identifiers, following Otterwiki's conventions so an
//! Otterwiki repository is a valid robot wiki and back: page `Folder/Two Words` is the file
//! `folder/two words.md`; its attachments live in `folder/two words/`.

use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// Longest page name accepted, in bytes (file systems cap a segment at 255).
pub const MAX_NAME_BYTES: usize = 200;

/// A validated, sanitised page name such as `Folder/Two Words`. Its file path is the
/// lowercased name plus `.md`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct PageName(String);

impl PageName {
    /// Validates then sanitises user input. Input that could address something other
    /// than a page (`..`, `.git`, NUL, control characters, a leading `/`) is refused with a
    /// 400 rather than silently rewritten; the rest gets Otterwiki's sanitising.
    pub fn parse(input: &str) -> Result<PageName> {
        if input.is_empty() || input.trim().is_empty() {
            return Err(Error::BadRequest("the page name is empty".into()));
        }
        if input.len() > MAX_NAME_BYTES {
            return Err(Error::BadRequest(format!(
                "the page name is longer than {MAX_NAME_BYTES} bytes"
            )));
        }
        if input.chars().any(|c| c.is_control()) {
            return Err(Error::BadRequest(
                "the page name contains control characters".into(),
            ));
        }
        if input.starts_with('/') {
            return Err(Error::BadRequest("the page name starts with '/'".into()));
        }
        if input.contains("..") {
            return Err(Error::BadRequest("the page name contains '..'".into()));
        }
        if input
            .split('/')
            .any(|seg| seg.trim().eq_ignore_ascii_case(".git"))
        {
            return Err(Error::BadRequest(
                "the page name contains a .git segment".into(),
            ));
        }
        let name = sanitize(input);
        if name.is_empty() {
            return Err(Error::BadRequest(format!(
                "{input:?} has no characters left after removing ? | $ . ! # \\"
            )));
        }
        // NFKC can lengthen a name many times over (one U+FDFA is 33 bytes once expanded).
        if name.len() > MAX_NAME_BYTES {
            return Err(Error::BadRequest(format!(
                "the page name is longer than {MAX_NAME_BYTES} bytes once normalised"
            )));
        }
        Ok(PageName(name))
    }

    /// The page of a repository file path (`folder/two words.md`), titled as Otterwiki
    /// does when the page has no matching heading.
    pub fn from_path(path: &str) -> PageName {
        let stem = path.strip_suffix(".md").unwrap_or(path);
        PageName(
            stem.split('/')
                .map(title_case)
                .collect::<Vec<_>>()
                .join("/"),
        )
    }

    /// The same page with its last segment written as `leaf` (its heading, Otterwiki's
    /// displayed name: `faq.md` headed `# FAQ` is "FAQ"). Unchanged unless `leaf` is
    /// the same name in other letter case, so the page it names stays the same.
    pub fn with_leaf(self, leaf: &str) -> PageName {
        if leaf == self.leaf() || leaf.to_lowercase() != self.leaf().to_lowercase() {
            return self;
        }
        match self.0.rsplit_once('/') {
            Some((folder, _)) => PageName(format!("{folder}/{leaf}")),
            None => PageName(leaf.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `folder/two words.md`
    pub fn file_path(&self) -> String {
        format!("{}.md", self.0.to_lowercase())
    }

    /// `folder/two words`: where the page's attachments (and subpages) live.
    pub fn dir_path(&self) -> String {
        self.0.to_lowercase()
    }

    /// The last segment: `Two Words`.
    pub fn leaf(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The URL path of the page: `/Folder/Two%20Words`.
    pub fn url(&self) -> String {
        format!("/{}", url_path_encode(&self.0))
    }
}

impl std::fmt::Display for PageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Otterwiki's `sanitize_pagename`: NFKC, drop a trailing `.md`, remove `? | $ . ! # \`,
/// strip leading `-` and `/`, trim, collapse repeated and trailing slashes.
///
/// Unlike Otterwiki, the result is a fixed point (sanitising it again changes nothing), so
/// a page's name, and its URL, lead back to the same page: NFKC again after the removal
/// (`e.\u{301}` becomes `e\u{301}`, which composes to `é`), and leading `-`, `/` and
/// spaces are stripped in any order (` -a` would otherwise become `-a`, then `a`).
fn sanitize(input: &str) -> String {
    let mut s = nfkc(input);
    if s.to_ascii_lowercase().ends_with(".md") {
        s.truncate(s.len() - 3);
    }
    let removed: String = s.chars().filter(|c| !"?|$.!#\\".contains(*c)).collect();
    let s = nfkc(&removed);
    let s = s
        .trim_start_matches(|c: char| c == '-' || c == '/' || c.is_whitespace())
        .trim_end();
    s.split('/')
        .map(str::trim)
        .filter(|seg| !seg.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// NFKC, without its tables for ASCII (most names), which it leaves as it is.
fn nfkc(s: &str) -> String {
    if s.is_ascii() {
        s.to_string()
    } else {
        s.nfkc().collect()
    }
}

/// Python's `str.title()` as Otterwiki's `titleSs` uses it: a letter after a non-letter
/// (other than an apostrophe) is capitalised.
pub fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    for c in s.chars() {
        let start = match prev {
            None => true,
            Some(p) => !p.is_alphabetic() && p != '\'',
        };
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = Some(c);
    }
    out
}

/// Percent-encodes a page path for a URL, keeping `/` as the separator.
pub fn url_path_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// Heading anchors as Otterwiki makes them: NFKD to ASCII, lowercase, drop everything but
/// word characters, spaces and hyphens, then runs of spaces and hyphens become one `-`.
pub fn slugify(text: &str) -> String {
    let ascii: String = text.nfkd().filter(char::is_ascii).collect();
    let kept: String = ascii
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || c.is_whitespace())
        .collect::<String>()
        .trim()
        .to_lowercase();
    let mut out = String::with_capacity(kept.len());
    let mut dash = false;
    for c in kept.chars() {
        if c == '-' || c.is_whitespace() {
            dash = true;
        } else {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c);
        }
    }
    out
}

/// An attachment file name as werkzeug's `secure_filename` makes it: ASCII only, spaces
/// become `_`, nothing but letters, digits, `_`, `.` and `-`, no leading dots.
pub fn attachment_name(input: &str) -> Result<String> {
    // Bounded before any work: no usable name is longer than this before sanitising.
    if input.len() > 1024 {
        return Err(Error::BadRequest(
            "the file name is longer than 150 bytes".into(),
        ));
    }
    let ascii: String = input.nfkd().filter(char::is_ascii).collect();
    let spaced = ascii.replace(['/', '\\'], " ");
    let joined = spaced.split_whitespace().collect::<Vec<_>>().join("_");
    let kept: String = joined
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_.-".contains(*c))
        .collect();
    let name = kept.trim_matches(['.', '_']).to_string();
    if name.is_empty() {
        return Err(Error::BadRequest(format!(
            "{input:?} is not a usable file name"
        )));
    }
    if name.len() > 150 {
        return Err(Error::BadRequest(
            "the file name is longer than 150 bytes".into(),
        ));
    }
    if name.to_ascii_lowercase().ends_with(".md") {
        return Err(Error::BadRequest(
            "attachments cannot be .md files: those are pages".into(),
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_otterwiki_paths() {
        let p = PageName::parse("Folder/Two Words").unwrap();
        assert_eq!(p.file_path(), "folder/two words.md");
        assert_eq!(p.dir_path(), "folder/two words");
        assert_eq!(p.url(), "/Folder/Two%20Words");
        assert_eq!(p.leaf(), "Two Words");
        assert_eq!(
            PageName::from_path("folder/two words.md").as_str(),
            "Folder/Two Words"
        );
        assert_eq!(
            PageName::from_path("retrieval note 0000.md").as_str(),
            "Retrieval Note 0000"
        );
    }

    #[test]
    fn a_heading_in_other_case_names_the_page() {
        let p = PageName::from_path("examples/attachmentlist.md");
        let named = p.clone().with_leaf("AttachmentList");
        assert_eq!(named.as_str(), "Examples/AttachmentList");
        assert_eq!(named.file_path(), p.file_path(), "the same page");
        assert_eq!(
            PageName::from_path("faq.md").with_leaf("FAQ").as_str(),
            "FAQ"
        );
        assert_eq!(
            p.with_leaf("Something Else").as_str(),
            "Examples/Attachmentlist"
        );
    }

    #[test]
    fn sanitising_matches_otterwiki() {
        assert_eq!(
            PageName::parse("Hello?World!").unwrap().as_str(),
            "HelloWorld"
        );
        assert_eq!(PageName::parse("v1.2 notes").unwrap().as_str(), "v12 notes");
        assert_eq!(PageName::parse("Page.md").unwrap().as_str(), "Page");
        assert_eq!(PageName::parse("-Dash").unwrap().as_str(), "Dash");
        assert_eq!(PageName::parse("a//b/").unwrap().as_str(), "a/b");
        assert_eq!(PageName::parse(" a / b ").unwrap().as_str(), "a/b");
        // NFKC folds compatibility forms: the ligature "ﬁ" becomes "fi".
        assert_eq!(PageName::parse("ﬁle").unwrap().as_str(), "file");
    }

    #[test]
    fn dangerous_names_are_refused() {
        for bad in [
            "",
            "   ",
            "../etc/passwd",
            "a/../b",
            "/abs",
            "a\0b",
            "a\nb",
            ".git/config",
            "x/.GIT/y",
            "?!#",
            &"x".repeat(MAX_NAME_BYTES + 1),
        ] {
            assert!(
                matches!(PageName::parse(bad), Err(Error::BadRequest(_))),
                "{bad:?} should be refused"
            );
        }
    }

    /// Names that did not parse back to the same page: the first is the input the `names`
    /// fuzz target failed on (its first line), the others the other ways to it in the code.
    #[test]
    fn fuzz_regression_names_are_fixed_points() {
        for input in [
            &b" -a / b //c/\n"[..],
            "e.\u{301}".as_bytes(),
            " / -a".as_bytes(),
            "\u{fdfa}".repeat(12).as_bytes(),
        ] {
            let input = std::str::from_utf8(input).unwrap().trim_end_matches('\n');
            let Ok(name) = PageName::parse(input) else {
                continue;
            };
            assert!(name.as_str().len() <= MAX_NAME_BYTES, "{input:?}");
            let again = PageName::parse(name.as_str()).unwrap();
            assert_eq!(again, name, "{input:?}");
        }
        assert_eq!(PageName::parse(" -a / b //c/").unwrap().as_str(), "a/b/c");
        assert_eq!(PageName::parse("e.\u{301}").unwrap().as_str(), "\u{e9}");
        assert!(PageName::parse(&"\u{fdfa}".repeat(12)).is_err());
    }

    #[test]
    fn titles_follow_python_title() {
        assert_eq!(title_case("two words"), "Two Words");
        assert_eq!(title_case("don't panic"), "Don't Panic");
        assert_eq!(title_case("a-b c2d"), "A-B C2D");
    }

    #[test]
    fn heading_slugs() {
        assert_eq!(slugify("Hello, World!"), "hello-world");
        assert_eq!(slugify("  Ünïcode  Test -- x "), "unicode-test-x");
        assert_eq!(slugify("snake_case"), "snake_case");
    }

    #[test]
    fn attachment_names_are_secured() {
        assert_eq!(attachment_name("My File.PNG").unwrap(), "My_File.PNG");
        assert_eq!(attachment_name("../../etc/passwd").unwrap(), "etc_passwd");
        assert_eq!(attachment_name("résumé.pdf").unwrap(), "resume.pdf");
        assert!(attachment_name("...").is_err());
        assert!(attachment_name("page.md").is_err());
    }
}
