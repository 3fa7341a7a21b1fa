//! Front matter splitting on any page text: never panics, and the body is always the
//! tail of the page.
#![no_main]

use libfuzzer_sys::fuzz_target;
use robot::wiki::front_matter::{self, FrontMatter};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (fm, body) = front_matter::split(&text);
    // A suffix by position, not just by content: the body is a slice of the input's end.
    let start = body.as_ptr() as usize - text.as_ptr() as usize;
    assert_eq!(
        start + body.len(),
        text.len(),
        "the body is not the input's tail"
    );
    assert_eq!(front_matter::body(&text), body);
    match &fm {
        FrontMatter::None => assert_eq!(body.len(), text.len(), "no front matter, yet cut"),
        FrontMatter::Read(_) | FrontMatter::Refused(_) => {
            assert!(
                text.starts_with("---"),
                "front matter without the opening ---"
            );
            assert!(body.len() < text.len());
        }
    }
    for p in fm.properties() {
        let _ = p.value.display();
        assert!(fm.get(&p.key).is_some());
    }
    assert_eq!(fm.notice().is_some(), matches!(fm, FrontMatter::Refused(_)));
});
