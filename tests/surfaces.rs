//! All surfaces agree (issue 13): one table of scenarios, run through the web UI, the
//! REST API and MCP (and git, for reading and writing) for every kind of caller, with one expected outcome per (scenario,
//! caller) and the committed state checked with `git` after each call. A new surface or
//! action is a new column or row here, not a new test file.
//!
//! Callers: anonymous; a viewer, an editor and the owner (a browser session on the web
//! and REST, an OAuth token of theirs on MCP, the way a person reaches MCP); this
//! wiki's token; another wiki's token; an OAuth token with `wiki:read` and one with
//! `wiki:write` (the editor's, for each resource); and a collaborator who was removed.
//! The web UI refuses every OAuth token: a token is a credential only at the resource
//! it was issued for (RFC 8707), and the web UI is none.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestServer, commit_count, form_body, show};
use robot::access::Role;

const OWNER: &str = "did:plc:owner";
const VIEWER: &str = "did:plc:viewer";
const EDITOR: &str = "did:plc:editor";
const REMOVED: &str = "did:plc:removed";
const OTHER: &str = "did:plc:other";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    Web,
    Rest,
    Mcp,
}

const SURFACES: [Surface; 3] = [Surface::Web, Surface::Rest, Surface::Mcp];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Viewer,
    Editor,
    Owner,
    WikiToken,
    OtherWikiToken,
    OAuthRead,
    OAuthWrite,
    Removed,
}

/// The columns of every row below, in this order.
const WHO: [Who; 9] = [
    Who::Anonymous,
    Who::Viewer,
    Who::Editor,
    Who::Owner,
    Who::WikiToken,
    Who::OtherWikiToken,
    Who::OAuthRead,
    Who::OAuthWrite,
    Who::Removed,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Done, and visible in git as asked.
    Done,
    /// 401/403 (or MCP's refusal); nothing changed.
    Refused,
    /// A stale revision: 409, nothing changed.
    Conflict,
    /// 429; nothing changed.
    Limited,
}
use Outcome::{Conflict as C, Done as D, Refused as R};

/// Those who may read: the roles, this wiki's token and both OAuth tokens.
const READ: [Outcome; 9] = [R, D, D, D, D, R, D, D, R];
/// Those who may write.
const WRITE: [Outcome; 9] = [R, R, D, D, D, R, R, D, R];
/// A save from a stale revision: a conflict for writers, never an overwrite.
const SAVE_STALE: [Outcome; 9] = [R, R, C, C, C, R, R, C, R];

fn expected(row: &[Outcome; 9], who: Who, surface: Surface) -> Outcome {
    let i = WHO.iter().position(|w| *w == who).unwrap();
    match (surface, who) {
        (Surface::Web, Who::OAuthRead | Who::OAuthWrite) => Outcome::Refused,
        _ => row[i],
    }
}

/// A read-write personal token of `did` on the wiki (capped by their role when used).
fn personal_token(s: &TestServer, did: &str, wiki_id: i64) -> String {
    let conn = s.state.db.conn().unwrap();
    let spec = robot::access::tokens::PersonalSpec {
        wiki_id,
        did,
        name: "git",
        can_write: true,
        expires_at: None,
    };
    robot::access::tokens::create_personal(&conn, &spec)
        .unwrap()
        .unwrap()
        .1
}

/// How one caller presents itself on each surface.
#[derive(Default, Clone)]
struct Creds {
    /// A browser session: (Cookie header, CSRF token).
    session: Option<(String, String)>,
    /// `Authorization` on the web UI and REST.
    bearer: Option<String>,
    /// `Authorization` on MCP.
    mcp: Option<String>,
    /// `Authorization` for git: a person's own (read-write) personal token.
    git: Option<String>,
}

/// An OAuth access token of `did` for `resource`, made as the token endpoint makes one.
fn oauth_token(s: &TestServer, did: &str, wiki_id: i64, scope: &str, resource: &str) -> String {
    use robot::db::oauth;
    let conn = s.state.db.conn().unwrap();
    let now = robot::db::now();
    let client_id = format!("client-{}", robot::access::session::random_token());
    oauth::insert_client(
        &conn,
        &oauth::Client {
            client_id: client_id.clone(),
            secret_hash: None,
            auth_method: "none".into(),
            client_name: "Surface Test".into(),
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            metadata: json!({}),
            document_fresh_until: None,
        },
        now,
    )
    .unwrap();
    let code = oauth::Code {
        client_id,
        wiki_id,
        user_did: did.into(),
        redirect_uri: "http://127.0.0.1/cb".into(),
        code_challenge: String::new(),
        scope: scope.into(),
        resource: resource.into(),
        expires_at: now + 600,
    };
    let grant = oauth::insert_grant(&conn, &code, now).unwrap();
    let token = format!("rat_{}", robot::access::session::random_token());
    oauth::insert_token(
        &conn,
        &robot::access::session::hash_secret(&token),
        grant,
        "access",
        now + 3600,
    )
    .unwrap();
    token
}

