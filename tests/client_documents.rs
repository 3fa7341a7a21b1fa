//! Clients known by a Client ID Metadata Document (issue 15): the `client_id` is the https
//! URL of the client's own JSON document, served here by a local document server. The
//! authorization server fetches it (the test setting for local hosts fetches a loopback
//! https URL over http), validates it, caches it by its headers, falls back to the last
//! good copy when a fetch fails, and authenticates `private_key_jwt` clients by their
//! signed assertions.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderValue, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;
use crate::oauth::{OWNER, REDIRECT, VIEWER, consent, mcp, pkce, token};

/// What the document server answers, changed by the test as it goes.
#[derive(Clone)]
struct Served {
    status: u16,
    body: String,
    cache_control: Option<String>,
    location: Option<String>,
    jwks: String,
    hits: usize,
}

#[derive(Clone)]
struct DocServer {
    port: u16,
    served: Arc<Mutex<Served>>,
}

impl DocServer {
    async fn start() -> DocServer {
        let served = Arc::new(Mutex::new(Served {
            status: 200,
            body: String::new(),
            cache_control: None,
            location: None,
            jwks: "{\"keys\": []}".into(),
            hits: 0,
        }));
        let doc = served.clone();
        let keys = served.clone();
        let app = axum::Router::new()
            .route(
                "/oauth/client.json",
                axum::routing::get(move || {
                    let served = doc.clone();
                    async move {
                        let mut s = served.lock().unwrap();
                        s.hits += 1;
                        let mut headers = HeaderMap::new();
                        headers
                            .insert("content-type", HeaderValue::from_static("application/json"));
                        if let Some(cc) = &s.cache_control {
                            headers.insert("cache-control", cc.parse().unwrap());
                        }
                        if let Some(l) = &s.location {
                            headers.insert("location", l.parse().unwrap());
                        }
                        (
                            AxumStatus::from_u16(s.status).unwrap(),
                            headers,
                            s.body.clone(),
                        )
                            .into_response()
                    }
                }),
            )
            .route(
                "/oauth/jwks.json",
                axum::routing::get(move || {
                    let served = keys.clone();
                    async move { served.lock().unwrap().jwks.clone() }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        DocServer { port, served }
    }

    /// The client's id: where its document is.
    fn client_id(&self) -> String {
        format!("https://127.0.0.1:{}/oauth/client.json", self.port)
    }

    fn serve(&self, f: impl FnOnce(&mut Served)) {
        f(&mut self.served.lock().unwrap());
    }

    fn hits(&self) -> usize {
        self.served.lock().unwrap().hits
    }

    /// A valid document for this client.
    fn document(&self, extra: Value) -> String {
        let mut d = json!({
            "client_id": self.client_id(),
            "client_name": "Doc Client",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        });
        for (k, v) in extra.as_object().unwrap() {
            d[k] = v.clone();
        }
        d.to_string()
    }
}

async fn setup() -> TestServer {
    let s = TestServer::start_with(|c| c.atproto.allow_private_hosts = true).await;
    s.add_user(OWNER, "owner.test");
    s.add_user(VIEWER, "viewer.test");
    s.create_wiki("notes", OWNER, false);
    s
}

/// The consent page for `client_id` as the owner: (status, html).
async fn consent_page(s: &TestServer, client_id: &str) -> (StatusCode, String) {
    let (cookie, _) = s.session_for(OWNER);
    let (_, challenge) = pkce();
    let r = s
        .client()
        .get(format!("{}/-/oauth/authorize", s.wiki_url("notes")))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "s"),
        ])
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Makes the stored copy stale, as if its lifetime had passed.
fn age_copy(s: &TestServer) {
    s.state
        .db
        .conn()
        .unwrap()
        .execute(
            "UPDATE oauth_clients SET document_fresh_until = 0 WHERE document_fresh_until IS NOT NULL",
            [],
        )
        .unwrap();
}

/// Authorizes the owner with `client_id` and exchanges the code with `auth`'s extra fields.
async fn code_for(s: &TestServer, client_id: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let q = consent(s, "notes", OWNER, client_id, &challenge, &[], "approve")
        .await
        .expect("consent");
    (q["code"].clone(), verifier)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_known_by_its_document_connects_and_refreshes() {
    let s = setup().await;
    let docs = DocServer::start().await;
    docs.serve(|d| {
        d.body = docs.document(json!({}));
        d.cache_control = Some("public, max-age=3600".into());
    });
    let meta: Value = s
        .client()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            s.wiki_url("notes")
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    assert!(
        meta["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );

    let client_id = docs.client_id();
    let (st, html) = consent_page(&s, &client_id).await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("Doc Client"), "the document's name");
    assert!(
        html.contains("describes itself at <strong><code>127.0.0.1</code></strong>")
            && html.contains("not registered by you"),
        "the consent page names the host and says nobody registered it: {html}"
    );
    let (code, verifier) = code_for(&s, &client_id).await;
    let (st, t, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t}");
    let access = t["access_token"].as_str().unwrap();
    let (st, body) = mcp(&s, "notes", access, "list_notes", json!({})).await;
    assert_eq!(st, 200, "{body}");
    // Fresh by its Cache-Control: authorizing and exchanging did not fetch it again.
    assert_eq!(docs.hits(), 1, "one fetch while the copy is fresh");
    let (st, t2, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t2}");
    // A public client: its refresh token rotates.
    assert_ne!(t2["refresh_token"], t["refresh_token"]);
    // The grant is listed under the document's name.
    let grants: String = s
        .state
        .db
        .conn()
        .unwrap()
        .query_row(
            "SELECT c.client_name FROM oauth_grants g JOIN oauth_clients c ON c.client_id = g.client_id",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(grants, "Doc Client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_that_change_disappear_or_are_refused_fall_back() {
    let s = setup().await;
    let docs = DocServer::start().await;
    let client_id = docs.client_id();

    // Never fetched and not there: refused, nothing stored.
    docs.serve(|d| d.status = 404);
    let (st, html) = consent_page(&s, &client_id).await;
    assert_eq!(st, 400);
    assert!(
        html.contains("could not be fetched") && html.contains("404"),
        "{html}"
    );
    let stored: i64 = s
        .state
        .db
        .conn()
        .unwrap()
        .query_row("SELECT COUNT(*) FROM oauth_clients", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 0);

    docs.serve(|d| {
        d.status = 200;
        d.body = docs.document(json!({}));
    });
    let (st, html) = consent_page(&s, &client_id).await;
    assert_eq!(st, 200, "{html}");
    let (code, verifier) = code_for(&s, &client_id).await;
    let (st, t, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t}");

    // It changes: once the copy is stale, the new one is used.
    docs.serve(|d| d.body = docs.document(json!({"client_name": "Doc Client 2"})));
    let (_, html) = consent_page(&s, &client_id).await;
    assert!(html.contains("Doc Client<"), "still fresh: the stored copy");
    age_copy(&s);
    let (_, html) = consent_page(&s, &client_id).await;
    assert!(html.contains("Doc Client 2"), "stale: fetched again");

    // It disappears, or bot protection refuses the server: the last good copy is used.
    for status in [404, 403, 503] {
        docs.serve(|d| d.status = status);
        age_copy(&s);
        let (st, html) = consent_page(&s, &client_id).await;
        assert_eq!(st, 200, "{status}: {html}");
        assert!(
            html.contains("Doc Client 2"),
            "{status}: the last good copy"
        );
    }
    // The refresh token keeps working through the outage.
    age_copy(&s);
    let (st, t2, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t2}");

    // Served but invalid: refused, the old copy is not used to paper over it.
    docs.serve(|d| {
        d.status = 200;
        d.body = docs.document(json!({"client_id": "https://elsewhere.example/c.json"}));
    });
    age_copy(&s);
    let (st, html) = consent_page(&s, &client_id).await;
    assert_eq!(st, 400);
    assert!(
        html.contains("invalid_client") && html.contains("does not name"),
        "{html}"
    );

    // The operator seeds a copy from a file; with the document unreachable it is used.
    docs.serve(|d| d.status = 403);
    let file = s.dir.path().join("client.json");
    std::fs::write(
        &file,
        docs.document(json!({"client_name": "Seeded Client"})),
    )
    .unwrap();
    let out = robot_ok(
        &s.state.cfg.data_dir,
        &[
            "admin",
            "client-document",
            &client_id,
            file.to_str().unwrap(),
        ],
    );
    assert!(out.contains("Seeded Client"), "{out}");
    let (st, html) = consent_page(&s, &client_id).await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("Seeded Client"));
    // A seed is checked as a fetched document is.
    std::fs::write(&file, "{\"client_id\": \"https://other.example/x.json\"}").unwrap();
    let out = robot_command(
        &s.state.cfg.data_dir,
        s.dir.path(),
        &[
            "admin",
            "client-document",
            &client_id,
            file.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not name"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_documents_are_refused_with_the_specs_error() {
    let s = setup().await;
    let docs = DocServer::start().await;
    let client_id = docs.client_id();
    // (what the refusal says, status, body, Location)
    let cases = [
        (
            "does not name",
            200,
            json!({"client_id": "https://127.0.0.1/other.json", "redirect_uris": [REDIRECT]})
                .to_string(),
            None,
        ),
        (
            "limit",
            200,
            docs.document(json!({"client_uri": "y".repeat(9000)})),
            None,
        ),
        (
            "redirects",
            302,
            String::new(),
            Some("https://127.0.0.1/elsewhere.json".to_string()),
        ),
        (
            "only none and private_key_jwt",
            200,
            docs.document(json!({"token_endpoint_auth_method": "client_secret_basic"})),
            None,
        ),
    ];
    for (why, status, body, location) in cases {
        docs.serve(|d| {
            d.status = status;
            d.body = body;
            d.location = location;
        });
        let (st, html) = consent_page(&s, &client_id).await;
        assert_eq!(st, 400, "{why}");
        assert!(html.contains(why), "{why}: {html}");
        // The token endpoint says the same, as invalid_client.
        let (st, b, _) = token(
            &s,
            "notes",
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("code_verifier", "y"),
                ("client_id", &client_id),
            ],
        )
        .await;
        assert_eq!(
            (st, b["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{why}"
        );
    }
    // URLs that cannot be client ids.
    for bad in [
        format!("https://127.0.0.1:{}/", docs.port),
        format!("https://127.0.0.1:{}/a/../oauth/client.json", docs.port),
        format!("https://u:p@127.0.0.1:{}/oauth/client.json", docs.port),
    ] {
        let (st, html) = consent_page(&s, &bad).await;
        assert_eq!(st, 400, "{bad}: {html}");
        assert!(html.contains("invalid_client"), "{bad}");
    }

    // Without the test setting, a private or loopback address is never fetched.
    let production = TestServer::start().await;
    production.add_user(OWNER, "owner.test");
    production.create_wiki("notes", OWNER, false);
    let hits = docs.hits();
    docs.serve(|d| {
        d.status = 200;
        d.body = docs.document(json!({}));
    });
    for private in [
        client_id.clone(),
        "https://10.0.0.1/oauth/client.json".to_string(),
        "https://localhost/oauth/client.json".to_string(),
    ] {
        let (st, html) = consent_page(&production, &private).await;
        assert_eq!(st, 400, "{private}");
        assert!(
            html.contains("not a public address") || html.contains("not allowed"),
            "{private}: {html}"
        );
    }
    assert_eq!(docs.hits(), hits, "nothing reached the document server");
}

/// An ES256 key for the client, its JWK set, and assertions signed with it.
struct ClientKey {
    key: robot::atproto::oauth::EcKey,
    kid: String,
}

impl ClientKey {
    fn new(kid: &str) -> ClientKey {
        ClientKey {
            key: robot::atproto::oauth::EcKey::generate(),
            kid: kid.into(),
        }
    }

    fn jwks(&self) -> Value {
        let mut jwk = self.key.public_jwk();
        jwk["kid"] = self.kid.clone().into();
        jwk["alg"] = "ES256".into();
        json!({"keys": [jwk]})
    }

    fn assertion(&self, client_id: &str, aud: &str, exp_in: i64) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let now = robot::db::now();
        let claims = json!({
            "iss": client_id, "sub": client_id, "aud": aud,
            "jti": robot::access::session::random_token(), "iat": now, "exp": now + exp_in,
        });
        let key = jsonwebtoken::EncodingKey::from_ec_pem(self.key.pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_clients_authenticate_with_signed_assertions() {
    let s = setup().await;
    let docs = DocServer::start().await;
    let client_id = docs.client_id();
    let key = ClientKey::new("k1");
    let other = ClientKey::new("k1");
    docs.serve(|d| {
        d.body = docs
            .document(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks()}));
    });
    let token_url = format!("{}/-/oauth/token", s.wiki_url("notes"));
    let (code, verifier) = code_for(&s, &client_id).await;
    let exchange = |assertion: Option<String>| {
        let (code, verifier, client_id, s) =
            (code.clone(), verifier.clone(), client_id.clone(), &s);
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_string()),
                ("code", code),
                ("code_verifier", verifier),
                ("client_id", client_id),
            ];
            if let Some(a) = assertion {
                form.push(("client_assertion_type", JWT_BEARER.into()));
                form.push(("client_assertion", a));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(s, "notes", &form).await
        }
    };
    // Refused, and the code survives each refusal (client authentication comes first).
    for (why, assertion) in [
        ("no assertion", None),
        (
            "another key",
            Some(other.assertion(&client_id, &token_url, 60)),
        ),
        (
            "another audience",
            Some(key.assertion(&client_id, "https://elsewhere.example/token", 60)),
        ),
        ("expired", Some(key.assertion(&client_id, &token_url, -600))),
        (
            "lives too long",
            Some(key.assertion(&client_id, &token_url, 86400)),
        ),
        (
            "another client",
            Some(key.assertion("https://elsewhere.example/c.json", &token_url, 60)),
        ),
    ] {
        let (st, b, _) = exchange(assertion).await;
        assert_eq!(
            (st, b["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{why}: {b}"
        );
    }
    let good = key.assertion(&client_id, &token_url, 60);
    let (st, t, _) = exchange(Some(good.clone())).await;
    assert_eq!(st, 200, "{t}");
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(
        mcp(&s, "notes", access, "list_notes", json!({})).await.0,
        200
    );

    // An assertion is used once.
    let refresh = t["refresh_token"].as_str().unwrap();
    let refresh_with = |assertion: String| {
        let (client_id, refresh, s) = (client_id.clone(), refresh.to_string(), &s);
        async move {
            token(
                s,
                "notes",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh),
                    ("client_id", &client_id),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", &assertion),
                ],
            )
            .await
        }
    };
    let (st, b, _) = refresh_with(good).await;
    assert_eq!(
        (st, b["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "replay: {b}"
    );
    // The issuer is an accepted audience too; an authenticated client keeps its refresh
    // token (no rotation).
    let (st, t2, _) = refresh_with(key.assertion(&client_id, &s.wiki_url("notes"), 60)).await;
    assert_eq!(st, 200, "{t2}");
    assert_eq!(t2["refresh_token"], refresh);

    // Keys at a jwks_uri instead, with the client_id read from the assertion alone.
    docs.serve(|d| {
        d.jwks = key.jwks().to_string();
        d.body = docs.document(json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": format!("https://127.0.0.1:{}/oauth/jwks.json", docs.port),
        }));
    });
    age_copy(&s);
    let (st, t3, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_assertion_type", JWT_BEARER),
            (
                "client_assertion",
                &key.assertion(&client_id, &token_url, 60),
            ),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t3}");
}

/// The official MCP Python SDK, given a client metadata URL, uses it instead of
/// registering: discovery, consent, token, tools, refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_connects_with_a_client_metadata_document() {
    let s = setup().await;
    let docs = DocServer::start().await;
    docs.serve(|d| {
        d.body = docs.document(json!({"client_name": "robot test (python)"}));
    });
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/py/bin/python");
    assert!(
        python.exists(),
        "run scripts/setup.sh (installs the MCP Python SDK)"
    );
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp-python/oauth_flow.py");
    let (cookie, _) = s.session_for(OWNER);
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(format!("{}/mcp", s.wiki_url("notes")))
        .arg(&cookie)
        .arg(docs.client_id())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(seen["client_id"], docs.client_id(), "{seen}");
    assert_eq!(seen["consent_shows_client"], true, "{seen}");
    assert_eq!(seen["write_error"], false, "{seen}");
    assert_eq!(seen["refreshed"], true, "{seen}");
    let wire: Vec<&str> = seen["wire"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        !wire.contains(&"POST /-/oauth/register"),
        "no registration: {wire:?}"
    );
    assert!(wire.contains(&"POST /-/oauth/token"), "{wire:?}");
    assert!(docs.hits() >= 1, "the document was fetched");
    let log = git(&s.repo("notes"), &["log", "-1", "--format=%an"]);
    assert_eq!(log.trim(), "owner.test (via robot test (python))");
}

/// A fetch is made on the caller's behalf and counts against their write-rate limit (as
/// a registration does): naming URL after URL does not make this server fetch at will.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_fetches_count_against_the_write_rate_limit() {
    let s = TestServer::start_with(|c| {
        c.atproto.allow_private_hosts = true;
        c.limits.write_burst = 3;
        c.limits.writes_per_minute = 1;
    })
    .await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("notes", OWNER, false);
    let docs = DocServer::start().await;
    docs.serve(|d| d.status = 404);
    let mut refused_unfetched = false;
    for i in 0..6 {
        let id = format!("https://127.0.0.1:{}/oauth/client.json?n={i}", docs.port);
        let (st, html) = consent_page(&s, &id).await;
        assert_eq!(st, 400);
        if html.contains("was not fetched") {
            refused_unfetched = true;
        }
    }
    assert!(refused_unfetched, "past the burst, nothing is fetched");
    assert!(docs.hits() <= 3, "{} fetches for a burst of 3", docs.hits());
}
