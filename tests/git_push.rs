//! `git push` over smart HTTP with the real git client (issue 14): editors push with
//! their personal token; viewers, read-only tokens, other wikis' tokens and anonymous
//! callers are refused before any object is sent; force pushes, deletions, other refs,
//! bad paths and pushes past a limit are refused with a `remote:` line and leave no
//! object behind; a push racing REST saves loses no acknowledged write; search,
//! backlinks and the semantic queue follow a push that renames and deletes pages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use robot::access::Role;
use robot::access::tokens::{PersonalSpec, create_personal};
use serde_json::Value;

use crate::common::*;

const OWNER: &str = "did:plc:owner";
const EDITOR: &str = "did:plc:editor";
const VIEWER: &str = "did:plc:viewer";

/// Runs git against the test server: `*.localhost` resolved to it, no prompts.
fn git_http(port: u16, slug: &str, dir: &Path, args: &[&str]) -> Output {
    let resolve = format!("{slug}.localhost:{port}:127.0.0.1");
    Command::new("git")
        .arg("-c")
        .arg(format!("http.curloptResolve={resolve}"))
        .args([
            "-c",
            "user.name=Pusher",
            "-c",
            "user.email=pusher@example.org",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .output()
        .expect("run git")
}

/// git, off the runtime (it blocks, and the server must keep answering).
async fn run(s: &Arc<TestServer>, slug: &str, dir: &Path, args: &[&str]) -> Output {
    let (port, slug, dir) = (s.addr.port(), slug.to_string(), dir.to_path_buf());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        git_http(port, &slug, &dir, &a)
    })
    .await
    .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "git failed: {}", stderr(o));
}

fn url(s: &TestServer, slug: &str, token: &str) -> String {
    let creds = if token.is_empty() {
        String::new()
    } else {
        format!("x:{token}@")
    };
    format!("http://{creds}{slug}.localhost:{}/repo.git", s.addr.port())
}

fn personal(s: &TestServer, wiki_id: i64, did: &str, name: &str, can_write: bool) -> String {
    let c = s.state.db.conn().unwrap();
    let spec = PersonalSpec {
        wiki_id,
        did,
        name,
        can_write,
        expires_at: None,
    };
    create_personal(&c, &spec).unwrap().unwrap().1
}

fn commit_all(work: &Path, message: &str) {
    git(work, &["add", "-A"]);
    git(
        work,
        &[
            "-c",
            "user.name=Pusher",
            "-c",
            "user.email=pusher@example.org",
            "commit",
            "-qm",
            message,
        ],
    );
}

fn head_of(repo: &Path) -> String {
    git(repo, &["rev-parse", "main"]).trim().to_string()
}

/// Every object in the repository (loose and packed).
fn objects(repo: &Path) -> Vec<String> {
    let mut v: Vec<String> = git(
        repo,
        &[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectname)",
        ],
    )
    .lines()
    .map(String::from)
    .collect();
    v.sort();
    v
}

/// No quarantine directory is left in the repository.
fn no_quarantine(repo: &Path) {
    let left: Vec<PathBuf> = std::fs::read_dir(repo.join("objects"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("incoming-")
        })
        .collect();
    assert!(left.is_empty(), "quarantine left behind: {left:?}");
}

