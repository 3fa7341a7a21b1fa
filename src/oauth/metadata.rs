//! Discovery documents: protected-resource metadata (RFC 9728) for `/mcp` at both URLs
//! clients try, for `/mcp/` as its own resource, and for the REST API at `/.well-known/oauth-protected-resource/api/v1`,
//! authorization-server metadata (RFC 8414) at the issuer's well-known URL, and a JSON
//! 404 for every other `/.well-known/` path (never an HTML page or a login redirect).
//!
//! These are public documents: a private wiki's metadata names it by its host, never by
//! its title (which only its readers may see).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::*;
use crate::access::CurrentWiki;

/// The metadata of the wiki's `/mcp` resource.
pub async fn protected_resource(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
) -> Response {
    let res = crate::access::resource::mcp_resource(&state.cfg, &wiki.slug);
    resource_document(&state, &wiki, res)
}

/// The metadata of `/mcp/`, for clients that were given that URL: VS Code requires the
/// document's `resource` to be the URL the person typed. A token for either serves both.
pub async fn protected_resource_slash(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
) -> Response {
    let res = crate::access::resource::mcp_resource(&state.cfg, &wiki.slug) + "/";
    resource_document(&state, &wiki, res)
}

/// The metadata of the wiki's REST API resource (`/api/v1`).
pub async fn protected_resource_api(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
) -> Response {
    let res = crate::access::resource::api_resource(&state.cfg, &wiki.slug);
    resource_document(&state, &wiki, res)
}

fn resource_document(state: &Services, wiki: &crate::db::wikis::Wiki, res: String) -> Response {
    let mut r = axum::Json(json!({
        "resource": res,
        "authorization_servers": [issuer(state, &wiki.slug)],
        "scopes_supported": [SCOPE_READ, SCOPE_WRITE],
        "bearer_methods_supported": ["header"],
        "resource_name": public_name(state, wiki),
    }))
    .into_response();
    cors(&mut r);
    r
}

/// What anyone may read about a wiki's name: its title when it is public, else its host
/// (which whoever asks already knows).
pub fn public_name(state: &Services, wiki: &crate::db::wikis::Wiki) -> String {
    if wiki.is_public {
        wiki.title.clone()
    } else {
        state.cfg.wiki_host(&wiki.slug)
    }
}

pub async fn authorization_server(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
) -> Response {
    let base = issuer(&state, &wiki.slug);
    let mut r = axum::Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{base}{TOKEN_PATH}"),
        "registration_endpoint": format!("{base}{REGISTER_PATH}"),
        "revocation_endpoint": format!("{base}{REVOKE_PATH}"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": super::client_assertion::ALGORITHM_NAMES,
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": super::client_assertion::ALGORITHM_NAMES,
        "client_id_metadata_document_supported": true,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": [SCOPE_READ, SCOPE_WRITE],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response();
    cors(&mut r);
    r
}

pub async fn not_found() -> Response {
    let mut r = (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "not_found"})),
    )
        .into_response();
    cors(&mut r);
    r
}

pub async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    cors(&mut r);
    r
}
