//! The official Rust MCP SDK's client (rmcp) against the real server's `/mcp`, for the
//! tests that drive tools as real clients do.

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

use super::TestServer;

pub type Client = RunningService<RoleClient, ()>;

pub async fn connect(s: &TestServer, slug: &str, token: &str) -> Client {
    let http = reqwest013::Client::builder()
        .resolve(&format!("{slug}.localhost"), s.addr)
        .build()
        .unwrap();
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", s.wiki_url(slug)))
        .auth_header(token.to_string());
    let transport = StreamableHttpClientTransport::with_client(http, config);
    ().serve(transport).await.expect("MCP initialize")
}

pub async fn call(c: &Client, tool: &'static str, args: Value) -> CallToolResult {
    let Value::Object(map) = args else {
        panic!("arguments must be an object")
    };
    c.call_tool(CallToolRequestParams::new(tool).with_arguments(map))
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A successful call: its summary and structured output. The text content ends with
/// the structured output as JSON (for clients that read only text).
pub async fn ok(c: &Client, tool: &'static str, args: Value) -> (String, Value) {
    let r = call(c, tool, args).await;
    assert_ne!(r.is_error, Some(true), "{tool} failed: {}", text(&r));
    let structured = r.structured_content.clone().expect("structuredContent");
    let texts: Vec<String> = r
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    let [summary, json] = texts.as_slice() else {
        panic!("{tool}: expected a summary and its JSON, got {texts:?}");
    };
    let parsed: Value = serde_json::from_str(json).expect("the second text is JSON");
    assert_eq!(
        parsed, structured,
        "{tool}: the JSON text is the structured output"
    );
    (summary.clone(), structured)
}

/// A failed call: its text.
pub async fn err(c: &Client, tool: &'static str, args: Value) -> String {
    let r = call(c, tool, args).await;
    assert_eq!(r.is_error, Some(true), "{tool} should fail: {}", text(&r));
    text(&r)
}
