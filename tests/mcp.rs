//! MCP over Streamable HTTP against the real server, driven by the official Rust SDK's
//! client (rmcp) with a wiki token: every tool's text and structured output, its error
//! texts, resources, and the endpoint's authentication.

use rmcp::model::ReadResourceRequestParams;
use serde_json::{Value, json};

use crate::common::mcp::{connect, err, ok};
use crate::common::*;

const OWNER: &str = "did:plc:owner";

async fn setup() -> (TestServer, String) {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    let wiki = s.create_wiki("notes", OWNER, false);
    let token = robot::access::tokens::regenerate(&s.state.db.conn().unwrap(), wiki.id).unwrap();
    (s, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_over_streamable_http() {
    let (s, token) = setup().await;
    let c = connect(&s, "notes", &token).await;
    let info = c.peer_info().expect("server info");
    assert!(
        info.instructions
            .as_deref()
            .unwrap_or("")
            .contains("Agent Guide")
            || info.instructions.as_deref().unwrap_or("").len() > 200,
        "instructions come from the Agent Guide"
    );

    // The tool list: the reference's sixteen, each with an output schema and annotations.
    let tools = c.list_all_tools().await.unwrap();
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "delete_attachment",
            "delete_note",
            "download_attachment",
            "edit_note",
            "find_orphaned_notes",
            "get_history",
            "get_links",
            "get_recent_changes",
            "list_attachments",
            "list_notes",
            "read_note",
            "rename_note",
            "search_notes",
            "semantic_search",
            "upload_attachment",
            "write_note"
        ]
    );
    for t in &tools {
        assert!(t.output_schema.is_some(), "{} has an outputSchema", t.name);
        let a = t.annotations.as_ref().expect("annotations");
        assert!(a.read_only_hint.is_some(), "{}", t.name);
        // The Claude connector directory asks for a title on every tool.
        assert!(
            t.title.as_deref().is_some_and(|x| !x.is_empty()),
            "{} has a title",
            t.name
        );
        // Standard JSON Schema only: SDKs warn on schemars' integer formats.
        let schemas = json!([t.input_schema.as_ref(), t.output_schema.as_deref()]).to_string();
        for f in [
            "\"uint",
            "\"int64\"",
            "\"int32\"",
            "\"uint8\"",
            "\"double\"",
            "\"float\"",
        ] {
            assert!(
                !schemas.contains(&format!("\"format\":{f}")),
                "{}: {f} in {schemas}",
                t.name
            );
        }
    }
    let download = tools
        .iter()
        .find(|t| t.name == "download_attachment")
        .unwrap();
    assert!(
        !json!(download.input_schema.as_ref())
            .to_string()
            .contains("commit_message"),
        "a download writes nothing"
    );
    // The server's title and icon; prompts are not declared, so not listed.
    let server = info.server_info.clone().expect("server info");
    assert_eq!(server.title.as_deref(), Some("robot wiki"));
    let icons = server.icons.clone().unwrap_or_default();
    assert!(
        icons.iter().any(|i| i.src.ends_with("/static/robot.svg")),
        "{icons:?}"
    );
    let icon = s
        .client()
        .get(format!("{}/static/robot.svg", s.root()))
        .send()
        .await
        .unwrap();
    assert_eq!(icon.status(), 200);
    assert!(
        c.list_prompts(None).await.is_err(),
        "prompts/list is not a method here"
    );
    let read_only = |n: &str| {
        tools
            .iter()
            .find(|t| t.name == n)
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()
            .read_only_hint
    };
    assert_eq!(read_only("read_note"), Some(true));
    assert_eq!(read_only("delete_note"), Some(false));

    // write_note creates; the text and the structured output agree.
    let body = "---\ncategory: research\ntags: [alpha, beta]\n---\n# Alpha\n\nIntro.\n\n## Setup\n\nSteps here.\n\n## Usage\n\nSee [[Home]].\n";
    let (t, out) = ok(
        &c,
        "write_note",
        json!({"path": "Projects/Alpha", "content": body}),
    )
    .await;
    let rev = out["revision"].as_str().unwrap().to_string();
    assert_eq!(
        t,
        format!("Created Projects/Alpha (revision: {})", &rev[..8])
    );
    assert_eq!(out["created"], true);
    let log = git(&s.repo("notes"), &["log", "-1", "--format=%an|%s"]);
    assert_eq!(log.trim(), "notes wiki token|[mcp] Create: Projects/Alpha");

    // Updating without the revision is refused; with it, it works.
    let e = err(
        &c,
        "write_note",
        json!({"path": "Projects/Alpha", "content": "x"}),
    )
    .await;
    assert!(e.starts_with("Conflict: "), "{e}");
    assert!(e.ends_with("Read the page again to get the current revision, then retry."));

    // read_note: header lines, metadata, links, content; a section; a past revision.
    let (t, out) = ok(&c, "read_note", json!({"path": "Projects/Alpha"})).await;
    assert!(
        t.starts_with(&format!(
            "# Projects/Alpha\nPath: Projects/Alpha\nRevision: {rev}\n"
        )),
        "{t}"
    );
    assert!(t.contains("Category: research | Tags: alpha, beta"), "{t}");
    assert!(t.contains("Links to: Home"), "{t}");
    assert!(t.ends_with(&format!("\n---\n{body}")), "{t}");
    assert_eq!(out["content"], body);
    let (t, out) = ok(
        &c,
        "read_note",
        json!({"path": "Projects/Alpha", "section": "setup"}),
    )
    .await;
    assert!(t.contains("Section: Alpha > Setup"), "{t}");
    assert_eq!(out["content"], "## Setup\n\nSteps here.\n");
    let e = err(
        &c,
        "read_note",
        json!({"path": "Projects/Alpha", "section": "nope"}),
    )
    .await;
    assert!(
        e.starts_with("Section not found: 'nope'. Available sections:\n  - Alpha"),
        "{e}"
    );
    let e = err(&c, "read_note", json!({"path": "Missing"})).await;
    assert_eq!(
        e,
        "Page not found: Missing. Use write_note to create it, or list_notes to see available pages."
    );

    // edit_note: unique string, stale revision, ambiguity.
    let (t, out) = ok(
        &c,
        "edit_note",
        json!({"path": "Projects/Alpha", "revision": rev, "old_string": "Steps here.", "new_string": "New zebrafish steps."}),
    )
    .await;
    let rev2 = out["revision"].as_str().unwrap().to_string();
    assert_eq!(
        t,
        format!("Edited Projects/Alpha (revision: {})", &rev2[..8])
    );
    let e = err(
        &c,
        "edit_note",
        json!({"path": "Projects/Alpha", "revision": rev, "old_string": "Intro.", "new_string": "X"}),
    )
    .await;
    assert!(e.starts_with("Conflict: Revision mismatch"), "{e}");
    let e = err(
        &c,
        "edit_note",
        json!({"path": "Projects/Alpha", "revision": rev2, "old_string": "##", "new_string": "###"}),
    )
    .await;
    assert_eq!(
        e,
        "Invalid request: old_string is ambiguous: found 2 occurrences. Provide a longer unique string."
    );

    // list_notes with filters.
    let (t, out) = ok(&c, "list_notes", json!({"category": "research"})).await;
    assert_eq!(out["total"], 1);
    assert!(
        t.starts_with("Found 1 notes matching category=research:"),
        "{t}"
    );
    assert!(
        t.contains("- Projects/Alpha (category: research, tags: alpha, beta, "),
        "{t}"
    );
    let (_, all) = ok(&c, "list_notes", json!({})).await;
    assert!(all["total"].as_u64().unwrap() >= 2);

    // search_notes.
    let (t, out) = ok(&c, "search_notes", json!({"query": "zebrafish"})).await;
    assert!(
        t.starts_with("1 results for \"zebrafish\":\n1. Projects/Alpha (score: "),
        "{t}"
    );
    assert_eq!(out["results"][0]["path"], "Projects/Alpha");

    // get_links, get_history, get_recent_changes.
    let (t, _) = ok(&c, "get_links", json!({"path": "Projects/Alpha"})).await;
    assert!(
        t.starts_with(
            "Links for Projects/Alpha:\nLinks to (1):\n  - Home\nLinked from (0):\n  (none)"
        ),
        "{t}"
    );
    let (t, out) = ok(&c, "get_history", json!({"path": "Projects/Alpha"})).await;
    assert!(
        t.starts_with("History for Projects/Alpha (2 revisions):\n- "),
        "{t}"
    );
    assert_eq!(out["revisions"][0]["revision"], rev2);
    let (t, out) = ok(&c, "get_recent_changes", json!({"limit": 2})).await;
    assert!(t.starts_with("2 recent changes:\n- "), "{t}");
    assert_eq!(out["changes"][0]["pages"][0], "Projects/Alpha");

    // Attachments: upload, list, download, delete.
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(b"hello bytes");
    let (t, _) = ok(
        &c,
        "upload_attachment",
        json!({"path": "Projects/Alpha", "filename": "hello.txt", "content": data}),
    )
    .await;
    assert_eq!(t, "Uploaded hello.txt to Projects/Alpha (11 bytes)");
    let (t, _) = ok(&c, "list_attachments", json!({"path": "Projects/Alpha"})).await;
    assert_eq!(
        t,
        "Attachments for Projects/Alpha (1):\n- hello.txt (11 bytes, text/plain)"
    );
    let (t, out) = ok(
        &c,
        "download_attachment",
        json!({"path": "Projects/Alpha", "filename": "hello.txt"}),
    )
    .await;
    assert_eq!(
        t,
        format!("Downloaded hello.txt (11 bytes, text/plain)\nContent (base64):\n{data}")
    );
    assert_eq!(out["content_base64"], data);
    let e = err(
        &c,
        "upload_attachment",
        json!({"path": "Projects/Alpha", "filename": "x.bin", "content": "%%%"}),
    )
    .await;
    assert!(
        e.starts_with("Invalid request: content is not valid base64"),
        "{e}"
    );
    let (t, _) = ok(
        &c,
        "delete_attachment",
        json!({"path": "Projects/Alpha", "filename": "hello.txt"}),
    )
    .await;
    assert_eq!(t, "Deleted attachment hello.txt");

    // Orphans, rename with backreferences, delete.
    ok(
        &c,
        "write_note",
        json!({"path": "Linker", "content": "See [[Projects/Alpha]].\n"}),
    )
    .await;
    let (t, out) = ok(&c, "find_orphaned_notes", json!({})).await;
    assert!(t.starts_with("Found "), "{t}");
    assert!(
        out["orphans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "Linker")
    );
    assert!(
        !out["orphans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "Projects/Alpha")
    );
    let (t, out) = ok(
        &c,
        "rename_note",
        json!({"path": "Projects/Alpha", "new_path": "Projects/Beta"}),
    )
    .await;
    assert!(
        t.starts_with("Renamed Projects/Alpha -> Projects/Beta (revision: "),
        "{t}"
    );
    assert!(t.ends_with("Updated 1 backreferences:\n  - Linker"), "{t}");
    assert_eq!(out["updated_pages"][0], "Linker");
    assert!(show(&s.repo("notes"), "linker.md").contains("[[Projects/Beta]]"));
    let (t, _) = ok(&c, "delete_note", json!({"path": "Linker"})).await;
    assert_eq!(t, "Deleted Linker");
    let e = err(&c, "delete_note", json!({"path": "Linker"})).await;
    assert!(e.starts_with("Page not found: Linker."), "{e}");

    // semantic_search without a model: the clear error.
    let e = err(&c, "semantic_search", json!({"query": "anything"})).await;
    assert!(e.contains("semantic search is off"), "{e}");

    // Pages are resources too.
    let templates = c.list_resource_templates(None).await.unwrap();
    assert_eq!(
        templates.resource_templates[0].uri_template,
        "wiki:///{path}"
    );
    let res = c
        .read_resource(ReadResourceRequestParams::new("wiki:///Projects/Beta"))
        .await
        .unwrap();
    let v = serde_json::to_value(&res).unwrap();
    assert!(v.to_string().contains("New zebrafish steps."), "{v}");

    fsck(&s.repo("notes"));
    c.cancel().await.unwrap();
}

/// Pages as resources: listed a hundred at a time with a cursor, each readable by its
/// URI, and the template's `path` completed from the page names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_listed_as_resources_and_their_paths_complete() {
    let (s, token) = setup().await;
    let wiki = {
        let conn = s.state.db.conn().unwrap();
        robot::db::wikis::by_slug(&conn, "notes").unwrap().unwrap()
    };
    let author = robot::wiki::store::Author {
        name: "owner.test".into(),
        email: OWNER.into(),
    };
    for i in 0..150 {
        let name = robot::wiki::names::PageName::parse(&format!("Bulk/Page {i:03}")).unwrap();
        s.state
            .wikis
            .save_page(&wiki, &author, &name, "x\n", None, "")
            .unwrap();
    }
    let c = connect(&s, "notes", &token).await;
    let first = c.list_resources(None).await.unwrap();
    assert_eq!(first.resources.len(), 100);
    let cursor = first.next_cursor.clone().expect("a second page");
    let second = c
        .list_resources(Some(
            rmcp::model::PaginatedRequestParams::default().with_cursor(Some(cursor)),
        ))
        .await
        .unwrap();
    assert_eq!(second.next_cursor, None);
    let mut uris: Vec<String> = first
        .resources
        .iter()
        .chain(&second.resources)
        .map(|r| r.uri.clone())
        .collect();
    assert_eq!(uris.len(), 155, "the five pages of a new wiki and the 150");
    uris.dedup();
    assert_eq!(uris.len(), 155);
    let bulk = uris
        .iter()
        .find(|u| u.contains("Page%20149"))
        .expect("{uris:?}");
    let read = c
        .read_resource(ReadResourceRequestParams::new(bulk.clone()))
        .await
        .unwrap();
    assert!(
        serde_json::to_value(&read)
            .unwrap()
            .to_string()
            .contains("x\\n")
    );

    let done = c
        .complete_resource_argument("wiki:///{path}", "path", "bulk/page ", None)
        .await
        .unwrap();
    assert_eq!(done.values.len(), 100, "at most a hundred");
    assert_eq!((done.total, done.has_more), (Some(150), Some(true)));
    assert!(
        done.values.iter().all(|v| v.starts_with("Bulk/Page ")),
        "{:?}",
        done.values
    );
    let done = c
        .complete_resource_argument("wiki:///{path}", "path", "Bulk/Page 14", None)
        .await
        .unwrap();
    assert_eq!(done.values.len(), 10);
    assert_eq!(done.has_more, Some(false));
    c.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_demands_a_token_for_this_wiki() {
    let (s, token) = setup().await;
    s.create_wiki("other", OWNER, true);
    let other_token = {
        let conn = s.state.db.conn().unwrap();
        let w = robot::db::wikis::by_slug(&conn, "other").unwrap().unwrap();
        robot::access::tokens::regenerate(&conn, w.id).unwrap()
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let post = |auth: Option<String>, path: &'static str| {
        let c = s.client();
        let url = format!("{}{path}", s.wiki_url("notes"));
        let init = init.clone();
        async move {
            let mut r = c
                .post(url)
                .header("Accept", "application/json, text/event-stream")
                .json(&init);
            if let Some(a) = auth {
                r = r.header("Authorization", a);
            }
            r.send().await.unwrap()
        }
    };
    let expected = format!(
        "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", scope=\"wiki:read wiki:write\"",
        s.wiki_url("notes")
    );
    // No credentials: 401 with the challenge, never a redirect to a login page.
    let r = post(None, "/mcp").await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], expected.as_str());
    // A bad token, another wiki's token, a browser session: all 401.
    for auth in [
        "Bearer rwt_not-a-token".to_string(),
        format!("Bearer {other_token}"),
    ] {
        let r = post(Some(auth.clone()), "/mcp").await;
        assert_eq!(r.status(), 401, "{auth}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
    let (cookie, _) = s.session_for(OWNER);
    let r = s
        .client()
        .post(format!("{}/mcp", s.wiki_url("notes")))
        .header("Cookie", cookie)
        .header("Accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a cookie is not an MCP credential");
    // The right token, at /mcp and /mcp/ alike, answers directly.
    for path in ["/mcp", "/mcp/"] {
        let r = post(Some(format!("Bearer {token}")), path).await;
        assert_eq!(r.status(), 200, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
    }
    // Other protocol versions a client may ask for.
    for v in ["2025-06-18", "2025-03-26"] {
        let mut init = init.clone();
        init["params"]["protocolVersion"] = v.into();
        let r = s
            .client()
            .post(format!("{}/mcp", s.wiki_url("notes")))
            .header("Accept", "application/json, text/event-stream")
            .header("Authorization", format!("Bearer {token}"))
            .json(&init)
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["result"]["protocolVersion"], v);
    }
    // A foreign Origin is refused when a cookie rides along (DNS rebinding, a session)
    // or no credential is presented; a browser-based client presenting its own bearer
    // token and no cookie is served whatever its Origin. CORS preflight is answered
    // without credentials, and allows 2026-07-28's request headers.
    let bearer = format!("Bearer {token}");
    for (origin, auth, cookie, status) in [
        (
            "https://evil.example",
            Some(&bearer),
            Some("robot_session=x"),
            403,
        ),
        ("https://evil.example", None, None, 403),
        ("https://app.example", Some(&bearer), None, 200),
    ] {
        let mut req = s
            .client()
            .post(format!("{}/mcp", s.wiki_url("notes")))
            .header("Origin", origin)
            .header("Accept", "application/json, text/event-stream");
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        let r = req.json(&init).send().await.unwrap();
        assert_eq!(r.status(), status, "{origin} {auth:?} {cookie:?}");
    }
    let r = s
        .client()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/mcp", s.wiki_url("notes")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        r.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("Mcp-Session-Id")
    );
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_string();
    for h in ["Mcp-Method", "Mcp-Tool-Name", "Mcp-Resource"] {
        assert!(allowed.contains(h), "{h} in {allowed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_reference_errors_and_changes_nothing() {
    // Invalid names and oversize content are refused before anything is written.
    let (s, token) = setup().await;
    let c = connect(&s, "notes", &token).await;
    let before = commit_count(&s.repo("notes"));
    let e = err(
        &c,
        "write_note",
        json!({"path": "../escape", "content": "x"}),
    )
    .await;
    assert!(e.starts_with("Invalid request: "), "{e}");
    let big = "x".repeat(1_000_001);
    let e = err(&c, "write_note", json!({"path": "Big", "content": big})).await;
    assert_eq!(
        e,
        "Content too large (1000001 bytes). Maximum size is 1000000 bytes."
    );
    assert_eq!(commit_count(&s.repo("notes")), before);
    c.cancel().await.unwrap();
}

/// Issue 15: the 2026-07-28 protocol, spoken beside the older ones: no `initialize`, every
/// request carries its own version and capabilities in `_meta`, `server/discover` lists
/// the versions. A write and a read go through robot's own authentication and operations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_2026_07_28_protocol_needs_no_initialize() {
    let (s, token) = setup().await;
    let call = |method: &'static str, params: Value| {
        let c = s.client();
        let url = format!("{}/mcp", s.wiki_url("notes"));
        let token = token.clone();
        async move {
            let mut params = params;
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
            });
            let r = c
                .post(url)
                .bearer_auth(token)
                .header("Accept", "application/json, text/event-stream")
                .header("MCP-Protocol-Version", "2026-07-28")
                .header("Mcp-Method", method)
                .header(
                    "Mcp-Name",
                    params["name"].as_str().unwrap_or_default().to_string(),
                )
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (st, discover) = call("server/discover", json!({})).await;
    assert_eq!(st, 200, "{discover}");
    let versions = discover["result"]["supportedVersions"].to_string();
    for v in ["2025-06-18", "2025-11-25", "2026-07-28"] {
        assert!(versions.contains(v), "{v} in {discover}");
    }
    assert_eq!(
        discover["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["title"], "robot wiki",
        "{discover}"
    );

    let (st, wrote) = call(
        "tools/call",
        json!({"name": "write_note", "arguments": {"path": "Stateless", "content": "No initialize.\n"}}),
    )
    .await;
    assert_eq!(st, 200, "{wrote}");
    assert_eq!(wrote["result"]["isError"], false, "{wrote}");
    let (st, read) = call(
        "tools/call",
        json!({"name": "read_note", "arguments": {"path": "Stateless"}}),
    )
    .await;
    assert_eq!(st, 200, "{read}");
    assert!(
        read["result"]["structuredContent"]["content"]
            .as_str()
            .unwrap()
            .contains("No initialize."),
        "{read}"
    );
    assert_eq!(
        show(&s.repo("notes"), "stateless.md").trim(),
        "No initialize.",
        "committed"
    );
    // Without its metadata and headers, a 2026-07-28 request is refused; nothing is written.
    let r = s
        .client()
        .post(format!("{}/mcp", s.wiki_url("notes")))
        .bearer_auth(&token)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "write_note", "arguments": {"path": "Bare", "content": "x"}}}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert!(body.get("error").is_some(), "{body}");
    assert!(!ls_files(&s.repo("notes")).contains(&"bare.md".to_string()));
}
