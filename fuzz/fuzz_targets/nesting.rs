//! The Markdown nesting cap on any text. It only ever inserts a backslash before each
//! marker past the cap (and nothing else), so taking those back out gives the input byte
//! for byte, an input left alone comes back borrowed, and the output is within the caps
//! (a second pass changes nothing). The HTML caps are the `sanitize` target's.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use robot::wiki::nesting::cap_markdown;

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
});
