//! Semantic search end to end, with the real model: a page saved in the browser is found
//! by meaning; the REST shapes and errors; the queue's retry after an embedder failure;
//! reconciliation after a commit made with plain `git` and after a process killed between
//! a commit and its queue entry; the CLI; and robot without a model.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use robot::search::embed::{Embed, Embedder};
use robot::search::semantic::Semantic;
use serde_json::Value;

use crate::common::*;

const OWNER: &str = "did:plc:owner";
const WHISKERS: &str = "# Whiskers\n\nWhiskers is our tabby cat. She dozes on the warm windowsill \
                        every afternoon and purrs when someone strokes her.\n";
/// Shares no word with the page: only meaning can find it.
const WHISKERS_QUERY: &str = "feline napping in sunshine";

/// Polls `probe` until it yields a value, for at most `secs` seconds.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn token_for(s: &TestServer, slug: &str) -> String {
    let conn = s.state.db.conn().unwrap();
    let w = robot::db::wikis::by_slug(&conn, slug).unwrap().unwrap();
    robot::access::tokens::regenerate(&conn, w.id).unwrap()
}

async fn api(s: &TestServer, token: &str, method: &str, path: &str) -> (StatusCode, Value) {
    let url = format!("{}{path}", s.wiki_url("notes"));
    let c = s.client();
    let req = match method {
        "POST" => c.post(url),
        _ => c.get(url),
    };
    let r = req.bearer_auth(token).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The page names a semantic query returns, best first.
async fn semantic_names(s: &TestServer, token: &str, q: &str) -> Vec<String> {
    let (st, body) = api(
        s,
        token,
        "GET",
        &format!("/api/v1/semantic-search?q={}&n=5", urlencode(q)),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

async fn ready(s: &TestServer) -> (StatusCode, Value) {
    let r = s
        .client()
        .get(format!("{}/health/ready", s.root()))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

fn urlencode(s: &str) -> String {
    robot::http::urlencode(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_saved_in_the_browser_is_found_by_meaning() {
    let s = TestServer::start_semantic().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("notes", OWNER, false);
    let c = s.client();
    s.login(&c, OWNER, Some("notes")).await;
    let base = s.wiki_url("notes");
    let html = c
        .get(format!("{base}/Whiskers/edit"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = attr(&html, "data-csrf").unwrap();
    let base_rev = input_value(&html, "base_revision").unwrap_or_default();
    let r = c
        .post(format!("{base}/Whiskers/save"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("base_revision", base_rev.as_str()),
            ("content", WHISKERS),
            ("commit", "About the cat"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    // Full text cannot find it: not one word of the query is on the page.
    let search = |mode: &'static str| {
        let c = c.clone();
        let url = format!(
            "{base}/-/search?q={}{}",
            urlencode(WHISKERS_QUERY),
            if mode.is_empty() {
                String::new()
            } else {
                format!("&mode={mode}")
            }
        );
        async move {
            let r = c.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let text = search("text").await;
    assert!(text.contains("0 results"), "full text finds nothing");
    // By meaning it is the first result, once the worker has embedded it.
    let first_result = |html: &str| {
        html.split("<ol class=\"search-results\"")
            .nth(1)
            .and_then(|t| t.split("class=\"result-title\" href=\"").nth(1))
            .map(|t| t.split('"').next().unwrap().to_string())
    };
    let semantic = eventually(30, "the page to be found by meaning", || {
        let f = search("semantic");
        async move { Some(f.await).filter(|h| first_result(h).as_deref() == Some("/Whiskers")) }
    })
    .await;
    assert!(
        semantic.contains("similarity"),
        "semantic results show how close they are"
    );
    // Hybrid is the default mode while the model is on, and finds it too.
    let hybrid = search("").await;
    assert!(
        hybrid.contains("value=\"hybrid\" checked"),
        "hybrid is the default"
    );
    assert_eq!(first_result(&hybrid).as_deref(), Some("/Whiskers"));
    assert!(hybrid.contains("matches meaning"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_has_the_reference_shape_reindex_and_status() {
    let s = TestServer::start_semantic().await;
    s.add_user(OWNER, "owner.test");
    let wiki = s.create_wiki("notes", OWNER, false);
    let token = token_for(&s, "notes");
    let body = "# Sourdough\n\n## Starter\n\nFeed the starter with flour and water every day \
                until it doubles and smells sour.\n";
    let author = robot::wiki::store::Author::robot();
    let w2 = wiki.clone();
    s.state
        .wikis
        .run(move |w| {
            let name = robot::wiki::names::PageName::parse("Baking/Sourdough")?;
            w.save_page(&w2, &author, &name, body, None, "bread")
                .map(|_| ())
        })
        .await
        .unwrap();
    let names = eventually(30, "the page to be indexed", || {
        let (s, t) = (&s, &token);
        async move {
            let names = semantic_names(s, t, "making bread at home").await;
            names.first().filter(|n| *n == "Baking/Sourdough").cloned()
        }
    })
    .await;
    assert_eq!(names, "Baking/Sourdough");
    let (st, b) = api(
        &s,
        &token,
        "GET",
        "/api/v1/semantic-search?q=making%20bread&n=3&max_chunks_per_page=1",
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(b["query"], "making bread");
    let hit = &b["results"][0];
    assert_eq!(hit["name"], "Baking/Sourdough");
    assert_eq!(hit["path"], "Baking/Sourdough");
    assert_eq!(hit["section_path"], "Baking/Sourdough");
    assert!(
        hit["text"]
            .as_str()
            .unwrap()
            .starts_with("[Baking/Sourdough] # Sourdough"),
        "{hit}"
    );
    assert!(!hit["snippet"].as_str().unwrap().starts_with('['));
    let d = hit["distance"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&d), "distance = 1 - cosine: {d}");
    for key in ["chunk_index", "total_chunks", "page_word_count", "section"] {
        assert!(hit.get(key).is_some(), "{key} in {hit}");
    }
    assert!(b["results"].as_array().unwrap().len() <= 3);
    assert_eq!(b["total"], b["results"].as_array().unwrap().len());
    // The reference's validation errors.
    for (q, msg) in [
        ("/api/v1/semantic-search", "Missing required parameter: q"),
        ("/api/v1/semantic-search?q=x&n=0", "n must be"),
        ("/api/v1/semantic-search?q=x&n=51", "n must be"),
        (
            "/api/v1/semantic-search?q=x&max_chunks_per_page=6",
            "max_chunks_per_page must be",
        ),
    ] {
        let (st, b) = api(&s, &token, "GET", q).await;
        assert_eq!(st, 422, "{q}");
        assert!(b["error"].as_str().unwrap().contains(msg), "{q}: {b}");
    }
    // Reindex queues every page and the status follows it to completion.
    let (st, b) = api(&s, &token, "POST", "/api/v1/reindex").await;
    assert_eq!(st, 202, "{b}");
    assert_eq!(b["status"], "started");
    let pages = b["pages_queued"].as_u64().unwrap();
    assert!(pages >= 2, "{b}");
    let status = eventually(60, "the reindex to complete", || {
        let (s, t) = (&s, &token);
        async move {
            let (_, b) = api(s, t, "GET", "/api/v1/reindex/status").await;
            Some(b).filter(|b| b["status"] == "complete")
        }
    })
    .await;
    assert_eq!(status["pending"], 0);
    assert_eq!(status["pages_indexed"].as_u64().unwrap(), pages);
    assert_eq!(status["indexed_commit"], status["head"]);
    // A reader without credentials is refused like every other API call.
    let r = s
        .client()
        .get(format!(
            "{}/api/v1/semantic-search?q=bread",
            s.wiki_url("notes")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Health shows the model and the worker.
    let (st, ready) = ready(&s).await;
    assert_eq!(st, 200);
    assert_eq!(ready["semantic_search"]["enabled"], true);
    assert!(
        ready["semantic_search"]["worker"]["chunks_embedded"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_everything_else_works_and_says_so() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("notes", OWNER, false);
    assert!(!s.state.semantic.enabled());
    let reason = s.state.semantic.off_reason().unwrap().to_string();
    assert!(reason.contains("scripts/fetch-model.sh"), "{reason}");
    let (st, ready) = ready(&s).await;
    assert_eq!(st, 200, "off is not unready: {ready}");
    assert_eq!(ready["semantic_search"]["enabled"], false);
    assert!(
        ready["semantic_search"]["message"]
            .as_str()
            .unwrap()
            .contains("fetch-model")
    );
    let token = token_for(&s, "notes");
    for (method, path) in [
        ("GET", "/api/v1/semantic-search?q=anything"),
        ("POST", "/api/v1/reindex"),
    ] {
        let (st, b) = api(&s, &token, method, path).await;
        assert_eq!(st, 503, "{path}: {b}");
        assert!(
            b["error"]
                .as_str()
                .unwrap()
                .contains("semantic search is off")
        );
    }
    let (_, status) = api(&s, &token, "GET", "/api/v1/reindex/status").await;
    assert_eq!(status["status"], "off");
    // The search page says so and answers with full text.
    let c = s.client();
    s.login(&c, OWNER, Some("notes")).await;
    let html = c
        .get(format!(
            "{}/-/search?q=home&mode=semantic",
            s.wiki_url("notes")
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Search by meaning is off"), "{html}");
    assert!(html.contains("value=\"text\" checked"));
    assert!(
        html.contains("href=\"/Home\""),
        "full-text results still come"
    );
}

/// The real model behind a switch that fails the first `failures` calls.
struct Flaky {
    inner: Embedder,
    failures: AtomicUsize,
}

impl Embed for Flaky {
    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            anyhow::bail!("injected failure: model unavailable");
        }
        self.inner.embed(texts)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_is_retried_with_backoff_and_stays_visible() {
    // The server's own worker is off (no model configured); this test drives one with
    // an embedder that fails once.
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    let wiki = s.create_wiki("notes", OWNER, false);
    let flaky = Flaky {
        inner: Embedder::load(&model_dir(), 2).unwrap(),
        failures: AtomicUsize::new(1),
    };
    let sem = Semantic::new(
        s.state.wikis.clone(),
        s.state.indexes.clone(),
        Some(Arc::new(flaky)),
        None,
    );
    let (sem2, w2) = (sem.clone(), wiki.clone());
    let queued = tokio::task::spawn_blocking(move || sem2.request_reindex(&w2))
        .await
        .unwrap()
        .unwrap();
    assert!(queued >= 2);
    let step = |sem: &Semantic| {
        let (sem, id) = (sem.clone(), wiki.id);
        async move {
            tokio::task::spawn_blocking(move || sem.step(Some(id)))
                .await
                .unwrap()
                .unwrap()
        }
    };
    let r = step(&sem).await;
    assert_eq!((r.pages, r.failed, r.chunks), (queued, queued, 0), "{r:?}");
    let status = sem.status(&wiki).unwrap();
    assert_eq!(status.status, "error");
    assert!(status.error_message.unwrap().contains("injected failure"));
    assert_eq!(status.pages_indexed, 0, "nothing half-written");
    // Visible to the operator.
    let (_, ready) = ready(&s).await;
    assert_eq!(ready["queue"]["failing"].as_u64().unwrap() as usize, queued);
    // Backing off: nothing is due right away.
    assert_eq!(step(&sem).await.pages, 0);
    let next: i64 = s
        .state
        .db
        .conn()
        .unwrap()
        .query_row("SELECT MIN(next_attempt_at) FROM reindex_queue", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(next > robot::db::now(), "retry scheduled in the future");
    // Once due (moved forward here rather than slept for), the retry succeeds.
    s.state
        .db
        .conn()
        .unwrap()
        .execute("UPDATE reindex_queue SET next_attempt_at = 0", [])
        .unwrap();
    let mut done = 0;
    loop {
        let r = step(&sem).await;
        if r.pages == 0 {
            break;
        }
        assert_eq!(r.failed, 0);
        done += r.pages;
    }
    assert_eq!(done, queued);
    let status = sem.status(&wiki).unwrap();
    assert_eq!((status.status, status.pending), ("complete", 0));
    let (sem2, w2) = (sem.clone(), wiki.clone());
    let hits = tokio::task::spawn_blocking(move || sem2.search(&w2, "how to use this wiki", 3, 1))
        .await
        .unwrap()
        .unwrap();
    assert!(!hits.is_empty());
}

fn git_in(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "outsider")
        .env("GIT_AUTHOR_EMAIL", "outsider@example.org")
        .env("GIT_COMMITTER_NAME", "outsider")
        .env("GIT_COMMITTER_EMAIL", "outsider@example.org")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_made_with_plain_git_is_found() {
    let s = TestServer::start_semantic().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("notes", OWNER, false);
    let token = token_for(&s, "notes");
    let repo = s.repo("notes");
    let work = tempfile::tempdir().unwrap();
    let repo2 = repo.clone();
    let wd = work.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        git_in(&wd, &["clone", "-q", repo2.to_str().unwrap(), "w"]);
        let w = wd.join("w");
        std::fs::write(
            w.join("Gardening.md"),
            "# Gardening\n\nTomatoes need six hours of sun, deep watering twice a week and a \
             stake to climb.\n",
        )
        .unwrap();
        git_in(&w, &["add", "."]);
        git_in(&w, &["commit", "-q", "-m", "behind robot's back"]);
        git_in(&w, &["push", "-q", "origin", "HEAD:main"]);
    })
    .await
    .unwrap();
    eventually(30, "the outside commit to be indexed", || {
        let (s, t) = (&s, &token);
        async move {
            let names = semantic_names(s, t, "growing vegetables in the backyard").await;
            names.first().filter(|n| *n == "Gardening").cloned()
        }
    })
    .await;
    fsck(&repo);
}

/// A push through robot's own git endpoint that renames one page and deletes another:
/// the semantic index follows both (issue 14).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_renames_and_deletes_is_followed_by_meaning() {
    let s = TestServer::start_semantic().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("notes", OWNER, false);
    let token = token_for(&s, "notes");
    for (page, text) in [
        ("Whiskers", WHISKERS),
        (
            "Gardening",
            "# Gardening\n\nTomatoes need six hours of sun, deep watering twice a week and a \
             stake to climb.\n",
        ),
    ] {
        let r = s
            .client()
            .put(format!("{}/api/v1/pages/{page}", s.wiki_url("notes")))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "content": text }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    eventually(30, "both pages to be indexed", || {
        let (s, t) = (&s, &token);
        async move {
            let names = semantic_names(s, t, WHISKERS_QUERY).await;
            names.first().filter(|n| *n == "Whiskers").cloned()
        }
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let (wd, port, t2) = (work.path().to_path_buf(), s.addr.port(), token.clone());
    tokio::task::spawn_blocking(move || {
        let resolve = format!("http.curloptResolve=notes.localhost:{port}:127.0.0.1");
        let url = format!("http://x:{t2}@notes.localhost:{port}/repo.git");
        git_in(&wd, &["-c", &resolve, "clone", "-q", &url, "w"]);
        let w = wd.join("w");
        git_in(&w, &["mv", "whiskers.md", "our cat.md"]);
        std::fs::write(
            w.join("our cat.md"),
            WHISKERS.replace("# Whiskers", "# Our Cat"),
        )
        .unwrap();
        git_in(&w, &["rm", "-q", "gardening.md"]);
        git_in(&w, &["add", "-A"]);
        git_in(&w, &["commit", "-q", "-m", "rename and delete"]);
        git_in(&w, &["-c", &resolve, "push", "-q", "origin", "main"]);
    })
    .await
    .unwrap();
    eventually(30, "the renamed page to be found by meaning", || {
        let (s, t) = (&s, &token);
        async move {
            let names = semantic_names(s, t, WHISKERS_QUERY).await;
            (names.first().map(String::as_str) == Some("Our Cat")).then_some(names)
        }
    })
    .await;
    let names = semantic_names(&s, &token, WHISKERS_QUERY).await;
    assert!(!names.contains(&"Whiskers".to_string()), "{names:?}");
    let garden = semantic_names(&s, &token, "growing vegetables in the backyard").await;
    assert!(!garden.contains(&"Gardening".to_string()), "{garden:?}");
    fsck(&s.repo("notes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_between_commit_and_enqueue_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let robot = |args: &[&str], crash: bool| {
        let mut cmd = robot_command(&data, dir.path(), args);
        if crash {
            cmd.env("ROBOT_FAULT_CRASH_AFTER_COMMIT", "1");
        }
        cmd.output().unwrap()
    };
    assert!(
        robot(
            &["user", "add", "--did", OWNER, "--handle", "owner.test"],
            false
        )
        .status
        .success()
    );
    assert!(
        robot(&["wiki", "create", "notes", "--owner", OWNER], false)
            .status
            .success()
    );
    let import = dir.path().join("import");
    std::fs::create_dir_all(&import).unwrap();
    std::fs::write(
        import.join("Astronomy.md"),
        "# Astronomy\n\nJupiter has dozens of moons; the four largest were seen by Galileo \
         through a small telescope in 1610.\n",
    )
    .unwrap();
    let out = robot(&["wiki", "import", "notes", import.to_str().unwrap()], true);
    assert!(!out.status.success(), "the process died after committing");
    let repo = data.join("wikis/notes/repo.git");
    assert!(
        ls_files(&repo).contains(&"astronomy.md".to_string())
            || ls_files(&repo).contains(&"Astronomy.md".to_string()),
        "the commit landed"
    );
    let queued: i64 = rusqlite::Connection::open(data.join("robot.db"))
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM reindex_queue WHERE path LIKE '%stronomy.md'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(queued, 0, "…but its queue entry never did");
    // Restarted with the model, robot notices and indexes it.
    let s = TestServer::start_in(dir, |c| {
        c.data_dir = data.clone();
        c.search.model_dir = Some(model_dir());
    })
    .await;
    let token = token_for(&s, "notes");
    eventually(30, "the crashed write to be indexed", || {
        let (s, t) = (&s, &token);
        async move {
            let names = semantic_names(s, t, "planets and their satellites").await;
            names.first().filter(|n| *n == "Astronomy").cloned()
        }
    })
    .await;
    fsck(&s.repo("notes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_reindex_embeds_every_page_and_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let robot = |args: &[&str], model: bool| {
        let mut cmd = robot_command(&data, dir.path(), args);
        if model {
            cmd.env("ROBOT_MODEL_DIR", model_dir());
        }
        cmd.output().unwrap()
    };
    assert!(
        robot(
            &["user", "add", "--did", OWNER, "--handle", "owner.test"],
            false
        )
        .status
        .success()
    );
    assert!(
        robot(&["wiki", "create", "notes", "--owner", OWNER], false)
            .status
            .success()
    );
    assert!(
        robot(&["wiki", "create", "other", "--owner", OWNER], false)
            .status
            .success()
    );
    let out = robot(&["reindex", "notes"], true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("reindexed") && stdout.contains("of 1 wiki"),
        "{stdout}"
    );
    assert!(stdout.contains("pages/s"), "{stdout}");
    let chunks: i64 = rusqlite::Connection::open(data.join("wikis/notes/index/vectors.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM chunks", [], |r| r.get(0))
        .unwrap();
    assert!(chunks > 0);
    let out = robot(&["reindex", "--all"], true);
    assert!(String::from_utf8_lossy(&out.stdout).contains("of 2 wiki"));
    // Clear errors: no target, an unknown wiki, no model.
    let out = robot(&["reindex"], true);
    assert!(!out.status.success());
    let out = robot(&["reindex", "nope-wiki"], true);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no wiki"));
    let out = robot(&["reindex", "notes"], false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("fetch-model.sh"));
}

/// The restore drill (issue 17): a wiki whose pages are embedded is backed up, restored
/// into an empty data directory and served again. Semantic search answers at once, with
/// the same results, and nothing is embedded again: the backup carried the index, with
/// the commit it reflects and the model that made it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_wiki_searches_by_meaning_at_once_with_nothing_embedded() {
    let s = TestServer::start_semantic().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("notes", OWNER, false);
    s.commit_outside(
        "notes",
        &[
            ("whiskers.md", WHISKERS),
            (
                "garden.md",
                "# Garden\n\nTomatoes and runner beans climb the fence all summer long.\n",
            ),
        ],
    );
    let token = token_for(&s, "notes");
    // Wait until the cat is found and the queue is empty: every page is embedded.
    let before = eventually(120, "every page embedded", || {
        let (s, token) = (&s, &token);
        async move {
            let names = semantic_names(s, token, WHISKERS_QUERY).await;
            let (_, r) = ready(s).await;
            let idle = r["queue"]["items"].as_u64() == Some(0);
            (idle && names.first().map(String::as_str) == Some("Whiskers")).then_some(names)
        }
    })
    .await;
    let garden_before = semantic_names(&s, &token, "vegetables growing outdoors").await;

    let cfg = (*s.state.cfg).clone();
    let backups = tempfile::tempdir().unwrap();
    let to = backups.path().to_path_buf();
    let dir = tokio::task::spawn_blocking(move || {
        robot::ops::backup::backup(
            &cfg,
            &robot::ops::backup::BackupOptions {
                to,
                include_keys: false,
                without_indexes: false,
                keep: 1,
            },
        )
    })
    .await
    .unwrap()
    .unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("MANIFEST.json")).unwrap()).unwrap();
    let entry = &manifest["wikis"][0];
    assert_eq!(entry["index"]["commit"], entry["head"], "{manifest}");
    assert!(
        entry["index"]["model"]
            .as_str()
            .unwrap()
            .starts_with("all-MiniLM-L6-v2:"),
        "{manifest}"
    );
    drop(s.stop().await);

    // An empty data directory, restored, then served.
    let fresh = tempfile::tempdir().unwrap();
    let mut cfg = robot::config::Config {
        data_dir: fresh.path().join("data"),
        ..robot::config::Config::default()
    };
    cfg.search.model_dir = Some(model_dir());
    let restored = robot::ops::backup::restore(&cfg, &dir).unwrap();
    assert!(restored.wikis[0].index.is_some());
    let s = TestServer::start_in(fresh, |c| c.search.model_dir = Some(model_dir())).await;
    let token = token_for(&s, "notes");
    assert_eq!(semantic_names(&s, &token, WHISKERS_QUERY).await, before);
    assert_eq!(
        semantic_names(&s, &token, "vegetables growing outdoors").await,
        garden_before
    );
    // Given time to do anything, the worker embeds nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, r) = ready(&s).await;
    assert_eq!(r["queue"]["items"], 0, "{r}");
    assert_eq!(r["semantic_search"]["worker"]["chunks_embedded"], 0, "{r}");
}
