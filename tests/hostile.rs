//! Bad input and hostile servers at sign-in: malformed handles and DIDs, a DID document
//! that does not confirm the handle, authorization servers with the wrong issuer or
//! missing protections, oversized answers, plain http and private addresses. Each must be
//! a clear error, and nothing may be stored.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use robot::atproto::Atproto;
use robot::config::Config;
use robot::db::Db;
use robot::error::Error;

/// What the fake server does wrong.
#[derive(Clone)]
struct Fake {
    mode: Arc<Mutex<&'static str>>,
    base: Arc<Mutex<String>>,
}

async fn resolve_handle() -> Json<serde_json::Value> {
    Json(serde_json::json!({"did": "did:plc:fake"}))
}

async fn plc(State(f): State<Fake>, Path(did): Path<String>) -> Response {
    let base = f.base.lock().unwrap().clone();
    let mode = *f.mode.lock().unwrap();
    let handle = if mode == "unconfirmed-handle" {
        "someone-else.test"
    } else {
        "fake.test"
    };
    Json(serde_json::json!({
        "id": did,
        "alsoKnownAs": [format!("at://{handle}")],
        "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": base}],
    }))
    .into_response()
}

async fn prm(State(f): State<Fake>) -> Json<serde_json::Value> {
    let base = f.base.lock().unwrap().clone();
    Json(serde_json::json!({"resource": base, "authorization_servers": [base]}))
}