fn audit_actions(s: &TestServer, wiki_id: i64) -> Vec<(String, String)> {
    let c = s.state.db.conn().unwrap();
    let mut st = c
        .prepare("SELECT action, detail FROM audit_log WHERE wiki_id = ?1 ORDER BY id")
        .unwrap();
    st.query_map([wiki_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A server with `OWNER`'s private wiki `team` (holding `pages`, saved through the REST
/// API), its token, and a clone of it made with that token in `work`.
struct Pushing {
    s: Arc<TestServer>,
    wiki: robot::db::wikis::Wiki,
    token: String,
    work: PathBuf,
    _tmp: tempfile::TempDir,
}

async fn pushing(
    tweak: impl FnOnce(&mut robot::config::Config),
    pages: &[(&str, &str)],
) -> Pushing {
    let s = TestServer::start_with(tweak).await;
    s.add_user(OWNER, "owner.test");
    let wiki = s.create_wiki("team", OWNER, false);
    let token = {
        let c = s.state.db.conn().unwrap();
        robot::access::tokens::regenerate(&c, wiki.id).unwrap()
    };
    for (page, text) in pages {
        let r = s
            .client()
            .put(format!("{}/api/v1/pages/{page}", s.wiki_url("team")))
            .header("authorization", format!("Bearer {token}"))
            .json(&serde_json::json!({ "content": text }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let s = Arc::new(s);
    let tmp = tempfile::tempdir().unwrap();
    let cloned = run(
        &s,
        "team",
        tmp.path(),
        &["clone", "-q", &url(&s, "team", &token), "work"],
    )
    .await;
    ok(&cloned);
    Pushing {
        work: tmp.path().join("work"),
        s,
        wiki,
        token,
        _tmp: tmp,
    }
}

#[tokio::test]
async fn editors_push_and_everyone_else_is_refused_before_sending() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.add_user(EDITOR, "editor.test");
    s.add_user(VIEWER, "viewer.test");
    let wiki = s.create_wiki("team", OWNER, true);
    let other = s.create_wiki("elsewhere", OWNER, false);
    s.add_collaborator("team", EDITOR, Role::Editor);
    s.add_collaborator("team", VIEWER, Role::Viewer);
    let editor_rw = personal(&s, wiki.id, EDITOR, "laptop", true);
    let editor_ro = personal(&s, wiki.id, EDITOR, "reader", false);
    let viewer = personal(&s, wiki.id, VIEWER, "mine", true);
    let other_token = {
        let c = s.state.db.conn().unwrap();
        robot::access::tokens::regenerate(&c, other.id).unwrap()
    };
    let s = Arc::new(s);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    ok(&run(
        &s,
        "team",
        t,
        &["clone", "-q", &url(&s, "team", &editor_rw), "work"],
    )
    .await);
    let work = t.join("work");
    std::fs::write(work.join("pushed.md"), "# Pushed\n\nSee [[Home]].\n").unwrap();
    std::fs::create_dir_all(work.join("pushed")).unwrap();
    std::fs::write(work.join("pushed/notes.txt"), "an attachment\n").unwrap();
    commit_all(&work, "Add a page from git");
    let o = run(&s, "team", &work, &["push", "origin", "main"]).await;
    ok(&o);
    let repo = s.repo("team");
    assert_eq!(head_of(&repo), head_of(&work));
    assert!(ls_files(&repo).contains(&"pushed/notes.txt".to_string()));
    fsck(&repo);
    no_quarantine(&repo);
    // The wiki shows it at once, and the audit log says who pushed what.
    let page = s
        .client()
        .get(format!("{}/Pushed", s.wiki_url("team")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Pushed"));
    let audit = audit_actions(&s, wiki.id);
    let (_, detail) = audit
        .iter()
        .find(|(a, _)| a == "git.push")
        .expect("the push is audited");
    assert!(
        detail.contains("editor.test (via token laptop)"),
        "{detail}"
    );
    assert!(detail.contains(&head_of(&repo)), "{detail}");

    // Everyone else: refused with the HTTP status, before any object is sent.
    std::fs::write(work.join("second.md"), "# Second\n").unwrap();
    commit_all(&work, "A second page");
    let before = (head_of(&repo), objects(&repo));
    for (who, token, status) in [
        ("anonymous", "", "401"),
        ("the viewer", viewer.as_str(), "403"),
        ("a read-only token", editor_ro.as_str(), "403"),
        ("another wiki's token", other_token.as_str(), "403"),
    ] {
        let o = run(
            &s,
            "team",
            &work,
            &["push", &url(&s, "team", token), "main"],
        )
        .await;
        assert!(!o.status.success(), "{who} pushed");
        let e = stderr(&o);
        assert!(
            e.contains(status) || (status == "401" && e.contains("could not read Username")),
            "{who}: {e}"
        );
        assert_eq!(
            (head_of(&repo), objects(&repo)),
            before,
            "{who} changed the repo"
        );
    }

    // The owner switches pushing off: the editor's push is refused, clone still works.
    s.state
        .db
        .conn()
        .unwrap()
        .execute("UPDATE wikis SET git_push = 0 WHERE slug = 'team'", [])
        .unwrap();
    let o = run(&s, "team", &work, &["push", "origin", "main"]).await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("403"), "{}", stderr(&o));
    assert_eq!((head_of(&repo), objects(&repo)), before);
    ok(&run(
        &s,
        "team",
        t,
        &["clone", "-q", &url(&s, "team", ""), "anon"],
    )
    .await);

    // Pushes are counted.
    let metrics = s
        .client()
        .get(format!("{}/metrics", s.root()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("robot_git_pushes_total{outcome=\"accepted\"} 1"),
        "{metrics}"
    );
}

/// Pushes `work`'s main to the wiki and asserts it was refused with `says` in a
/// `remote:` line, leaving the repository as it was: same HEAD, no new object, no
/// quarantine, fsck clean.
async fn refused(s: &Arc<TestServer>, work: &Path, args: &[&str], says: &str) {
    let repo = s.repo("team");
    let before = (head_of(&repo), objects(&repo));
    let o = run(s, "team", work, args).await;
    let e = stderr(&o);
    assert!(!o.status.success(), "accepted: {args:?}\n{e}");
    assert!(
        e.lines()
            .any(|l| l.starts_with("remote:") && l.contains(says)),
        "{args:?}: no remote: line saying {says:?}:\n{e}"
    );
    assert_eq!(
        (head_of(&repo), objects(&repo)),
        before,
        "{args:?} left objects"
    );
    no_quarantine(&repo);
    fsck(&repo);
}

/// Commits `files` in `work`, expects the push of main to be refused with `says` (see
/// [`refused`]), and sets `work` back to the wiki's main.
async fn refused_files(s: &Arc<TestServer>, work: &Path, files: &[(&str, &[u8])], says: &str) {
    for (path, content) in files {
        let p = work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    commit_all(work, "refused");
    refused(s, work, &["push", "origin", "main"], says).await;
    git(work, &["reset", "-q", "--hard", "origin/main"]);
}

#[tokio::test]
async fn refused_pushes_say_why_and_leave_nothing_behind() {
    let Pushing {
        s,
        wiki,
        work,
        _tmp,
        ..
    } = pushing(
        |c| {
            c.limits.max_attachment_bytes = 1000;
            c.limits.max_pages = 6;
            c.limits.write_burst = 100;
        },
        &[],
    )
    .await;
    let reset = |w: &Path| git(w, &["reset", "-q", "--hard", "origin/main"]);

    // A force push: history rewritten.
    git(&work, &["commit", "-q", "--amend", "-m", "rewritten"]);
    refused(
        &s,
        &work,
        &["push", "-f", "origin", "main"],
        "no force push",
    )
    .await;
    reset(&work);

    // Deleting main; a new branch; a tag.
    refused(
        &s,
        &work,
        &["push", "origin", ":main"],
        "main cannot be deleted",
    )
    .await;
    std::fs::write(work.join("branch.md"), "# Branch\n").unwrap();
    commit_all(&work, "on a branch");
    refused(
        &s,
        &work,
        &["push", "origin", "HEAD:refs/heads/drafts"],
        "only the branch main",
    )
    .await;
    git(&work, &["tag", "v1"]);
    refused(&s, &work, &["push", "origin", "v1"], "tags are not kept").await;
    reset(&work);

    // Paths outside Otterwiki's layout: a .git* file, a file at the top, a `..` entry.
    refused_files(
        &s,
        &work,
        &[(".gitattributes", b"* text\n")],
        ".git files are not part",
    )
    .await;
    refused_files(
        &s,
        &work,
        &[("logo.png", b"png")],
        "put attachments in their page",
    )
    .await;
    // git will not make a `..` entry from a working tree: write the tree by hand.
    let blob = git_in(&work, &["hash-object", "-w", "--stdin"], "x\n");
    let bad_tree = git_in(
        &work,
        &["mktree"],
        &format!("100644 blob {}\t..\n", blob.trim()),
    );
    let parent = head_of(&work);
    let bad = git_in(
        &work,
        &[
            "commit-tree",
            bad_tree.trim(),
            "-p",
            &parent,
            "-m",
            "dotdot",
        ],
        "",
    );
    git(&work, &["update-ref", "refs/heads/main", bad.trim()]);
    refused(&s, &work, &["push", "origin", "main"], "..").await;
    reset(&work);

    // Past the attachment size and the page count (a new wiki has five pages; three
    // more make eight).
    let big = vec![b'x'; 2000];
    refused_files(
        &s,
        &work,
        &[("home/big.bin", &big)],
        "the limit is 1000 bytes",
    )
    .await;
    let pages = [
        ("page 0.md", &b"# Page 0\n"[..]),
        ("page 1.md", b"# Page 1\n"),
        ("page 2.md", b"# Page 2\n"),
    ];
    refused_files(&s, &work, &pages, "the limit is 6").await;

    // Each refusal is audited; a good push still goes through afterwards.
    let refusals = audit_actions(&s, wiki.id)
        .into_iter()
        .filter(|(a, _)| a == "git.push.refused")
        .count();
    assert!(refusals >= 8, "{refusals} refusals audited");
    std::fs::write(work.join("fine.md"), "# Fine\n").unwrap();
    commit_all(&work, "fine");
    ok(&run(&s, "team", &work, &["push", "origin", "main"]).await);
    assert_eq!(head_of(&s.repo("team")), head_of(&work));
}

/// git with `input` on stdin, in `dir`; stdout.
fn git_in(dir: &Path, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("git")
        .args([
            "-c",
            "user.name=Pusher",
            "-c",
            "user.email=pusher@example.org",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn a_push_racing_rest_saves_loses_no_acknowledged_write() {
    let Pushing {
        s,
        token,
        work,
        _tmp,
        ..
    } = pushing(
        |c| {
            c.limits.write_burst = 200;
            c.limits.writes_per_minute = 600;
        },
        &[],
    )
    .await;
    for i in 0..30 {
        std::fs::write(
            work.join(format!("pushed {i}.md")),
            format!("# Pushed {i}\n"),
        )
        .unwrap();
        commit_all(&work, &format!("pushed {i}"));
    }

    // Twenty saves and the push, all at once.
    let mut saves = Vec::new();
    for i in 0..20 {
        let (c, url, auth) = (
            s.client(),
            format!("{}/api/v1/pages/Saved {i}", s.wiki_url("team")),
            format!("Bearer {token}"),
        );
        saves.push(tokio::spawn(async move {
            let r = c
                .put(url)
                .header("authorization", auth)
                .json(&serde_json::json!({"content": format!("# Saved {i}\n")}))
                .send()
                .await
                .unwrap();
            (i, r.status().as_u16())
        }));
    }
    let pushed = run(&s, "team", &work, &["push", "origin", "main"]).await;
    let mut acknowledged = Vec::new();
    for h in saves {
        let (i, status) = h.await.unwrap();
        assert!(
            (200..300).contains(&status) || status == 409,
            "save {i}: {status}"
        );
        if (200..300).contains(&status) {
            acknowledged.push(i);
        }
    }

    // The push either went in whole or was refused as stale; then it goes in after a
    // fetch and rebase.
    if !pushed.status.success() {
        let e = stderr(&pushed);
        assert!(
            e.contains("fetch first") || e.contains("the wiki changed since you fetched"),
            "{e}"
        );
        ok(&run(
            &s,
            "team",
            &work,
            &["pull", "-q", "--rebase", "origin", "main"],
        )
        .await);
        ok(&run(&s, "team", &work, &["push", "origin", "main"]).await);
    }
    let files = ls_files(&s.repo("team"));
    for i in &acknowledged {
        assert!(
            files.contains(&format!("saved {i}.md")),
            "acknowledged save {i} lost"
        );
    }
    for i in 0..30 {
        assert!(files.contains(&format!("pushed {i}.md")), "pushed {i} lost");
    }
    fsck(&s.repo("team"));
}

async fn get_json(s: &TestServer, path: &str, token: &str) -> Value {
    let r = s
        .client()
        .get(format!("{}{path}", s.wiki_url("team")))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

fn names(search: &Value) -> Vec<String> {
    search["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn search_backlinks_and_the_semantic_queue_follow_a_push() {
    let Pushing {
        s,
        wiki,
        token,
        work,
        _tmp,
        ..
    } = pushing(
        |c| c.limits.write_burst = 100,
        &[
            ("Alpha", "# Alpha\n\nzebracorn lives here.\n"),
            ("Doomed", "# Doomed\n\nquasartoad will vanish.\n"),
            ("Linker", "# Linker\n\nSee [[Alpha]].\n"),
        ],
    )
    .await;
    // Rename Alpha to Beta (and its link), delete Doomed, in two commits.
    git(&work, &["mv", "alpha.md", "beta.md"]);
    std::fs::write(work.join("beta.md"), "# Beta\n\nzebracorn lives here.\n").unwrap();
    std::fs::write(work.join("linker.md"), "# Linker\n\nSee [[Beta]].\n").unwrap();
    commit_all(&work, "Rename Alpha to Beta");
    git(&work, &["rm", "-q", "doomed.md"]);
    commit_all(&work, "Delete Doomed");
    ok(&run(&s, "team", &work, &["push", "origin", "main"]).await);

    let found = get_json(&s, "/api/v1/search?q=zebracorn", &token).await;
    assert_eq!(names(&found), vec!["Beta".to_string()], "{found}");
    let gone = get_json(&s, "/api/v1/search?q=quasartoad", &token).await;
    assert!(names(&gone).is_empty(), "{gone}");
    let links = get_json(&s, "/api/v1/links/Beta", &token).await;
    assert_eq!(
        links["linked_from"],
        serde_json::json!(["Linker"]),
        "{links}"
    );
    let page = s
        .client()
        .get(format!("{}/api/v1/pages/Doomed", s.wiki_url("team")))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    // Every page the range touched is queued for the semantic index.
    let queued: Vec<String> = {
        let c = s.state.db.conn().unwrap();
        let mut st = c
            .prepare("SELECT path FROM reindex_queue WHERE wiki_id = ?1 ORDER BY path")
            .unwrap();
        st.query_map([wiki.id], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    for p in ["alpha.md", "beta.md", "doomed.md", "linker.md"] {
        assert!(
            queued.contains(&p.to_string()),
            "{p} not queued: {queued:?}"
        );
    }
    // The changelog has both commits; the last change of Beta is the push's.
    let log = get_json(&s, "/api/v1/changelog", &token).await;
    let text = log.to_string();
    assert!(
        text.contains("Rename Alpha to Beta") && text.contains("Delete Doomed"),
        "{text}"
    );
    let beta = get_json(&s, "/api/v1/pages/Beta", &token).await;
    let rename = git(&work, &["rev-parse", "HEAD~1"]).trim().to_string();
    assert_eq!(beta["revision"].as_str(), Some(rename.as_str()), "{beta}");
}

#[tokio::test]
async fn a_push_larger_than_any_upload_goes_through() {
    // Three 4 MB attachments that do not compress: a 12 MB pack, above the body limit of
    // every other request (an attachment and some), within the wiki's quota.
    let Pushing { s, work, _tmp, .. } = pushing(|_| {}, &[]).await;
    std::fs::create_dir_all(work.join("home")).unwrap();
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for i in 0..3 {
        let bytes: Vec<u8> = (0..4 * 1024 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(work.join(format!("home/noise-{i}.bin")), bytes).unwrap();
    }
    commit_all(&work, "Large attachments");
    ok(&run(&s, "team", &work, &["push", "origin", "main"]).await);
    assert_eq!(head_of(&s.repo("team")), head_of(&work));
    fsck(&s.repo("team"));
}

#[tokio::test]
async fn a_push_counts_as_one_write_against_the_rate_limit() {
    let Pushing {
        s,
        token,
        work,
        _tmp,
        ..
    } = pushing(
        |c| {
            c.limits.write_burst = 2;
            c.limits.writes_per_minute = 1;
        },
        &[],
    )
    .await;
    // Three commits in one push: one write.
    for i in 0..3 {
        std::fs::write(work.join(format!("rate {i}.md")), "x\n").unwrap();
        commit_all(&work, &format!("rate {i}"));
    }
    ok(&run(&s, "team", &work, &["push", "origin", "main"]).await);
    // A REST save is the second write of the burst; the next push is one too many.
    let r = s
        .client()
        .put(format!("{}/api/v1/pages/Rate Rest", s.wiki_url("team")))
        .header("authorization", format!("Bearer {token}"))
        .json(&serde_json::json!({"content": "x\n"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    ok(&run(
        &s,
        "team",
        &work,
        &["pull", "-q", "--rebase", "origin", "main"],
    )
    .await);
    std::fs::write(work.join("rate 3.md"), "x\n").unwrap();
    commit_all(&work, "rate 3");
    let before = head_of(&s.repo("team"));
    let o = run(&s, "team", &work, &["push", "origin", "main"]).await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("429"), "{}", stderr(&o));
    assert_eq!(head_of(&s.repo("team")), before);
}
