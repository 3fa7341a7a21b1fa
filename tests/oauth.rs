//! The embedded OAuth 2.1 authorization server over HTTP against the real server:
//! discovery, dynamic registration, authorize → sign-in → consent → code, the token
//! endpoint (PKCE, rotation), MCP with the access token, revocation, and the negative
//! cases of mcp-auth.md — each answered with the spec's status and error, nothing written.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::*;

pub(crate) const OWNER: &str = "did:plc:owner";
const EDITOR: &str = "did:plc:editor";
pub(crate) const VIEWER: &str = "did:plc:viewer";
const STRANGER: &str = "did:plc:stranger";
pub(crate) const REDIRECT: &str = "http://127.0.0.1:9/callback";

pub(crate) fn pkce() -> (String, String) {
    let verifier = format!("v{}", robot::access::session::random_token());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub(crate) async fn setup() -> TestServer {
    let s = TestServer::start().await;
    for (did, h) in [
        (OWNER, "owner.test"),
        (EDITOR, "editor.test"),
        (VIEWER, "viewer.test"),
        (STRANGER, "stranger.test"),
    ] {
        s.add_user(did, h);
    }
    s.create_wiki("notes", OWNER, false);
    s.create_wiki("other", STRANGER, false);
    s.add_collaborator("notes", EDITOR, robot::access::Role::Editor);
    s.add_collaborator("notes", VIEWER, robot::access::Role::Viewer);
    s
}

async fn register(s: &TestServer, slug: &str, body: Value) -> (StatusCode, Value) {
    let r = s
        .client()
        .post(format!("{}/-/oauth/register", s.wiki_url(slug)))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn public_client(s: &TestServer, slug: &str) -> String {
    let (st, b) = register(
        s,
        slug,
        json!({"redirect_uris": [REDIRECT], "client_name": "Test Client",
               "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]}),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    assert!(b.get("client_secret").is_none());
    b["client_id"].as_str().unwrap().to_string()
}

/// Runs authorize and consent as `did`; returns the redirect's query (code, state, iss…).
pub(crate) async fn consent(
    s: &TestServer,
    slug: &str,
    did: &str,
    client_id: &str,
    challenge: &str,
    extra: &[(&str, &str)],
    decision: &str,
) -> Result<std::collections::BTreeMap<String, String>, (StatusCode, String)> {
    let (cookie, _) = s.session_for(did);
    let c = s.client();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", "xyz"),
    ];
    params.extend_from_slice(extra);
    let r = c
        .get(format!("{}/-/oauth/authorize", s.wiki_url(slug)))
        .query(&params)
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    if r.status().is_redirection() {
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        return Ok(query_of(&loc));
    }
    let status = r.status();
    let html = r.text().await.unwrap();
    if status != 200 {
        return Err((status, html));
    }
    let mut form: Vec<(String, String)> = html
        .split("<input type=\"hidden\" ")
        .skip(1)
        .map(|i| {
            let name = attr(i, "name").unwrap();
            let value = attr(i, "value").unwrap_or_default();
            (name, value)
        })
        .collect();
    form.push(("decision".into(), decision.into()));
    let r = c
        .post(format!("{}/-/oauth/authorize", s.wiki_url(slug)))
        .header("Cookie", &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    if !r.status().is_redirection() {
        let st = r.status();
        return Err((st, r.text().await.unwrap()));
    }
    Ok(query_of(r.headers()["location"].to_str().unwrap()))
}

fn query_of(url: &str) -> std::collections::BTreeMap<String, String> {
    let u = reqwest::Url::parse(url)
        .unwrap_or_else(|_| reqwest::Url::parse(&format!("http://x{url}")).unwrap());
    let mut m: std::collections::BTreeMap<String, String> = u.query_pairs().into_owned().collect();
    m.insert("_location".into(), url.to_string());
    m
}

pub(crate) async fn token(
    s: &TestServer,
    slug: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let r = s
        .client()
        .post(format!("{}/-/oauth/token", s.wiki_url(slug)))
        .form(form)
        .send()
        .await
        .unwrap();
    let (st, h) = (r.status(), r.headers().clone());
    (st, r.json().await.unwrap_or(Value::Null), h)
}

/// A tools/call over raw HTTP with a bearer token.
pub(crate) async fn mcp(
    s: &TestServer,
    slug: &str,
    bearer: &str,
    tool: &str,
    args: Value,
) -> (StatusCode, Value) {
    let r = s
        .client()
        .post(format!("{}/mcp", s.wiki_url(slug)))
        .header("Authorization", format!("Bearer {bearer}"))
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": args}}))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// Authorizes `did` with a fresh public client for the wiki's /mcp: (client_id, tokens).
async fn connect(s: &TestServer, slug: &str, did: &str, scope: &str) -> (String, Value) {
    let resource = format!("{}/mcp", s.wiki_url(slug));
    connect_to(s, slug, did, scope, &resource).await
}

/// [`connect`] for the protected resource `resource` (`{wiki}/mcp` or `{wiki}/api/v1`).
async fn connect_to(
    s: &TestServer,
    slug: &str,
    did: &str,
    scope: &str,
    resource: &str,
) -> (String, Value) {
    let client_id = public_client(s, slug).await;
    let (verifier, challenge) = pkce();
    let resource = resource.to_string();
    let q = consent(
        s,
        slug,
        did,
        &client_id,
        &challenge,
        &[("resource", &resource), ("scope", scope)],
        "approve",
    )
    .await
    .unwrap();
    let (st, t, _) = token(
        s,
        slug,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("code_verifier", &verifier),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("resource", &resource),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t}");
    (client_id, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_registration_consent_tokens_and_mcp() {
    let s = setup().await;
    let base = s.wiki_url("notes");
    let c = s.client();
    // Discovery: PRM at both URLs, AS metadata whose issuer matches, JSON 404 elsewhere.
    let prm1: Value = c
        .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let prm2: Value = c
        .get(format!("{base}/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm1, prm2);
    assert_eq!(prm1["resource"], format!("{base}/mcp"));
    assert_eq!(prm1["authorization_servers"][0], base);
    let asm: Value = c
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(asm["issuer"], base);
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        asm["registration_endpoint"],
        format!("{base}/-/oauth/register")
    );
    let r = c
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/json");

    // Registration echoes the metadata; unknown fields are ignored.
    let (st, reg) = register(
        &s,
        "notes",
        json!({"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"], "client_name": "Claude",
               "token_endpoint_auth_method": "client_secret_post", "scope": "claudeai", "application_type": "web"}),
    )
    .await;
    assert_eq!(st, 201, "{reg}");
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(reg["client_secret_expires_at"], 0);
    assert!(reg["client_secret"].as_str().unwrap().starts_with("rcs_"));

    // Signed out: authorize sends the person to sign in and back to the same request.
    let client_id = public_client(&s, "notes").await;
    let (verifier, challenge) = pkce();
    let r = c
        .get(format!("{base}/-/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "xyz"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(
        loc.starts_with("/-/login?return_to=%2F-%2Foauth%2Fauthorize%3F"),
        "{loc}"
    );

    // The consent page names the client, the redirect host, the wiki and the scopes.
    let (cookie, _) = s.session_for(OWNER);
    let html = c
        .get(format!("{base}/-/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "xyz"),
        ])
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "Test Client",
        "127.0.0.1",
        "notes",
        "wiki:read wiki:write",
        "name=\"csrf\"",
    ] {
        assert!(html.contains(needle), "consent page shows {needle}");
    }

    // Deny: access_denied with state and iss.
    let q = consent(&s, "notes", OWNER, &client_id, &challenge, &[], "deny")
        .await
        .unwrap();
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("access_denied", "xyz")
    );
    assert_eq!(q["iss"], base);

    // Approve: a code; a wrong verifier fails and uses the code up.
    let q = consent(&s, "notes", OWNER, &client_id, &challenge, &[], "approve")
        .await
        .unwrap();
    assert_eq!(
        (q["state"].as_str(), q["iss"].as_str()),
        ("xyz", base.as_str())
    );
    let code = q["code"].clone();
    let (st, b, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            (
                "code_verifier",
                "wrong-verifier-wrong-verifier-wrong-verifier",
            ),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        (st, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (st, b, _) = token(
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
    assert_eq!(
        (st, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "single use"
    );

    // A good exchange; then the code cannot be reused.
    let q = consent(
        &s,
        "notes",
        OWNER,
        &client_id,
        &challenge,
        &[("scope", "wiki:read wiki:write claudeai")],
        "approve",
    )
    .await
    .unwrap();
    let resource_slash = format!("{base}/mcp/");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("code_verifier", verifier.as_str()),
        ("client_id", client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("resource", resource_slash.as_str()),
    ];
    let (st, t, headers) = token(&s, "notes", &form).await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["scope"], "wiki:read wiki:write", "unknown scopes dropped");
    let access = t["access_token"].as_str().unwrap().to_string();
    let refresh = t["refresh_token"].as_str().unwrap().to_string();

    // VS Code's flow at `/mcp/`: its challenge names `/mcp/`'s own metadata, whose
    // resource is the URL as typed, and the token serves it.
    let r = s
        .client()
        .post(format!("{base}/mcp/"))
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    let meta_url = format!("{base}/.well-known/oauth-protected-resource/mcp/");
    assert!(
        challenge.contains(&format!("resource_metadata=\"{meta_url}\"")),
        "{challenge}"
    );
    let meta: Value = s
        .client()
        .get(&meta_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["resource"], resource_slash, "{meta}");
    let r = s
        .client()
        .post(format!("{base}/mcp/"))
        .bearer_auth(&access)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let (st, b, _) = token(&s, "notes", &form).await;
    assert_eq!(
        (st, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Tokens are stored hashed.
    let stored: i64 = s
        .state
        .db
        .conn()
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM oauth_tokens WHERE token_hash = ?1 OR token_hash = ?2",
            [&access, &refresh],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 0);

    // MCP with the access token; the commit is the person's, via the client.
    let (st, b) = mcp(
        &s,
        "notes",
        &access,
        "write_note",
        json!({"path": "From Claude", "content": "Hello.\n"}),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["result"]["isError"], false, "{b}");
    let log = git(&s.repo("notes"), &["log", "-1", "--format=%an|%ae"]);
    assert_eq!(log.trim(), "owner.test (via Test Client)|did:plc:owner");
    // The REST API is another resource (RFC 8707): this /mcp token is refused there, and
    // a client asks for `{wiki}/api/v1` to use it (see
    // `tokens_work_only_at_the_resource_they_were_issued_for`).
    let r = c
        .get(format!("{base}/api/v1/pages/From%20Claude"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let api_resource = format!("{base}/api/v1");
    let (_, ta) = connect_to(&s, "notes", OWNER, "", &api_resource).await;
    let r = c
        .get(format!("{base}/api/v1/pages/From%20Claude"))
        .bearer_auth(ta["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Refresh rotates; the previous refresh token still works within the grace period.
    let (st, t2, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t2}");
    assert_ne!(t2["refresh_token"], refresh.as_str());
    let (st, _, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(st, 200, "concurrent reuse within the grace period");
    // After the grace period, the stale token yields nothing, and the newest tokens of
    // the grant keep working (issue 15: a stale copy must not end the other sessions).
    s.state
        .db
        .conn()
        .unwrap()
        .execute(
            "UPDATE oauth_tokens SET rotated_at = rotated_at - 3600 WHERE rotated_at IS NOT NULL",
            [],
        )
        .unwrap();
    let (st, b, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(
        (st, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let new_access = t2["access_token"].as_str().unwrap();
    let (st, _) = mcp(&s, "notes", new_access, "list_notes", json!({})).await;
    assert_eq!(st, 200, "the newest access token still works");
    let (st, t4, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t2["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(st, 200, "the newest refresh token still works: {t4}");

    // Revocation (RFC 7009) ends a grant.
    let (client2, t3) = connect(&s, "notes", OWNER, "").await;
    let a3 = t3["access_token"].as_str().unwrap();
    assert_eq!(mcp(&s, "notes", a3, "list_notes", json!({})).await.0, 200);
    let r = c
        .post(format!("{base}/-/oauth/revoke"))
        .form(&[
            ("token", t3["refresh_token"].as_str().unwrap()),
            ("client_id", &client2),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(mcp(&s, "notes", a3, "list_notes", json!({})).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_change_nothing() {
    let s = setup().await;
    let base = s.wiki_url("notes");
    let before = commit_count(&s.repo("notes"));
    let before_other = commit_count(&s.repo("other"));

    // A token for wiki A used on wiki B.
    let (_, t) = connect(&s, "notes", OWNER, "").await;
    let access = t["access_token"].as_str().unwrap().to_string();
    let (st, _) = mcp(
        &s,
        "other",
        &access,
        "write_note",
        json!({"path": "X", "content": "x"}),
    )
    .await;
    assert_eq!(st, 401);
    let r = s
        .client()
        .get(format!("{}/api/v1/pages", s.wiki_url("other")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A token whose audience is not this wiki's /mcp (another resource).
    let conn = s.state.db.conn().unwrap();
    conn.execute(
        "UPDATE oauth_grants SET resource = 'https://elsewhere.example/mcp'",
        [],
    )
    .unwrap();
    assert_eq!(
        mcp(&s, "notes", &access, "list_notes", json!({})).await.0,
        401
    );
    conn.execute(
        "UPDATE oauth_grants SET resource = ?1",
        [format!("{}/mcp", s.wiki_url("notes"))],
    )
    .unwrap();
    assert_eq!(
        mcp(&s, "notes", &access, "list_notes", json!({})).await.0,
        200
    );
    drop(conn);
    // Expired.
    s.state
        .db
        .conn()
        .unwrap()
        .execute(
            "UPDATE oauth_tokens SET expires_at = 0 WHERE kind = 'access'",
            [],
        )
        .unwrap();
    assert_eq!(
        mcp(&s, "notes", &access, "list_notes", json!({})).await.0,
        401
    );

    // The resource's scheme and host compare in any case; another wiki's resource is
    // not this server's to grant.
    let shouted = base
        .replacen("http://", "HTTP://", 1)
        .replace("notes.localhost", "NOTES.Localhost")
        + "/mcp";
    let other_resource = format!("{}/mcp", s.wiki_url("other"));
    for (resource, granted) in [(shouted, true), (other_resource, false)] {
        let client_id = public_client(&s, "notes").await;
        let (_, challenge) = pkce();
        let q = consent(
            &s,
            "notes",
            OWNER,
            &client_id,
            &challenge,
            &[("resource", &resource)],
            "approve",
        )
        .await
        .unwrap();
        if granted {
            assert!(q.contains_key("code"), "{resource}: {q:?}");
        } else {
            assert_eq!(q["error"], "invalid_target", "{resource}");
        }
    }

    // A viewer gets read-only tokens: reading works, writing is refused.
    let (_, tv) = connect(&s, "notes", VIEWER, "wiki:read wiki:write").await;
    assert_eq!(tv["scope"], "wiki:read");
    let av = tv["access_token"].as_str().unwrap();
    let (st, b) = mcp(&s, "notes", av, "list_notes", json!({})).await;
    assert_eq!(
        (st, b["result"]["isError"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    let (st, b) = mcp(
        &s,
        "notes",
        av,
        "write_note",
        json!({"path": "Nope", "content": "x"}),
    )
    .await;
    // A viewer can never be granted wiki:write: no step-up (authorizing again would ask
    // for the same scope), but a tool result that says why.
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["result"]["isError"], true, "{b}");
    let why = b["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("viewer"), "{why}");
    // An editor who consented to reading only is asked to step up.
    let (_, tr) = connect(&s, "notes", EDITOR, "wiki:read").await;
    assert_eq!(tr["scope"], "wiki:read");
    let ar = tr["access_token"].as_str().unwrap();
    let (st, b) = mcp(
        &s,
        "notes",
        ar,
        "write_note",
        json!({"path": "Nope", "content": "x"}),
    )
    .await;
    assert_eq!(st, 403, "a read-only token is asked to step up: {b}");
    assert_eq!(b["error"], "insufficient_scope");
    let r = s
        .client()
        .post(format!("{base}/mcp"))
        .bearer_auth(ar)
        .json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "delete_note", "arguments": {"path": "Home"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"wiki:read wiki:write\""),
        "{challenge}"
    );

    // A removed collaborator's token stops working at once, and cannot be refreshed.
    let (ed_client, te) = connect(&s, "notes", EDITOR, "").await;
    let ae = te["access_token"].as_str().unwrap();
    assert_eq!(mcp(&s, "notes", ae, "list_notes", json!({})).await.0, 200);
    {
        let conn = s.state.db.conn().unwrap();
        let w = robot::db::wikis::by_slug(&conn, "notes").unwrap().unwrap();
        robot::db::wikis::remove_collaborator(&conn, w.id, EDITOR).unwrap();
    }
    let (st, _) = mcp(
        &s,
        "notes",
        ae,
        "write_note",
        json!({"path": "Gone", "content": "x"}),
    )
    .await;
    assert_eq!(st, 401);
    let (st, b, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", te["refresh_token"].as_str().unwrap()),
            ("client_id", &ed_client),
        ],
    )
    .await;
    assert_eq!(
        (st, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Consent is refused to someone without access to the wiki.
    let client_id = public_client(&s, "notes").await;
    let (_, challenge) = pkce();
    let e = consent(
        &s,
        "notes",
        STRANGER,
        &client_id,
        &challenge,
        &[],
        "approve",
    )
    .await
    .unwrap_err();
    assert_eq!(e.0, 403);

    // redirect_uri mismatch and unknown clients: an error page, never a redirect.
    let c = s.client();
    let (cookie, _) = s.session_for(OWNER);
    for (cid, redirect) in [
        (client_id.as_str(), "http://evil.example/cb"),
        ("rc_unknown", REDIRECT),
    ] {
        let r = c
            .get(format!("{base}/-/oauth/authorize"))
            .query(&[
                ("response_type", "code"),
                ("client_id", cid),
                ("redirect_uri", redirect),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{cid} {redirect}");
    }
    // Missing PKCE: back to the client with invalid_request.
    let r = c
        .get(format!("{base}/-/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("state", "s1"),
        ])
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    let q = query_of(r.headers()["location"].to_str().unwrap());
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("invalid_request", "s1")
    );

    // Client authentication: unknown client and a wrong secret are 401 invalid_client.
    let (_, conf) = register(
        &s,
        "notes",
        json!({"redirect_uris": [REDIRECT], "client_name": "Conf"}),
    )
    .await;
    let conf_id = conf["client_id"].as_str().unwrap();
    let r = c
        .post(format!("{base}/-/oauth/token"))
        .basic_auth(conf_id, Some("rcs_wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "rac_x"),
            ("code_verifier", "v"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "invalid_client");
    let (st, b, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "rc_nobody"),
            ("code", "x"),
            ("code_verifier", "y"),
        ],
    )
    .await;
    assert_eq!(
        (st, b["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (st, b, _) = token(
        &s,
        "notes",
        &[("grant_type", "password"), ("client_id", &client_id)],
    )
    .await;
    assert_eq!(
        (st, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );

    // Hostile registrations.
    for (body, error) in [
        (
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": "https://a.example/cb"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "tls_client_auth"}),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "client_name": "x".repeat(70_000)}),
            "invalid_client_metadata",
        ),
    ] {
        let (st, b) = register(&s, "notes", body).await;
        assert_eq!(
            (st, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error))
        );
    }
    let r = c
        .post(format!("{base}/-/oauth/register"))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    assert_eq!(
        commit_count(&s.repo("notes")),
        before,
        "nothing was written"
    );
    assert_eq!(commit_count(&s.repo("other")), before_other);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_sees_connected_clients_and_disconnects_them() {
    let s = setup().await;
    let (_, t) = connect(&s, "notes", EDITOR, "").await;
    let access = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        mcp(&s, "notes", &access, "list_notes", json!({})).await.0,
        200
    );
    // The grant's use is recorded (after the caller was read, on the blocking pool).
    let wiki = robot::db::wikis::by_slug(&s.state.db.conn().unwrap(), "notes")
        .unwrap()
        .unwrap();
    let grants = robot::db::oauth::grants_for_wiki(&s.state.db.conn().unwrap(), wiki.id).unwrap();
    assert!(grants[0].last_used_at.is_some(), "{grants:?}");
    let (cookie, csrf) = s.session_for(OWNER);
    let c = s.client();
    let html = c
        .get(format!("{}/app/wikis/notes", s.root()))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Connected applications"));
    assert!(
        html.contains("Test Client") && html.contains("@editor.test"),
        "{html}"
    );
    let action = html
        .split("action=\"/app/wikis/notes/clients/")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .map(|id| format!("/app/wikis/notes/clients/{id}"))
        .unwrap();
    let r = c
        .post(format!("{}{action}", s.root()))
        .header("Cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        mcp(&s, "notes", &access, "list_notes", json!({})).await.0,
        401,
        "disconnected"
    );
    // Registrations nobody used are swept after a day; used ones stay.
    let unused = public_client(&s, "notes").await;
    let conn = s.state.db.conn().unwrap();
    conn.execute(
        "UPDATE oauth_clients SET created_at = created_at - 90000",
        [],
    )
    .unwrap();
    robot::ops::janitor::sweep(&conn, robot::db::now()).unwrap();
    let left: Vec<String> = conn
        .prepare("SELECT client_id FROM oauth_clients")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(!left.contains(&unused));
    assert_eq!(left.len(), 1, "the authorized client stays: {left:?}");
}

/// RFC 8707: a token works only at the resource it was issued for. A /mcp token is an
/// invalid token on the REST API, on web pages and on git; a token asked for
/// `{wiki}/api/v1` works on the REST API and is refused on /mcp. Each refusal is a 401
/// `invalid_token`, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_work_only_at_the_resource_they_were_issued_for() {
    let s = setup().await;
    let base = s.wiki_url("notes");
    let c = s.client();
    let before = commit_count(&s.repo("notes"));
    {
        // Git clone is on: a refusal is about the token, not the switch.
        let conn = s.state.db.conn().unwrap();
        conn.execute("UPDATE wikis SET git_clone = 1", []).unwrap();
    }

    let (_, t) = connect(&s, "notes", OWNER, "").await;
    let mcp_token = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        mcp(&s, "notes", &mcp_token, "list_notes", json!({}))
            .await
            .0,
        200,
        "the /mcp token works at /mcp"
    );
    // On the REST API: 401 invalid_token, pointing at the API's resource metadata.
    let r = c
        .get(format!("{base}/api/v1/pages"))
        .bearer_auth(&mcp_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains("error=\"invalid_token\"")
            && challenge.contains(&format!(
                "resource_metadata=\"{base}/.well-known/oauth-protected-resource/api/v1\""
            )),
        "{challenge}"
    );
    let r = c
        .put(format!("{base}/api/v1/pages/Sneaky"))
        .bearer_auth(&mcp_token)
        .json(&json!({"content": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no write through REST either");
    // On web pages: 401, not a page, not a redirect to sign in.
    for path in ["/", "/Home", "/Home/edit", "/-/index", "/-/changelog"] {
        let r = c
            .get(format!("{base}{path}"))
            .bearer_auth(&mcp_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let r = c
        .post(format!("{base}/Sneaky/save"))
        .bearer_auth(&mcp_token)
        .form(&[("content", "x"), ("base_revision", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no write through the web UI");
    // On git: 401 with bearer, and as a Basic password.
    for req in [
        c.get(format!("{base}/repo.git/info/refs?service=git-upload-pack"))
            .bearer_auth(&mcp_token),
        c.get(format!("{base}/repo.git/info/refs?service=git-upload-pack"))
            .basic_auth("x", Some(&mcp_token)),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
    }

    // Discovery names the API resource too.
    let prm: Value = c
        .get(format!(
            "{base}/.well-known/oauth-protected-resource/api/v1"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], format!("{base}/api/v1"));
    assert_eq!(prm["authorization_servers"][0], base);

    // A token asked for the REST API works there (read and write) and nowhere else.
    let api_resource = format!("{base}/api/v1");
    let (api_client, ta) = connect_to(&s, "notes", OWNER, "", &api_resource).await;
    let api_token = ta["access_token"].as_str().unwrap().to_string();
    let r = c
        .get(format!("{base}/api/v1/pages"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .put(format!("{base}/api/v1/pages/Through%20REST"))
        .bearer_auth(&api_token)
        .json(&json!({"content": "Written through REST with OAuth.\n"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let log = git(&s.repo("notes"), &["log", "-1", "--format=%an"]);
    assert_eq!(log.trim(), "owner.test (via Test Client)");
    let r = c
        .post(format!("{base}/mcp"))
        .bearer_auth(&api_token)
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_notes", "arguments": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    let r = c
        .get(format!("{base}/Home"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "an API token is not a web credential");

    // Refreshing keeps the resource; naming another one is invalid_target.
    let (st, b, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", ta["refresh_token"].as_str().unwrap()),
            ("client_id", &api_client),
            ("resource", &format!("{base}/mcp")),
        ],
    )
    .await;
    assert_eq!(
        (st, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target")),
        "{b}"
    );
    let (st, t2, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", ta["refresh_token"].as_str().unwrap()),
            ("client_id", &api_client),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t2}");
    let refreshed = t2["access_token"].as_str().unwrap();
    assert_eq!(
        mcp(&s, "notes", refreshed, "list_notes", json!({})).await.0,
        401
    );
    let r = c
        .get(format!("{base}/api/v1/pages"))
        .bearer_auth(refreshed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        commit_count(&s.repo("notes")),
        before + 1,
        "only the API token's own write"
    );
}

/// Malformed redirect URIs are a 400 naming the problem, at registration
/// (`invalid_redirect_uri`) and at /authorize (an error page, never a redirect), and never
/// a 500: a raw control character once reached `Location` (a loopback URI matched with
/// it, since a URL parser percent-encodes it back) and panicked the handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_redirect_uris_are_refused_not_a_server_error() {
    let s = setup().await;
    let base = s.wiki_url("notes");
    let long = format!("http://127.0.0.1:1234/{}", "a".repeat(2100));
    let bad = [
        "http://127.0.0.1:1234/cb%01",
        "http://127.0.0.1/\u{1}",
        "http://127.0.0.1:1234/a b",
        "http://127.0.0.1:1234/cb#frag",
        long.as_str(),
    ];
    for uri in bad {
        let (st, b) = register(
            &s,
            "notes",
            json!({"redirect_uris": [uri], "client_name": "Bad"}),
        )
        .await;
        assert_eq!(
            (st, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri")),
            "{uri:?}: {b}"
        );
        let why = b["error_description"].as_str().unwrap();
        assert!(why.contains("redirect_uris[0]"), "{why}");
        assert!(!why.contains('\u{1}'), "{why}");
    }

    // Registrations stored before these rules, and a good one, asked with each bad URI.
    let (_, challenge) = pkce();
    let legacy = |id: &str, uri: &str| {
        let conn = s.state.db.conn().unwrap();
        let row = robot::db::oauth::Client {
            client_id: id.into(),
            secret_hash: None,
            auth_method: "none".into(),
            client_name: "Legacy".into(),
            redirect_uris: vec![uri.into()],
            metadata: json!({}),
            document_fresh_until: None,
        };
        robot::db::oauth::insert_client(&conn, &row, robot::db::now()).unwrap();
    };
    legacy("rc_legacy_encoded", "http://127.0.0.1:1234/cb%01");
    legacy("rc_legacy_raw", "http://127.0.0.1/\u{1}");
    legacy("rc_legacy_space", "http://127.0.0.1:1234/a b");
    let (_, good) = register(
        &s,
        "notes",
        json!({"redirect_uris": ["http://127.0.0.1:1234/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let good = good["client_id"].as_str().unwrap().to_string();
    let (cookie, _) = s.session_for(OWNER);
    let c = s.client();
    let mut cases: Vec<(String, Option<String>)> = vec![
        // The query as a client might send it, unencoded: `%01` decodes to U+0001.
        (
            "rc_legacy_encoded".into(),
            Some("http://127.0.0.1:1234/cb%01".into()),
        ),
        ("rc_legacy_encoded".into(), None),
        ("rc_legacy_raw".into(), Some("http://127.0.0.1/%01".into())),
        ("rc_legacy_raw".into(), None),
        ("rc_legacy_space".into(), None),
        (
            "rc_legacy_space".into(),
            Some("http://127.0.0.1:5555/a%20b".into()),
        ),
    ];
    for uri in bad {
        let enc = robot::http::urlencode(uri);
        cases.push((good.clone(), Some(enc)));
    }
    for (client_id, redirect) in cases {
        // Without PKCE, a valid redirect URI would be sent the error: the URI must be
        // refused first. Signed in or not, the answer is the same.
        let mut url =
            format!("{base}/-/oauth/authorize?response_type=code&client_id={client_id}&state=s");
        if let Some(r) = &redirect {
            url.push_str(&format!("&redirect_uri={r}"));
        }
        for signed_in in [false, true] {
            let mut req = c.get(&url);
            if signed_in {
                req = req.header("Cookie", &cookie);
            }
            let r = req.send().await.unwrap();
            let st = r.status();
            assert!(
                r.headers().get("location").is_none(),
                "{url}: never redirected"
            );
            let html = r.text().await.unwrap();
            assert_eq!(st, 400, "{client_id} {redirect:?}: {html}");
            assert!(
                html.contains("redirect URI") && html.contains("invalid_request"),
                "{html}"
            );
        }
        // Nor through the consent form.
        let (cookie, csrf) = s.session_for(OWNER);
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("decision", "approve"),
        ];
        let decoded = redirect.as_ref().map(|r| {
            percent_encoding::percent_decode_str(r)
                .decode_utf8_lossy()
                .into_owned()
        });
        if let Some(r) = &decoded {
            form.push(("redirect_uri", r.as_str()));
        }
        let r = c
            .post(format!("{base}/-/oauth/authorize"))
            .header("Cookie", &cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{client_id} {decoded:?}");
        assert!(
            r.headers().get("location").is_none(),
            "{client_id} {decoded:?}"
        );
    }
    // The good client still works with its own URI on another port.
    let r = c
        .get(format!("{base}/-/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", good.as_str()),
            ("redirect_uri", "http://127.0.0.1:4321/cb"),
            ("state", "s"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "PKCE missing: told through the redirect");
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("http://127.0.0.1:4321/cb?error=invalid_request")
    );
}

/// The official MCP Python SDK (`mcp` 1.30, installed by scripts/setup.sh) runs the whole
/// flow headlessly: discovery, registration, authorize, consent, token, tools, refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_connects_through_oauth() {
    let s = setup().await;
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/py/bin/python");
    assert!(
        python.exists(),
        "run scripts/setup.sh (installs the MCP Python SDK)"
    );
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp-python/oauth_flow.py");
    let (cookie, _) = s.session_for(OWNER);
    let url = format!("{}/mcp", s.wiki_url("notes"));
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(&url)
        .arg(&cookie)
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
    assert_eq!(seen["protocol"], "2025-11-25", "{seen}");
    assert_eq!(seen["tools"], 16);
    assert_eq!(seen["consent_shows_client"], true);
    assert_eq!(seen["write_error"], false, "{seen}");
    assert!(
        seen["write"]
            .as_str()
            .unwrap()
            .starts_with("Created From Python"),
        "{seen}"
    );
    assert!(
        seen["read"]
            .as_str()
            .unwrap()
            .contains("Written through OAuth."),
        "{seen}"
    );
    assert_eq!(seen["refreshed"], true, "the SDK refreshed its token");
    assert_eq!(seen["iss"], s.wiki_url("notes"));
    let wire: Vec<&str> = seen["wire"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    for step in [
        "GET /.well-known/oauth-protected-resource/mcp",
        "GET /.well-known/oauth-authorization-server",
        "POST /-/oauth/register",
        "POST /-/oauth/token",
    ] {
        assert!(wire.contains(&step), "{step} in {wire:?}");
    }
    let log = git(&s.repo("notes"), &["log", "-1", "--format=%an"]);
    assert_eq!(log.trim(), "owner.test (via robot test (python))");
}

/// A client that registered with a secret, as claude.ai does.
async fn confidential_client(s: &TestServer, slug: &str) -> (String, String) {
    let (st, b) = register(
        s,
        slug,
        json!({"redirect_uris": [REDIRECT], "client_name": "Confidential",
               "token_endpoint_auth_method": "client_secret_post",
               "grant_types": ["authorization_code", "refresh_token"]}),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    (
        b["client_id"].as_str().unwrap().to_string(),
        b["client_secret"].as_str().unwrap().to_string(),
    )
}

/// Issue 15: a confidential client's refresh token is bound to the client, not rotated,
/// so ten parallel refreshes and one a day later all work, for every session; the same
/// token presented by another client yields nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confidential_clients_refreshes_survive_parallel_and_late_use() {
    let s = std::sync::Arc::new(setup().await);
    let (client_id, secret) = confidential_client(&s, "notes").await;
    let (verifier, challenge) = pkce();
    let q = consent(&s, "notes", EDITOR, &client_id, &challenge, &[], "approve")
        .await
        .unwrap();
    let (st, t, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("code_verifier", &verifier),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t}");
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    let refresh_with = |rt: String, id: String, secret: String| {
        let s = s.clone();
        async move {
            token(
                &s,
                "notes",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                    ("client_id", &id),
                    ("client_secret", &secret),
                ],
            )
            .await
        }
    };

    // Ten sessions refresh the one token at once: each gets an access token, and the
    // refresh token stays what it was.
    let parallel: Vec<_> = (0..10)
        .map(|_| {
            tokio::spawn(refresh_with(
                refresh.clone(),
                client_id.clone(),
                secret.clone(),
            ))
        })
        .collect();
    let mut accesses = Vec::new();
    for h in parallel {
        let (st, b, _) = h.await.unwrap();
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["refresh_token"], refresh.as_str());
        accesses.push(b["access_token"].as_str().unwrap().to_string());
    }
    for a in &accesses {
        assert_eq!(mcp(&s, "notes", a, "list_notes", json!({})).await.0, 200);
    }

    // A day later (every access token has expired): the same refresh token still works.
    s.state
        .db
        .conn()
        .unwrap()
        .execute(
            "UPDATE oauth_tokens SET expires_at = expires_at - 86400 WHERE kind = 'access'",
            [],
        )
        .unwrap();
    assert_eq!(
        mcp(&s, "notes", &accesses[0], "list_notes", json!({}))
            .await
            .0,
        401
    );
    let (st, late, _) = refresh_with(refresh.clone(), client_id.clone(), secret.clone()).await;
    assert_eq!(st, 200, "{late}");
    let late_access = late["access_token"].as_str().unwrap();
    assert_eq!(
        mcp(&s, "notes", late_access, "list_notes", json!({}))
            .await
            .0,
        200
    );

    // Another client presenting it (with its own valid credentials) gets no token; a
    // wrong secret is no client at all.
    let (other_id, other_secret) = confidential_client(&s, "notes").await;
    let (st, b, _) = refresh_with(refresh.clone(), other_id, other_secret).await;
    assert_eq!(
        (st, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert!(b.get("access_token").is_none());
    let (st, b, _) = refresh_with(refresh.clone(), client_id.clone(), "rcs_wrong".into()).await;
    assert_eq!(
        (st.as_u16(), b["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // And the person's session still works after all of it.
    let (st, again, _) = refresh_with(refresh, client_id, secret).await;
    assert_eq!(st, 200, "{again}");
}

/// Issue 15: a public client's refresh tokens rotate, and what real clients do with them
/// (ten sessions refreshing one token at once, one retrying a day late with its stale
/// copy) ends no session that holds a current token; the stale copy, or a replay of it,
/// yields nothing, and another client presenting a current one gets nothing either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_clients_stale_refresh_token_ends_no_other_session() {
    let s = std::sync::Arc::new(setup().await);
    let client_id = public_client(&s, "notes").await;
    let (verifier, challenge) = pkce();
    let q = consent(&s, "notes", EDITOR, &client_id, &challenge, &[], "approve")
        .await
        .unwrap();
    let (st, t, _) = token(
        &s,
        "notes",
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("code_verifier", &verifier),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t}");
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    let refresh_with = |rt: String, id: String| {
        let s = s.clone();
        async move {
            token(
                &s,
                "notes",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                    ("client_id", &id),
                ],
            )
            .await
        }
    };
    let parallel: Vec<_> = (0..10)
        .map(|_| tokio::spawn(refresh_with(refresh.clone(), client_id.clone())))
        .collect();
    let mut sessions = Vec::new();
    for h in parallel {
        let (st, b, _) = h.await.unwrap();
        assert_eq!(st, 200, "parallel refresh within the grace period: {b}");
        sessions.push((
            b["access_token"].as_str().unwrap().to_string(),
            b["refresh_token"].as_str().unwrap().to_string(),
        ));
    }
    // A day later, one session retries with the original, long rotated token.
    s.state
        .db
        .conn()
        .unwrap()
        .execute(
            "UPDATE oauth_tokens SET rotated_at = rotated_at - 86400 WHERE rotated_at IS NOT NULL",
            [],
        )
        .unwrap();
    let (st, b, _) = refresh_with(refresh.clone(), client_id.clone()).await;
    assert_eq!(
        (st, b["error"].as_str(), b.get("access_token")),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"), None),
        "the stale copy yields nothing"
    );
    // Every session holding a current token goes on: its access token works, and so does
    // its refresh token.
    for (access, rt) in &sessions {
        assert_eq!(
            mcp(&s, "notes", access, "list_notes", json!({})).await.0,
            200
        );
        let (st, b, _) = refresh_with(rt.clone(), client_id.clone()).await;
        assert_eq!(st, 200, "{b}");
    }
    // Another client presenting a current token gets nothing.
    let other = public_client(&s, "notes").await;
    let (st, b, _) = refresh_with(sessions[0].1.clone(), other).await;
    assert_eq!(
        (st, b["error"].as_str(), b.get("access_token")),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"), None)
    );
}
