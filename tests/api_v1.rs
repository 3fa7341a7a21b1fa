//! The per-wiki REST API `/api/v1`: every endpoint, its error cases and texts, each kind
//! of credential, and the OpenAPI document (validated with openapi-spec-validator).

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

const OWNER: &str = "did:plc:owner";
const VIEWER: &str = "did:plc:viewer";

struct Api<'a> {
    s: &'a TestServer,
    slug: &'static str,
}

impl Api<'_> {
    async fn call(
        &self,
        method: Method,
        path: &str,
        auth: &[(&str, String)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self.s.client().request(
            method,
            format!("{}/api/v1{path}", self.s.wiki_url(self.slug)),
        );
        for (k, v) in auth {
            r = r.header(*k, v);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

#[tokio::test]
async fn every_endpoint_with_a_wiki_token() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    let wiki = s.create_wiki("apiwiki", OWNER, false);
    let token = robot::access::tokens::regenerate(&s.state.db.conn().unwrap(), wiki.id).unwrap();
    let auth = [("authorization", format!("Bearer {token}"))];
    let api = Api {
        s: &s,
        slug: "apiwiki",
    };
    let repo = s.repo("apiwiki");

    assert_eq!(
        api.call(Method::GET, "/health", &[], None).await,
        (200, json!({"status": "ok"}))
    );

    // Create, read, update with the revision, conflict on a stale one.
    let (st, created) = api
        .call(Method::PUT, "/pages/Notes/Alpha", &auth, Some(json!({"content": "---\ncategory: research\ntags: [x, y]\n---\n# Alpha\n\nLinks to [[Home]].\n"})))
        .await;
    assert_eq!(st, 201, "{created}");
    assert_eq!(created["created"], true);
    let rev1 = created["revision"].as_str().unwrap().to_string();
    assert_eq!(
        git(&repo, &["log", "-1", "--format=%an|%s"]).trim(),
        "apiwiki wiki token|[api] Create: Notes/Alpha"
    );
    let (st, page) = api
        .call(Method::GET, "/pages/Notes/Alpha", &auth, None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(page["revision"], rev1.as_str());
    assert_eq!(page["frontmatter"]["category"], "research");
    assert_eq!(page["links_to"], json!(["Home"]));
    assert_eq!(page["last_commit"]["author"], "apiwiki wiki token");
    let (st, e) = api
        .call(
            Method::PUT,
            "/pages/Notes/Alpha",
            &auth,
            Some(json!({"content": "x"})),
        )
        .await;
    assert_eq!(
        (st, e["error"].as_str()),
        (
            409,
            Some(
                "Revision required when updating an existing page. Read the page first to get the current revision."
            )
        )
    );
    let (st, e) = api
        .call(
            Method::PUT,
            "/pages/Notes/Alpha",
            &auth,
            Some(json!({"content": "x", "revision": "abc"})),
        )
        .await;
    assert_eq!(st, 422, "{e}");
    let (st, upd) = api.call(Method::PUT, "/pages/Notes/Alpha", &auth, Some(json!({"content": "# Alpha\n\nSecond.\n", "revision": &rev1[..7], "commit_message": "second"}))).await;
    assert_eq!((st, upd["created"].as_bool()), (200, Some(false)));
    let rev2 = upd["revision"].as_str().unwrap().to_string();
    let (st, e) = api
        .call(
            Method::PUT,
            "/pages/Notes/Alpha",
            &auth,
            Some(json!({"content": "# Alpha\n\nThird.\n", "revision": rev1})),
        )
        .await;
    assert_eq!(st, 409);
    assert_eq!(
        e["error"],
        "Revision mismatch: page has been modified since last read."
    );
    assert_eq!(e["current_revision"], rev2.as_str());
    assert_eq!(
        show(&repo, "notes/alpha.md"),
        "# Alpha\n\nSecond.\n",
        "nothing overwritten"
    );
    let (st, e) = api
        .call(
            Method::PUT,
            "/pages/Empty",
            &auth,
            Some(json!({"commit_message": "no content"})),
        )
        .await;
    assert_eq!(
        (st, e["error"].as_str()),
        (422, Some("Missing required field: content"))
    );
    let (st, _) = api.call(Method::GET, "/pages/Nope", &auth, None).await;
    assert_eq!(st, 404);
    assert_eq!(
        api.call(Method::GET, "/pages/Nope", &auth, None).await.1["error"],
        "Page not found: Nope"
    );
    let (st, _) = api
        .call(
            Method::PUT,
            "/pages/a%2F..%2Fb",
            &auth,
            Some(json!({"content": "x"})),
        )
        .await;
    assert_eq!(st, 400);
    let (st, e) = api
        .call(
            Method::PUT,
            "/pages/Big",
            &auth,
            Some(json!({"content": "x".repeat(1_000_001)})),
        )
        .await;
    assert_eq!(st, 413, "{e}");

    // PATCH: unique replace, with every refusal.
    for (body, msg) in [
        (
            json!({"old_string": "Second", "new_string": "x"}),
            "Missing required field: revision",
        ),
        (
            json!({"revision": rev2, "old_string": "", "new_string": "x"}),
            "old_string must not be empty",
        ),
        (
            json!({"revision": rev2, "old_string": "Second", "new_string": "Second"}),
            "old_string and new_string are identical",
        ),
        (
            json!({"revision": rev2, "old_string": "Nowhere", "new_string": "x"}),
            "old_string not found in page content",
        ),
        (
            json!({"revision": rev2, "old_string": "\n", "new_string": " "}),
            "old_string is ambiguous: found 3 occurrences. Provide a longer unique string.",
        ),
    ] {
        let (st, e) = api
            .call(Method::PATCH, "/pages/Notes/Alpha", &auth, Some(body))
            .await;
        assert_eq!((st, e["error"].as_str()), (422, Some(msg)));
    }
    let (st, e) = api
        .call(
            Method::PATCH,
            "/pages/Notes/Alpha",
            &auth,
            Some(json!({"revision": rev1, "old_string": "Second", "new_string": "2nd"})),
        )
        .await;
    assert_eq!(st, 409, "a stale revision: {e}");
    let (st, p) = api
        .call(
            Method::PATCH,
            "/pages/Notes/Alpha",
            &auth,
            Some(json!({"revision": rev2, "old_string": "Second", "new_string": "2nd"})),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(show(&repo, "notes/alpha.md"), "# Alpha\n\n2nd.\n");

    // Listing with filters and pagination.
    api.call(
        Method::PUT,
        "/pages/Beta",
        &auth,
        Some(json!({"content": "---\ncategory: Research\ntags: x\n---\nSee [[Notes/Alpha]].\n"})),
    )
    .await;
    let (_, list) = api
        .call(Method::GET, "/pages?category=research", &auth, None)
        .await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["pages"][0]["name"], "Beta");
    assert_eq!(list["pages"][0]["tags"], json!(["x"]));
    let (_, list) = api
        .call(Method::GET, "/pages?prefix=notes/", &auth, None)
        .await;
    assert_eq!(list["pages"][0]["path"], "Notes/Alpha");
    let (_, list) = api
        .call(Method::GET, "/pages?limit=2&offset=1", &auth, None)
        .await;
    assert_eq!(list["pages"].as_array().unwrap().len(), 2);
    assert_eq!(list["total"], 7, "five template pages and two");
    let (_, list) = api
        .call(Method::GET, "/pages?updated_since=2000-01-01", &auth, None)
        .await;
    assert_eq!(list["total"], 7);
    let (_, list) = api
        .call(Method::GET, "/pages?updated_since=2999-01-01", &auth, None)
        .await;
    assert_eq!(list["total"], 0);
    let (st, e) = api
        .call(Method::GET, "/pages?updated_since=yesterday", &auth, None)
        .await;
    assert_eq!(
        (st, e["error"].as_str()),
        (422, Some("Invalid updated_since: yesterday"))
    );

    // History, changelog, search, links.
    let (_, h) = api
        .call(
            Method::GET,
            "/pages/Notes/Alpha/history?limit=10",
            &auth,
            None,
        )
        .await;
    assert_eq!(h["history"].as_array().unwrap().len(), 3);
    assert_eq!(h["history"][1]["message"], "second");
    let (_, c) = api
        .call(Method::GET, "/changelog?limit=2", &auth, None)
        .await;
    assert_eq!(c["entries"].as_array().unwrap().len(), 2);
    assert_eq!(c["entries"][0]["pages_affected"], json!(["Beta"]));
    let (_, r) = api.call(Method::GET, "/search?q=alpha", &auth, None).await;
    assert!(
        r["total"].as_u64().unwrap() >= 1 && r["results"][0]["name"].is_string(),
        "{r}"
    );
    let (st, e) = api.call(Method::GET, "/search", &auth, None).await;
    assert_eq!(
        (st, e["error"].as_str()),
        (422, Some("Missing required parameter: q"))
    );
    let (_, l) = api
        .call(Method::GET, "/links/Notes/Alpha", &auth, None)
        .await;
    assert_eq!(l["linked_from"], json!(["Beta"]));
    let (_, g) = api.call(Method::GET, "/links", &auth, None).await;
    assert!(
        g["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["source"] == "Beta" && e["target"] == "Notes/Alpha")
    );

    // Attachments.
    let b64 = base64::engine::general_purpose::STANDARD.encode(b"PNGDATA");
    let (st, a) = api
        .call(
            Method::POST,
            "/pages/Beta/attachments",
            &auth,
            Some(json!({"filename": "a pic.png", "content": b64})),
        )
        .await;
    assert_eq!(st, 201);
    assert_eq!(
        (
            a["filename"].as_str(),
            a["mime_type"].as_str(),
            a["size"].as_u64()
        ),
        (Some("a_pic.png"), Some("image/png"), Some(7))
    );
    let (_, list) = api
        .call(Method::GET, "/pages/Beta/attachments", &auth, None)
        .await;
    assert_eq!(list["total"], 1);
    let (_, d) = api
        .call(
            Method::GET,
            "/pages/Beta/attachments/a_pic.png",
            &auth,
            None,
        )
        .await;
    assert_eq!(d["content"], b64.as_str());
    let (st, _) = api
        .call(
            Method::POST,
            "/pages/Beta/attachments",
            &auth,
            Some(json!({"filename": "x.bin", "content": "!!notbase64"})),
        )
        .await;
    assert_eq!(st, 422);
    let (st, _) = api
        .call(
            Method::POST,
            "/pages/Missing/attachments",
            &auth,
            Some(json!({"filename": "x.bin", "content": b64})),
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = api
        .call(
            Method::DELETE,
            "/pages/Beta/attachments/a_pic.png",
            &auth,
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert!(!ls_files(&repo).contains(&"beta/a_pic.png".to_string()));

    // Rename rewrites backlinks in one commit; refusals.
    let count = commit_count(&repo);
    let (st, rn) = api
        .call(
            Method::POST,
            "/pages/Notes/Alpha/rename",
            &auth,
            Some(json!({"new_path": "Archive/Alpha"})),
        )
        .await;
    assert_eq!(st, 200, "{rn}");
    assert_eq!(rn["updated_pages"], json!(["Beta"]));
    assert_eq!(commit_count(&repo), count + 1);
    assert!(show(&repo, "beta.md").contains("[[Archive/Alpha]]"));
    assert_eq!(
        api.call(
            Method::POST,
            "/pages/Archive/Alpha/rename",
            &auth,
            Some(json!({"new_path": "Beta"}))
        )
        .await
        .0,
        409
    );
    assert_eq!(
        api.call(
            Method::POST,
            "/pages/Archive/Alpha/rename",
            &auth,
            Some(json!({"new_path": "Archive/Alpha"}))
        )
        .await
        .0,
        422
    );
    assert_eq!(
        api.call(
            Method::POST,
            "/pages/Archive/Alpha/rename",
            &auth,
            Some(json!({}))
        )
        .await
        .0,
        422
    );

    // Delete.
    let (st, d) = api.call(Method::DELETE, "/pages/Beta", &auth, None).await;
    assert_eq!((st, d["deleted"].as_bool()), (200, Some(true)));
    assert_eq!(
        api.call(Method::DELETE, "/pages/Beta", &auth, None).await.0,
        404
    );
    assert_eq!(api.call(Method::GET, "/nope", &auth, None).await.0, 404);
    fsck(&repo);
}

#[tokio::test]
async fn credentials_and_refusals() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.add_user(VIEWER, "viewer.test");
    let wiki = s.create_wiki("apiwiki", OWNER, false);
    let other = s.create_wiki("other", OWNER, true);
    s.add_collaborator("apiwiki", VIEWER, robot::access::Role::Viewer);
    let other_token =
        robot::access::tokens::regenerate(&s.state.db.conn().unwrap(), other.id).unwrap();
    let api = Api {
        s: &s,
        slug: "apiwiki",
    };
    let count = commit_count(&s.repo("apiwiki"));
    let put = Some(json!({"content": "x"}));
    // No credentials, a bad token, another wiki's token.
    let (st, e) = api.call(Method::GET, "/pages", &[], None).await;
    assert_eq!(
        (st, e["error"].as_str()),
        (401, Some("Authentication required"))
    );
    assert_eq!(
        api.call(
            Method::GET,
            "/pages",
            &[("authorization", "Bearer rwt_bad".into())],
            None
        )
        .await
        .0,
        401
    );
    assert_eq!(
        api.call(
            Method::PUT,
            "/pages/X",
            &[("authorization", format!("Bearer {other_token}"))],
            put.clone()
        )
        .await
        .0,
        403
    );
    // A viewer's session reads but does not write.
    let (cookie, csrf) = s.session_for(VIEWER);
    let viewer = [("cookie", cookie), ("x-csrf-token", csrf)];
    assert_eq!(api.call(Method::GET, "/pages", &viewer, None).await.0, 200);
    assert_eq!(
        api.call(Method::PUT, "/pages/X", &viewer, put.clone())
            .await
            .0,
        403
    );
    // The owner's session writes, but only with the CSRF header.
    let (cookie, csrf) = s.session_for(OWNER);
    assert_eq!(
        api.call(
            Method::PUT,
            "/pages/X",
            &[("cookie", cookie.clone())],
            put.clone()
        )
        .await
        .0,
        403
    );
    let (st, r) = api
        .call(
            Method::PUT,
            "/pages/X",
            &[("cookie", cookie), ("x-csrf-token", csrf)],
            put.clone(),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(
        git(&s.repo("apiwiki"), &["log", "-1", "--format=%an"]).trim(),
        "owner.test",
        "attributed to the caller"
    );
    assert_eq!(
        commit_count(&s.repo("apiwiki")),
        count + 1,
        "only the allowed write reached git"
    );
    // A public wiki reads anonymously but never writes anonymously.
    let pubapi = Api {
        s: &s,
        slug: "other",
    };
    assert_eq!(
        pubapi.call(Method::GET, "/pages/Home", &[], None).await.0,
        200
    );
    assert_eq!(
        pubapi.call(Method::PUT, "/pages/Home", &[], put).await.0,
        401
    );
    let _ = wiki;
}

#[tokio::test]
async fn the_openapi_document_is_valid_and_covers_the_routes() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("apiwiki", OWNER, true);
    let api = Api {
        s: &s,
        slug: "apiwiki",
    };
    let (st, doc) = api.call(Method::GET, "/openapi.json", &[], None).await;
    assert_eq!(st, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let validator = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/py/bin/openapi-spec-validator");
    assert!(
        validator.exists(),
        "run scripts/setup.sh to install openapi-spec-validator"
    );
    let out = std::process::Command::new(validator)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every documented endpoint is routed (a 404/405 from the router would mean drift).
    for e in robot::api::v1::ENDPOINTS {
        let path = e
            .path
            .replace("{path}", "Home")
            .replace("{filename}", "nothing.txt");
        let method = Method::from_bytes(e.method.to_uppercase().as_bytes()).unwrap();
        let (st, body) = api.call(method, &path, &[], None).await;
        assert!(
            st != 405 && !(st == 404 && body["error"] == "Not found"),
            "{} {path}: {st} {body}",
            e.method
        );
    }
}
