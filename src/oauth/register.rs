//! Open dynamic client registration (RFC 7591). Anyone may register: a registration
//! grants nothing until a person consents, and unused ones are swept. Redirect URIs must
//! be https or loopback http; unknown metadata is ignored, not refused (clients send
//! `application_type`, `logo_uri`, `scope: "claudeai"`…).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::*;
use crate::access::Caller;

/// A registration body larger than this is refused.
const MAX_BODY: usize = 64 * 1024;
const MAX_REDIRECTS: usize = 10;

pub async fn register(State(state): State<Services>, caller: Caller, body: Bytes) -> Response {
    // Registrations count against the same write limiter as everything else.
    if let Err(e) = state.count_write(&caller, crate::access::Action::Write) {
        return oauth_error(e.status(), "too_many_requests", &e.public_message());
    }
    if body.len() > MAX_BODY {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "registration body too large",
        );
    }
    let meta: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                "the body must be a JSON object",
            );
        }
    };
    let (client, echoed) = match validate(&meta) {
        Ok(x) => x,
        Err((error, description)) => {
            return oauth_error(StatusCode::BAD_REQUEST, error, &description);
        }
    };
    let client_id = new_secret("rc_");
    let secret = (client.auth_method != "none").then(|| new_secret("rcs_"));
    let row = crate::db::oauth::Client {
        client_id: client_id.clone(),
        secret_hash: secret.as_deref().map(hash_secret),
        ..client
    };
    let now = crate::db::now();
    if let Err(e) = state
        .db
        .run(move |c| crate::db::oauth::insert_client(c, &row, now))
        .await
    {
        e.log();
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "registration failed",
        );
    }
    let mut out = echoed;
    out["client_id"] = client_id.into();
    out["client_id_issued_at"] = now.into();
    if let Some(s) = secret {
        out["client_secret"] = s.into();
        out["client_secret_expires_at"] = 0.into();
    }
    let mut r = (StatusCode::CREATED, axum::Json(out)).into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    cors(&mut r);
    r
}

pub type Invalid = (&'static str, String);

/// Checks a registration; returns the client row (without id and secret) and the
/// metadata to echo back.
pub fn validate(meta: &Value) -> std::result::Result<(crate::db::oauth::Client, Value), Invalid> {
    let bad = |d: &str| ("invalid_client_metadata", d.to_string());
    let redirect_uris: Vec<String> = match meta.get("redirect_uris") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_REDIRECTS => a
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                (
                    "invalid_redirect_uri",
                    "redirect_uris must be strings".to_string(),
                )
            })?,
        _ => {
            return Err((
                "invalid_redirect_uri",
                format!("redirect_uris must be a list of 1 to {MAX_REDIRECTS} URLs"),
            ));
        }
    };
    for (i, u) in redirect_uris.iter().enumerate() {
        if let Some(why) = redirect_uri_problem(u) {
            return Err((
                "invalid_redirect_uri",
                format!("redirect_uris[{i}] is not a valid redirect URI: {why}"),
            ));
        }
    }
    // RFC 7591's default is client_secret_basic, but some MCP clients only handle the
    // method they are told and only speak client_secret_post; the token endpoint accepts
    // either for a confidential client, so the omitted method is answered as post.
    let auth_method = match meta.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => "client_secret_post".to_string(),
        Some(Value::String(m))
            if ["client_secret_basic", "client_secret_post", "none"].contains(&m.as_str()) =>
        {
            m.clone()
        }
        Some(_) => {
            return Err(bad(
                "token_endpoint_auth_method must be client_secret_basic, client_secret_post or none",
            ));
        }
    };
    let strings = |key: &str,
                   default: &[&str],
                   allowed: &[&str]|
     -> std::result::Result<Vec<String>, Invalid> {
        match meta.get(key) {
            None | Some(Value::Null) => Ok(default.iter().map(|s| s.to_string()).collect()),
            Some(Value::Array(a)) => {
                let v: Vec<String> = a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect();
                if v.len() != a.len() || v.iter().any(|x| !allowed.contains(&x.as_str())) {
                    return Err(bad(&format!(
                        "{key} may only contain {}",
                        allowed.join(", ")
                    )));
                }
                Ok(v)
            }
            Some(_) => Err(bad(&format!("{key} must be a list"))),
        }
    };
    let grant_types = strings(
        "grant_types",
        &["authorization_code"],
        &["authorization_code", "refresh_token"],
    )?;
    let response_types = strings("response_types", &["code"], &["code"])?;
    let client_name: String = meta
        .get("client_name")
        .and_then(Value::as_str)
        .unwrap_or("MCP client")
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    let client_name = if client_name.trim().is_empty() {
        "MCP client".to_string()
    } else {
        client_name.trim().to_string()
    };
    let mut echoed = json!({
        "client_name": client_name,
        "redirect_uris": redirect_uris,
        "grant_types": grant_types,
        "response_types": response_types,
        "token_endpoint_auth_method": auth_method,
    });
    if let Some(Value::String(s)) = meta.get("scope") {
        echoed["scope"] = s.chars().take(200).collect::<String>().into();
    }
    for key in ["client_uri", "logo_uri", "software_id", "software_version"] {
        if let Some(Value::String(s)) = meta.get(key) {
            echoed[key] = s.chars().take(500).collect::<String>().into();
        }
    }
    Ok((
        crate::db::oauth::Client {
            client_id: String::new(),
            secret_hash: None,
            auth_method,
            client_name,
            redirect_uris,
            metadata: echoed.clone(),
            document_fresh_until: None,
        },
        echoed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_are_checked_and_unknown_fields_ignored() {
        let (c, echoed) = validate(&json!({
            "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
            "client_name": "Claude", "scope": "claudeai", "application_type": "web",
            "token_endpoint_auth_method": "client_secret_post"
        }))
        .unwrap();
        assert_eq!(c.auth_method, "client_secret_post");
        assert_eq!(echoed["scope"], "claudeai");
        let (c, _) =
            validate(&json!({"redirect_uris": ["http://127.0.0.1:3000/callback"]})).unwrap();
        assert_eq!(
            c.auth_method, "client_secret_post",
            "omitted: the method every client speaks"
        );
        for bad in [
            json!({}),
            json!({"redirect_uris": []}),
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            json!({"redirect_uris": ["https://x.example/cb#frag"]}),
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            json!({"redirect_uris": [1]}),
            json!({"redirect_uris": ["http://127.0.0.1:1234/cb%01"]}),
            json!({"redirect_uris": ["http://127.0.0.1/\u{1}"]}),
            json!({"redirect_uris": ["http://127.0.0.1/a b"]}),
        ] {
            assert_eq!(
                validate(&bad).unwrap_err().0,
                "invalid_redirect_uri",
                "{bad}"
            );
        }
        let e = validate(
            &json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
        );
        assert_eq!(e.unwrap_err().0, "invalid_client_metadata");
        let e = validate(
            &json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}),
        );
        assert_eq!(e.unwrap_err().0, "invalid_client_metadata");
    }
}
