//! `git clone` over smart HTTP with the real git client: public and private wikis, tokens
//! as Basic password or Bearer, the wrong token, a push with the wiki token, shallow and partial clones,
//! protocol v0 and v2, fetch after new commits, a clone during writes, clone switched off.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;

const OWNER: &str = "did:plc:owner";

/// Runs git against the test server: `*.localhost` resolved to it, no prompts.
fn git_http(s: &TestServer, slug: &str, dir: &Path, args: &[&str]) -> Output {
    let resolve = format!("{slug}.localhost:{}:127.0.0.1", s.addr.port());
    Command::new("git")
        .arg("-c")
        .arg(format!("http.curloptResolve={resolve}"))
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .output()
        .expect("run git")
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "git failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn url(s: &TestServer, slug: &str, creds: &str) -> String {
    format!("http://{creds}{slug}.localhost:{}/repo.git", s.addr.port())
}

#[tokio::test]
async fn clone_public_private_and_refusals() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.add_user("did:plc:other", "other.test");
    s.create_wiki("open", OWNER, true);
    let private = s.create_wiki("closed", OWNER, false);
    let other = s.create_wiki("elsewhere", "did:plc:other", false);
    let (token, other_token) = {
        let c = s.state.db.conn().unwrap();
        (
            robot::access::tokens::regenerate(&c, private.id).unwrap(),
            robot::access::tokens::regenerate(&c, other.id).unwrap(),
        )
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = std::sync::Arc::new(s);
    // git blocks; run it off the runtime so the server keeps answering.
    let run = |slug: &str, args: Vec<String>| {
        let (s, slug, dir) = (s.clone(), slug.to_string(), t.to_path_buf());
        async move {
            tokio::task::spawn_blocking(move || {
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                git_http(&s, &slug, &dir, &a)
            })
            .await
            .unwrap()
        }
    };

    // Public: anonymous clone, protocol v2 and v0.
    let o = run(
        "open",
        vec![
            "-c".into(),
            "protocol.version=2".into(),
            "clone".into(),
            "-q".into(),
            url(&s, "open", ""),
            "open-v2".into(),
        ],
    )
    .await;
    ok(&o);
    let o = run(
        "open",
        vec![
            "-c".into(),
            "protocol.version=0".into(),
            "clone".into(),
            "-q".into(),
            url(&s, "open", ""),
            "open-v0".into(),
        ],
    )
    .await;
    ok(&o);
    assert!(t.join("open-v2/home.md").exists() && t.join("open-v0/getting started.md").exists());
    assert_eq!(
        git(&t.join("open-v2"), &["rev-parse", "HEAD"]),
        git(&s.repo("open"), &["rev-parse", "main"])
    );

    // Private: refused without credentials (401 + Basic challenge), with another wiki's
    // token (403) and with a wrong token (401); accepted with the token as the password
    // (any user name) or as a Bearer header.
    let (status, raw) = s
        .raw(
            &s.wiki_host("closed"),
            "GET",
            "/repo.git/info/refs?service=git-upload-pack",
            None,
            None,
        )
        .await;
    assert_eq!(status, 401);
    assert!(
        raw.to_lowercase()
            .contains("www-authenticate: basic realm=\"closed\""),
        "{raw}"
    );
    let o = run(
        "closed",
        vec![
            "clone".into(),
            "-q".into(),
            url(&s, "closed", ""),
            "x1".into(),
        ],
    )
    .await;
    assert!(!o.status.success() && !t.join("x1").exists());
    let o = run(
        "closed",
        vec![
            "clone".into(),
            "-q".into(),
            url(&s, "closed", &format!("anyone:{other_token}@")),
            "x2".into(),
        ],
    )
    .await;
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(
        "closed",
        vec![
            "clone".into(),
            "-q".into(),
            url(&s, "closed", "x:rwt_wrong@"),
            "x3".into(),
        ],
    )
    .await;
    assert!(!o.status.success());
    let o = run(
        "closed",
        vec![
            "clone".into(),
            "-q".into(),
            url(&s, "closed", &format!("whoever:{token}@")),
            "closed-basic".into(),
        ],
    )
    .await;
    ok(&o);
    let o = run(
        "closed",
        vec![
            "-c".into(),
            format!("http.extraHeader=Authorization: Bearer {token}"),
            "clone".into(),
            "-q".into(),
            url(&s, "closed", ""),
            "closed-bearer".into(),
        ],
    )
    .await;
    ok(&o);
    fsck(&t.join("closed-basic"));

    // The wiki token is an editor's credential: its push goes in (tests/git_push.rs
    // covers pushing in full).
    let work = t.join("closed-basic");
    std::fs::write(work.join("pushed.md"), "# Pushed\n").unwrap();
    git(&work, &["add", "."]);
    git(
        &work,
        &[
            "-c",
            "user.name=x",
            "-c",
            "user.email=x@y",
            "commit",
            "-qm",
            "push attempt",
        ],
    );
    let o = run(
        "closed",
        vec![
            "-C".into(),
            work.to_string_lossy().into(),
            "push".into(),
            "-q".into(),
            "origin".into(),
            "main".into(),
        ],
    )
    .await;
    ok(&o);
    assert_eq!(
        git(&s.repo("closed"), &["rev-parse", "main"]),
        git(&work, &["rev-parse", "HEAD"])
    );

    // Shallow and partial clones.
    let o = run(
        "open",
        vec![
            "clone".into(),
            "-q".into(),
            "--depth".into(),
            "1".into(),
            url(&s, "open", ""),
            "shallow".into(),
        ],
    )
    .await;
    ok(&o);
    assert_eq!(
        git(&t.join("shallow"), &["rev-list", "--count", "HEAD"]).trim(),
        "1"
    );
    let o = run(
        "open",
        vec![
            "clone".into(),
            "-q".into(),
            "--filter=blob:none".into(),
            url(&s, "open", ""),
            "partial".into(),
        ],
    )
    .await;
    ok(&o);
    assert!(t.join("partial/home.md").exists());

    // Clone switched off: 404, no challenge.
    s.state
        .db
        .conn()
        .unwrap()
        .execute("UPDATE wikis SET git_clone = 0 WHERE slug = 'open'", [])
        .unwrap();
    let (status, raw) = s
        .raw(
            &s.wiki_host("open"),
            "GET",
            "/repo.git/info/refs?service=git-upload-pack",
            None,
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert!(!raw.to_lowercase().contains("www-authenticate"));
    // The Otterwiki path works too, and asks a pusher there for credentials as well.
    s.state
        .db
        .conn()
        .unwrap()
        .execute("UPDATE wikis SET git_clone = 1 WHERE slug = 'open'", [])
        .unwrap();
    let o = run(
        "open",
        vec![
            "clone".into(),
            "-q".into(),
            format!("http://open.localhost:{}/.git", s.addr.port()),
            "dotgit".into(),
        ],
    )
    .await;
    ok(&o);
    let (status, _) = s
        .raw(
            &s.wiki_host("open"),
            "GET",
            "/.git/info/refs?service=git-receive-pack",
            None,
            None,
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn fetch_after_new_commits_and_clone_during_writes() {
    let s = std::sync::Arc::new(TestServer::start().await);
    s.add_user(OWNER, "owner.test");
    let wiki = s.create_wiki("busy", OWNER, true);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().to_path_buf();
    let s1 = s.clone();
    let t1 = t.clone();
    let o = tokio::task::spawn_blocking(move || {
        git_http(
            &s1,
            "busy",
            &t1,
            &["clone", "-q", &url(&s1, "busy", ""), "c"],
        )
    })
    .await
    .unwrap();
    ok(&o);
    // New commits on the server, then fetch.
    let author = robot::wiki::store::Author::robot();
    let name = robot::wiki::names::PageName::parse("Fresh").unwrap();
    s.state
        .wikis
        .save_page(&wiki, &author, &name, "# Fresh\n", None, "add fresh")
        .unwrap();
    let (s1, t1) = (s.clone(), t.clone());
    let o = tokio::task::spawn_blocking(move || {
        git_http(&s1, "busy", &t1.join("c"), &["pull", "-q", "--ff-only"])
    })
    .await
    .unwrap();
    ok(&o);
    assert!(t.join("c/fresh.md").exists());

    // Clones while pages are being written: every clone is a consistent snapshot.
    let writer = {
        let s = s.clone();
        let wiki = wiki.clone();
        std::thread::spawn(move || {
            for i in 0..40 {
                let name = robot::wiki::names::PageName::parse(&format!("W{i}")).unwrap();
                s.state
                    .wikis
                    .save_page(
                        &wiki,
                        &robot::wiki::store::Author::robot(),
                        &name,
                        &format!("# W{i}\n"),
                        None,
                        "w",
                    )
                    .unwrap();
            }
        })
    };
    let mut clones = Vec::new();
    for i in 0..4 {
        let (s1, t1) = (s.clone(), t.clone());
        clones.push(tokio::task::spawn_blocking(move || {
            let dir = format!("during{i}");
            let o = git_http(
                &s1,
                "busy",
                &t1,
                &["clone", "-q", &url(&s1, "busy", ""), &dir],
            );
            (o, t1.join(dir))
        }));
    }
    for c in clones {
        let (o, dir) = c.await.unwrap();
        ok(&o);
        fsck(&dir);
    }
    writer.join().unwrap();
    fsck(&s.repo("busy"));
}