struct World {
    s: TestServer,
    creds: Vec<(Who, Creds)>,
    http: reqwest::Client,
}

const SLUG: &str = "notes";

impl World {
    /// A server with a private wiki, its people, and each caller's credentials. `tweak`
    /// adjusts the configuration (the rate-limit scenario).
    async fn new(tweak: impl FnOnce(&mut robot::config::Config)) -> World {
        let s = TestServer::start_with(tweak).await;
        for (did, handle) in [
            (OWNER, "owner.test"),
            (VIEWER, "viewer.test"),
            (EDITOR, "editor.test"),
            (REMOVED, "removed.test"),
            (OTHER, "other.test"),
        ] {
            s.add_user(did, handle);
        }
        let wiki = s.create_wiki(SLUG, OWNER, false);
        let other = s.create_wiki("elsewhere", OTHER, false);
        s.add_collaborator(SLUG, VIEWER, Role::Viewer);
        s.add_collaborator(SLUG, EDITOR, Role::Editor);
        s.add_collaborator(SLUG, REMOVED, Role::Editor);
        let mcp = format!("{}/mcp", s.wiki_url(SLUG));
        let api = format!("{}/api/v1", s.wiki_url(SLUG));
        let both = "wiki:read wiki:write";
        let person = |did: &str| Creds {
            session: Some(s.session_for(did)),
            bearer: None,
            mcp: Some(format!(
                "Bearer {}",
                oauth_token(&s, did, wiki.id, both, &mcp)
            )),
            git: Some(format!("Bearer {}", personal_token(&s, did, wiki.id))),
        };
        let token = |id: i64| {
            let conn = s.state.db.conn().unwrap();
            format!(
                "Bearer {}",
                robot::access::tokens::regenerate(&conn, id).unwrap()
            )
        };
        let oauth = |scope: &str| Creds {
            session: None,
            git: Some(format!(
                "Bearer {}",
                oauth_token(&s, EDITOR, wiki.id, scope, &api)
            )),
            bearer: Some(format!(
                "Bearer {}",
                oauth_token(&s, EDITOR, wiki.id, scope, &api)
            )),
            mcp: Some(format!(
                "Bearer {}",
                oauth_token(&s, EDITOR, wiki.id, scope, &mcp)
            )),
        };
        let this_token = token(wiki.id);
        let other_token = token(other.id);
        let creds = vec![
            (Who::Anonymous, Creds::default()),
            (Who::Viewer, person(VIEWER)),
            (Who::Editor, person(EDITOR)),
            (Who::Owner, person(OWNER)),
            (
                Who::WikiToken,
                Creds {
                    bearer: Some(this_token.clone()),
                    git: Some(this_token.clone()),
                    mcp: Some(this_token),
                    ..Default::default()
                },
            ),
            (
                Who::OtherWikiToken,
                Creds {
                    bearer: Some(other_token.clone()),
                    git: Some(other_token.clone()),
                    mcp: Some(other_token),
                    ..Default::default()
                },
            ),
            (Who::OAuthRead, oauth("wiki:read")),
            (Who::OAuthWrite, oauth(both)),
            (Who::Removed, person(REMOVED)),
        ];
        // Removed after their session and token were made: both must stop working.
        {
            let conn = s.state.db.conn().unwrap();
            robot::db::wikis::remove_collaborator(&conn, wiki.id, REMOVED).unwrap();
        }
        World {
            s,
            creds,
            http: crate::common::browser_client(),
        }
    }

    fn creds(&self, who: Who) -> &Creds {
        &self.creds.iter().find(|(w, _)| *w == who).unwrap().1
    }

    fn repo(&self) -> std::path::PathBuf {
        self.s.repo(SLUG)
    }

