//! Who may do what, for each role, on private and public wikis, through the web routes —
//! and that no denied write reaches git.

use robot::access::Role;

use crate::common::*;

const OWNER: &str = "did:plc:owner";
const EDITOR: &str = "did:plc:editor";
const VIEWER: &str = "did:plc:viewer";
const STRANGER: &str = "did:plc:stranger";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Anonymous,
    Viewer,
    Editor,
    Owner,
    Stranger,
    ExpiredSession,
    /// Was an editor; removed before the requests.
    RevokedCollaborator,
    ThisWikiToken,
    OtherWikiToken,
}

const EVERYONE: [Who; 9] = [
    Who::Anonymous,
    Who::Viewer,
    Who::Editor,
    Who::Owner,
    Who::Stranger,
    Who::ExpiredSession,
    Who::RevokedCollaborator,
    Who::ThisWikiToken,
    Who::OtherWikiToken,
];

const REVOKED: &str = "did:plc:revoked";

/// Expected status of a read (GET) route.
fn read_status(w: Who, public: bool) -> u16 {
    match (w, public) {
        (_, true) => 200,
        (Who::Viewer | Who::Editor | Who::Owner | Who::ThisWikiToken, false) => 200,
        (Who::Stranger | Who::RevokedCollaborator | Who::OtherWikiToken, false) => 403,
        (Who::Anonymous | Who::ExpiredSession, false) => 303, // to sign in
    }
}

/// Expected status of a write: a successful write redirects (303); anonymous callers are
/// sent to sign in (also 303) and write nothing.
fn write_status(w: Who) -> u16 {
    match w {
        Who::Editor | Who::Owner | Who::ThisWikiToken => 303,
        Who::Viewer | Who::Stranger | Who::RevokedCollaborator | Who::OtherWikiToken => 403,
        Who::Anonymous | Who::ExpiredSession => 303,
    }
}

fn writes(w: Who) -> bool {
    matches!(w, Who::Editor | Who::Owner | Who::ThisWikiToken)
}

/// Credentials for `who`: extra headers and the CSRF token to put in forms.
fn credentials(
    s: &TestServer,
    who: Who,
    this_token: &str,
    other_token: &str,
) -> (Vec<(String, String)>, String) {
    let cookie = |did: &str| {
        let (c, t) = s.session_for(did);
        (vec![("Cookie".to_string(), c)], t)
    };
    match who {
        Who::Anonymous => (vec![], String::new()),
        Who::Viewer => cookie(VIEWER),
        Who::Editor => cookie(EDITOR),
        Who::Owner => cookie(OWNER),
        Who::Stranger => cookie(STRANGER),
        Who::RevokedCollaborator => cookie(REVOKED),
        Who::ExpiredSession => {
            // A session revoked (as logout does) is no session.
            let (c, t) = s.session_for(OWNER);
            let jti_sessions: i64 = s
                .state
                .db
                .conn()
                .unwrap()
                .query_row("SELECT MAX(rowid) FROM sessions", [], |r| r.get(0))
                .unwrap();
            s.state
                .db
                .conn()
                .unwrap()
                .execute(
                    "UPDATE sessions SET revoked_at = 1 WHERE rowid = ?1",
                    [jti_sessions],
                )
                .unwrap();
            (vec![("Cookie".to_string(), c)], t)
        }
        Who::ThisWikiToken => (
            vec![("Authorization".to_string(), format!("Bearer {this_token}"))],
            String::new(),
        ),
        Who::OtherWikiToken => (
            vec![("Authorization".to_string(), format!("Bearer {other_token}"))],
            String::new(),
        ),
    }
}

