//! The management API (`/api`, bearer platform JWT) and app (`/app`, cookie + CSRF): wiki
//! creation and the one-wiki rule, settings, collaborators (at most three), tokens shown
//! once, deletion with confirmation, the audit log, the write rate limit, and wiki tokens
//! as principals on wiki hosts.

use robot::access::Role;

use crate::common::*;

const ALICE: &str = "did:plc:alice";
const BOB: &str = "did:plc:bob";
const CAROL: &str = "did:plc:carol";

/// A platform JWT for `did` (what a signed-in browser holds), as a bearer header value.
fn bearer(s: &TestServer, did: &str) -> String {
    s.jwt_bearer(did)
}

async fn api(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    auth: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let c = s.client();
    let mut r = c.request(method, format!("{}{path}", s.root()));
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
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

use reqwest::Method;

#[tokio::test]
async fn management_api_end_to_end() {
    let s = TestServer::start().await;
    for (d, h) in [
        (ALICE, "alice.test"),
        (BOB, "bob.test"),
        (CAROL, "carol.test"),
        ("did:plc:dan", "dan.test"),
        ("did:plc:eve", "eve.test"),
    ] {
        s.add_user(d, h);
    }
    let alice = bearer(&s, ALICE);
    let bob = bearer(&s, BOB);

    // No credentials, bad credentials, and the cookie are all 401 with JSON.
    let (st, body) = api(&s, Method::GET, "/api/me", None, None).await;
    assert_eq!(st, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(
        api(&s, Method::GET, "/api/me", Some("Bearer nonsense"), None)
            .await
            .0,
        401
    );
    let (cookie, _) = s.session_for(ALICE);
    let r = s
        .client()
        .get(format!("{}/api/me", s.root()))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the cookie is not accepted on /api");
    assert_eq!(r.headers()["www-authenticate"], "Bearer");

    let (st, me) = api(&s, Method::GET, "/api/me", Some(&alice), None).await;
    assert_eq!(st, 200);
    assert_eq!(me["did"], ALICE);
    assert_eq!(me["handle"], "alice.test");

    // Create: 201 with the token shown once; the username becomes the slug.
    let (st, created) = api(
        &s,
        Method::POST,
        "/api/wikis",
        Some(&alice),
        Some(serde_json::json!({"slug": "alice", "title": "Alice's notes"})),
    )
    .await;
    assert_eq!(st, 201, "{created}");
    assert_eq!(created["wiki"]["url"], s.wiki_url("alice"));
    assert_eq!(
        created["wiki"]["mcp_url"],
        format!("{}/mcp", s.wiki_url("alice"))
    );
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("rwt_"));
    let (_, me) = api(&s, Method::GET, "/api/me", Some(&alice), None).await;
    assert_eq!(me["username"], "alice");
    let stored: String = s
        .state
        .db
        .conn()
        .unwrap()
        .query_row("SELECT token_hash FROM wiki_tokens", [], |r| r.get(0))
        .unwrap();
    assert_ne!(stored, token, "only the hash is stored");
    assert!(ls_files(&s.repo("alice")).contains(&"home.md".to_string()));

    // One wiki per account; bad slugs; duplicate slugs.
    let (st, body) = api(
        &s,
        Method::POST,
        "/api/wikis",
        Some(&alice),
        Some(serde_json::json!({"slug": "second"})),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(
        body["error"]["message"],
        "Wiki limit reached (1 wiki per user)."
    );
    for (slug, msg) in [
        ("Bad", "slug must be lowercase"),
        ("ab", "slug must be at least 3 characters"),
        ("www", "slug is reserved"),
    ] {
        let (st, body) = api(
            &s,
            Method::POST,
            "/api/wikis",
            Some(&bob),
            Some(serde_json::json!({"slug": slug})),
        )
        .await;
        assert_eq!(st, 422, "{slug}");
        assert_eq!(body["error"]["message"], msg);
    }
    let (st, _) = api(
        &s,
        Method::POST,
        "/api/wikis",
        Some(&bob),
        Some(serde_json::json!({"slug": "alice"})),
    )
    .await;
    assert_eq!(st, 409);
    let (st, body) = api(
        &s,
        Method::POST,
        "/api/wikis",
        Some(&bob),
        Some(serde_json::json!({"nope": 1})),
    )
    .await;
    assert_eq!((st, body["error"]["code"].as_str()), (422, Some("invalid")));
    assert!(
        !s.state.cfg.wikis_dir().join("ab").exists()
            && !s.state.cfg.wikis_dir().join("Bad").exists()
    );

    // Settings: owner only.
    let (st, _) = api(
        &s,
        Method::PATCH,
        "/api/wikis/alice",
        Some(&bob),
        Some(serde_json::json!({"is_public": true})),
    )
    .await;
    assert_eq!(st, 403);
    let (st, w) = api(
        &s,
        Method::PATCH,
        "/api/wikis/alice",
        Some(&alice),
        Some(serde_json::json!({"is_public": true, "title": "Renamed"})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        (w["is_public"].as_bool(), w["title"].as_str()),
        (Some(true), Some("Renamed"))
    );
    let (st, w) = api(&s, Method::GET, "/api/wikis/alice", Some(&bob), None).await;
    assert_eq!(
        (st, w["role"].clone()),
        (200, serde_json::Value::Null),
        "a public wiki is readable by anyone"
    );

    // Collaborators: add by handle, change role, at most three, remove.
    let (st, c) = api(
        &s,
        Method::POST,
        "/api/wikis/alice/collaborators",
        Some(&alice),
        Some(serde_json::json!({"handle": "@bob.test", "role": "editor"})),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(c["did"], BOB);
    let (st, _) = api(
        &s,
        Method::POST,
        "/api/wikis/alice/collaborators",
        Some(&alice),
        Some(serde_json::json!({"handle": "carol.test", "role": "owner"})),
    )
    .await;
    assert_eq!(st, 422, "collaborators are editors or viewers");
    for h in ["carol.test", "dan.test"] {
        assert_eq!(
            api(
                &s,
                Method::POST,
                "/api/wikis/alice/collaborators",
                Some(&alice),
                Some(serde_json::json!({"handle": h, "role": "viewer"}))
            )
            .await
            .0,
            201
        );
    }
    let (st, body) = api(
        &s,
        Method::POST,
        "/api/wikis/alice/collaborators",
        Some(&alice),
        Some(serde_json::json!({"handle": "eve.test", "role": "viewer"})),
    )
    .await;
    assert_eq!(st, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 3")
    );
    let (st, _) = api(
        &s,
        Method::PATCH,
        &format!("/api/wikis/alice/collaborators/{CAROL}"),
        Some(&alice),
        Some(serde_json::json!({"role": "editor"})),
    )
    .await;
    assert_eq!(st, 200);
    let (_, list) = api(
        &s,
        Method::GET,
        "/api/wikis/alice/collaborators",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(list["collaborators"].as_array().unwrap().len(), 3);
    let (st, _) = api(
        &s,
        Method::GET,
        "/api/wikis/alice/collaborators",
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(st, 403, "editors do not manage collaborators");
    // Bob, an editor, can write through the web; after removal he cannot (next request).
    let (bob_cookie, bob_csrf) = s.session_for(BOB);
    let host = s.wiki_host("alice");
    let body = form_body(&[
        ("csrf", &bob_csrf),
        ("base_revision", ""),
        ("content", "by bob\n"),
    ]);
    assert_eq!(
        s.raw(&host, "POST", "/Bob/save", Some(&bob_cookie), Some(&body))
            .await
            .0,
        303
    );
    assert_eq!(
        api(
            &s,
            Method::DELETE,
            &format!("/api/wikis/alice/collaborators/{BOB}"),
            Some(&alice),
            None
        )
        .await
        .0,
        200
    );
    let body = form_body(&[
        ("csrf", &bob_csrf),
        ("base_revision", ""),
        ("content", "again\n"),
    ]);
    assert_eq!(
        s.raw(&host, "POST", "/Bob2/save", Some(&bob_cookie), Some(&body))
            .await
            .0,
        403
    );
    assert_eq!(
        api(
            &s,
            Method::DELETE,
            &format!("/api/wikis/alice/collaborators/{BOB}"),
            Some(&alice),
            None
        )
        .await
        .0,
        404
    );

    // The wiki token is an editor on its wiki, needs no CSRF, and is nothing elsewhere.
    let count = commit_count(&s.repo("alice"));
    let r = s
        .client()
        .post(format!("{}/Token%20Page/save", s.wiki_url("alice")))
        .header("authorization", format!("Bearer {token}"))
        .form(&[
            ("content", "written with the token\n"),
            ("base_revision", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(commit_count(&s.repo("alice")), count + 1);
    assert_eq!(
        git(&s.repo("alice"), &["log", "-1", "--format=%an"]).trim(),
        "alice wiki token"
    );
    let (st, _) = api(
        &s,
        Method::POST,
        "/api/wikis",
        Some(&bob),
        Some(serde_json::json!({"slug": "bobwiki"})),
    )
    .await;
    assert_eq!(st, 201);
    let r = s
        .client()
        .get(format!("{}/Home/edit", s.wiki_url("bobwiki")))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "another wiki's token");
    // Regenerating replaces it at once.
    let (st, t2) = api(
        &s,
        Method::POST,
        "/api/wikis/alice/token",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_ne!(t2["token"], token);
    let r = s
        .client()
        .get(format!("{}/Home/edit", s.wiki_url("alice")))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    // A bearer token that is no credential is refused (401), not taken for an anonymous
    // browser and sent to sign in: a client that sends `Authorization` is not a browser.
    assert_eq!(r.status(), 401, "the old token is now no credential");

    // The audit log saw it all, with request ids.
    let (st, audit) = api(
        &s,
        Method::GET,
        "/api/wikis/alice/audit",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "wiki.create",
        "wiki.settings",
        "collaborator.add",
        "collaborator.role",
        "collaborator.remove",
        "token.regenerate",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert!(
        audit["entries"][0]["request_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );

    // Delete: owner only, then gone with its repository.
    assert_eq!(
        api(&s, Method::DELETE, "/api/wikis/alice", Some(&bob), None)
            .await
            .0,
        403
    );
    assert_eq!(
        api(&s, Method::DELETE, "/api/wikis/alice", Some(&alice), None)
            .await
            .0,
        200
    );
    assert!(!s.state.cfg.wikis_dir().join("alice").exists());
    assert_eq!(
        api(&s, Method::GET, "/api/wikis/alice", Some(&alice), None)
            .await
            .0,
        404
    );
    assert_eq!(
        api(&s, Method::GET, "/api/nothing/here", Some(&alice), None)
            .await
            .1["error"]["code"],
        "not_found"
    );
}

#[tokio::test]
async fn management_app_forms() {
    let s = TestServer::start().await;
    s.add_user(ALICE, "alice.test");
    s.add_user(BOB, "bob.test");
    let root = format!("localhost:{}", s.addr.port());
    // Not signed in: the app sends you to sign in.
    let (st, raw) = s.raw(&root, "GET", "/app", None, None).await;
    assert_eq!(st, 303);
    assert!(raw.contains("/auth/login"));
    let (cookie, csrf) = s.session_for(ALICE);
    let (st, page) = s.raw(&root, "GET", "/app", Some(&cookie), None).await;
    assert_eq!(st, 200);
    assert!(
        page.contains("name=\"slug\" value=\"alice\""),
        "signup suggests the username"
    );
    // Create without CSRF: refused, nothing created.
    let (st, _) = s
        .raw(
            &root,
            "POST",
            "/app/wikis",
            Some(&cookie),
            Some(&form_body(&[("slug", "alice")])),
        )
        .await;
    assert_eq!(st, 403);
    assert!(!s.state.cfg.wikis_dir().join("alice").exists());
    // A bad name shows the form again with the reason.
    let (st, page) = s
        .raw(
            &root,
            "POST",
            "/app/wikis",
            Some(&cookie),
            Some(&form_body(&[("csrf", &csrf), ("slug", "no")])),
        )
        .await;
    assert_eq!(st, 422);
    assert!(page.contains("slug must be at least 3 characters"));
    // Create: the token is shown once, on a page that is not cached.
    let (st, page) = s
        .raw(
            &root,
            "POST",
            "/app/wikis",
            Some(&cookie),
            Some(&form_body(&[
                ("csrf", &csrf),
                ("slug", "alice"),
                ("title", "Notes"),
            ])),
        )
        .await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("rwt_"), "token shown once");
    assert!(page.to_lowercase().contains("cache-control: no-store"));
    let (_, page) = s
        .raw(&root, "GET", "/app/wikis/alice", Some(&cookie), None)
        .await;
    assert!(!page.contains("rwt_"), "and never again");
    assert!(page.contains("claude mcp add --transport http alice"));
    assert!(page.contains(&format!("git clone {}/repo.git", s.wiki_url("alice"))));
    // Settings.
    let (st, _) = s
        .raw(
            &root,
            "POST",
            "/app/wikis/alice/settings",
            Some(&cookie),
            Some(&form_body(&[
                ("csrf", &csrf),
                ("title", "Notes"),
                ("description", "d"),
                ("is_public", "y"),
            ])),
        )
        .await;
    assert_eq!(st, 303, "post/redirect/get");
    let (_, page) = s
        .raw(
            &root,
            "GET",
            "/app/wikis/alice?done=settings",
            Some(&cookie),
            None,
        )
        .await;
    assert!(page.contains("Settings saved."));
    let (_, page) = s
        .raw(
            &root,
            "GET",
            "/app/wikis/alice?done=%3Cscript%3E",
            Some(&cookie),
            None,
        )
        .await;
    assert!(!page.contains("<script>"), "only known outcomes are shown");
    let w = robot::db::wikis::by_slug(&s.state.db.conn().unwrap(), "alice")
        .unwrap()
        .unwrap();
    assert!(w.is_public && !w.git_clone, "unchecked boxes switch off");
    // Collaborators.
    let (st, page) = s
        .raw(
            &root,
            "POST",
            "/app/wikis/alice/collaborators",
            Some(&cookie),
            Some(&form_body(&[
                ("csrf", &csrf),
                ("handle", "bob.test"),
                ("role", "viewer"),
            ])),
        )
        .await;
    assert_eq!(st, 303, "{page}");
    let (_, page) = s
        .raw(
            &root,
            "GET",
            "/app/wikis/alice?done=collaborator-added",
            Some(&cookie),
            None,
        )
        .await;
    assert!(page.contains("@bob.test") && page.contains("Collaborator added."));
    assert_eq!(
        robot::db::wikis::collaborator_role(&s.state.db.conn().unwrap(), w.id, BOB).unwrap(),
        Some(Role::Viewer)
    );
    let (st, _) = s
        .raw(
            &root,
            "POST",
            &format!("/app/wikis/alice/collaborators/{BOB}"),
            Some(&cookie),
            Some(&form_body(&[("csrf", &csrf), ("action", "remove")])),
        )
        .await;
    assert_eq!(st, 303);
    assert_eq!(
        robot::db::wikis::collaborator_role(&s.state.db.conn().unwrap(), w.id, BOB).unwrap(),
        None
    );
    // Bob cannot manage Alice's wiki.
    let (bob_cookie, bob_csrf) = s.session_for(BOB);
    let (st, _) = s
        .raw(&root, "GET", "/app/wikis/alice", Some(&bob_cookie), None)
        .await;
    assert_eq!(st, 403);
    let (st, _) = s
        .raw(
            &root,
            "POST",
            "/app/wikis/alice/delete",
            Some(&bob_cookie),
            Some(&form_body(&[("csrf", &bob_csrf), ("confirm", "alice")])),
        )
        .await;
    assert_eq!(st, 403);
    // The admin page is for admins.
    assert_eq!(
        s.raw(&root, "GET", "/app/admin", Some(&cookie), None)
            .await
            .0,
        403
    );
    // Deleting needs the typed name.
    let (st, page) = s
        .raw(
            &root,
            "POST",
            "/app/wikis/alice/delete",
            Some(&cookie),
            Some(&form_body(&[("csrf", &csrf), ("confirm", "wrong")])),
        )
        .await;
    assert_eq!(st, 422);
    assert!(page.contains("name (alice) to confirm."), "{page}");
    assert!(s.state.cfg.wikis_dir().join("alice").exists());
    // Account deletion removes owned wikis, sessions and the account.
    let (st, _) = s
        .raw(
            &root,
            "POST",
            "/app/account/delete",
            Some(&cookie),
            Some(&form_body(&[("csrf", &csrf), ("confirm", "nope")])),
        )
        .await;
    assert_eq!(st, 422);
    let (st, _) = s
        .raw(
            &root,
            "POST",
            "/app/account/delete",
            Some(&cookie),
            Some(&form_body(&[("csrf", &csrf), ("confirm", "@alice.test")])),
        )
        .await;
    assert_eq!(st, 303);
    assert!(!s.state.cfg.wikis_dir().join("alice").exists());
    let conn = s.state.db.conn().unwrap();
    assert!(robot::db::users::get(&conn, ALICE).unwrap().is_none());
    let sessions: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sessions WHERE did = ?1",
            [ALICE],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sessions, 0);
    let deleted: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'account.delete'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(deleted, 1);
    drop(conn);
    assert_eq!(
        s.raw(&root, "GET", "/app", Some(&cookie), None).await.0,
        303,
        "the session died with the account"
    );
}

#[tokio::test]
async fn admins_may_own_several_wikis_and_see_the_admin_page() {
    let s = TestServer::start_with(|cfg| cfg.admin_dids = vec![ALICE.into()]).await;
    s.add_user(ALICE, "alice.test");
    let alice = bearer(&s, ALICE);
    for slug in ["one-wiki", "two-wiki"] {
        assert_eq!(
            api(
                &s,
                Method::POST,
                "/api/wikis",
                Some(&alice),
                Some(serde_json::json!({"slug": slug}))
            )
            .await
            .0,
            201
        );
    }
    let (cookie, _) = s.session_for(ALICE);
    let (st, page) = s
        .raw(
            &format!("localhost:{}", s.addr.port()),
            "GET",
            "/app/admin",
            Some(&cookie),
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert!(page.contains("two-wiki") && page.contains("@alice.test"));
    assert!(page.contains("page(s) waiting"), "queue depth shown");
}

#[tokio::test]
async fn writes_are_rate_limited_per_principal_and_address() {
    let s = TestServer::start_with(|cfg| {
        cfg.limits.write_burst = 3;
        cfg.limits.writes_per_minute = 1;
    })
    .await;
    s.add_user(ALICE, "alice.test");
    s.create_wiki("notes", ALICE, false);
    let (cookie, csrf) = s.session_for(ALICE);
    let host = s.wiki_host("notes");
    let count = commit_count(&s.repo("notes"));
    let mut statuses = Vec::new();
    for i in 0..4 {
        let body = form_body(&[
            ("csrf", &csrf),
            ("base_revision", ""),
            ("content", &format!("v{i}\n")),
        ]);
        let (st, raw) = s
            .raw(
                &host,
                "POST",
                &format!("/Page{i}/save"),
                Some(&cookie),
                Some(&body),
            )
            .await;
        if st == 429 {
            assert!(raw.to_lowercase().contains("retry-after:"), "{raw}");
        }
        statuses.push(st);
    }
    assert_eq!(statuses, vec![303, 303, 303, 429]);
    assert_eq!(
        commit_count(&s.repo("notes")),
        count + 3,
        "the refused write wrote nothing"
    );
    // Reads are not limited.
    assert_eq!(
        s.raw(&host, "GET", "/Home", Some(&cookie), None).await.0,
        200
    );
    // The API shares the limiter.
    let (st, body) = api(
        &s,
        Method::POST,
        "/api/wikis",
        Some(&bearer(&s, ALICE)),
        Some(serde_json::json!({"slug": "other"})),
    )
    .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
}

#[tokio::test]
async fn provisioning_is_atomic_and_a_retry_succeeds() {
    let s = TestServer::start().await;
    s.add_user(ALICE, "alice.test");
    // A row appears under the same name while the repository is being built (a race
    // with another creator): the insert fails, and nothing is left behind.
    let conn = s.state.db.conn().unwrap();
    conn.execute(
        "INSERT INTO wikis (slug, owner_did, title, created_at) VALUES ('racy', ?1, 'x', 0)",
        [ALICE],
    )
    .unwrap();
    let err = s
        .state
        .wikis
        .create_wiki(&robot::wiki::provision::CreateWiki {
            slug: "racy",
            owner_did: ALICE,
            title: "",
            description: "",
            is_public: false,
        })
        .unwrap_err();
    assert!(
        matches!(err, robot::error::Error::Conflict { .. }),
        "{err:?}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(s.state.cfg.wikis_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        leftovers.is_empty(),
        "no repository or temp dir left: {leftovers:?}"
    );
    // Once the conflict is gone, a retry succeeds.
    conn.execute("DELETE FROM wikis WHERE slug = 'racy'", [])
        .unwrap();
    drop(conn);
    let w = s
        .state
        .wikis
        .create_wiki(&robot::wiki::provision::CreateWiki {
            slug: "racy",
            owner_did: ALICE,
            title: "",
            description: "",
            is_public: false,
        })
        .unwrap();
    assert_eq!(w.slug, "racy");
    fsck(&s.repo("racy"));
    assert_eq!(commit_count(&s.repo("racy")), 1);
}
