//! Search queries on any text: the limits, the words, and the FTS5 query made of them,
//! which must always be valid FTS5 (run against an in-memory index like the real one).
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use robot::search::{fts, query};

thread_local! {
    static DB: RefCell<rusqlite::Connection> = RefCell::new({
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE fts_docs (id INTEGER PRIMARY KEY, wiki_id INTEGER NOT NULL, path TEXT NOT NULL);
             CREATE VIRTUAL TABLE pages_fts USING fts5(wiki, title, body, tokenize = 'porter unicode61');
             INSERT INTO fts_docs VALUES (1, 1, 'home.md'), (2, 1, 'notes/vector search.md');
             INSERT INTO pages_fts (rowid, wiki, title, body) VALUES
               (1, 'w1', 'Home', 'Welcome to the wiki. Ünïcode straße 東京 test'),
               (2, 'w1', 'Vector Search', 'Embeddings and \"quoted\" text, AND OR NOT NEAR');",
        )
        .unwrap();
        c
    });
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let words = query::terms(&text);
    for (i, w) in words.iter().enumerate() {
        assert!(!w.is_empty());
        assert!(!words[..i].contains(w), "{w:?} twice");
    }
    let ok = query::check(&text).is_ok();
    if ok {
        assert!(text.len() <= query::MAX_QUERY_BYTES);
        assert!(words.len() <= query::MAX_TERMS);
    }
    if let Some(q) = fts::to_fts_query(&text) {
        assert_eq!(q.matches('"').count() % 2, 0, "unbalanced quotes: {q:?}");
        // Outside the quoted terms only the separators and the prefix star.
        let mut quoted = false;
        for c in q.chars() {
            if c == '"' {
                quoted = !quoted;
            } else if !quoted {
                assert!(c == ' ' || c == '*', "{c:?} outside quotes in {q:?}");
            }
        }
    }
    if ok {
        DB.with(|db| {
            if let Err(e) = fts::search(&db.borrow(), 1, &text, 10, 0) {
                panic!("search failed for a query within the limits: {e} ({text:?})");
            }
        });
    }
});
