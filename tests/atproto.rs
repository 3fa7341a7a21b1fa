//! Sign-in with ATProto against a real PLC directory and PDS (`@atproto/dev-env`, see
//! `tests/atproto-harness/`): robot is a confidential client at `https://rsvp.internal`,
//! the PDS fetches its metadata over loopback, and consent is given through the PDS's own
//! UI API. Also: a denied consent, a wrong password, replays, and hostile servers.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::common::*;

const DOMAIN: &str = "rsvp.internal";

/// The PLC + PDS network; stopped when dropped.
struct Network {
    child: Child,
    info: serde_json::Value,
}

impl Network {
    fn start(robot_port: u16) -> Network {
        let mut child = Command::new(node())
            .arg("atp-testnet.mjs")
            .current_dir(harness_dir())
            .env(
                "CLIENT_ORIGIN_MAP",
                format!("https://{DOMAIN}=http://127.0.0.1:{robot_port}"),
            )
            .env("ATP_EXIT_ON_STDIN_CLOSE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the ATProto network");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let info: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("network did not start ({e}): {line:?}"));
        Network { child, info }
    }

    fn s(&self, k: &str) -> String {
        self.info[k].as_str().unwrap().to_string()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Closing stdin stops it (ATP_EXIT_ON_STDIN_CLOSE); kill if it lingers.
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs approve.mjs; returns its JSON or the error text.
fn approve(
    url: &str,
    handle: &str,
    password: &str,
    deny: bool,
) -> Result<serde_json::Value, String> {
    let mut cmd = Command::new(node());
    cmd.arg("approve.mjs")
        .arg(url)
        .arg(handle)
        .arg(password)
        .current_dir(harness_dir());
    if deny {
        cmd.arg("deny");
    }
    let out = cmd.output().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

async fn robot_for(net_port_holder: &tokio::net::TcpListener) -> u16 {
    net_port_holder.local_addr().unwrap().port()
}

/// A raw request to robot with a Host header, returning (status, headers, body).
async fn req(
    s: &TestServer,
    method: &str,
    path: &str,
    cookie: &str,
    form: Option<&str>,
) -> (u16, String) {
    s.raw(
        DOMAIN,
        method,
        path,
        (!cookie.is_empty()).then_some(cookie),
        form,
    )
    .await
}

fn header<'a>(raw: &'a str, name: &str) -> Vec<&'a str> {
    let head = raw.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn sign_in_with_a_real_pds() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = robot_for(&listener).await;
    let net = tokio::task::spawn_blocking(move || Network::start(port))
        .await
        .unwrap();
    let (plc, pds) = (net.s("plcUrl"), net.s("pdsUrl"));
    let s = TestServer::start_on(listener, tempfile::tempdir().unwrap(), |cfg| {
        cfg.domain = DOMAIN.into();
        cfg.scheme = Some("https".into());
        cfg.atproto.plc_url = plc;
        cfg.atproto.handle_resolver_url = Some(pds);
        cfg.atproto.allow_private_hosts = true;
    })
    .await;

    // The client metadata the PDS fetches.
    let (status, raw) = req(&s, "GET", "/auth/client-metadata.json", "", None).await;
    assert_eq!(status, 200);
    assert!(
        raw.contains("\"client_id\":\"https://rsvp.internal/auth/client-metadata.json\""),
        "{raw}"
    );

    // Start: the login form sets its CSRF cookie; posting the handle sends us to the PDS
    // and sets the sign-in's nonce cookie (host-only, `__Host-` over https), which the
    // callback needs.
    let start = |handle: &'static str| {
        let s = &s;
        async move {
            let (status, raw) = req(s, "GET", "/auth/login", "", None).await;
            assert_eq!(status, 200);
            let cookie = cookie_pair(header(&raw, "set-cookie")[0]);
            let csrf = cookie.split_once('=').unwrap().1.to_string();
            let body = form_body(&[("csrf", &csrf), ("handle", handle), ("return_to", "")]);
            let (status, raw) = req(s, "POST", "/auth/login", &cookie, Some(&body)).await;
            assert_eq!(status, 303, "{raw}");
            let set = header(&raw, "set-cookie")
                .into_iter()
                .find(|c| c.starts_with("__Host-robot_signin="))
                .unwrap_or_else(|| panic!("no sign-in nonce cookie: {raw}"))
                .to_string();
            assert!(
                set.contains("Secure") && set.contains("Path=/;") && !set.contains("Domain"),
                "{set}"
            );
            (header(&raw, "location")[0].to_string(), cookie_pair(&set))
        }
    };
    let (url, _) = start("@alice.test").await;
    assert!(
        url.starts_with(&format!("{}/oauth/authorize?client_id=", net.s("issuer"))),
        "{url}"
    );

    // A wrong password fails at the PDS; nothing happens on our side.
    let err = approve(&url, "alice.test", "wrong-password", false).unwrap_err();
    assert!(err.contains("Invalid identifier or password"), "{err}");

    let (url, signin) = start("alice.test").await;
    let ok = approve(&url, "alice.test", &net.s("password"), false).unwrap();
    let callback = format!(
        "/auth/callback?code={}&state={}&iss={}",
        urlenc(ok["code"].as_str().unwrap()),
        urlenc(ok["state"].as_str().unwrap()),
        urlenc(ok["iss"].as_str().unwrap())
    );
    let (status, raw) = req(&s, "GET", &callback, &signin, None).await;
    assert_eq!(status, 303, "{raw}");
    assert_eq!(
        header(&raw, "location")[0],
        "/app",
        "a new user goes to the app to create their wiki"
    );
    let session = cookie_pair(header(&raw, "set-cookie")[0]);
    assert!(session.starts_with("robot_session="));
    let set_cookie = header(&raw, "set-cookie")[0].to_string();
    assert!(
        set_cookie.contains("Secure")
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("Domain=.rsvp.internal"),
        "{set_cookie}"
    );

    // The session is Alice's DID and handle.
    let conn = s.state.db.conn().unwrap();
    let (did, handle): (String, String) = conn
        .query_row("SELECT did, handle FROM users", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(did, net.s("did"));
    assert_eq!(handle, "alice.test");
    let (status, page) = req(&s, "GET", "/app", &session, None).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("@alice.test") && page.contains("value=\"alice\""),
        "signup suggests the username from the handle"
    );
    let login: (String, Option<String>) = conn
        .query_row(
            "SELECT action, request_id FROM audit_log WHERE actor = ?1",
            [&did],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(login.0, "login");
    assert!(
        login.1.is_some_and(|r| !r.is_empty()),
        "audit entries carry the request id"
    );
    // The ATProto tokens are stored sealed.
    let sealed: Vec<u8> = conn
        .query_row(
            "SELECT secrets FROM atproto_sessions WHERE did = ?1",
            [&did],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("access_token"));
    drop(conn);

    // Replaying the callback does nothing.
    let (status, raw) = req(&s, "GET", &callback, &signin, None).await;
    assert_eq!(status, 403);
    assert!(raw.contains("expired or was already used"));
    assert!(header(&raw, "set-cookie").is_empty());

    // A failed code exchange (a code the server never issued) is an error page, not a panic.
    let (url, signin2) = start("alice.test").await;
    let ok2 = approve(&url, "alice.test", &net.s("password"), false).unwrap();
    let bogus = format!(
        "/auth/callback?code=cod-bogus&state={}&iss={}",
        urlenc(ok2["state"].as_str().unwrap()),
        urlenc(ok2["iss"].as_str().unwrap())
    );
    let (status, raw) = req(&s, "GET", &bogus, &signin2, None).await;
    assert_eq!(status, 422, "{raw}");
    assert!(raw.contains("refused the request (invalid_grant"), "{raw}");
    assert!(header(&raw, "set-cookie").is_empty());
    // The wrong issuer in the callback is refused too.
    let (url, signin3) = start("alice.test").await;
    let ok3 = approve(&url, "alice.test", &net.s("password"), false).unwrap();
    let wrong_iss = format!(
        "/auth/callback?code={}&state={}&iss=https%3A%2F%2Fevil.example",
        urlenc(ok3["code"].as_str().unwrap()),
        urlenc(ok3["state"].as_str().unwrap())
    );
    let (status, raw) = req(&s, "GET", &wrong_iss, &signin3, None).await;
    assert_eq!(status, 403, "{raw}");
    assert!(raw.contains("unexpected server"));

    // A callback in another browser (without the sign-in's nonce cookie, or with another
    // sign-in's) is refused before anything is exchanged.
    let (url, _) = start("alice.test").await;
    let ok4 = approve(&url, "alice.test", &net.s("password"), false).unwrap();
    let elsewhere = format!(
        "/auth/callback?code={}&state={}&iss={}",
        urlenc(ok4["code"].as_str().unwrap()),
        urlenc(ok4["state"].as_str().unwrap()),
        urlenc(ok4["iss"].as_str().unwrap())
    );
    let (status, raw) = req(&s, "GET", &elsewhere, &signin3, None).await;
    assert_eq!(status, 403, "{raw}");
    assert!(raw.contains("another browser"), "{raw}");
    assert!(header(&raw, "set-cookie").is_empty());

    // A denied consent is an error page and no session.
    let (url, signin4) = start("bob.test").await;
    let denied = approve(&url, "bob.test", "bob-pass-123", true).unwrap();
    assert_eq!(denied["error"], "access_denied");
    let path = format!(
        "/auth/callback?error=access_denied&state={}&iss={}",
        urlenc(denied["state"].as_str().unwrap()),
        urlenc(denied["iss"].as_str().unwrap())
    );
    let (status, raw) = req(&s, "GET", &path, &signin4, None).await;
    assert_eq!(status, 403);
    assert!(raw.contains("cancelled"), "{raw}");
    assert!(header(&raw, "set-cookie").is_empty());
    let bob: i64 = s
        .state
        .db
        .conn()
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM users WHERE handle = 'bob.test'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bob, 0, "nothing stored for a denied sign-in");

    // Regression: visiting pages (the landing page included) keeps the ATProto session.
    for path in ["/", "/app", "/app/account"] {
        assert_eq!(req(&s, "GET", path, &session, None).await.0, 200, "{path}");
    }
    let kept: i64 = s
        .state
        .db
        .conn()
        .unwrap()
        .query_row("SELECT COUNT(*) FROM atproto_sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 1);

    // Logout revokes: the cookie stops working and the ATProto session is gone.
    let (_, page) = req(&s, "GET", "/app", &session, None).await;
    let csrf = attr(&page, "data-csrf").unwrap();
    let (status, _) = req(
        &s,
        "POST",
        "/auth/logout",
        &session,
        Some(&form_body(&[("csrf", &csrf)])),
    )
    .await;
    assert_eq!(status, 303);
    let (status, raw) = req(&s, "GET", "/app", &session, None).await;
    assert_eq!(status, 303, "signed out: {raw}");
    let left: i64 = s
        .state
        .db
        .conn()
        .unwrap()
        .query_row("SELECT COUNT(*) FROM atproto_sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
    let mut stdin = net.child.stdin.as_ref().unwrap();
    let _ = stdin.flush();
}

fn urlenc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The browser journey in headless Chromium (`tests/browser/signup.mjs`): sign in through
/// the PDS's real sign-in and consent screens, create a wiki, edit a page, add a
/// collaborator. robot runs on its localhost default, as the loopback client. Screenshots
/// of every step are kept in `target/test-artifacts/browser/`.
#[tokio::test]
async fn browser_signup_edit_and_collaborate() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "chromium is not installed: run scripts/setup-atproto.sh"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let net = tokio::task::spawn_blocking(move || Network::start(port))
        .await
        .unwrap();
    let (plc, pds) = (net.s("plcUrl"), net.s("pdsUrl"));
    let s = TestServer::start_on(listener, tempfile::tempdir().unwrap(), |cfg| {
        cfg.atproto.plc_url = plc;
        cfg.atproto.handle_resolver_url = Some(pds);
        cfg.atproto.allow_private_hosts = true;
    })
    .await;
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/browser");
    let _ = std::fs::remove_dir_all(&shots);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/signup.mjs");
    let password = net.s("password");
    let out = tokio::task::spawn_blocking({
        let shots = shots.clone();
        move || {
            Command::new(node())
                .arg(&script)
                .env("ROBOT_URL", format!("http://localhost:{port}"))
                .env("ATP_HANDLE", "alice.test")
                .env("ATP_PASSWORD", password)
                .env("COLLABORATOR", "bob.test")
                .env("SLUG", "alice")
                .env("SHOTS", &shots)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "browser journey failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // What the browser did is really there.
    let repo = s.repo("alice");
    assert!(show(&repo, "home.md").contains("Edited in a real browser."));
    assert_eq!(
        git(&repo, &["log", "-1", "--format=%an <%ae>"]).trim(),
        format!("alice.test <{}>", net.s("did"))
    );
    let conn = s.state.db.conn().unwrap();
    let wiki = robot::db::wikis::by_slug(&conn, "alice").unwrap().unwrap();
    let bob = net.info["bob"]["did"].as_str().unwrap().to_string();
    assert_eq!(
        robot::db::wikis::collaborator_role(&conn, wiki.id, &bob).unwrap(),
        Some(robot::access::Role::Editor)
    );
    let shots_taken = std::fs::read_dir(&shots).unwrap().count();
    assert!(shots_taken >= 9, "screenshots of every step: {shots_taken}");
}