async fn as_metadata(State(f): State<Fake>) -> Response {
    let base = f.base.lock().unwrap().clone();
    let mode = *f.mode.lock().unwrap();
    if mode == "huge" {
        return "x".repeat(600 * 1024).into_response();
    }
    let mut m = serde_json::json!({
        "issuer": if mode == "wrong-issuer" { "https://evil.example".to_string() } else { base.clone() },
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "pushed_authorization_request_endpoint": format!("{base}/oauth/par"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
        "scopes_supported": ["atproto"],
        "dpop_signing_alg_values_supported": ["ES256"],
        "require_pushed_authorization_requests": true,
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": true,
    });
    match mode {
        "no-par" => {
            m.as_object_mut()
                .unwrap()
                .remove("pushed_authorization_request_endpoint");
        }
        "no-s256" => m["code_challenge_methods_supported"] = serde_json::json!(["plain"]),
        "no-dpop" => m["dpop_signing_alg_values_supported"] = serde_json::json!([]),
        "no-iss" => m["authorization_response_iss_parameter_supported"] = false.into(),
        "endpoint-elsewhere" => m["token_endpoint"] = "http://10.0.0.1/token".into(),
        _ => {}
    }
    Json(m).into_response()
}

async fn par() -> Response {
    (
        axum::http::StatusCode::BAD_REQUEST,
        Json(serde_json::json!({"error": "invalid_client", "error_description": "no"})),
    )
        .into_response()
}

async fn start_fake() -> (Fake, String) {
    let f = Fake {
        mode: Arc::new(Mutex::new("ok")),
        base: Arc::new(Mutex::new(String::new())),
    };
    let app = Router::new()
        .route(
            "/xrpc/com.atproto.identity.resolveHandle",
            get(resolve_handle),
        )
        .route("/.well-known/oauth-protected-resource", get(prm))
        .route("/.well-known/oauth-authorization-server", get(as_metadata))
        .route("/oauth/par", post(par))
        .route("/{did}", get(plc))
        .with_state(f.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    *f.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (f, base)
}

fn client(dir: &std::path::Path, base: &str, allow_private: bool) -> (Atproto, Db) {
    let db = Db::open(&dir.join("t.db")).unwrap();
    let mut cfg = Config {
        data_dir: dir.to_path_buf(),
        domain: "example.org".into(),
        ..Config::default()
    };
    std::fs::create_dir_all(cfg.keys_dir()).unwrap();
    cfg.atproto.plc_url = base.into();
    cfg.atproto.handle_resolver_url = Some(base.into());
    cfg.atproto.allow_private_hosts = allow_private;
    (Atproto::new(&cfg, db.clone(), [1u8; 32]).unwrap(), db)
}

fn stored(db: &Db) -> i64 {
    db.conn()
        .unwrap()
        .query_row("SELECT COUNT(*) FROM atproto_auth_requests", [], |r| {
            r.get(0)
        })
        .unwrap()
}

fn message(e: Error) -> String {
    assert!(
        matches!(
            e,
            Error::Invalid(_) | Error::BadRequest(_) | Error::Forbidden(_)
        ),
        "a client error, not {e:?}"
    );
    e.public_message()
}

#[tokio::test]
async fn hostile_authorization_servers_are_refused() {
    let (fake, base) = start_fake().await;
    let dir = tempfile::tempdir().unwrap();
    let (atp, db) = client(dir.path(), &base, true);
    for (mode, expected) in [
        ("wrong-issuer", "claims issuer"),
        ("no-par", "no PAR endpoint"),
        ("no-s256", "PKCE S256"),
        ("no-dpop", "DPoP"),
        ("no-iss", "iss parameter"),
        ("huge", "limit"),
        ("unconfirmed-handle", "does not confirm the handle"),
        ("ok", "refused the request (invalid_client: no)"),
    ] {
        *fake.mode.lock().unwrap() = mode;
        let err = atp.start("fake.test", "/").await.expect_err(mode);
        let msg = message(err);
        assert!(msg.contains(expected), "{mode}: {msg}");
        assert_eq!(stored(&db), 0, "{mode}: nothing stored");
    }
    // An endpoint on a private address is refused even when the test lets the server itself be local.
    *fake.mode.lock().unwrap() = "endpoint-elsewhere";
    let (strict, _) = client(tempfile::tempdir().unwrap().path(), &base, false);
    let msg = message(strict.start("fake.test", "/").await.unwrap_err());
    assert!(
        msg.contains("not a public address") || msg.contains("only https"),
        "{msg}"
    );
}

#[tokio::test]
async fn private_addresses_and_http_are_refused_by_default() {
    let (_fake, base) = start_fake().await;
    let dir = tempfile::tempdir().unwrap();
    let (atp, db) = client(dir.path(), &base, false);
    // The handle resolver, the PLC directory and the PDS are all on 127.0.0.1 over http.
    let msg = message(atp.start("fake.test", "/").await.unwrap_err());
    assert!(
        msg.contains("only https") || msg.contains("not a public address"),
        "{msg}"
    );
    let msg = message(atp.start("https://127.0.0.1:1/", "/").await.unwrap_err());
    assert!(msg.contains("not a public address"), "{msg}");
    let msg = message(atp.start("https://169.254.169.254", "/").await.unwrap_err());
    assert!(msg.contains("not a public address"), "{msg}");
    assert_eq!(stored(&db), 0);
}

#[tokio::test]
async fn malformed_login_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (atp, db) = client(dir.path(), "https://plc.invalid", false);
    for bad in [
        "",
        "   ",
        "@",
        "did:key:z6Mk",
        "did:plc:<script>",
        "a..b.test",
        "-bad.test",
        "x y.test",
        "did:web:host:8080",
    ] {
        let err = atp.start(bad, "/").await.expect_err(bad);
        let msg = message(err);
        assert!(!msg.is_empty(), "{bad}");
    }
    assert_eq!(stored(&db), 0);
    // A callback for an unknown state, or a replayed one, changes nothing.
    let err = atp
        .finish(
            "no-such-state",
            Some("code"),
            Some("https://x"),
            None,
            robot::atproto::CallbackBrowser::Elsewhere,
        )
        .await
        .unwrap_err();
    assert!(message(err).contains("expired or was already used"));
}

#[tokio::test]
async fn the_login_form_refuses_bad_input_and_forged_posts() {
    let s = crate::common::TestServer::start().await;
    let root = format!("localhost:{}", s.addr.port());
    // Without the form's cookie: refused.
    let (st, _) = s
        .raw(
            &root,
            "POST",
            "/auth/login",
            None,
            Some("csrf=x&handle=alice.test"),
        )
        .await;
    assert_eq!(st, 403);
    let (_, raw) = s.raw(&root, "GET", "/auth/login", None, None).await;
    let set = raw
        .lines()
        .find(|l| {
            l.to_lowercase()
                .starts_with("set-cookie: robot_login_csrf=")
        })
        .unwrap();
    let cookie = set
        .split_once(": ")
        .unwrap()
        .1
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let token = cookie.split_once('=').unwrap().1.to_string();
    let body = crate::common::form_body(&[("csrf", &token), ("handle", "not a handle!")]);
    let (st, page) = s
        .raw(&root, "POST", "/auth/login", Some(&cookie), Some(&body))
        .await;
    assert_eq!(st, 422);
    assert!(page.contains("not a valid handle"), "{page}");
}
