//! The MCP endpoint, `/mcp` (and `/mcp/`, no redirect) on every wiki host: Streamable
//! HTTP through rmcp, stateless (no session survives only in memory, so a restart loses
//! nothing), JSON answers.
//!
//! Every request is authenticated here, before rmcp sees it: a bearer credential for
//! this wiki (the wiki token, an editor) or a 401 with the `WWW-Authenticate` challenge
//! that points clients at the protected-resource metadata. Browser cookies are not
//! credentials here, so a web page cannot drive a signed-in user's MCP. Each tool then
//! asks `access::authorize` for its own action, so a role change applies at once.
//!
//! - `server`: the tools, resources and instructions;
//! - `text`: the tools' text output, in the reference implementation's formats.

mod server;
mod text;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::access::Principal;
use crate::access::caller::OAuthRole;
use crate::access::{Caller, CurrentWiki};
use crate::service::Services;

pub use server::WikiServer;

/// The scopes a client may ask for.
pub const SCOPES: &str = "wiki:read wiki:write";

pub fn router(state: Services) -> Router<Services> {
    let st = state.clone();
    let config = StreamableHttpServerConfig::default()
        // robot's own dispatch only routes hosts that name a wiki here (DNS rebinding
        // gets a 404 before this point), so rmcp's loopback-only default is lifted.
        .disable_allowed_hosts()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(state.cfg.limits.max_attachment_bytes * 2 + 1024 * 1024);
    let service = StreamableHttpService::new(
        move || Ok(WikiServer::new(st.clone())),
        NeverSessionManager::default().into(),
        config,
    );
    Router::new()
        .route_service("/mcp", service.clone())
        .route_service("/mcp/", service)
        .layer(middleware::from_fn_with_state(state, guard))
}

/// CORS, Origin and credentials, in front of rmcp.
async fn guard(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    req: Request,
    next: Next,
) -> Response {
    let origin_of_wiki = state.cfg.wiki_url(&wiki.slug);
    if req.method() == Method::OPTIONS {
        return with_cors(StatusCode::NO_CONTENT.into_response());
    }
    // A browser page elsewhere must not reach MCP through this origin (DNS rebinding,
    // a session cookie riding along). A request that carries its own bearer token and
    // no cookie is a browser-based client holding a credential it was given: its
    // Origin, whatever it is, lends it nothing.
    let own_credential = req.headers().contains_key(header::AUTHORIZATION)
        && !req.headers().contains_key(header::COOKIE);
    if let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        && !own_credential
        && origin != origin_of_wiki
        && origin != state.cfg.root_url()
    {
        return with_cors((StatusCode::FORBIDDEN, "Origin not allowed").into_response());
    }
    let caller = req
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or_else(Caller::anonymous);
    // The resource is the URL the client was given: `/mcp/` has metadata of its own.
    let slash = if req.uri().path().ends_with('/') {
        "/"
    } else {
        ""
    };
    let resource_metadata =
        format!("{origin_of_wiki}/.well-known/oauth-protected-resource/mcp{slash}");
    let challenge = |error: Option<&str>| {
        let mut v = format!("Bearer resource_metadata=\"{resource_metadata}\", scope=\"{SCOPES}\"");
        if let Some(e) = error {
            v = format!(
                "Bearer error=\"{e}\", resource_metadata=\"{resource_metadata}\", scope=\"{SCOPES}\""
            );
        }
        let mut r = (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "unauthorized", "error_description": "A bearer token for this wiki is required."})),
        )
            .into_response();
        if let Ok(h) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, h);
        }
        with_cors(r)
    };
    if caller.bad_bearer {
        return challenge(Some("invalid_token"));
    }
    let oauth_role = req.extensions().get::<OAuthRole>().copied();
    let for_this_wiki = match &caller.principal {
        // A personal token's role is decided by each tool's operation, as on REST.
        Principal::WikiToken { wiki_id, .. } | Principal::PersonalToken { wiki_id, .. } => {
            *wiki_id == wiki.id
        }
        // An OAuth token's audience was checked where it was resolved (only a token
        // for this wiki's /mcp is a principal here, `web::resolve_caller`); its user
        // must still have access (a removed collaborator's token stops at once).
        Principal::OAuth { wiki_id, .. } => {
            *wiki_id == wiki.id
                // Decided by `access::authorize` as the request arrived (app::route).
                && oauth_role.is_some_and(|r| r.token.is_some())
        }
        _ => false,
    };
    if !caller.bearer || !for_this_wiki {
        return challenge(caller.bearer.then_some("invalid_token"));
    }
    // A read-only token calling a tool that writes: ask for more scope at the HTTP level
    // (403 insufficient_scope), which lets clients step up instead of failing; but only
    // when the person could be granted `wiki:write`. A viewer never can: asking them to
    // authorize again would ask for the same scope, so their call goes on to the tool,
    // whose result says why it was refused (their role on this wiki).
    let can_step_up = oauth_role
        .and_then(|r| r.person)
        .is_some_and(|r| r.allows(crate::access::Action::Write));
    let req = match &caller.principal {
        Principal::OAuth {
            can_write: false, ..
        } if can_step_up && req.method() == Method::POST => {
            let (parts, body) = req.into_parts();
            let limit = state.cfg.limits.max_attachment_bytes * 2 + 1024 * 1024;
            let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
                return with_cors(StatusCode::PAYLOAD_TOO_LARGE.into_response());
            };
            if calls_a_write_tool(&bytes) {
                let v = format!(
                    "Bearer error=\"insufficient_scope\", scope=\"{SCOPES}\", resource_metadata=\"{resource_metadata}\""
                );
                let mut r = (
                    StatusCode::FORBIDDEN,
                    axum::Json(serde_json::json!({"error": "insufficient_scope", "error_description": "This tool needs the wiki:write scope."})),
                )
                    .into_response();
                if let Ok(h) = HeaderValue::from_str(&v) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, h);
                }
                return with_cors(r);
            }
            Request::from_parts(parts, axum::body::Body::from(bytes))
        }
        _ => req,
    };
    with_cors(next.run(req).await)
}

/// The tools that change the wiki.
const WRITE_TOOLS: &[&str] = &[
    "write_note",
    "edit_note",
    "rename_note",
    "delete_note",
    "upload_attachment",
    "delete_attachment",
];

/// Whether a JSON-RPC body is a `tools/call` of a tool that writes.
fn calls_a_write_tool(body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false; // rmcp answers malformed bodies itself
    };
    v["method"] == "tools/call"
        && v["params"]["name"]
            .as_str()
            .is_some_and(|n| WRITE_TOOLS.contains(&n))
}

fn with_cors(mut r: Response) -> Response {
    crate::http::cors(&mut r);
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Session-Id, Last-Event-ID, \
             Mcp-Method, Mcp-Tool-Name, Mcp-Resource, Mcp-Prompt-Name, Mcp-Name",
        ),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version"),
    );
    r
}