async fn matrix(public: bool) {
    let s = TestServer::start().await;
    for (d, h) in [
        (OWNER, "owner.test"),
        (EDITOR, "editor.test"),
        (VIEWER, "viewer.test"),
        (STRANGER, "stranger.test"),
        (REVOKED, "revoked.test"),
    ] {
        s.add_user(d, h);
    }
    let wiki = s.create_wiki("acl", OWNER, public);
    let other = s.create_wiki("other", STRANGER, false);
    s.add_collaborator("acl", EDITOR, Role::Editor);
    s.add_collaborator("acl", VIEWER, Role::Viewer);
    s.add_collaborator("acl", REVOKED, Role::Editor);
    let (this_token, other_token) = {
        let c = s.state.db.conn().unwrap();
        (
            robot::access::tokens::regenerate(&c, wiki.id).unwrap(),
            robot::access::tokens::regenerate(&c, other.id).unwrap(),
        )
    };
    robot::db::wikis::remove_collaborator(&s.state.db.conn().unwrap(), wiki.id, REVOKED).unwrap();
    let repo = s.repo("acl");
    let host = s.wiki_host("acl");
    let first = git(&repo, &["rev-parse", "main"]).trim().to_string();

    for who in EVERYONE {
        let (headers, csrf) = credentials(&s, who, &this_token, &other_token);
        for path in [
            "/",
            "/Home",
            "/Home/history",
            "/Home/source",
            "/Home/blame",
            "/Home/attachments",
            "/-/index",
            "/-/changelog",
            "/-/search?q=wiki",
            &format!("/-/commit/{first}"),
            "/Home?raw",
        ] {
            let (status, _) = s.raw_with(&host, "GET", path, &headers, None).await;
            assert_eq!(
                status,
                read_status(who, public),
                "{who:?} GET {path} (public={public})"
            );
        }
        // Editor forms need write access.
        for path in [
            "/Home/edit",
            "/-/create",
            "/Home/rename",
            "/Home/delete",
            &format!("/-/revert/{first}"),
        ] {
            let (status, _) = s.raw_with(&host, "GET", path, &headers, None).await;
            let expected = if writes(who) { 200 } else { write_status(who) };
            assert_eq!(status, expected, "{who:?} GET {path} (public={public})");
        }
        let count = commit_count(&repo);
        let base = git(&repo, &["rev-parse", "main"]).trim().to_string();
        let body = form_body(&[
            ("csrf", &csrf),
            ("base_revision", &base),
            ("content", &format!("# Home\nby {who:?}\n")),
        ]);
        let (status, _) = s
            .raw_with(&host, "POST", "/Home/save", &headers, Some(&body))
            .await;
        assert_eq!(status, write_status(who), "{who:?} save (public={public})");
        assert_eq!(
            commit_count(&repo),
            count + usize::from(writes(who)),
            "{who:?}: only allowed writes reach git"
        );
        // Uploads and deletes follow the same rule.
        let body = form_body(&[("csrf", &csrf), ("message", "")]);
        let (status, _) = s
            .raw_with(
                &host,
                "POST",
                "/No%20Such%20Page/delete",
                &headers,
                Some(&body),
            )
            .await;
        let expected = if writes(who) { 404 } else { write_status(who) };
        assert_eq!(status, expected, "{who:?} delete (public={public})");
        let (status, _) = s
            .raw_with(
                &host,
                "POST",
                &format!("/-/revert/{first}"),
                &headers,
                Some(&body),
            )
            .await;
        if writes(who) {
            // Reverting the initial commit after Home was edited conflicts (409) or works
            // (303); either way the ACL let it through.
            assert!(status == 303 || status == 409, "{who:?} revert: {status}");
        } else {
            assert_eq!(
                status,
                write_status(who),
                "{who:?} revert (public={public})"
            );
        }
    }

    // A wrong CSRF token is refused even for the owner.
    let (cookie, _) = s.session_for(OWNER);
    let count = commit_count(&repo);
    let body = form_body(&[("csrf", "forged"), ("base_revision", ""), ("content", "x")]);
    let (status, _) = s
        .raw(&host, "POST", "/Forged/save", Some(&cookie), Some(&body))
        .await;
    assert_eq!(status, 403);
    assert_eq!(commit_count(&repo), count);

    // Removing a collaborator takes effect on their next request.
    let (cookie, _) = s.session_for(EDITOR);
    assert_eq!(
        s.raw(&host, "GET", "/Home/edit", Some(&cookie), None)
            .await
            .0,
        200
    );
    robot::db::wikis::remove_collaborator(&s.state.db.conn().unwrap(), wiki.id, EDITOR).unwrap();
    assert_eq!(
        s.raw(&host, "GET", "/Home/edit", Some(&cookie), None)
            .await
            .0,
        403
    );

    // The management API: owner manages; members read; everyone else is refused.
    s.add_collaborator("acl", EDITOR, Role::Editor);
    let root = format!("localhost:{}", s.addr.port());
    for who in EVERYONE {
        let headers: Vec<(String, String)> = match who {
            Who::Anonymous => vec![],
            Who::ThisWikiToken => vec![("Authorization".into(), format!("Bearer {this_token}"))],
            Who::OtherWikiToken => vec![("Authorization".into(), format!("Bearer {other_token}"))],
            Who::ExpiredSession => vec![(
                "Authorization".into(),
                "Bearer eyJhbGciOiJSUzI1NiJ9.e30.x".into(),
            )],
            _ => {
                let did = match who {
                    Who::Viewer => VIEWER,
                    Who::Editor => EDITOR,
                    Who::Owner => OWNER,
                    Who::Stranger => STRANGER,
                    _ => REVOKED,
                };
                let (c, _) = s.session_for(did);
                vec![(
                    "Authorization".into(),
                    format!("Bearer {}", c.split_once('=').unwrap().1),
                )]
            }
        };
        let not_user = matches!(
            who,
            Who::Anonymous | Who::ThisWikiToken | Who::OtherWikiToken | Who::ExpiredSession
        );
        let member = matches!(who, Who::Viewer | Who::Editor | Who::Owner);
        let expect_read = if not_user {
            401
        } else if member || public {
            200
        } else {
            403
        };
        let expect_admin = if not_user {
            401
        } else if who == Who::Owner {
            200
        } else {
            403
        };
        for (method, path, expected) in [
            ("GET", "/api/wikis/acl", expect_read),
            ("GET", "/api/wikis/acl/collaborators", expect_admin),
            ("GET", "/api/wikis/acl/audit", expect_admin),
            ("POST", "/api/wikis/acl/token", expect_admin),
        ] {
            let (status, _) = s.raw_with(&root, method, path, &headers, None).await;
            assert_eq!(
                status, expected,
                "{who:?} {method} {path} (public={public})"
            );
        }
        if who != Who::Owner {
            let (status, _) = s
                .raw_with(&root, "DELETE", "/api/wikis/acl", &headers, None)
                .await;
            assert_eq!(
                status,
                if not_user { 401 } else { 403 },
                "{who:?} DELETE (public={public})"
            );
            assert!(repo.exists());
        }
    }
    fsck(&repo);
}

