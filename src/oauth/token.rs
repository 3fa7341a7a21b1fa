//! The token endpoint (authorization code with PKCE, refresh token) and revocation.
//!
//! Clients authenticate as they registered or as their metadata document says: HTTP
//! Basic, `client_secret` in the form, a signed `client_assertion` (`private_key_jwt`),
//! or not at all (public clients, which PKCE protects). Refresh tokens are always issued;
//! an authenticated client keeps its refresh token, a public client's rotates on every use
//! ([`refresh_grant`] explains both).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use super::*;
use super::{client_assertion, client_document};
use crate::access;
use crate::access::{Caller, CurrentWiki};
use crate::db::oauth::{self as store, Code};
use crate::http::parse_form;

/// `invalid_client` is a 401 (Claude re-registers a client it is told is unknown).
fn invalid_client(description: &str) -> Response {
    let mut r = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"robot\""),
    );
    r
}

fn bad(error: &str, description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, error, description)
}

/// Authenticates the client by its method: a secret (HTTP Basic or in the form) for a
/// registered confidential client, a signed assertion for a `private_key_jwt` client
/// (`client_assertion`), nothing for a public one. `Err` is the response to give.
async fn client_auth(
    state: &Services,
    caller: &Caller,
    wiki: &crate::db::wikis::Wiki,
    headers: &HeaderMap,
    form: &BTreeMap<String, String>,
) -> std::result::Result<store::Client, Response> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            let dec = |x: &str| {
                percent_encoding::percent_decode_str(&x.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some((dec(id), dec(secret)))
        });
    let assertion = match (
        form.get("client_assertion_type"),
        form.get("client_assertion"),
    ) {
        (None, None) => None,
        (Some(t), Some(a)) if t == client_assertion::ASSERTION_TYPE => Some(a.clone()),
        _ => {
            return Err(invalid_client(&format!(
                "client_assertion_type must be {} with a client_assertion",
                client_assertion::ASSERTION_TYPE
            )));
        }
    };
    // An assertion names its client as `iss` when the form does not (RFC 7523 §3).
    let asserted_id = assertion.as_deref().and_then(assertion_issuer);
    let (client_id, secret) = match (&basic, form.get("client_id")) {
        (Some((id, s)), _) => (id.clone(), Some(s.clone())),
        (None, Some(id)) => (id.clone(), form.get("client_secret").cloned()),
        (None, None) => match asserted_id {
            Some(id) => (id, None),
            None => return Err(invalid_client("client authentication is required")),
        },
    };
    if let (Some((id, _)), Some(form_id)) = (&basic, form.get("client_id"))
        && id != form_id
    {
        return Err(invalid_client("client_id does not match the credentials"));
    }
    let client = match find_client(state, caller, &client_id).await {
        Ok(c) => c,
        Err(UnknownClient::Unregistered) => return Err(invalid_client("unknown client")),
        Err(UnknownClient::Refused(why)) => return Err(invalid_client(&why)),
        Err(UnknownClient::Internal) => {
            return Err(oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            ));
        }
    };
    if client.auth_method == client_document::PRIVATE_KEY_JWT {
        let (Some(assertion), None) = (assertion, secret) else {
            return Err(invalid_client(
                "this client authenticates with private_key_jwt (client_assertion)",
            ));
        };
        let base = issuer(state, &wiki.slug);
        let audiences = [format!("{base}{TOKEN_PATH}"), base];
        return match client_assertion::verify(state, &client, &assertion, &audiences).await {
            Ok(()) => Ok(client),
            Err(why) => Err(invalid_client(&why)),
        };
    }
    if assertion.is_some() {
        return Err(invalid_client(
            "this client does not authenticate with client_assertion",
        ));
    }
    let ok = match (client.secret_hash.as_deref(), secret.as_deref()) {
        // A public client proves itself with PKCE, not a secret.
        (None, None) => client.auth_method == "none",
        // Either secret method is accepted for a confidential client: clients mix them
        // up, and both carry the same secret over TLS.
        (Some(h), Some(s)) => {
            use subtle::ConstantTimeEq;
            h.as_bytes().ct_eq(hash_secret(s).as_bytes()).into()
        }
        _ => false,
    };
    if !ok {
        return Err(invalid_client("client authentication failed"));
    }
    Ok(client)
}

/// The `iss` of a JWT, read without verifying it: only to know which client's keys will.
fn assertion_issuer(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("iss")?.as_str().map(String::from)
}

