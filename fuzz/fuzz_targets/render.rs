//! The Markdown renderer on any page text: never panics, and nothing it outputs can run
//! script (`<script` never survives the sanitiser).
#![no_main]

use libfuzzer_sys::fuzz_target;
use robot::wiki::names::PageName;

/// The stack of the blocking pool the server renders on (tokio's default, 2 MiB), so a
/// recursion that fits libFuzzer's main thread but not the server's is found here.
const STACK: usize = 2 * 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let html = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            let page = PageName::parse("Fuzz/Page").unwrap();
            let out = robot::wiki::markdown::render(&text, &page, &|p: &str| p.len() % 2 == 0);
            out.html
        })
        .unwrap()
        .join()
        // A panic on the thread was already printed; re-raise it so libFuzzer records it.
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "script in the rendered HTML: {html}"
    );
});
