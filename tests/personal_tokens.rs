//! Personal tokens (issue 14): made in the management API and app, shown once, stored
//! hashed, listed with their last use, revocable; at most their owner's current role on
//! the wiki; working with REST, MCP and git like the wiki token, with writes signed as
//! the person (`{handle} (via token {name})`).

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;
use robot::access::Role;

const ALICE: &str = "did:plc:alice";
const BOB: &str = "did:plc:bob";
const CAROL: &str = "did:plc:carol";
const DAN: &str = "did:plc:dan";

async fn call(
    s: &TestServer,
    url: String,
    method: Method,
    auth: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = s.client().request(method, url);
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn manage(
    s: &TestServer,
    method: Method,
    path: &str,
    who: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let auth = s.jwt_bearer(who);
    call(s, format!("{}{path}", s.root()), method, Some(&auth), body).await
}

/// A page written through `/api/v1` with `token`: the status.
async fn put_page(s: &TestServer, slug: &str, token: &str, page: &str, text: &str) -> u16 {
    let auth = format!("Bearer {token}");
    let url = format!("{}/api/v1/pages/{page}", s.wiki_url(slug));
    let body = json!({ "content": text });
    call(s, url, Method::PUT, Some(&auth), Some(body)).await.0
}

async fn get_page(s: &TestServer, slug: &str, token: &str, page: &str) -> u16 {
    let auth = format!("Bearer {token}");
    let url = format!("{}/api/v1/pages/{page}", s.wiki_url(slug));
    call(s, url, Method::GET, Some(&auth), None).await.0
}

fn last_author(repo: &std::path::Path) -> String {
    git(repo, &["log", "-1", "--format=%an <%ae>"])
        .trim()
        .to_string()
}

async fn make(s: &TestServer, who: &str, body: Value) -> (u16, Value) {
    manage(s, Method::POST, "/api/tokens", who, Some(body)).await
}

#[tokio::test]
async fn made_listed_used_and_revoked() {
    let s = TestServer::start().await;
    for (d, h) in [
        (ALICE, "alice.test"),
        (BOB, "bob.test"),
        (CAROL, "carol.test"),
        (DAN, "dan.test"),
    ] {
        s.add_user(d, h);
    }
    s.create_wiki("alice", ALICE, false);
    s.create_wiki("dan", DAN, false);
    s.add_collaborator("alice", BOB, Role::Editor);
    s.add_collaborator("alice", CAROL, Role::Viewer);

    // Who may make which token.
    let (st, bob) = make(
        &s,
        BOB,
        json!({"wiki": "alice", "name": "laptop git", "access": "write"}),
    )
    .await;
    assert_eq!(st, 201, "{bob}");
    let bob_secret = bob["secret"].as_str().unwrap().to_string();
    assert!(bob_secret.starts_with("rpt_"));
    assert_eq!(bob["token"]["access"], "write");
    assert_eq!(bob["token"]["wiki_slug"], "alice");
    let (st, e) = make(
        &s,
        CAROL,
        json!({"wiki": "alice", "name": "w", "access": "write"}),
    )
    .await;
    assert_eq!(st, 403, "a viewer's token only reads: {e}");
    let (st, carol) = make(
        &s,
        CAROL,
        json!({"wiki": "alice", "name": "reader", "access": "read", "expires_in_days": 30}),
    )
    .await;
    assert_eq!(st, 201, "{carol}");
    assert!(carol["token"]["expires_at"].as_i64().is_some());
    let carol_secret = carol["secret"].as_str().unwrap().to_string();
    let (st, _) = make(
        &s,
        DAN,
        json!({"wiki": "alice", "name": "x", "access": "read"}),
    )
    .await;
    assert_eq!(st, 403, "only for wikis one has a role on");
    let (st, _) = make(
        &s,
        BOB,
        json!({"wiki": "alice", "name": "laptop git", "access": "read"}),
    )
    .await;
    assert_eq!(st, 409, "names are unique per person and wiki");
    for bad in [
        json!({"wiki": "alice", "name": "", "access": "read"}),
        json!({"wiki": "alice", "name": "n", "access": "admin"}),
        json!({"wiki": "alice", "name": "n", "access": "read", "expires_in_days": -1}),
        json!({"wiki": "alice", "name": "a\u{7}b", "access": "read"}),
    ] {
        let (st, e) = make(&s, BOB, bad.clone()).await;
        assert_eq!(st, 422, "{bad} → {e}");
    }
    let (st, _) = make(
        &s,
        BOB,
        json!({"wiki": "nowhere", "name": "n", "access": "read"}),
    )
    .await;
    assert_eq!(st, 404);
    // A token cannot make tokens: the management API takes a person's session only.
    let auth = format!("Bearer {bob_secret}");
    let url = format!("{}/api/tokens", s.root());
    let (st, _) = call(&s, url, Method::GET, Some(&auth), None).await;
    assert_eq!(st, 401);

    // Stored hashed: the secret is nowhere in the database.
    {
        let c = s.state.db.conn().unwrap();
        let hashes: Vec<String> = c
            .prepare("SELECT token_hash FROM personal_tokens")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(hashes.len(), 2);
        assert!(
            hashes
                .iter()
                .all(|h| !h.contains(&bob_secret[4..]) && h.len() == 64)
        );
    }

    // Used on REST: writes are the person's, signed with the token's name.
    assert_eq!(
        put_page(&s, "alice", &bob_secret, "From Bob", "hello\n").await,
        201
    );
    assert_eq!(
        last_author(&s.repo("alice")),
        format!("bob.test (via token laptop git) <{BOB}>")
    );
    // A read-only token reads and does not write.
    assert_eq!(get_page(&s, "alice", &carol_secret, "From Bob").await, 200);
    assert_eq!(
        put_page(&s, "alice", &carol_secret, "From Carol", "x\n").await,
        403
    );
    // Another wiki is not the token's.
    assert_eq!(get_page(&s, "dan", &bob_secret, "Home").await, 403);

    // Used on MCP.
    let c = crate::common::mcp::connect(&s, "alice", &bob_secret).await;
    let (_, out) = crate::common::mcp::ok(&c, "read_note", json!({"path": "From Bob"})).await;
    assert!(out["content"].as_str().unwrap().contains("hello"));
    crate::common::mcp::ok(
        &c,
        "write_note",
        json!({"path": "Via Mcp", "content": "from mcp\n"}),
    )
    .await;
    let _ = c.cancel().await;
    assert_eq!(
        last_author(&s.repo("alice")),
        format!("bob.test (via token laptop git) <{BOB}>")
    );

    // Used with git, as the Basic password under any user name.
    let tmp = tempfile::tempdir().unwrap();
    let resolve = format!("alice.localhost:{}:127.0.0.1", s.addr.port());
    let clone_url = format!(
        "http://anyone:{bob_secret}@alice.localhost:{}/repo.git",
        s.addr.port()
    );
    let dir = tmp.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("git")
            .args(["-c", &format!("http.curloptResolve={resolve}")])
            .args(["clone", "-q", &clone_url, "copy"])
            .current_dir(&dir)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tmp.path().join("copy/from bob.md").exists());

    // Listed, with last use and never a secret.
    let (st, list) = manage(&s, Method::GET, "/api/tokens", BOB, None).await;
    assert_eq!(st, 200);
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["name"], "laptop git");
    assert!(tokens[0]["last_used_at"].as_i64().is_some(), "{list}");
    assert!(!list.to_string().contains("rpt_"));

    // At most the person's current role: removing a collaborator stops their token.
    let (st, _) = manage(
        &s,
        Method::DELETE,
        &format!("/api/wikis/alice/collaborators/{BOB}"),
        ALICE,
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(put_page(&s, "alice", &bob_secret, "Late", "x\n").await, 403);
    assert_eq!(get_page(&s, "alice", &bob_secret, "From Bob").await, 403);

    // Revoked: unknown at once. Someone else's token cannot be revoked.
    let carol_id = carol["token"]["id"].as_i64().unwrap();
    let (st, _) = manage(
        &s,
        Method::DELETE,
        &format!("/api/tokens/{carol_id}"),
        BOB,
        None,
    )
    .await;
    assert_eq!(st, 404);
    assert_eq!(get_page(&s, "alice", &carol_secret, "From Bob").await, 200);
    let (st, _) = manage(
        &s,
        Method::DELETE,
        &format!("/api/tokens/{carol_id}"),
        CAROL,
        None,
    )
    .await;
    assert_eq!(st, 204);
    assert_eq!(get_page(&s, "alice", &carol_secret, "From Bob").await, 401);

    // Expired: unknown too.
    let (_, late) = make(
        &s,
        ALICE,
        json!({"wiki": "alice", "name": "short", "access": "read", "expires_in_days": 1}),
    )
    .await;
    let late_secret = late["secret"].as_str().unwrap().to_string();
    assert_eq!(get_page(&s, "alice", &late_secret, "From Bob").await, 200);
    s.state
        .db
        .conn()
        .unwrap()
        .execute(
            "UPDATE personal_tokens SET expires_at = 1 WHERE name = 'short'",
            [],
        )
        .unwrap();
    assert_eq!(get_page(&s, "alice", &late_secret, "From Bob").await, 401);

    // The audit log says who made and revoked which token.
    let (_, log) = manage(&s, Method::GET, "/api/wikis/alice/audit", ALICE, None).await;
    let log = log.to_string();
    assert!(
        log.contains("token.personal.create") && log.contains("token.personal.revoke"),
        "{log}"
    );
}

