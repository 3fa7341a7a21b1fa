//! The nesting caps on any text. They only ever insert: `cap_markdown` a backslash before
//! each marker past the cap (and nothing else), `cap_html` `&lt;` for the `<` of each tag
//! shown as text and an empty `<span></span>` where it splits a long text run. So taking
//! those insertions back out gives the input byte for byte, an input left alone comes back
//! borrowed, and `cap_markdown`'s output is within the caps (a second pass changes nothing).
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use robot::wiki::nesting::{cap_html, cap_markdown};

const TEXT_SPLIT: &[u8] = b"<span></span>";

/// Whether `output` is `input` with only backslashes inserted.
fn only_backslashes_inserted(input: &[u8], output: &[u8]) -> bool {
    let mut i = 0;
    for &c in output {
        if i < input.len() && input[i] == c {
            i += 1;
        } else if c != b'\\' {
            return false;
        }
    }
    i == input.len()
}

/// Whether `output` is `input` with some `<` written `&lt;` and some `<span></span>`
/// inserted at points where the input does not have a `<`.
fn only_html_escapes_inserted(input: &[u8], output: &[u8]) -> bool {
    let (mut i, mut j) = (0, 0);
    while j < output.len() {
        let rest = &output[j..];
        if i < input.len() && input[i] == b'<' {
            // Either kept or escaped; a split is never placed right before a `<`.
            if rest[0] == b'<' {
                j += 1;
            } else if rest.starts_with(b"&lt;") {
                j += 4;
            } else {
                return false;
            }
            i += 1;
        } else if i < input.len() && input[i] == rest[0] {
            i += 1;
            j += 1;
        } else if rest.starts_with(TEXT_SPLIT) {
            j += TEXT_SPLIT.len();
        } else {
            return false;
        }
    }
    i == input.len()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    let (md, changed) = cap_markdown(&text);
    match &md {
        Cow::Borrowed(s) => {
            assert!(!changed, "borrowed but reported as changed");
            assert!(std::ptr::eq(*s, &*text), "borrowed output is not the input");
        }
        Cow::Owned(s) => {
            assert!(changed, "rewritten but reported as unchanged");
            assert!(s.len() > text.len(), "rewritten without inserting anything");
        }
    }
    assert!(
        only_backslashes_inserted(text.as_bytes(), md.as_bytes()),
        "cap_markdown did more than insert backslashes"
    );
    let (again, changed_again) = cap_markdown(&md);
    assert!(
        !changed_again && again == md,
        "cap_markdown's output is not within the caps"
    );

    let (html, cut) = cap_html(&text);
    match &html {
        Cow::Borrowed(s) => {
            assert!(!cut, "borrowed but reported as cut");
            assert!(std::ptr::eq(*s, &*text), "borrowed output is not the input");
        }
        Cow::Owned(s) => assert!(s.len() > text.len(), "rewritten without inserting anything"),
    }
    assert!(
        only_html_escapes_inserted(text.as_bytes(), html.as_bytes()),
        "cap_html did more than escape `<` and split text"
    );
});
