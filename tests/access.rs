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
}

const EVERYONE: [Who; 6] = [
    Who::Anonymous,
    Who::Viewer,
    Who::Editor,
    Who::Owner,
    Who::Stranger,
    Who::ExpiredSession,
];

fn did(w: Who) -> Option<&'static str> {
    match w {
        Who::Viewer => Some(VIEWER),
        Who::Editor => Some(EDITOR),
        Who::Owner => Some(OWNER),
        Who::Stranger => Some(STRANGER),
        Who::Anonymous | Who::ExpiredSession => None,
    }
}

/// Expected status of a read (GET) route.
fn read_status(w: Who, public: bool) -> u16 {
    match (w, public) {
        (_, true) => 200,
        (Who::Viewer | Who::Editor | Who::Owner, false) => 200,
        (Who::Stranger, false) => 403,
        (Who::Anonymous | Who::ExpiredSession, false) => 303, // to sign in
    }
}

/// Expected status of a write: a successful write redirects (303).
/// Anonymous callers are sent to sign in (303) on public and private wikis alike.
fn write_status(w: Who) -> u16 {
    match w {
        Who::Editor | Who::Owner => 303,
        Who::Viewer | Who::Stranger => 403,
        Who::Anonymous | Who::ExpiredSession => 303,
    }
}

async fn matrix(public: bool) {
    let s = TestServer::start().await;
    for (d, h) in [
        (OWNER, "owner.test"),
        (EDITOR, "editor.test"),
        (VIEWER, "viewer.test"),
        (STRANGER, "stranger.test"),
    ] {
        s.add_user(d, h);
    }
    s.create_wiki("acl", OWNER, public);
    s.add_collaborator("acl", EDITOR, Role::Editor);
    s.add_collaborator("acl", VIEWER, Role::Viewer);
    let repo = s.repo("acl");
    let host = s.wiki_host("acl");
    let first = git(&repo, &["rev-parse", "main"]).trim().to_string();

    for who in EVERYONE {
        let (cookie, csrf) = match (who, did(who)) {
            (_, Some(d)) => {
                let (c, t) = s.session_for(d);
                (Some(c), t)
            }
            (Who::ExpiredSession, _) => {
                // A session revoked (as logout does) is no session.
                let (c, t) = s.session_for(OWNER);
                s.state
                    .db
                    .conn()
                    .unwrap()
                    .execute("UPDATE sessions SET revoked_at = 1", [])
                    .unwrap();
                (Some(c), t)
            }
            _ => (None, String::new()),
        };
        let cookie = cookie.as_deref();
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
            let (status, _) = s.raw(&host, "GET", path, cookie, None).await;
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
            let (status, _) = s.raw(&host, "GET", path, cookie, None).await;
            let expected = match who {
                Who::Editor | Who::Owner => 200,
                other => write_status(other),
            };
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
            .raw(&host, "POST", "/Home/save", cookie, Some(&body))
            .await;
        assert_eq!(status, write_status(who), "{who:?} save (public={public})");
        let wrote = status == 303 && matches!(who, Who::Editor | Who::Owner);
        assert_eq!(
            commit_count(&repo),
            count + usize::from(wrote),
            "{who:?}: only allowed writes reach git"
        );
        let body = form_body(&[("csrf", &csrf), ("message", "")]);
        let (status, _) = s
            .raw(
                &host,
                "POST",
                &format!("/-/revert/{first}"),
                cookie,
                Some(&body),
            )
            .await;
        if matches!(who, Who::Editor | Who::Owner) {
            // Reverting the initial commit of a wiki whose Home was since edited conflicts
            // (409) or succeeds (303); either way the ACL let it through.
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
    let conn = s.state.db.conn().unwrap();
    let w = robot::db::wikis::by_slug(&conn, "acl").unwrap().unwrap();
    robot::db::wikis::remove_collaborator(&conn, w.id, EDITOR).unwrap();
    assert_eq!(
        s.raw(&host, "GET", "/Home/edit", Some(&cookie), None)
            .await
            .0,
        403
    );
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
