//! What survives the process dying: `kill -9` in the middle of a burst of concurrent
//! writes loses no acknowledged write, leaves every repository `git fsck`-clean, and the
//! search indexes catch up after restart; SIGTERM (`systemctl stop`) stops accepting,
//! finishes the requests in flight and exits cleanly. Both run the real binary.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

const OWNER: &str = "did:plc:durable";

/// A data directory with one wiki, `notes`, and its access token (made by the CLI).
fn provision(data: &Path) -> String {
    robot_ok(data, &["init"]);
    robot_ok(
        data,
        &["user", "add", "--did", OWNER, "--handle", "durable.test"],
    );
    robot_ok(data, &["wiki", "create", "notes", "--owner", OWNER]);
    robot_ok(data, &["wiki", "token", "notes"])
}

async fn put_page(
    c: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    content: &str,
) -> Result<u16, reqwest::Error> {
    let r = c
        .put(format!("{base}/api/v1/pages/{name}"))
        .bearer_auth(token)
        .json(&json!({ "content": content }))
        .send()
        .await?;
    Ok(r.status().as_u16())
}

async fn get_json(c: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let r = c.get(url).bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_concurrent_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("robot.log");
    let token = provision(&data);
    let model = model_dir();
    let model = model.to_str().unwrap();
    let env = [
        ("ROBOT_SEMANTIC", "true"),
        ("ROBOT_MODEL_DIR", model),
        ("ROBOT_EMBED_THREADS", "1"),
        ("ROBOT_WRITES_PER_MINUTE", "100000"),
        ("ROBOT_WRITE_BURST", "100000"),
    ];
    let mut server = ServerProcess::start(&data, &log, "info", &env).await;
    let base = server.wiki_url("notes");

    // Eight writers create pages as fast as the server acknowledges them; each page
    // carries a word found nowhere else, so full-text search can be asked for it.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..8 {
        let (acked, base, token) = (acked.clone(), base.clone(), token.clone());
        writers.push(tokio::spawn(async move {
            let c = browser_client();
            for i in 0.. {
                let (name, word) = (format!("burst/w{w}-{i}"), format!("zq{w}x{i}marker"));
                let content = format!("# Writer {w}, page {i}\n\nThe unique word is {word}.\n");
                match put_page(&c, &base, &token, &name, &content).await {
                    Ok(201) => acked.lock().unwrap().push((name, word)),
                    Ok(status) => panic!("unexpected {status} before the kill"),
                    Err(_) => return, // the server is gone: this write was not acknowledged
                }
            }
        }));
    }
    // Kill it once the burst is well under way, in the middle of writes.
    while acked.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill9();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    // The repository is intact before robot touches it again.
    fsck(&data.join("wikis/notes/repo.git"));
    // The kill can land while git holds the branch's lock; make sure it did.
    std::fs::write(data.join("wikis/notes/repo.git/refs/heads/main.lock"), b"").unwrap();

    let server = ServerProcess::start(&data, &log, "info", &env).await;
    let base = server.wiki_url("notes");
    let c = browser_client();
    let repo = server.repo("notes");
    let files = ls_files(&repo);
    for (name, word) in &acked {
        assert!(
            files.contains(&format!("{name}.md")),
            "{name} lost: {files:?}"
        );
        let (st, page) = get_json(&c, &format!("{base}/api/v1/pages/{name}"), &token).await;
        assert_eq!(st, 200, "{name}");
        assert!(page["content"].as_str().unwrap().contains(word), "{page}");
    }
    // Writes work after the restart: the leftover lock was cleared.
    assert_eq!(
        put_page(
            &c,
            &base,
            &token,
            "after/restart",
            "# After\n\nStill writable.\n"
        )
        .await
        .unwrap(),
        201
    );
    fsck(&repo);

    // Full-text search finds every acknowledged page by its unique word.
    for (name, word) in &acked {
        let (_, r) = get_json(&c, &format!("{base}/api/v1/search?q={word}"), &token).await;
        let found = r["results"][0]["path"].as_str().unwrap_or("");
        assert_eq!(found.to_lowercase(), *name, "full text for {word}: {r}");
    }
    // The semantic index catches up with HEAD: every page indexed, nothing pending.
    let pages = files.iter().filter(|f| f.ends_with(".md")).count() as u64 + 1;
    let mut status = Value::Null;
    for _ in 0..1200 {
        status = get_json(&c, &format!("{base}/api/v1/reindex/status"), &token)
            .await
            .1;
        if status["status"] == "complete" && status["indexed_commit"] == status["head"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status["status"], "complete", "{status}");
    assert_eq!(status["pages_indexed"].as_u64(), Some(pages), "{status}");
    let (name, _) = &acked[acked.len() / 2];
    let (_, r) = get_json(
        &c,
        &format!(
            "{base}/api/v1/semantic-search?q={}&n=50",
            name.replace('/', "%2F")
        ),
        &token,
    )
    .await;
    assert!(
        r["results"].as_array().is_some_and(|a| !a.is_empty()),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_requests_in_flight_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("robot.log");
    let token = provision(&data);
    let env = [
        ("ROBOT_WRITES_PER_MINUTE", "100000"),
        ("ROBOT_WRITE_BURST", "100000"),
    ];
    let mut server = ServerProcess::start(&data, &log, "info", &env).await;
    let base = server.wiki_url("notes");

    // Twenty writes in flight at once, then SIGTERM while they are being served.
    let c = browser_client();
    let mut writes = Vec::new();
    for i in 0..20 {
        let (c, base, token) = (c.clone(), base.clone(), token.clone());
        writes.push(tokio::spawn(async move {
            let content = format!("# Drain {i}\n\n{}\n", "words ".repeat(2000));
            put_page(&c, &base, &token, &format!("drain/p{i}"), &content).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "exit status {status}");

    // Every request that got an answer got a whole one, and every 201 is in git.
    let files = ls_files(&data.join("wikis/notes/repo.git"));
    let mut answered = 0;
    for (i, w) in writes.into_iter().enumerate() {
        match w.await.unwrap() {
            Ok(201) => {
                answered += 1;
                assert!(
                    files.contains(&format!("drain/p{i}.md")),
                    "P{i} acknowledged but lost"
                );
            }
            Ok(other) => panic!("P{i}: {other}"),
            Err(_) => {} // refused after the listener closed: not acknowledged
        }
    }
    assert!(
        answered > 0,
        "the requests in flight were drained, not dropped"
    );
    fsck(&data.join("wikis/notes/repo.git"));
    // New connections are refused once it has stopped.
    assert!(c.get(format!("{base}/health")).send().await.is_err());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("shutting down") || log.contains("stopped"),
        "{log}"
    );
}
