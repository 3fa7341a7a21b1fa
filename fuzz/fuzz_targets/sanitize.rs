//! The HTML sanitiser on any text (a page's HTML is comrak's output plus whatever raw
//! HTML its author wrote): never panics, and what it writes is a fixed point: cleaning it
//! again changes nothing, so it holds only allowed elements, attributes and URLs, balanced
//! and within the depth and attribute caps. Nothing that switches a browser's tokenizer
//! out of its data state survives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use robot::wiki::sanitize::clean;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let once = clean(&text).html;
    let twice = clean(&once);
    assert_eq!(twice.html, once, "cleaning the output changed it");
    assert!(!twice.capped, "the output is past a cap");
    let lower = once.to_ascii_lowercase();
    for banned in [
        "<script",
        "<style",
        "<svg",
        "<math",
        "<iframe",
        "<textarea",
        "<!--",
    ] {
        assert!(!lower.contains(banned), "{banned} in the output: {once}");
    }
});
