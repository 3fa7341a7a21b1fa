//! The management API on the root host, authenticated by a platform JWT in the
//! `Authorization: Bearer` header (the session cookie is not accepted here, so there is
//! nothing for CSRF to forge). Every handler calls `manage`, which calls `authorize`.

use crate::http::request_id;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, patch, post};
use serde::Deserialize;

use super::{ApiError, ApiResult};
use crate::access::Action;
use crate::access::Caller;
use crate::error::Error;
use crate::service::Services;
use crate::service::manage::{self, NewPersonalToken, NewWiki, WikiPatch, WikiView};

/// The API's routes, to merge into the root router (its 404s stay JSON under `/api`).
pub fn router_nested() -> Router<Services> {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/wikis", get(list).post(create))
        .route("/api/wikis/{slug}", get(show).patch(update).delete(remove))
        .route("/api/wikis/{slug}/token", post(token))
        .route(
            "/api/wikis/{slug}/collaborators",
            get(collaborators).post(add_collaborator),
        )
        .route(
            "/api/wikis/{slug}/collaborators/{did}",
            patch(change_collaborator).delete(remove_collaborator),
        )
        .route("/api/wikis/{slug}/audit", get(audit))
        .route("/api/wikis/{slug}/clients", get(clients))
        .route(
            "/api/wikis/{slug}/clients/{id}",
            axum::routing::delete(revoke_client),
        )
        .route(
            "/api/tokens",
            get(personal_tokens).post(create_personal_token),
        )
        .route(
            "/api/tokens/{id}",
            axum::routing::delete(revoke_personal_token),
        )
        .route("/api/{*rest}", axum::routing::any(not_found))
}

/// Only bearer credentials count here; a present but invalid one is a 401.
fn bearer(caller: &Caller) -> Result<(), ApiError> {
    if caller.bad_bearer || !caller.bearer || caller.principal.did().is_none() {
        return Err(ApiError(Error::Unauthorized));
    }
    Ok(())
}

/// Parses a JSON body with a clear error (axum's rejection would be plain text).
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError(Error::Invalid(format!("invalid JSON body: {e}"))))
}

async fn not_found() -> ApiError {
    ApiError(Error::not_found("No such API endpoint."))
}

async fn me(State(state): State<Services>, caller: Caller) -> ApiResult<Json<serde_json::Value>> {
    bearer(&caller)?;
    let me = manage::me(&state, &caller).await?;
    Ok(Json(serde_json::json!({
        "did": me.did, "handle": me.handle, "display_name": me.display_name,
        "username": me.username, "is_admin": me.is_admin,
    })))
}

async fn list(State(state): State<Services>, caller: Caller) -> ApiResult<Json<serde_json::Value>> {
    bearer(&caller)?;
    Ok(Json(
        serde_json::json!({ "wikis": manage::my_wikis(&state, &caller).await? }),
    ))
}

async fn create(
    State(state): State<Services>,
    caller: Caller,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> ApiResult<Response> {
    bearer(&caller)?;
    let req: NewWiki = body(&bytes)?;
    let (wiki, token) = manage::create_wiki(&state, &caller, req, request_id(&headers)).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "wiki": wiki, "token": token })),
    )
        .into_response())
}