#[tokio::test]
async fn the_account_page_makes_shows_once_and_revokes() {
    let s = TestServer::start().await;
    s.add_user(ALICE, "alice.test");
    s.create_wiki("alice", ALICE, false);
    let (cookie, csrf) = s.session_for(ALICE);
    let root = format!("localhost:{}", s.addr.port());
    let form = form_body(&[
        ("csrf", &csrf),
        ("wiki", "alice"),
        ("name", "obsidian"),
        ("access", "write"),
        ("expires_in_days", ""),
    ]);
    let (st, page) = s
        .raw(
            &root,
            "POST",
            "/app/account/tokens",
            Some(&cookie),
            Some(&form),
        )
        .await;
    assert_eq!(st, 200, "{page}");
    let secret: String = page
        .split("rpt_")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect()
        })
        .expect("the new token is shown");
    let secret = format!("rpt_{secret}");
    assert!(page.contains("credential.helper"), "how to use it with git");
    assert!(page.contains(&format!("{}/repo.git", s.wiki_url("alice"))));
    assert!(
        page.to_ascii_lowercase()
            .contains("cache-control: no-store")
    );
    assert_eq!(put_page(&s, "alice", &secret, "Obsidian", "x\n").await, 201);

    // Shown once: the account page lists it by name only.
    let (_, again) = s
        .raw(&root, "GET", "/app/account", Some(&cookie), None)
        .await;
    assert!(again.contains("obsidian") && !again.contains("rpt_"));

    // Without the CSRF token nothing is made.
    let forged = form_body(&[("wiki", "alice"), ("name", "forged"), ("access", "write")]);
    let (st, _) = s
        .raw(
            &root,
            "POST",
            "/app/account/tokens",
            Some(&cookie),
            Some(&forged),
        )
        .await;
    assert_eq!(st, 403);
    // A bad form is shown beside the form, and makes nothing.
    let bad = form_body(&[
        ("csrf", &csrf),
        ("wiki", "alice"),
        ("name", ""),
        ("access", "write"),
    ]);
    let (st, _) = s
        .raw(
            &root,
            "POST",
            "/app/account/tokens",
            Some(&cookie),
            Some(&bad),
        )
        .await;
    assert_eq!(st, 422);

    let id: i64 = s
        .state
        .db
        .conn()
        .unwrap()
        .query_row("SELECT id FROM personal_tokens", [], |r| r.get(0))
        .unwrap();
    let revoke = form_body(&[("csrf", &csrf)]);
    let (st, _) = s
        .raw(
            &root,
            "POST",
            &format!("/app/account/tokens/{id}/revoke"),
            Some(&cookie),
            Some(&revoke),
        )
        .await;
    assert_eq!(st, 303);
    assert_eq!(get_page(&s, "alice", &secret, "Obsidian").await, 401);
}
