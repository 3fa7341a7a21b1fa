//! Full-text search: BM25 ranking, highlighted snippets, kept current by every write and
//! reconciled with commits made behind the server's back.

use crate::common::*;

const OWNER: &str = "did:plc:owner";

#[tokio::test]
async fn search_ranks_highlights_and_follows_writes() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("notes", OWNER, true);
    let c = s.client();
    s.login(&c, OWNER, Some("notes")).await;
    let csrf = s.csrf(&c, &format!("{}/", s.wiki_url("notes"))).await;
    for (page, body) in [
        ("Zebra Habitats", "Where zebras live: grasslands."),
        (
            "Savanna",
            "Lions, elephants and a zebra or two <b>bold</b>.",
        ),
        ("Unrelated", "Nothing about stripes."),
    ] {
        let r = c
            .post(format!(
                "{}/{}/save",
                s.wiki_url("notes"),
                page.replace(' ', "%20")
            ))
            .form(&[
                ("csrf", csrf.as_str()),
                ("base_revision", ""),
                ("content", &format!("# {page}\n\n{body}\n")),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
    }
    let anon = s.client();
    let html = anon
        .get(format!("{}/-/search?q=zebra", s.wiki_url("notes")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Only the results list (the sidebar lists every page too).
    let html = html
        .split("class=\"search-results\"")
        .nth(1)
        .unwrap()
        .to_string();
    let first = html.find("/Zebra%20Habitats").expect("title match found");
    let second = html.find("/Savanna").expect("body match found");
    assert!(first < second, "a title match ranks above a body match");
    assert!(!html.contains("/Unrelated\""));
    assert!(html.contains("<mark>zebra</mark>"), "highlighted snippet");
    assert!(
        html.contains("&lt;b&gt;bold&lt;/b&gt;"),
        "snippet text is escaped"
    );
    // Stemming and the Otterwiki path form.
    let html = anon
        .get(format!("{}/-/search/zebras", s.wiki_url("notes")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("/Savanna"));
    // FTS syntax in a query is inert.
    let r = anon
        .get(format!(
            "{}/-/search?q=%22unbalanced%20AND%20NEAR(",
            s.wiki_url("notes")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A deleted page leaves the index.
    c.post(format!("{}/Savanna/delete", s.wiki_url("notes")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let html = anon
        .get(format!("{}/-/search?q=lions", s.wiki_url("notes")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("0 results"), "{html}");
}

#[tokio::test]
async fn outside_commits_are_reconciled() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("notes", OWNER, true);
    // Commit with plain git behind the server's back.
    s.commit_outside(
        "notes",
        &[("outside.md", "# Outside\n\nA quokka appeared.\n")],
    );
    let anon = s.client();
    // Pages follow HEAD at once.
    assert_eq!(
        anon.get(format!("{}/Outside", s.wiki_url("notes")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // And so does search (reconciled before querying).
    let html = anon
        .get(format!("{}/-/search?q=quokka", s.wiki_url("notes")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("/Outside"), "{html}");

    // A stale index after a restart is caught up at start: simulate by rewinding its state.
    s.state
        .db
        .conn()
        .unwrap()
        .execute("UPDATE fts_state SET commit_id = 'deadbeef'", [])
        .unwrap();
    s.state
        .db
        .conn()
        .unwrap()
        .execute("DELETE FROM pages_fts", [])
        .unwrap();
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, |_| {}).await;
    let n: i64 = s
        .state
        .db
        .conn()
        .unwrap()
        .query_row("SELECT COUNT(*) FROM pages_fts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        n, 6,
        "five template pages and the outside page, re-indexed at start"
    );
}

/// Every write path puts the pages it changed on the reindex queue, once per page.
#[tokio::test]
async fn every_write_path_enqueues_changed_pages() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    let wiki = s.create_wiki("notes", OWNER, false);
    let c = s.client();
    s.login(&c, OWNER, Some("notes")).await;
    let csrf = s.csrf(&c, &format!("{}/", s.wiki_url("notes"))).await;
    let queued = || -> Vec<String> {
        let conn = s.state.db.conn().unwrap();
        let mut stmt = conn
            .prepare("SELECT path FROM reindex_queue WHERE wiki_id = ?1 ORDER BY path")
            .unwrap();
        stmt.query_map([wiki.id], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    let clear = || {
        s.state
            .db
            .conn()
            .unwrap()
            .execute("DELETE FROM reindex_queue", [])
            .unwrap()
    };
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let c = c.clone();
        let url = format!("{}{path}", s.wiki_url("notes"));
        async move {
            c.post(url)
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Web save (twice: one row).
    for text in ["one\n", "two\n"] {
        assert_eq!(
            post(
                "/Alpha/save".into(),
                vec![
                    ("csrf", csrf.clone()),
                    ("base_revision", String::new()),
                    ("content", text.into())
                ]
            )
            .await,
            if text == "one\n" { 303 } else { 409 }
        );
    }
    assert_eq!(queued(), vec!["alpha.md"]);
    clear();
    // Rename with a backlink rewrite: both ends and the linking page.
    post(
        "/Beta/save".into(),
        vec![
            ("csrf", csrf.clone()),
            ("base_revision", String::new()),
            ("content", "[[Alpha]]\n".into()),
        ],
    )
    .await;
    clear();
    assert_eq!(
        post(
            "/Alpha/rename".into(),
            vec![
                ("csrf", csrf.clone()),
                ("new_pagename", "Gamma".into()),
                ("update_backlinks", "y".into())
            ]
        )
        .await,
        303
    );
    assert_eq!(queued(), vec!["alpha.md", "beta.md", "gamma.md"]);
    clear();
    // Delete, then revert the delete.
    assert_eq!(
        post("/Beta/delete".into(), vec![("csrf", csrf.clone())]).await,
        303
    );
    assert_eq!(queued(), vec!["beta.md"]);
    clear();
    let head = git(&s.repo("notes"), &["rev-parse", "main"])
        .trim()
        .to_string();
    assert_eq!(
        post(format!("/-/revert/{head}"), vec![("csrf", csrf.clone())]).await,
        303
    );
    assert_eq!(queued(), vec!["beta.md"]);
    clear();
    // An attachment changes no page; the REST API and a wiki token enqueue like the web.
    let part = reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("f.txt");
    c.post(format!("{}/Gamma/attachments", s.wiki_url("notes")))
        .multipart(
            reqwest::multipart::Form::new()
                .text("csrf", csrf.clone())
                .part("file", part),
        )
        .send()
        .await
        .unwrap();
    assert!(queued().is_empty());
    let token = robot::access::tokens::regenerate(&s.state.db.conn().unwrap(), wiki.id).unwrap();
    let r = c
        .put(format!("{}/api/v1/pages/Delta", s.wiki_url("notes")))
        .header("authorization", format!("Bearer {token}"))
        .json(&serde_json::json!({"content": "# Delta\n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(queued(), vec!["delta.md"]);
}