    /// Writes a page as the owner, straight through the domain; returns its revision.
    fn put(&self, name: &str, content: &str) -> String {
        let wiki = {
            let conn = self.s.state.db.conn().unwrap();
            robot::db::wikis::by_slug(&conn, SLUG).unwrap().unwrap()
        };
        let name = robot::wiki::names::PageName::parse(name).unwrap();
        let author = robot::wiki::store::Author {
            name: "owner.test".into(),
            email: OWNER.into(),
        };
        let base = self
            .s
            .state
            .wikis
            .last_change(&wiki, &name.file_path())
            .unwrap()
            .map(|c| c.id);
        self.s
            .state
            .wikis
            .save_page(&wiki, &author, &name, content, base.as_deref(), "setup")
            .unwrap();
        self.s
            .state
            .wikis
            .last_change(&wiki, &name.file_path())
            .unwrap()
            .unwrap()
            .id
    }

    /// A request on the wiki host as `who` (session with CSRF, or bearer).
    async fn http(
        &self,
        who: Who,
        method: Method,
        path: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> (u16, String) {
        let c = self.creds(who);
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.s.wiki_url(SLUG)));
        if let Some(b) = &c.bearer {
            r = r.header("authorization", b);
        }
        if let Some((cookie, csrf)) = &c.session {
            r = r.header("cookie", cookie).header("x-csrf-token", csrf);
        }
        let resp = build(r).send().await.unwrap();
        let status = resp.status().as_u16();
        // A browser sent to sign in was refused; any other redirect is a form done.
        let to_sign_in = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| l.contains("login"));
        let status = match status {
            303 if to_sign_in => 401,
            303 => 200,
            other => other,
        };
        (status, resp.text().await.unwrap())
    }

    /// A web form post as `who` (the CSRF token in the form, as the browser sends it).
    async fn form(&self, who: Who, path: &str, pairs: &[(&str, &str)]) -> u16 {
        let csrf = self
            .creds(who)
            .session
            .as_ref()
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(pairs);
        let body = form_body(&all);
        self.http(who, Method::POST, path, |r| {
            r.header("content-type", "application/x-www-form-urlencoded")
                .body(body)
        })
        .await
        .0
    }

    async fn rest(
        &self,
        who: Who,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (st, text) = self
            .http(who, method, &format!("/api/v1{path}"), |r| match body {
                Some(b) => r.json(&b),
                None => r,
            })
            .await;
        (
            st,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Calls an MCP tool as `who`: `Err` when the connection itself is refused (no or a
    /// bad credential), else the tool's (is_error, text, structured content).
    async fn mcp(
        &self,
        who: Who,
        tool: &'static str,
        args: Value,
    ) -> Result<(bool, String, Value), ()> {
        use rmcp::ServiceExt;
        use rmcp::model::CallToolRequestParams;
        use rmcp::transport::StreamableHttpClientTransport;
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        let Some(auth) = self.creds(who).mcp.clone() else {
            return Err(());
        };
        let http = reqwest013::Client::builder()
            .resolve(&format!("{SLUG}.localhost"), self.s.addr)
            .build()
            .unwrap();
        let config =
            StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", self.s.wiki_url(SLUG)))
                .auth_header(auth.trim_start_matches("Bearer ").to_string());
        let transport = StreamableHttpClientTransport::with_client(http, config);
        let client = ().serve(transport).await.map_err(|_| ())?;
        let Value::Object(map) = args else {
            panic!("arguments must be an object")
        };
        let r = client
            .call_tool(CallToolRequestParams::new(tool).with_arguments(map))
            .await;
        let _ = client.cancel().await;
        // A refusal at the HTTP level (403 insufficient scope) ends the call itself.
        let r = r.map_err(|_| ())?;
        let text = crate::common::mcp::text(&r);
        Ok((
            r.is_error == Some(true),
            text,
            r.structured_content.unwrap_or(Value::Null),
        ))
    }
}

/// What a status code means for the table.
fn outcome_of_status(st: u16) -> Outcome {
    match st {
        200..=299 => Outcome::Done,
        401 | 403 => Outcome::Refused,
        409 => Outcome::Conflict,
        429 => Outcome::Limited,
        other => panic!("unexpected status {other}"),
    }
}

/// What an MCP answer means for the table.
fn outcome_of_mcp(r: &Result<(bool, String, Value), ()>) -> Outcome {
    match r {
        Err(()) => Outcome::Refused,
        Ok((false, _, _)) => Outcome::Done,
        Ok((true, t, _)) if t.starts_with("Conflict:") => Outcome::Conflict,
        Ok((true, t, _)) if t.contains("(429)") => Outcome::Limited,
        Ok((true, t, _))
            if t.starts_with("Permission denied") || t.starts_with("Authentication failed") =>
        {
            Outcome::Refused
        }
        Ok((true, t, _)) => panic!("unexpected MCP error: {t}"),
    }
}

fn page_for(scenario: &str, who: Who, surface: Surface) -> String {
    format!("{scenario} {who:?} {surface:?}")
}

/// A name as the wiki stores it, whatever the spelling it was given in: every answer
/// names pages so (`Move WikiToken Rest` is `Move Wikitoken Rest`).
fn stored(name: &str) -> String {
    robot::wiki::names::PageName::from_path(&format!("{}.md", name.to_lowercase())).to_string()
}

/// A page read at a revision shows the page as it was then, and names as its revision
/// the page's last change at or before it (what the next write must send back), the
/// same on every surface: `later` is a commit that changed another page.
#[tokio::test]
async fn read_at_a_revision() {
    let w = World::new(|_| {}).await;
    for surface in SURFACES {
        for who in WHO {
            let page = page_for("Read", who, surface);
            let first = w.put(&page, "first version marker-one\n");
            let second = w.put(&page, "second version marker-two\n");
            let later = w.put(&format!("{page} Elsewhere"), "another page\n");
            for (at, marker, revision) in [
                (&first, "marker-one", &first),
                (&later, "marker-two", &second),
            ] {
                let (got, answered) = match surface {
                    Surface::Web => {
                        let path = format!("/{}?revision={at}", page.replace(' ', "%20"));
                        let (st, body) = w.http(who, Method::GET, &path, |r| r).await;
                        let o = outcome_of_status(st);
                        if o == Outcome::Done {
                            assert!(body.contains(marker), "{who:?}: {body}");
                        }
                        (o, None)
                    }
                    Surface::Rest => {
                        let path = format!("/pages/{}?revision={at}", page.replace(' ', "%20"));
                        let (st, body) = w.rest(who, Method::GET, &path, None).await;
                        let o = outcome_of_status(st);
                        if o == Outcome::Done {
                            assert!(body["content"].as_str().unwrap().contains(marker));
                        }
                        (o, body["revision"].as_str().map(String::from))
                    }
                    Surface::Mcp => {
                        let r = w
                            .mcp(who, "read_note", json!({"path": page, "revision": at}))
                            .await;
                        let o = outcome_of_mcp(&r);
                        let rev = r.ok().and_then(|(_, t, v)| {
                            assert!(t.contains(marker) || o != Outcome::Done, "{t}");
                            v["revision"].as_str().map(String::from)
                        });
                        (o, rev)
                    }
                };
                assert_eq!(got, expected(&READ, who, surface), "{who:?} on {surface:?}");
                if got == Outcome::Done && surface != Surface::Web {
                    assert_eq!(
                        answered.as_deref(),
                        Some(revision.as_str()),
                        "{who:?} on {surface:?}: the page's last change at {at}"
                    );
                }
            }
        }
    }
}

/// Git, read and write: a real `git clone` and `git push`, presenting each caller's
/// credential as git would (an `Authorization` header; git has no browser session):
/// people their own personal token, tokens themselves. An OAuth token is a credential
/// only at its resource, which git is not. A push needs the write role.
const GIT_READ: [Outcome; 9] = [R, D, D, D, D, R, R, R, R];
const GIT_WRITE: [Outcome; 9] = [R, R, D, D, D, R, R, R, R];

/// `git` against the test server with `header` as the `Authorization`, in `dir`.
async fn git_as(
    port: u16,
    header: Option<String>,
    dir: std::path::PathBuf,
    args: &[&str],
) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new("git");
        cmd.arg("-c").arg(format!(
            "http.curloptResolve={SLUG}.localhost:{port}:127.0.0.1"
        ));
        if let Some(h) = header {
            cmd.arg("-c")
                .arg(format!("http.extraHeader=Authorization: {h}"));
        }
        cmd.args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(&args)
            .current_dir(dir)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "/bin/false")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// What a git command's exit says, checked against the row's expected outcome.
fn git_outcome(row: &[Outcome; 9], who: Who, out: &std::process::Output) -> Outcome {
    let got = if out.status.success() {
        Outcome::Done
    } else {
        Outcome::Refused
    };
    let i = WHO.iter().position(|x| *x == who).unwrap();
    assert_eq!(
        got,
        row[i],
        "{who:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    got
}

#[tokio::test]
async fn read_over_git() {
    let w = World::new(|_| {}).await;
    let head = w.put("Cloned", "over git marker-git\n");
    let tmp = tempfile::tempdir().unwrap();
    let port = w.s.addr.port();
    for who in WHO {
        let dir = tmp.path().join(format!("{who:?}"));
        let url = format!("http://{SLUG}.localhost:{port}/repo.git");
        let out = git_as(
            port,
            w.creds(who).git.clone(),
            tmp.path().to_path_buf(),
            &["clone", "-q", &url, &format!("{who:?}")],
        )
        .await;
        let got = git_outcome(&GIT_READ, who, &out);
        if got == Outcome::Done {
            assert!(
                std::fs::read_to_string(dir.join("cloned.md"))
                    .unwrap()
                    .contains("marker-git")
            );
            assert_eq!(
                crate::common::git(&dir, &["rev-parse", "HEAD"]).trim(),
                head
            );
        }
    }
}

#[tokio::test]
async fn write_over_git() {
    let w = World::new(|c| c.limits.write_burst = 100).await;
    let tmp = tempfile::tempdir().unwrap();
    let port = w.s.addr.port();
    let url = format!("http://{SLUG}.localhost:{port}/repo.git");
    let wiki_token = w.creds(Who::WikiToken).git.clone();
    for who in WHO {
        let name = format!("pushed {who:?}").to_lowercase();
        let dir = tmp.path().join(format!("{who:?}"));
        let cloned = git_as(
            port,
            wiki_token.clone(),
            tmp.path().to_path_buf(),
            &["clone", "-q", &url, &format!("{who:?}")],
        )
        .await;
        assert!(cloned.status.success());
        std::fs::write(dir.join(format!("{name}.md")), "pushed marker-push\n").unwrap();
        crate::common::git(&dir, &["add", "-A"]);
        crate::common::git(
            &dir,
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-qm",
                "push",
            ],
        );
        let before = commit_count(&w.repo());
        let out = git_as(
            port,
            w.creds(who).git.clone(),
            dir.clone(),
            &["push", "-q", "origin", "main"],
        )
        .await;
        let got = git_outcome(&GIT_WRITE, who, &out);
        match got {
            Outcome::Done => {
                assert!(show(&w.repo(), &format!("{name}.md")).contains("marker-push"))
            }
            _ => assert_eq!(commit_count(&w.repo()), before, "{who:?} changed the wiki"),
        }
    }
}

/// A save from a stale revision is a conflict for writers and changes nothing.
#[tokio::test]
async fn save_with_a_stale_revision() {
    let w = World::new(|_| {}).await;
    for surface in SURFACES {
        for who in WHO {
            let page = page_for("Stale", who, surface);
            let old = w.put(&page, "one\n");
            w.put(&page, "two\n");
            let before = commit_count(&w.repo());
            let got = match surface {
                Surface::Web => outcome_of_status(
                    w.form(
                        who,
                        &format!("/{}/save", page.replace(' ', "%20")),
                        &[("base_revision", &old), ("content", "three\n")],
                    )
                    .await,
                ),
                Surface::Rest => {
                    let path = format!("/pages/{}", page.replace(' ', "%20"));
                    let body = json!({"content": "three\n", "revision": old});
                    let (st, b) = w.rest(who, Method::PUT, &path, Some(body)).await;
                    if st == 409 {
                        assert!(b["current_revision"].is_string(), "{b}");
                    }
                    outcome_of_status(st)
                }
                Surface::Mcp => outcome_of_mcp(
                    &w.mcp(
                        who,
                        "write_note",
                        json!({"path": page, "content": "three\n", "revision": old}),
                    )
                    .await,
                ),
            };
            assert_eq!(
                got,
                expected(&SAVE_STALE, who, surface),
                "{who:?} on {surface:?}"
            );
            assert_eq!(
                commit_count(&w.repo()),
                before,
                "{who:?} on {surface:?}: nothing written"
            );
            let file = format!("{}.md", page.to_lowercase());
            assert_eq!(show(&w.repo(), &file).trim(), "two");
        }
    }
}

/// Renaming moves the page and rewrites the links to it, in one commit; the answer
/// names the pages as the wiki stores them.
#[tokio::test]
async fn rename_with_backlinks() {
    let w = World::new(|_| {}).await;
    for surface in SURFACES {
        for who in WHO {
            let page = page_for("Move", who, surface);
            let linker = page_for("Linker", who, surface);
            let to = format!("{page} Moved");
            w.put(&page, "to be moved\n");
            w.put(&linker, &format!("see [[{page}]]\n"));
            let before = commit_count(&w.repo());
            let got = match surface {
                Surface::Web => outcome_of_status(
                    w.form(
                        who,
                        &format!("/{}/rename", page.replace(' ', "%20")),
                        &[("new_pagename", &to), ("update_backlinks", "on")],
                    )
                    .await,
                ),
                Surface::Rest => {
                    let path = format!("/pages/{}/rename", page.replace(' ', "%20"));
                    let (st, b) = w
                        .rest(who, Method::POST, &path, Some(json!({"new_path": to})))
                        .await;
                    if st == 200 {
                        assert_eq!(b["old_path"], json!(stored(&page)));
                        assert_eq!(b["new_path"], json!(stored(&to)));
                        assert_eq!(b["updated_pages"], json!([stored(&linker)]));
                    }
                    outcome_of_status(st)
                }
                Surface::Mcp => {
                    let r = w
                        .mcp(who, "rename_note", json!({"path": page, "new_path": to}))
                        .await;
                    if let Ok((false, _, v)) = &r {
                        assert_eq!(v["from"], json!(stored(&page)));
                        assert_eq!(v["to"], json!(stored(&to)));
                        assert_eq!(v["updated_pages"], json!([stored(&linker)]));
                    }
                    outcome_of_mcp(&r)
                }
            };
            assert_eq!(
                got,
                expected(&WRITE, who, surface),
                "{who:?} on {surface:?}"
            );
            let linker_file = format!("{}.md", linker.to_lowercase());
            if got == Outcome::Done {
                assert_eq!(commit_count(&w.repo()), before + 1, "one commit");
                let moved = format!("{}.md", to.to_lowercase());
                assert_eq!(show(&w.repo(), &moved).trim(), "to be moved");
                assert!(show(&w.repo(), &linker_file).contains(&format!("[[{to}]]")));
            } else {
                assert_eq!(commit_count(&w.repo()), before, "{who:?} on {surface:?}");
                assert!(show(&w.repo(), &linker_file).contains(&format!("[[{page}]]")));
            }
        }
    }
}

/// Deleting removes the page from HEAD (its history stays).
#[tokio::test]
async fn delete() {
    let w = World::new(|_| {}).await;
    for surface in SURFACES {
        for who in WHO {
            let page = page_for("Gone", who, surface);
            w.put(&page, "delete me\n");
            let before = commit_count(&w.repo());
            let got = match surface {
                Surface::Web => outcome_of_status(
                    w.form(who, &format!("/{}/delete", page.replace(' ', "%20")), &[])
                        .await,
                ),
                Surface::Rest => {
                    let path = format!("/pages/{}", page.replace(' ', "%20"));
                    outcome_of_status(w.rest(who, Method::DELETE, &path, None).await.0)
                }
                Surface::Mcp => {
                    outcome_of_mcp(&w.mcp(who, "delete_note", json!({"path": page})).await)
                }
            };
            assert_eq!(
                got,
                expected(&WRITE, who, surface),
                "{who:?} on {surface:?}"
            );
            let file = format!("{}.md", page.to_lowercase());
            let present = crate::common::ls_files(&w.repo()).contains(&file);
            match got {
                Outcome::Done => {
                    assert!(!present);
                    assert_eq!(commit_count(&w.repo()), before + 1);
                }
                _ => {
                    assert!(present, "{who:?} on {surface:?}");
                    assert_eq!(commit_count(&w.repo()), before);
                }
            }
        }
    }
}

/// Reverting a commit is offered by the web UI only: the reference robot replaces has no
/// revert on REST or MCP (`robotwtf.md` lists their tools and endpoints), and Otterwiki
/// offers it in the browser. On the web it is a write like any other; the REST and MCP
/// columns check that neither surface grew a route or tool that bypasses that rule.
#[tokio::test]
async fn revert() {
    let w = World::new(|_| {}).await;
    for surface in SURFACES {
        for who in WHO {
            let page = page_for("Undone", who, surface);
            w.put(&page, "first words\n");
            let rev = w.put(&page, "second words\n");
            let before = commit_count(&w.repo());
            let got = match surface {
                Surface::Web => {
                    outcome_of_status(w.form(who, &format!("/-/revert/{rev}"), &[]).await)
                }
                Surface::Rest => {
                    let (st, _) = w
                        .rest(who, Method::POST, &format!("/revert/{rev}"), None)
                        .await;
                    assert!(
                        st == 404 || st == 405 || st == 401 || st == 403,
                        "{who:?}: {st}"
                    );
                    Outcome::Refused
                }
                Surface::Mcp => {
                    let r = w.mcp(who, "revert_commit", json!({"revision": rev})).await;
                    assert_eq!(outcome_of_mcp(&r), Outcome::Refused, "{who:?}");
                    Outcome::Refused
                }
            };
            let want = match surface {
                Surface::Web => expected(&WRITE, who, surface),
                Surface::Rest | Surface::Mcp => Outcome::Refused,
            };
            assert_eq!(got, want, "{who:?} on {surface:?}");
            let file = format!("{}.md", page.to_lowercase());
            let made = if got == Outcome::Done { 1 } else { 0 };
            assert_eq!(
                commit_count(&w.repo()),
                before + made,
                "{who:?} on {surface:?}"
            );
            let want_text = if got == Outcome::Done {
                "first words\n"
            } else {
                "second words\n"
            };
            assert_eq!(show(&w.repo(), &file), want_text, "{who:?} on {surface:?}");
        }
    }
}

/// Attachments are an upload right on every surface: viewers are refused everywhere.
#[tokio::test]
async fn upload_an_attachment() {
    use base64::Engine;
    let w = World::new(|_| {}).await;
    for surface in SURFACES {
        for who in WHO {
            let page = page_for("Files", who, surface);
            w.put(&page, "has files\n");
            let before = commit_count(&w.repo());
            let got = match surface {
                Surface::Web => {
                    let csrf = w
                        .creds(who)
                        .session
                        .as_ref()
                        .map(|(_, c)| c.clone())
                        .unwrap_or_default();
                    let form = reqwest::multipart::Form::new().text("csrf", csrf).part(
                        "file",
                        reqwest::multipart::Part::bytes(b"hello".to_vec()).file_name("note.txt"),
                    );
                    let path = format!("/{}/attachments", page.replace(' ', "%20"));
                    outcome_of_status(w.http(who, Method::POST, &path, |r| r.multipart(form)).await.0)
                }
                Surface::Rest => {
                    let path = format!("/pages/{}/attachments", page.replace(' ', "%20"));
                    let body = json!({"filename": "note.txt", "content": base64::engine::general_purpose::STANDARD.encode("hello")});
                    outcome_of_status(w.rest(who, Method::POST, &path, Some(body)).await.0)
                }
                Surface::Mcp => outcome_of_mcp(
                    &w.mcp(
                        who,
                        "upload_attachment",
                        json!({"path": page, "filename": "note.txt", "content": base64::engine::general_purpose::STANDARD.encode("hello")}),
                    )
                    .await,
                ),
            };
            assert_eq!(
                got,
                expected(&WRITE, who, surface),
                "{who:?} on {surface:?}"
            );
            let file = format!("{}/note.txt", page.to_lowercase());
            let present = crate::common::ls_files(&w.repo()).contains(&file);
            assert_eq!(present, got == Outcome::Done, "{who:?} on {surface:?}");
            let made = if got == Outcome::Done { 1 } else { 0 };
            assert_eq!(commit_count(&w.repo()), before + made);
        }
    }
}

/// Every mode on every surface; without the model, by-meaning modes answer with
/// full-text results and say why.
#[tokio::test]
async fn search_each_mode_without_the_model() {
    let w = World::new(|_| {}).await;
    w.put("Zebra Facts", "the zebracorn grazes at dawn\n");
    for mode in ["text", "semantic", "hybrid"] {
        for surface in SURFACES {
            for who in WHO {
                let (got, notice, found) = match surface {
                    Surface::Web => {
                        let path = format!("/-/search?q=zebracorn&mode={mode}");
                        let (st, body) = w.http(who, Method::GET, &path, |r| r).await;
                        (
                            outcome_of_status(st),
                            body.contains("Search by meaning is off"),
                            body.contains("Zebra Facts"),
                        )
                    }
                    Surface::Rest => {
                        let path = format!("/search?q=zebracorn&mode={mode}");
                        let (st, b) = w.rest(who, Method::GET, &path, None).await;
                        if st == 200 {
                            assert_eq!(b["mode"], "text", "{b}");
                        }
                        (
                            outcome_of_status(st),
                            b["notice"].is_string(),
                            b["results"][0]["name"] == "Zebra Facts",
                        )
                    }
                    Surface::Mcp => {
                        let r = w
                            .mcp(
                                who,
                                "search_notes",
                                json!({"query": "zebracorn", "mode": mode}),
                            )
                            .await;
                        let o = outcome_of_mcp(&r);
                        let (notice, found) = match &r {
                            Ok((false, _, v)) => {
                                assert_eq!(v["mode"], "text", "{v}");
                                (
                                    v["notice"].is_string(),
                                    v["results"][0]["path"] == "Zebra Facts",
                                )
                            }
                            _ => (false, false),
                        };
                        (o, notice, found)
                    }
                };
                let want = expected(&READ, who, surface);
                assert_eq!(got, want, "{mode}: {who:?} on {surface:?}");
                if got == Outcome::Done {
                    assert!(found, "{mode}: {who:?} on {surface:?}");
                    assert_eq!(notice, mode != "text", "{mode}: {who:?} on {surface:?}");
                }
            }
        }
    }
}

/// With the model, each mode answers as asked, the same on every surface.
#[tokio::test]
async fn search_each_mode_with_the_model() {
    let w = World::new(|c| c.search.model_dir = Some(crate::common::model_dir())).await;
    w.put(
        "Whiskers",
        "# Whiskers\n\nWhiskers is our tabby cat. She dozes on the warm windowsill every afternoon.\n",
    );
    // The worker embeds the page in the background: wait until meaning finds it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (_, b) = w
            .rest(
                Who::Owner,
                Method::GET,
                "/search?q=tabby%20cat&mode=semantic",
                None,
            )
            .await;
        if b["results"][0]["name"] == "Whiskers" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page was never embedded: {b}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for mode in ["text", "semantic", "hybrid"] {
        for surface in SURFACES {
            let who = Who::Owner;
            let (mode_used, notice, found) = match surface {
                Surface::Web => {
                    let (st, body) = w
                        .http(
                            who,
                            Method::GET,
                            &format!("/-/search?q=tabby%20cat&mode={mode}"),
                            |r| r,
                        )
                        .await;
                    assert_eq!(st, 200);
                    (
                        mode.to_string(),
                        body.contains("Search by meaning is off"),
                        body.contains("Whiskers"),
                    )
                }
                Surface::Rest => {
                    let (st, b) = w
                        .rest(
                            who,
                            Method::GET,
                            &format!("/search?q=tabby%20cat&mode={mode}"),
                            None,
                        )
                        .await;
                    assert_eq!(st, 200, "{b}");
                    (
                        b["mode"].as_str().unwrap().to_string(),
                        b["notice"].is_string(),
                        b["results"][0]["name"] == "Whiskers",
                    )
                }
                Surface::Mcp => {
                    let r = w
                        .mcp(
                            who,
                            "search_notes",
                            json!({"query": "tabby cat", "mode": mode}),
                        )
                        .await;
                    let (is_error, t, v) = r.expect("owner reaches MCP");
                    assert!(!is_error, "{t}");
                    (
                        v["mode"].as_str().unwrap().to_string(),
                        v["notice"].is_string(),
                        v["results"][0]["path"] == "Whiskers",
                    )
                }
            };
            assert_eq!(mode_used, mode, "{surface:?}");
            assert!(!notice, "{mode} on {surface:?}: no notice with the model");
            assert!(found, "{mode} on {surface:?}");
        }
    }
}

/// One write-rate rule on every surface: writes are counted after they are authorized
/// (a refused caller spends nobody's budget, not even its address's), and the write
/// over the limit is 429 and writes nothing.
#[tokio::test]
async fn the_write_rate_limit() {
    for surface in SURFACES {
        let w = World::new(|c| {
            c.limits.write_burst = 2;
            c.limits.writes_per_minute = 1;
        })
        .await;
        let save = |who: Who, i: usize| {
            let w = &w;
            async move {
                let page = format!("Rate {i}");
                match surface {
                    Surface::Web => outcome_of_status(
                        w.form(
                            who,
                            &format!("/{}/save", page.replace(' ', "%20")),
                            &[("base_revision", ""), ("content", "x\n")],
                        )
                        .await,
                    ),
                    Surface::Rest => outcome_of_status(
                        w.rest(
                            who,
                            Method::PUT,
                            &format!("/pages/{}", page.replace(' ', "%20")),
                            Some(json!({"content": "x\n"})),
                        )
                        .await
                        .0,
                    ),
                    Surface::Mcp => outcome_of_mcp(
                        &w.mcp(who, "write_note", json!({"path": page, "content": "x\n"}))
                            .await,
                    ),
                }
            }
        };
        let before = commit_count(&w.repo());
        // All from one address: were refusals counted, the owner would find it spent.
        for i in 0..4 {
            assert_eq!(save(Who::Viewer, i).await, Outcome::Refused, "{surface:?}");
        }
        let got = vec![
            save(Who::Owner, 10).await,
            save(Who::Owner, 11).await,
            save(Who::Owner, 12).await,
        ];
        assert_eq!(
            got,
            vec![Outcome::Done, Outcome::Done, Outcome::Limited],
            "{surface:?}"
        );
        assert_eq!(
            commit_count(&w.repo()),
            before + 2,
            "{surface:?}: the refused write wrote nothing"
        );
    }
}
