//! The HTML sanitiser on any text (a page's HTML is comrak's output plus whatever raw
//! HTML its author wrote): never panics; its tokenizer reads the input, and the output,
//! token for token as html5ever's (a browser's) does; and what it writes is a fixed
//! point: cleaning it again changes nothing, so it holds only allowed elements,
//! attributes and URLs, balanced and within the depth and attribute caps. Nothing that
//! switches a browser's tokenizer out of its data state survives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use robot::wiki::sanitize::{clean, tokenizer};

#[path = "../../src/wiki/sanitize/browser.rs"]
mod browser;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // A tag past the attribute cap is read as text on purpose; html5ever reads a tag.
    if let Some(ours) = tokenizer::describe(&text) {
        assert_eq!(ours, browser::describe(&text), "the input read differently");
    }
    let once = clean(&text).html;
    let ours = tokenizer::describe(&once).expect("no capped tag in the output");
    assert_eq!(ours, browser::describe(&once), "the output read differently");
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