/// Issues an access and a refresh token under `grant_id`.
fn issue(
    conn: &rusqlite::Connection,
    grant_id: i64,
    scope: &str,
    now: i64,
) -> crate::error::Result<serde_json::Value> {
    let refresh = new_secret(REFRESH_PREFIX);
    store::insert_token(
        conn,
        &hash_secret(&refresh),
        grant_id,
        "refresh",
        now + REFRESH_TTL_SECS,
    )?;
    issue_access(conn, grant_id, scope, now, &refresh)
}

/// Issues an access token under `grant_id`, answered beside `refresh` (a new one from
/// [`issue`], or the one a confidential client keeps: see [`refresh_grant`]).
fn issue_access(
    conn: &rusqlite::Connection,
    grant_id: i64,
    scope: &str,
    now: i64,
    refresh: &str,
) -> crate::error::Result<serde_json::Value> {
    let access = new_secret(ACCESS_PREFIX);
    store::insert_token(
        conn,
        &hash_secret(&access),
        grant_id,
        "access",
        now + ACCESS_TTL_SECS,
    )?;
    Ok(serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_TTL_SECS,
        "refresh_token": refresh,
        "scope": scope,
    }))
}

fn tokens_response(body: serde_json::Value) -> Response {
    let mut r = axum::Json(body).into_response();
    no_store(&mut r);
    cors(&mut r);
    r
}

pub async fn token(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: BTreeMap<String, String> = parse_form(&body).into_iter().collect();
    let client = match client_auth(&state, &caller, &wiki, &headers, &form).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => code_grant(&state, &wiki, &client, &form).await,
        Some("refresh_token") => refresh_grant(&state, &wiki, &client, &form).await,
        Some(_) => bad(
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ),
        None => bad("invalid_request", "grant_type is required"),
    }
}

async fn code_grant(
    state: &Services,
    wiki: &crate::db::wikis::Wiki,
    client: &store::Client,
    form: &BTreeMap<String, String>,
) -> Response {
    let (Some(code), Some(verifier)) = (form.get("code"), form.get("code_verifier")) else {
        return bad("invalid_request", "code and code_verifier are required");
    };
    let hash = hash_secret(code);
    // Taken out whatever happens next: a code is good for one attempt.
    let taken = state.db.run(move |c| store::take_code(c, &hash)).await;
    let code: Code = match taken {
        Ok(Some(c)) => c,
        Ok(None) => {
            return bad(
                "invalid_grant",
                "the code is invalid, expired or already used",
            );
        }
        Err(e) => {
            e.log();
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            );
        }
    };
    let now = crate::db::now();
    if code.client_id != client.client_id || code.wiki_id != wiki.id || code.expires_at <= now {
        return bad(
            "invalid_grant",
            "the code is invalid, expired or already used",
        );
    }
    if form
        .get("redirect_uri")
        .is_some_and(|r| *r != code.redirect_uri)
    {
        return bad(
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        );
    }
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if challenge != code.code_challenge {
        return bad("invalid_grant", "PKCE verification failed");
    }
    if let Some(r) = form.get("resource")
        && !same_resource(r, &code.resource)
    {
        return bad(
            "invalid_target",
            "resource does not match the authorization request",
        );
    }
    let scope = code.scope.clone();
    let issued = state
        .db
        .run(move |c| {
            let tx = c.unchecked_transaction()?;
            let grant_id = store::insert_grant(&tx, &code, now)?;
            let body = issue(&tx, grant_id, &scope, now)?;
            tx.commit()?;
            Ok(body)
        })
        .await;
    match issued {
        Ok(body) => tokens_response(body),
        Err(e) => {
            e.log();
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            )
        }
    }
}

