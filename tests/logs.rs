//! The server's log as journald receives it: `robot serve` (the real binary) at debug
//! level, JSON on stdout. One JSON object per line; every request has an id, an incoming
//! `X-Request-Id` is kept and reaches the audit entry; and no secret the run created — a
//! sign-in link, session and hand-off tokens, CSRF tokens, wiki tokens, OAuth client
//! secrets, codes, access and refresh tokens, a rejected token, the metrics token, the
//! server's keys — appears anywhere in it.

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::*;

const OWNER: &str = "did:plc:logowner";
const FRIEND: &str = "did:plc:logfriend";
const REDIRECT: &str = "http://127.0.0.1:9/callback";

fn param(url: &str, name: &str) -> String {
    let u = reqwest::Url::parse(url).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// The value of the session cookie a response sets.
fn set_cookie(r: &reqwest::Response) -> String {
    let h = r.headers()["set-cookie"].to_str().unwrap();
    h.split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_carry_request_ids_and_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("robot.log");
    let mut secrets: Vec<(&str, String)> = Vec::new();

    robot_ok(&data, &["init"]);
    robot_ok(
        &data,
        &["user", "add", "--did", OWNER, "--handle", "logowner.test"],
    );
    robot_ok(
        &data,
        &["user", "add", "--did", FRIEND, "--handle", "logfriend.test"],
    );
    robot_ok(&data, &["wiki", "create", "notes", "--owner", OWNER]);
    let wiki_token = robot_ok(&data, &["wiki", "token", "notes"]);
    secrets.push(("wiki token (CLI)", wiki_token.clone()));
    let link = robot_ok(&data, &["admin", "login-link", OWNER]);
    secrets.push(("sign-in link token", param(&link, "token")));
    let metrics_token = format!("mt-{}", robot::access::session::random_token());
    secrets.push(("metrics token", metrics_token.clone()));

    let env = [("ROBOT_METRICS_TOKEN", metrics_token.as_str())];
    let mut server = ServerProcess::start(&data, &log, "debug", &env).await;
    let (root, wiki) = (server.root(), server.wiki_url("notes"));
    let c = browser_client();

    // Browser sign-in: the link, the session, the hand-off to the wiki host, CSRF.
    let r = c
        .get(format!(
            "{root}/auth/login-link?token={}",
            param(&link, "token")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = set_cookie(&r);
    secrets.push(("session", session.clone()));
    let r = c
        .get(format!("{wiki}/-/login?return_to=/"))
        .send()
        .await
        .unwrap();
    let to_root = r.headers()["location"].to_str().unwrap().to_string();
    secrets.push(("hand-off nonce", param(&to_root, "nonce")));
    let r = c.get(&to_root).send().await.unwrap();
    let handoff = r.headers()["location"].to_str().unwrap().to_string();
    for (k, v) in reqwest::Url::parse(&handoff).unwrap().query_pairs() {
        if k != "return_to" {
            secrets.push(("hand-off", v.into_owned()));
        }
    }
    let r = c.get(&handoff).send().await.unwrap();
    assert_eq!(r.status(), 303);
    secrets.push(("wiki-host session", set_cookie(&r)));
    let app = c.get(format!("{root}/app")).send().await.unwrap();
    let csrf = attr(&app.text().await.unwrap(), "data-csrf").unwrap();
    secrets.push(("csrf", csrf.clone()));

    // A management action with the caller's request id: echoed, logged, audited.
    let request_id = "req-logs-7f3a9c";
    let r = c
        .post(format!("{root}/api/wikis/notes/collaborators"))
        .bearer_auth(&session)
        .header("X-Request-Id", request_id)
        .json(&json!({"handle": "logfriend.test", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-request-id"], request_id);
    let r = c
        .post(format!("{root}/api/wikis/notes/token"))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(generated.len() >= 16, "a request without an id gets one");
    let body: Value = r.json().await.unwrap();
    let wiki_token = body["token"].as_str().expect("a new token").to_string();
    secrets.push(("wiki token (API)", wiki_token.clone()));

    // REST, git and a refused credential.
    let r = c
        .put(format!("{wiki}/api/v1/pages/logged"))
        .bearer_auth(&wiki_token)
        .json(&json!({"content": "# Logged\n\nA page.\n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let bogus = format!("rat_{}", robot::access::session::random_token());
    secrets.push(("rejected token", bogus.clone()));
    let r = c
        .get(format!("{wiki}/api/v1/pages"))
        .bearer_auth(&bogus)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let port = server.addr.port();
    let out = Command::new("git")
        .arg("-c")
        .arg(format!(
            "http.curloptResolve=notes.localhost:{port}:127.0.0.1"
        ))
        .args(["clone", "--quiet"])
        .arg(format!(
            "http://x:{wiki_token}@notes.localhost:{port}/repo.git"
        ))
        .arg(dir.path().join("clone"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = c
        .get(format!("{root}/metrics"))
        .bearer_auth(&metrics_token)
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // OAuth: a confidential client through consent, exchange, MCP, refresh, revocation.
    let r = c
        .post(format!("{wiki}/-/oauth/register"))
        .json(
            &json!({"redirect_uris": [REDIRECT], "client_name": "Log Client",
                      "token_endpoint_auth_method": "client_secret_post"}),
        )
        .send()
        .await
        .unwrap();
    let reg: Value = r.json().await.unwrap();
    let client_id = reg["client_id"].as_str().unwrap().to_string();
    let client_secret = reg["client_secret"].as_str().unwrap().to_string();
    secrets.push(("client secret", client_secret.clone()));
    let verifier = format!("v{}", robot::access::session::random_token());
    secrets.push(("PKCE verifier", verifier.clone()));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let resource = format!("{wiki}/mcp");
    let r = c
        .get(format!("{wiki}/-/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "st"),
            ("scope", "wiki:read wiki:write"),
            ("resource", &resource),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the consent page");
    let html = r.text().await.unwrap();
    let mut form: Vec<(String, String)> = html
        .split("<input type=\"hidden\" ")
        .skip(1)
        .map(|i| {
            (
                attr(i, "name").unwrap(),
                attr(i, "value").unwrap_or_default(),
            )
        })
        .collect();
    for (k, v) in &form {
        if k == "csrf" {
            secrets.push(("wiki-host csrf", v.clone()));
        }
    }
    form.push(("decision".into(), "approve".into()));
    let r = c
        .post(format!("{wiki}/-/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    let code = param(r.headers()["location"].to_str().unwrap(), "code");
    secrets.push(("authorization code", code.clone()));
    let token = |form: Vec<(&'static str, String)>| {
        let c = c.clone();
        let url = format!("{wiki}/-/oauth/token");
        async move {
            let r = c.post(url).form(&form).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let creds = || {
        vec![
            ("client_id", client_id.clone()),
            ("client_secret", client_secret.clone()),
        ]
    };
    let mut exchange = creds();
    exchange.extend([
        ("grant_type", "authorization_code".to_string()),
        ("code", code.clone()),
        ("code_verifier", verifier.clone()),
        ("redirect_uri", REDIRECT.to_string()),
        ("resource", resource.clone()),
    ]);
    let t = token(exchange).await;
    let access = t["access_token"].as_str().unwrap().to_string();
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    secrets.push(("access token", access.clone()));
    secrets.push(("refresh token", refresh.clone()));
    let r = c
        .post(&resource)
        .bearer_auth(&access)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "read_note", "arguments": {"path": "logged"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let called: Value = r.json().await.unwrap();
    assert_eq!(called["result"]["isError"], false, "{called}");
    let mut again = creds();
    again.extend([
        ("grant_type", "refresh_token".to_string()),
        ("refresh_token", refresh.clone()),
    ]);
    let t = token(again).await;
    let refresh2 = t["refresh_token"].as_str().unwrap().to_string();
    secrets.push((
        "rotated access token",
        t["access_token"].as_str().unwrap().into(),
    ));
    secrets.push(("rotated refresh token", refresh2.clone()));
    let mut revoke = creds();
    revoke.push(("token", refresh2));
    let r = c
        .post(format!("{wiki}/-/oauth/revoke"))
        .form(&revoke)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The audit entry carries the request id the caller sent.
    let db = rusqlite::Connection::open(data.join("robot.db")).unwrap();
    let audited: String = db
        .query_row(
            "SELECT request_id FROM audit_log WHERE action LIKE '%collaborator%' ORDER BY at DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, request_id);

    // The server's keys.
    for e in std::fs::read_dir(data.join("keys")).unwrap().flatten() {
        let bytes = std::fs::read(e.path()).unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        match String::from_utf8(bytes.clone()) {
            Ok(text) => {
                for line in text
                    .lines()
                    .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
                {
                    secrets.push(("key file line", format!("{name}: {line}")));
                }
            }
            Err(_) => {
                secrets.push(("key (hex)", hex(&bytes)));
                secrets.push(("key (base64)", STANDARD.encode(&bytes)));
                secrets.push(("key (base64url)", URL_SAFE_NO_PAD.encode(&bytes)));
            }
        }
    }

    server.sigterm();
    assert!(server.wait_exit(Duration::from_secs(30)).success());
    let text = std::fs::read_to_string(&log).unwrap();

    let mut lines = 0;
    let mut with_id = false;
    let mut access_lines = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        with_id |= v["span"]["request_id"] == request_id;
        if v["target"] == "robot::access" {
            // Logged on the blocking pool, still inside its request.
            assert!(v["span"]["request_id"].is_string(), "{line}");
            access_lines += 1;
        }
        lines += 1;
    }
    assert!(lines > 50, "a debug-level run logs plenty ({lines} lines)");
    assert!(with_id, "the caller's request id is in the log");
    assert!(
        access_lines > 0,
        "the refused token was logged (without the token)"
    );
    assert!(
        text.contains(&generated),
        "generated request ids are logged too"
    );

    assert!(secrets.len() >= 18, "{}", secrets.len());
    for (what, secret) in &secrets {
        let needle = secret.rsplit(": ").next().unwrap();
        assert!(needle.len() >= 16, "{what} is too short to search for");
        assert!(!text.contains(needle), "the log holds a {what}");
        // Also not URL-encoded (a query string logged verbatim).
        let encoded: String = url_encode(needle);
        assert!(
            !text.contains(&encoded),
            "the log holds a {what}, URL-encoded"
        );
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
