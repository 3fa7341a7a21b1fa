//! Discovery documents: protected-resource metadata (RFC 9728) at both URLs clients try,
//! authorization-server metadata (RFC 8414) at the issuer's well-known URL, and a JSON
//! 404 for every other `/.well-known/` path (never an HTML page or a login redirect).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::*;
use crate::web::CurrentWiki;

pub async fn protected_resource(
    State(state): State<AppState>,
    CurrentWiki(wiki): CurrentWiki,
) -> Response {
    let mut r = axum::Json(json!({
        "resource": resource(&state, &wiki.slug),
        "authorization_servers": [issuer(&state, &wiki.slug)],
        "scopes_supported": [SCOPE_READ, SCOPE_WRITE],
        "bearer_methods_supported": ["header"],
        "resource_name": wiki.title,
    }))
    .into_response();
    cors(&mut r);
    r
}

pub async fn authorization_server(
    State(state): State<AppState>,
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
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
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
