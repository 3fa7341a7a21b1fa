//! Hostile requests against the real server: attachments that would run as script on the
//! wiki's origin are downloads, and a private wiki tells those who may not read it that it
//! exists and nothing more (not its title).

use base64::Engine;
use serde_json::{Value, json};

use crate::common::*;

const OWNER: &str = "did:plc:hr-owner";
const VIEWER: &str = "did:plc:hr-viewer";
const STRANGER: &str = "did:plc:hr-stranger";

/// Uploads `x.mjs`, `x.html`, `x.svg`, `x.js`, `x.xml` (and allowed types), then downloads
/// each through the web (`/{Page}/a/{file}`) and the REST API: outside the inline
/// allow-list, a file is `application/octet-stream` and `attachment`; SVG stays inline
/// under the sandboxing CSP; REST hands out base64 in JSON, never the raw bytes.
#[tokio::test]
async fn attachments_outside_the_allow_list_are_downloads() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    let wiki = s.create_wiki("files", OWNER, false);
    let token = robot::access::tokens::regenerate(&s.state.db.conn().unwrap(), wiki.id).unwrap();
    let base = s.wiki_url("files");
    let c = s.client();
    let r = c
        .put(format!("{base}/api/v1/pages/Files"))
        .bearer_auth(&token)
        .json(&json!({"content": "# Files\n"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let b64 = base64::engine::general_purpose::STANDARD;
    let files: &[(&str, &[u8])] = &[
        ("x.mjs", b"export default fetch('/api/v1/pages');\n"),
        ("x.js", b"alert(document.cookie);\n"),
        ("x.html", b"<script>alert(1)</script>\n"),
        ("x.xml", b"<?xml version=\"1.0\"?><x xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(1)</script></x>\n"),
        ("x.svg", b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>\n"),
        ("x.png", b"\x89PNG\r\n\x1a\n"),
        ("x.txt", b"plain\n"),
        ("x.pdf", b"%PDF-1.4\n"),
    ];
    for (name, data) in files {
        let r = c
            .post(format!("{base}/api/v1/pages/Files/attachments"))
            .bearer_auth(&token)
            .json(&json!({"filename": name, "content": b64.encode(data)}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{name}");
    }
    // (file, Content-Type, inline)
    let expected = [
        ("x.mjs", "application/octet-stream", false),
        ("x.js", "application/octet-stream", false),
        ("x.html", "application/octet-stream", false),
        ("x.xml", "application/octet-stream", false),
        ("x.svg", "image/svg+xml", true),
        ("x.png", "image/png", true),
        ("x.txt", "text/plain; charset=utf-8", true),
        ("x.pdf", "application/pdf", true),
    ];
    for (name, ty, inline) in expected {
        let data = files.iter().find(|(n, _)| *n == name).unwrap().1;
        let r = c
            .get(format!("{base}/Files/a/{name}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        let h = r.headers().clone();
        assert_eq!(h["content-type"], ty, "{name}");
        let disposition = if inline { "inline" } else { "attachment" };
        assert_eq!(
            h["content-disposition"],
            format!("{disposition}; filename=\"{name}\"").as_str(),
            "{name}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{name}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.starts_with("sandbox") && csp.contains("default-src 'none'"),
            "{name}: {csp}"
        );
        assert_eq!(&r.bytes().await.unwrap()[..], data, "{name}");

        // REST: JSON with the content in base64, whatever the file is.
        let r = c
            .get(format!("{base}/api/v1/pages/Files/attachments/{name}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{name}"
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["content"], b64.encode(data), "{name}");
    }
    // At a revision too (the immutable URL).
    let rev = git(&s.repo("files"), &["rev-parse", "HEAD"]);
    let r = c
        .get(format!("{base}/Files/a/x.mjs/{}", rev.trim()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"x.mjs\""
    );
}

/// A private wiki whose title is a unique string: its protected-resource metadata and
/// every page shown to someone who may not read it (401, 403, 404, the sign-in redirect)
/// leave the title out. Its readers still see it; a public wiki's metadata names it.
#[tokio::test]
async fn a_private_wiki_hides_its_title_from_those_who_may_not_read_it() {
    const TITLE: &str = "Quixotic-Marmalade-Ledger-41d7";
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.add_user(VIEWER, "viewer.test");
    s.add_user(STRANGER, "stranger.test");
    s.create_wiki("hidden", OWNER, false);
    s.create_wiki("shown", OWNER, true);
    s.add_collaborator("hidden", VIEWER, robot::access::Role::Viewer);
    {
        let conn = s.state.db.conn().unwrap();
        conn.execute("UPDATE wikis SET title = ?1", [TITLE])
            .unwrap();
    }
    let base = s.wiki_url("hidden");
    let host = s.wiki_host("hidden");
    let c = s.client();

    // Metadata: the host, not the title.
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource/api/v1",
    ] {
        let r = c.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let text = r.text().await.unwrap();
        assert!(!text.contains(TITLE), "{path}: {text}");
        let prm: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(prm["resource_name"], host.as_str(), "{path}");
    }
    let prm: Value = c
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            s.wiki_url("shown")
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource_name"], TITLE, "a public wiki is named");

    // Pages for those who may not read it.
    let (stranger, _) = s.session_for(STRANGER);
    let bad_bearer = (
        "Authorization".to_string(),
        "Bearer rwt_not-a-token".to_string(),
    );
    let anonymous: Vec<(String, String)> = vec![];
    let as_stranger = vec![("Cookie".to_string(), stranger.clone())];
    let with_bad_bearer = vec![bad_bearer.clone()];
    for (who, headers, path, status) in [
        ("anonymous", &anonymous, "/Home", 303),
        ("anonymous", &anonymous, "/", 303),
        ("anonymous", &anonymous, "/-/nothing-here", 404),
        ("anonymous", &anonymous, "/-/index", 303),
        ("a bad bearer", &with_bad_bearer, "/Home", 401),
        ("a bad bearer", &with_bad_bearer, "/-/changelog", 401),
        ("a stranger", &as_stranger, "/Home", 403),
        ("a stranger", &as_stranger, "/Home/edit", 403),
        ("a stranger", &as_stranger, "/-/search?q=x", 403),
    ] {
        let (st, raw) = s.raw_with(&host, "GET", path, headers, None).await;
        assert_eq!(st, status, "{who} {path}: {raw}");
        assert!(!raw.contains(TITLE), "{who} {path} sees the title: {raw}");
        if status != 303 {
            assert!(raw.contains("<title>"), "{who} {path}: an HTML page");
        }
    }
    // A form post by someone without access.
    let (st, raw) = s
        .raw_with(
            &host,
            "POST",
            "/Home/save",
            &with_bad_bearer,
            Some("content=x&base_revision="),
        )
        .await;
    assert_eq!(st, 401, "{raw}");
    assert!(!raw.contains(TITLE), "{raw}");

    // Those who may read it see it, also on a refusal (a viewer may not edit).
    let (viewer, _) = s.session_for(VIEWER);
    let as_viewer = vec![("Cookie".to_string(), viewer)];
    let (st, raw) = s.raw_with(&host, "GET", "/Home", &as_viewer, None).await;
    assert_eq!(st, 200);
    assert!(raw.contains(TITLE));
    let (st, raw) = s
        .raw_with(&host, "GET", "/Home/edit", &as_viewer, None)
        .await;
    assert_eq!(st, 403);
    assert!(raw.contains(TITLE), "a reader's 403 names the wiki");
    // A public wiki is named to anyone.
    let (st, raw) = s
        .raw_with(&s.wiki_host("shown"), "GET", "/Home", &anonymous, None)
        .await;
    assert_eq!(st, 200);
    assert!(raw.contains(TITLE));
}

/// Registers an OAuth client (anonymous: rate limited by client address alone) with the
/// given `X-Forwarded-For`; returns the status.
async fn register_from(s: &TestServer, forwarded_for: &str) -> u16 {
    s.client()
        .post(format!("{}/-/oauth/register", s.wiki_url("limits")))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"redirect_uris": ["http://127.0.0.1/cb"]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `X-Forwarded-For` is believed only from `trusted_proxies` (none by default): a client
/// that writes a new address into it on every request is still one address to the write
/// rate limiter. Behind a trusted proxy, the addresses it forwards are told apart.
#[tokio::test]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    let limited = |c: &mut robot::config::Config| {
        c.limits.write_burst = 2;
        c.limits.writes_per_minute = 1;
    };
    // Default: the loopback peer is no trusted proxy; the header is ignored.
    let s = TestServer::start_with(limited).await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("limits", OWNER, false);
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(register_from(&s, &format!("203.0.113.{i}")).await);
    }
    assert_eq!(
        statuses,
        [201, 201, 429, 429],
        "spoofed addresses are one client"
    );
    drop(s);

    // Loopback trusted (as the shipped unit configures it for Caddy).
    let s = TestServer::start_with(|c| {
        limited(c);
        c.trusted_proxies = vec!["127.0.0.1/8".parse().unwrap(), "::1".parse().unwrap()];
    })
    .await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("limits", OWNER, false);
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(register_from(&s, &format!("203.0.113.{i}")).await);
    }
    assert_eq!(statuses, [201; 4], "four clients behind the proxy");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(register_from(&s, "6.6.6.6, 198.51.100.7").await);
    }
    assert_eq!(
        statuses,
        [201, 201, 429],
        "one client, whatever it wrote left of the proxy's entry"
    );
}