async fn show(
    State(state): State<Services>,
    caller: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<WikiView>> {
    bearer(&caller)?;
    let (wiki, grant) = manage::wiki_for(&state, &caller, &slug, Action::Read).await?;
    Ok(Json(WikiView::new(&state, &wiki, grant.role)))
}

async fn update(
    State(state): State<Services>,
    caller: Caller,
    Path(slug): Path<String>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> ApiResult<Json<WikiView>> {
    bearer(&caller)?;
    let patch: WikiPatch = body(&bytes)?;
    Ok(Json(
        manage::update_wiki(&state, &caller, &slug, patch, request_id(&headers)).await?,
    ))
}

async fn remove(
    State(state): State<Services>,
    caller: Caller,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    bearer(&caller)?;
    // The API's DELETE is its own confirmation.
    manage::delete_wiki(&state, &caller, &slug, &slug, request_id(&headers)).await?;
    Ok(Json(serde_json::json!({ "deleted": true, "slug": slug })))
}

async fn token(
    State(state): State<Services>,
    caller: Caller,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    bearer(&caller)?;
    let token = manage::regenerate_token(&state, &caller, &slug, request_id(&headers)).await?;
    Ok(Json(serde_json::json!({ "token": token })))
}

async fn collaborators(
    State(state): State<Services>,
    caller: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    bearer(&caller)?;
    Ok(Json(
        serde_json::json!({ "collaborators": manage::collaborators(&state, &caller, &slug).await? }),
    ))
}

#[derive(Deserialize)]
struct AddCollaborator {
    /// A handle or a DID.
    #[serde(alias = "did")]
    handle: String,
    role: String,
}

async fn add_collaborator(
    State(state): State<Services>,
    caller: Caller,
    Path(slug): Path<String>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> ApiResult<Response> {
    bearer(&caller)?;
    let req: AddCollaborator = body(&bytes)?;
    let c = manage::add_collaborator(
        &state,
        &caller,
        &slug,
        &req.handle,
        &req.role,
        request_id(&headers),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

#[derive(Deserialize)]
struct ChangeRole {
    role: String,
}

async fn change_collaborator(
    State(state): State<Services>,
    caller: Caller,
    Path((slug, did)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    bearer(&caller)?;
    let req: ChangeRole = body(&bytes)?;
    manage::set_collaborator_role(
        &state,
        &caller,
        &slug,
        &did,
        &req.role,
        request_id(&headers),
    )
    .await?;
    Ok(Json(serde_json::json!({ "did": did, "role": req.role })))
}

async fn remove_collaborator(
    State(state): State<Services>,
    caller: Caller,
    Path((slug, did)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    bearer(&caller)?;
    manage::remove_collaborator(&state, &caller, &slug, &did, request_id(&headers)).await?;
    Ok(Json(serde_json::json!({ "removed": true, "did": did })))
}

/// Applications connected to the wiki through OAuth.
async fn clients(
    State(state): State<Services>,
    caller: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    bearer(&caller)?;
    Ok(Json(
        serde_json::json!({ "clients": manage::connected_clients(&state, &caller, &slug).await? }),
    ))
}

async fn revoke_client(
    State(state): State<Services>,
    caller: Caller,
    Path((slug, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> ApiResult<axum::http::StatusCode> {
    bearer(&caller)?;
    manage::revoke_client(&state, &caller, &slug, id, request_id(&headers)).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn audit(
    State(state): State<Services>,
    caller: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    bearer(&caller)?;
    Ok(Json(
        serde_json::json!({ "entries": manage::audit_log(&state, &caller, &slug).await? }),
    ))
}

/// The caller's personal tokens (never their secrets).
async fn personal_tokens(
    State(state): State<Services>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    bearer(&caller)?;
    Ok(Json(
        serde_json::json!({ "tokens": manage::personal_tokens(&state, &caller).await? }),
    ))
}

/// Makes a personal token; its secret is in this answer and nowhere else, ever.
async fn create_personal_token(
    State(state): State<Services>,
    caller: Caller,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> ApiResult<Response> {
    bearer(&caller)?;
    let req: NewPersonalToken = body(&bytes)?;
    let (token, secret) =
        manage::create_personal_token(&state, &caller, req, request_id(&headers)).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "token": token, "secret": secret })),
    )
        .into_response())
}

async fn revoke_personal_token(
    State(state): State<Services>,
    caller: Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    bearer(&caller)?;
    manage::revoke_personal_token(&state, &caller, id, request_id(&headers)).await?;
    Ok(StatusCode::NO_CONTENT)
}