#[tokio::test]
async fn private_wiki_access_by_role() {
    matrix(false).await;
}

#[tokio::test]
async fn public_wiki_access_by_role() {
    matrix(true).await;
}

#[tokio::test]
async fn unknown_and_reserved_hosts_are_404() {
    let s = TestServer::start().await;
    let port = s.addr.port();
    for host in [
        format!("nosuch.localhost:{port}"),
        format!("www.localhost:{port}"),
        format!("a.b.localhost:{port}"),
        "example.com".into(),
    ] {
        let (status, body) = s.raw(&host, "GET", "/", None, None).await;
        assert_eq!(status, 404, "{host}");
        assert!(body.contains("<html"), "a page, not a bare error");
    }
    assert_eq!(
        s.raw(&format!("localhost:{port}"), "GET", "/health", None, None)
            .await
            .0,
        200
    );
    let (status, raw) = s
        .raw(
            &format!("localhost:{port}"),
            "GET",
            "/health/ready",
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{raw}");
    let body: serde_json::Value =
        serde_json::from_str(raw.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["database"], "ok");
    assert!(body["disk_free_bytes"].as_u64().unwrap() > 0);
    assert_eq!(body["semantic_search"]["enabled"], false);
    assert!(
        body["semantic_search"]["message"]
            .as_str()
            .unwrap()
            .contains("scripts/fetch-model.sh"),
        "says how to turn it on"
    );
    assert_eq!(body["queue"]["items"], 0);
}

#[tokio::test]
async fn sessions_are_cookies_that_logout_revokes() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("acl", OWNER, false);
    let c = s.client();
    let token = robot::access::session::random_token();
    robot::db::sessions::create_link(
        &s.state.db.conn().unwrap(),
        &robot::access::session::hash_secret(&token),
        OWNER,
        "login",
        600,
    )
    .unwrap();
    let r = c
        .get(format!("{}/auth/login-link?token={token}", s.root()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=86400"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(
        !cookie.contains("Domain="),
        "no Domain attribute on localhost"
    );
    // The link works once.
    let again = s
        .client()
        .get(format!("{}/auth/login-link?token={token}", s.root()))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 403);
    // Logout needs the CSRF token, then revokes the session.
    let csrf = s.csrf(&c, &format!("{}/", s.root())).await;
    assert!(!csrf.is_empty());
    let r = c
        .post(format!("{}/auth/logout", s.root()))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let raw_cookie = cookie.split(';').next().unwrap();
    let (status, body) = s
        .raw(
            &format!("localhost:{}", s.addr.port()),
            "GET",
            "/",
            Some(raw_cookie),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        body.contains("Sign in"),
        "the old cookie no longer signs in"
    );
}