/// The refresh grant. Which refresh-token policy of RFC 9700 §4.14.2 applies depends on
/// the client:
///
/// - A confidential client proves itself with its own secret on every refresh, so its
///   refresh token is already bound to it: it is not rotated. Real clients refresh one
///   token from parallel sessions, and again days later (Claude Code; claude.ai from two
///   addresses); under rotation each of those looks like a stolen token, and revoking
///   on it signs the person out of every session. A replay by anyone else fails client
///   authentication, or names another client and gets `invalid_grant`.
/// - A public client has nothing but the token: its refresh tokens rotate, and a rotated
///   one is honoured for [`REFRESH_GRACE_SECS`] (parallel refreshes). Presented later,
///   it is refused (`invalid_grant`): a replayed token yields nothing. It does not revoke
///   the grant, as classic reuse detection would: a public client's stale copy (a second
///   Claude Code session reading an old credential file, a retry days late) is far more
///   common than a thief, and revoking would end every session of the person with that
///   client, the legitimate holder of the newest token included. The reuse is logged,
///   and the person can end the grant from the management app. Each consent is its own
///   token family (its own grant), so nothing here touches another one.
async fn refresh_grant(
    state: &Services,
    wiki: &crate::db::wikis::Wiki,
    client: &store::Client,
    form: &BTreeMap<String, String>,
) -> Response {
    let Some(refresh) = form.get("refresh_token").cloned() else {
        return bad("invalid_request", "refresh_token is required");
    };
    let requested = form.get("scope").cloned();
    let asked_resource = form.get("resource").cloned();
    let (client_id, wiki2) = (client.client_id.clone(), wiki.clone());
    // `client_auth` has checked the secret, or the signed assertion, of a client that
    // authenticates.
    let confidential =
        client.secret_hash.is_some() || client.auth_method == client_document::PRIVATE_KEY_JWT;
    let outcome = state
        .db
        .run(move |c| {
            let now = crate::db::now();
            let hash = hash_secret(&refresh);
            let Some(row) = store::token(c, &hash)? else {
                return Ok(Err((
                    "invalid_grant",
                    "the refresh token is invalid or revoked",
                )));
            };
            let g = &row.grant;
            if row.kind != "refresh"
                || row.expires_at <= now
                || g.client_id != client_id
                || g.wiki_id != wiki2.id
            {
                return Ok(Err((
                    "invalid_grant",
                    "the refresh token is invalid or revoked",
                )));
            }
            // A grant is for one resource (RFC 8707): refreshing cannot move it elsewhere.
            if asked_resource
                .as_deref()
                .is_some_and(|r| !same_resource(r, &g.resource))
            {
                return Ok(Err((
                    "invalid_target",
                    "resource does not match the grant's resource",
                )));
            }
            if !confidential && row.rotated_at.is_some_and(|t| now - t > REFRESH_GRACE_SECS) {
                // A stale copy, or a replay: refused, and the newest token keeps working.
                tracing::warn!(
                    grant = g.id,
                    client_id = %g.client_id,
                    "rotated refresh token presented again after the grace period; refused"
                );
                return Ok(Err(("invalid_grant", "the refresh token was already used")));
            }
            // The person must still have access; a removed collaborator's grant ends here.
            let principal = crate::access::Principal::User {
                did: g.user_did.clone(),
                handle: g.user_handle.clone(),
                session_id: String::new(),
            };
            let role = access::role_of(c, &principal, &wiki2)?;
            let Some(role) = role else {
                store::revoke_grant(c, g.id, now)?;
                return Ok(Err((
                    "invalid_grant",
                    "the user no longer has access to this wiki",
                )));
            };
            // Scopes may shrink on refresh, never grow, and follow the current role.
            let may_write = role >= crate::access::Role::Editor
                && g.scope.split_whitespace().any(|s| s == SCOPE_WRITE);
            let scope = grant_scopes(requested.as_deref().unwrap_or(&g.scope), may_write);
            if confidential {
                return Ok(Ok(issue_access(c, g.id, &scope, now, &refresh)?));
            }
            let tx = c.unchecked_transaction()?;
            store::mark_rotated(&tx, &hash, now)?;
            let body = issue(&tx, g.id, &scope, now)?;
            tx.commit()?;
            Ok(Ok(body))
        })
        .await;
    match outcome {
        Ok(Ok(body)) => tokens_response(body),
        Ok(Err((error, why))) => bad(error, why),
        Err(e) => {
            e.log();
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            )
        }
    }
}

/// RFC 7009: ends the grant behind a token of this client. Unknown tokens are a success
/// too, so the answer reveals nothing.
pub async fn revoke(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: BTreeMap<String, String> = parse_form(&body).into_iter().collect();
    let client = match client_auth(&state, &caller, &wiki, &headers, &form).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(token) = form.get("token").cloned() else {
        return bad("invalid_request", "token is required");
    };
    let done = state
        .db
        .run(move |c| {
            if let Some(row) = store::token(c, &hash_secret(&token))?
                && row.grant.client_id == client.client_id
            {
                store::revoke_grant(c, row.grant.id, crate::db::now())?;
            }
            Ok(())
        })
        .await;
    if let Err(e) = done {
        e.log();
    }
    let mut r = StatusCode::OK.into_response();
    no_store(&mut r);
    cors(&mut r);
    r
}
