//! `private_key_jwt` client authentication (RFC 7523 §2.2, as OpenID Connect Core §9
//! profiles it) for clients whose metadata document declares it: instead of a secret the
//! client sends a short-lived JWT it signed with a key its document publishes (`jwks`, or
//! `jwks_uri`). The assertion must name the client as `iss` and `sub`, this server's token
//! endpoint or issuer as `aud`, expire within [`MAX_LIFETIME_SECS`], and is used once (its
//! `jti` is remembered until it expires). Only asymmetric algorithms are accepted, so a
//! public key can never be used as an HMAC secret.

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::client_document;
use crate::db::oauth::Client;
use crate::service::Services;

/// The `client_assertion_type` of a JWT assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

const ALGORITHMS: &[Algorithm] = &[
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];
/// [`ALGORITHMS`] as the server metadata names them.
pub const ALGORITHM_NAMES: &[&str] = &["ES256", "ES384", "RS256", "PS256", "EdDSA"];

/// The longest an assertion may live, from now: they are made for one request.
const MAX_LIFETIME_SECS: i64 = 600;
/// Clock skew allowed on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: u64 = 60;
/// A larger assertion is refused unread.
const MAX_ASSERTION_BYTES: usize = 8 * 1024;

#[derive(Deserialize)]
struct Claims {
    jti: String,
    exp: i64,
}

/// Checks `assertion` as `client`'s proof of identity at this server, known by any of
/// `audiences`. `Err` says why, for an `invalid_client` answer.
pub async fn verify(
    state: &Services,
    client: &Client,
    assertion: &str,
    audiences: &[String],
) -> Result<(), String> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err("the client assertion is too large".into());
    }
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|e| format!("the client assertion is not a JWT: {e}"))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(format!(
            "the client assertion is signed with {:?}; use one of {}",
            header.alg,
            ALGORITHM_NAMES.join(", ")
        ));
    }
    let keys = keys_of(state, client).await?;
    let asymmetric: Vec<_> = keys
        .keys
        .iter()
        .filter(|k| !matches!(k.algorithm, AlgorithmParameters::OctetKey(_)))
        .collect();
    let jwk = match &header.kid {
        Some(kid) => asymmetric
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid)),
        None if asymmetric.len() == 1 => asymmetric.first(),
        None => None,
    }
    .ok_or("no key in the client's jwks matches the assertion (kid)")?;
    let key =
        DecodingKey::from_jwk(jwk).map_err(|e| format!("the client's key is unusable: {e}"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&client.client_id]);
    validation.sub = Some(client.client_id.clone());
    validation.set_audience(audiences);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = LEEWAY_SECS;
    let claims = jsonwebtoken::decode::<Claims>(assertion, &key, &validation)
        .map_err(|e| format!("the client assertion was refused: {e}"))?
        .claims;
    let now = crate::db::now();
    if claims.exp > now + MAX_LIFETIME_SECS {
        return Err(format!(
            "the client assertion lives too long (at most {MAX_LIFETIME_SECS} s)"
        ));
    }
    let (client_id, jti) = (client.client_id.clone(), claims.jti);
    let fresh = state
        .db
        .run(move |c| {
            crate::db::oauth::use_assertion(c, &client_id, &jti, claims.exp + LEEWAY_SECS as i64)
        })
        .await
        .map_err(|e| {
            e.log();
            "internal error".to_string()
        })?;
    if !fresh {
        return Err("the client assertion was already used (jti)".into());
    }
    Ok(())
}

/// The client's public keys: from its document, or fetched from its `jwks_uri`.
async fn keys_of(state: &Services, client: &Client) -> Result<JwkSet, String> {
    if let Some(jwks) = client.metadata.get("jwks") {
        return serde_json::from_value(jwks.clone())
            .map_err(|e| format!("the client's jwks is not a JWK set: {e}"));
    }
    let Some(uri) = client.metadata.get("jwks_uri").and_then(|u| u.as_str()) else {
        return Err("the client publishes no keys".into());
    };
    let (status, _, body) = client_document::get(state, uri)
        .await
        .map_err(|e| format!("the client's jwks_uri could not be fetched: {e}"))?;
    if status != 200 {
        return Err(format!("the client's jwks_uri answered {status}"));
    }
    serde_json::from_slice(&body)
        .map_err(|e| format!("the client's jwks_uri is not a JWK set: {e}"))
}
