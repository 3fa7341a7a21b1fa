//! Page names, attachment names and links on any text. The first line is tried as a page
//! name, an attachment name, a pushed file's path and a pushed ref update, the whole input
//! as a page's Markdown.
#![no_main]

use libfuzzer_sys::fuzz_target;
use robot::wiki::links::{outgoing, parse_wikilink, rewrite, target_path};
use robot::wiki::names::{PageName, attachment_name};
use robot::wiki::push::rules::{RefUpdate, check_path};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let first = text.split('\n').next().unwrap_or("");

    if let Ok(name) = PageName::parse(first) {
        let s = name.as_str();
        // What parse promises: nothing that could address something other than a page.
        assert!(!s.is_empty());
        assert!(!s.starts_with('/') && !s.ends_with('/'), "{s:?}");
        assert!(!s.contains(".."), "{s:?}");
        assert!(!s.chars().any(|c| c.is_control()), "{s:?}");
        assert!(!s.contains(['?', '|', '$', '.', '!', '#', '\\']), "{s:?}");
        for seg in s.split('/') {
            assert!(
                !seg.is_empty() && seg.trim() == seg,
                "segment {seg:?} of {s:?}"
            );
            assert!(!seg.eq_ignore_ascii_case(".git"));
        }
        assert!(name.file_path().ends_with(".md"));
        assert_eq!(name.dir_path() + ".md", name.file_path());
        let url = name.url();
        let decoded = percent_encoding::percent_decode_str(&url)
            .decode_utf8()
            .unwrap();
        assert_eq!(
            decoded,
            format!("/{s}"),
            "the URL does not decode to the name"
        );
        // A name is a fixed point: parsing it again gives the same page.
        let again = PageName::parse(&name.to_string())
            .unwrap_or_else(|e| panic!("{s:?} (from {first:?}) does not parse again: {e}"));
        assert_eq!(
            again.file_path(),
            name.file_path(),
            "{first:?} parses to {s:?}, which parses to {:?}",
            again.as_str()
        );
        let _ = name.leaf();
    }

    if let Ok(a) = attachment_name(first) {
        assert!(!a.is_empty() && a.len() <= 150, "{a:?}");
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c)),
            "{a:?}"
        );
        assert!(
            !a.starts_with(['.', '_']) && !a.ends_with(['.', '_']),
            "{a:?}"
        );
        assert!(!a.to_ascii_lowercase().ends_with(".md"));
        assert_eq!(
            attachment_name(&a).ok().as_deref(),
            Some(a.as_str()),
            "not a fixed point"
        );
    }

    if let Some(p) = target_path(first) {
        assert!(p.ends_with(".md"));
        assert_eq!(p, p.to_lowercase());
    }
    let (left, right) = match first.split_once('|') {
        Some((l, r)) => (l, Some(r)),
        None => (first, None),
    };
    let link = parse_wikilink(left, right);
    let _ = target_path(link.target);
    let _ = link.text;

    let links = outgoing(&text, |p| p.len() % 2 == 0);
    for (i, p) in links.iter().enumerate() {
        assert!(p.ends_with(".md"), "{p:?}");
        assert!(!links[..i].contains(p), "{p:?} twice");
    }
    let old = PageName::parse(first).unwrap_or_else(|_| PageName::parse("Fuzz/Page").unwrap());
    let new = PageName::parse("Renamed/Somewhere Else").unwrap();
    if old.file_path() != new.file_path() {
        let _ = rewrite(&text, &old, &new);
    }

    // A pushed path that passes is one the wiki itself could have written.
    if check_path(first).is_ok() {
        assert!(!first.split('/').any(|seg| seg.is_empty()
            || seg == ".."
            || seg.to_ascii_lowercase().starts_with(".git")), "{first:?}");
        match first.strip_suffix(".md") {
            Some(stem) => {
                let name = PageName::parse(stem).expect("a pushed page has a name");
                assert_eq!(name.file_path(), first.to_lowercase());
            }
            None => {
                let (dir, leaf) = first.rsplit_once('/').expect("attachments live in a folder");
                assert_eq!(PageName::parse(dir).unwrap().dir_path(), dir.to_lowercase());
                assert_eq!(attachment_name(leaf).unwrap(), leaf);
            }
        }
    }
    if let Some(u) = RefUpdate::parse(first) {
        assert!(first.starts_with(&u.name) || first.contains(&u.name));
    }
});
