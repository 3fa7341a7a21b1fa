//! Issue 12: hostile pages and queries against the real server. Each payload that once
//! crashed the process, looped it for minutes or grew it to gigabytes is written through
//! every surface (REST, MCP, the web editor) and read back through every surface, while
//! another wiki keeps being served; then the server restarts with the poison pages in the
//! repository (some committed behind its back with plain git) and must start and serve.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::common::mcp::{call, connect, ok, text};
use crate::common::*;

const OWNER: &str = "did:plc:hostile-owner";

/// A 443-byte alias bomb: nine levels of nine references (9^9 leaves when expanded).
fn alias_bomb() -> String {
    let mut s = String::from("---\na0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    s.push_str("---\nalias bomb body\n");
    s
}

/// Each payload, with the unique word it carries (to find it by search) and whether the
/// page view must show a notice (a limit was applied).
fn payloads() -> Vec<(&'static str, String, bool)> {
    let near_limit = 999_000; // the page limit is 1,000,000 bytes
    let fill = |unit: &str, n: usize| unit.repeat(n / unit.len());
    vec![
        ("aliasbomb", alias_bomb(), true),
        (
            "nestedseq",
            format!("---\nk:\n  {}x\n---\nnestedseq\n", "- ".repeat(10_000)),
            true,
        ),
        (
            "deepquotes",
            format!("deepquotes\n\n{}", ">".repeat(20_000)),
            true,
        ),
        (
            "megaquotes",
            format!("megaquotes\n\n{}", ">".repeat(near_limit)),
            true,
        ),
        (
            "megadivs",
            format!("megadivs\n\n{}", fill("<div>", near_limit)),
            true,
        ),
        (
            "megalists",
            format!("megalists\n\n{}x", fill("- ", near_limit)),
            true,
        ),
        (
            "megaemphasis",
            format!(
                "megaemphasis\n\n{}",
                fill("*a **a ***a _a __a ", near_limit)
            ),
            false,
        ),
        (
            "megatable",
            format!(
                "megatable\n\n{}|\n{}|\n{}",
                "|a".repeat(5000),
                "|-".repeat(5000),
                fill("|x\n", 900_000)
            ),
            true,
        ),
    ]
}

/// Keeps asking another wiki for its home page until stopped; counts answers and
/// failures, to show one wiki's poison does not stop the others.
fn watch_other_wiki(s: &TestServer) -> (Arc<AtomicBool>, tokio::task::JoinHandle<(usize, usize)>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (c, url, stop2) = (
        s.client(),
        format!("{}/", s.wiki_url("bystander")),
        stop.clone(),
    );
    let handle = tokio::spawn(async move {
        let (ok, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
        while !stop2.load(Ordering::Relaxed) {
            match c.get(&url).send().await {
                Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                _ => failed.fetch_add(1, Ordering::Relaxed),
            };
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        (ok.into_inner(), failed.into_inner())
    });
    (stop, handle)
}

#[tokio::test]
async fn poison_pages_are_written_read_and_survive_a_restart() {
    let s = TestServer::start_with(|c| {
        c.limits.write_burst = 1000;
        c.limits.writes_per_minute = 1000;
    })
    .await;
    s.add_user(OWNER, "hostile.test");
    s.create_wiki("poison", OWNER, true);
    s.create_wiki("bystander", OWNER, true);
    let token = robot::access::tokens::regenerate(
        &s.state.db.conn().unwrap(),
        robot::db::wikis::by_slug(&s.state.db.conn().unwrap(), "poison")
            .unwrap()
            .unwrap()
            .id,
    )
    .unwrap();
    let bearer = format!("Bearer {token}");
    let (stop, watcher) = watch_other_wiki(&s);

    let web = s.client();
    s.login(&web, OWNER, Some("poison")).await;
    let mcp = connect(&s, "poison", &token).await;
    let base = s.wiki_url("poison");
    let api = s.client();

    for (word, content, notice) in payloads() {
        // Written through each surface under its own name.
        let rest_page = format!("Rest {word}");
        let r = api
            .put(format!("{base}/api/v1/pages/{rest_page}"))
            .header("authorization", &bearer)
            .json(&json!({ "content": content }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{word}: REST write {}", r.status());

        let mcp_page = format!("Mcp {word}");
        ok(
            &mcp,
            "write_note",
            json!({"path": mcp_page, "content": content}),
        )
        .await;

        let web_page = format!("Web {word}");
        let editor = web
            .get(format!("{base}/{web_page}/edit"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = attr(&editor, "data-csrf").expect("editor has a CSRF token");
        let preview = web
            .post(format!("{base}/{web_page}/preview"))
            .header("x-csrf-token", &csrf)
            .form(&[("csrf", csrf.as_str()), ("content", content.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(preview.status(), 200, "{word}: preview");
        let preview: Value = preview.json().await.unwrap();
        assert_eq!(
            !preview["notices"].as_array().unwrap().is_empty(),
            notice,
            "{word}: preview notices {}",
            preview["notices"]
        );
        let r = web
            .post(format!("{base}/{web_page}/save"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("base_revision", ""),
                ("content", content.as_str()),
                ("commit", "hostile"),
            ])
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success() || r.status().is_redirection(),
            "{word}: web save {}",
            r.status()
        );

        // Read back through every surface.
        for page in [&rest_page, &mcp_page, &web_page] {
            let view = web.get(format!("{base}/{page}")).send().await.unwrap();
            assert_eq!(view.status(), 200, "{page}: view");
            let html = view.text().await.unwrap();
            assert_eq!(
                html.contains("flash flash-error"),
                notice,
                "{page}: the page view shows a notice exactly when a limit applied"
            );
            let r = api
                .get(format!("{base}/api/v1/pages/{page}"))
                .header("authorization", &bearer)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{page}: REST read");
            let got: Value = r.json().await.unwrap();
            // Saved as written (a final newline added).
            assert_eq!(
                got["content"].as_str().map(|c| c.trim_end().len()),
                Some(content.trim_end().len()),
                "{page}: REST read returns the page"
            );
            let (_, out) = ok(&mcp, "read_note", json!({ "path": page })).await;
            assert!(out["content"].as_str().is_some(), "{page}: MCP read");
        }
        let r = web
            .get(format!("{base}/{rest_page}/source"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{word}: source view");
    }

    // Full-text search found every page by its word (the index survived each of them).
    for (word, _, _) in payloads() {
        let r: Value = api
            .get(format!("{base}/api/v1/search?q={word}"))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let found = r.to_string();
        for surface in ["Rest", "Mcp", "Web"] {
            assert!(
                found
                    .to_lowercase()
                    .contains(&format!("{surface} {word}").to_lowercase()),
                "search for {word} finds the {surface} page: {found}"
            );
        }
    }

    stop.store(true, Ordering::Relaxed);
    let (answered, failed) = watcher.await.unwrap();
    assert!(answered > 0, "the other wiki was served meanwhile");
    assert_eq!(failed, 0, "no request to the other wiki failed");
    let metrics = s
        .client()
        .get(format!("{}/metrics", s.root()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let degraded: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("robot_pages_degraded_total "))
        .expect("the degraded-page counter is on /metrics")
        .parse()
        .unwrap();
    assert!(degraded >= 1.0, "degraded pages are counted: {degraded}");
    drop(mcp);

    // Behind the server's back: the same poison committed with plain git.
    let repo = s.repo("poison");
    let dir = s.stop().await;
    let work = tempfile::tempdir().unwrap();
    git(work.path(), &["clone", "-q", repo.to_str().unwrap(), "w"]);
    let w = work.path().join("w");
    for (word, content, _) in payloads() {
        std::fs::write(w.join(format!("git {word}.md")), content).unwrap();
    }
    git(&w, &["add", "-A"]);
    git(
        &w,
        &[
            "-c",
            "user.name=outside",
            "-c",
            "user.email=o@example.org",
            "commit",
            "-qm",
            "poison behind the server's back",
        ],
    );
    git(&w, &["push", "-q", "origin", "HEAD"]);

    // It starts (start_in waits for /health), indexes and serves every page.
    let s = TestServer::start_in(dir, |_| {}).await;
    let c = s.client();
    let base = s.wiki_url("poison");
    for (word, _, notice) in payloads() {
        let r = c.get(format!("{base}/Git {word}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "git {word} after restart");
        assert_eq!(
            r.text().await.unwrap().contains("flash flash-error"),
            notice
        );
    }
    let r = c
        .get(format!("{base}/-/search?q=megaquotes"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("git megaquotes")
    );
    fsck(&s.repo("poison"));
}

#[tokio::test]
async fn huge_queries_are_refused_on_every_surface() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "hostile.test");
    let wiki = s.create_wiki("queries", OWNER, true);
    let token = robot::access::tokens::regenerate(&s.state.db.conn().unwrap(), wiki.id).unwrap();
    let base = s.wiki_url("queries");
    let c = s.client();
    let host = s.wiki_host("queries");
    // Twenty thousand distinct words, `+`-separated as a form encodes spaces (80 KB: sent
    // byte for byte, since URL libraries refuse a URI this long).
    let twenty_thousand: Vec<String> = (0..20_000).map(|i| format!("{i:x}")).collect();
    let twenty_thousand = twenty_thousand.join("+");
    let four_thousand: Vec<String> = (0..4_000).map(|i| format!("{i:x}")).collect();
    let four_thousand = four_thousand.join("+");
    let many_short: String = (0..200).map(|i| format!("t{i}+")).collect();
    for q in [&twenty_thousand, &four_thousand, &many_short] {
        // REST, anonymously on a public wiki, in both modes; the web search page in every
        // mode.
        let paths = [
            format!("/api/v1/search?q={q}"),
            format!("/api/v1/semantic-search?q={q}"),
            format!("/-/search?q={q}&mode=text"),
            format!("/-/search?q={q}&mode=semantic"),
            format!("/-/search?q={q}&mode=hybrid"),
        ];
        for path in &paths {
            let (status, body) = s.raw(&host, "GET", path, None, None).await;
            let what = &path[..path.find('?').unwrap()];
            if q.len() > 64 * 1024 && status == 414 {
                continue; // the HTTP layer refuses a URI this long before routing
            }
            assert_eq!(status, 400, "{what} ({} bytes)", q.len());
            assert!(body.contains("at most"), "{what}: says why");
        }
    }
    // MCP, both search tools: a tool error that says why.
    let mcp = connect(&s, "queries", &token).await;
    let twenty_thousand = twenty_thousand.replace('+', " ");
    for tool in ["search_notes", "semantic_search"] {
        let r = call(&mcp, tool, json!({ "query": twenty_thousand })).await;
        assert_eq!(r.is_error, Some(true), "{tool}");
        assert!(text(&r).contains("at most"), "{tool}: {}", text(&r));
    }
    // Repeated words fold into one: a long query of one word is fine.
    let r = c
        .get(format!("{base}/api/v1/search"))
        .query(&[("q", "home ".repeat(90).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Issue 12: preview was not rate limited (45 of 45 answered while the same address got
/// 429 on writes). It renders, so it counts like the save it leads to.
#[tokio::test]
async fn preview_counts_against_the_write_rate_limit() {
    let s = TestServer::start_with(|c| {
        c.limits.write_burst = 3;
        c.limits.writes_per_minute = 1;
    })
    .await;
    s.add_user(OWNER, "hostile.test");
    s.create_wiki("limited", OWNER, false);
    let web = s.client();
    s.login(&web, OWNER, Some("limited")).await;
    let base = s.wiki_url("limited");
    let editor = web
        .get(format!("{base}/Home/edit"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = attr(&editor, "data-csrf").unwrap();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = web
            .post(format!("{base}/Home/preview"))
            .header("x-csrf-token", &csrf)
            .form(&[("csrf", csrf.as_str()), ("content", "# Hi")])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
}
