//! The ATProto OAuth client protocol, written as a checklist: discover and validate the
//! authorization server, push the authorization request (PAR) with PKCE S256 and a DPoP
//! proof, exchange the code, revoke. A confidential client authenticates with
//! `private_key_jwt` (ES256); the loopback development client authenticates with nothing.
//! Every DPoP request retries once when the server asks for a nonce.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::fetch::Fetcher;
use crate::access::session::random_token;
use crate::error::{Error, Result};

/// An ES256 key: the client's signing key, or a per-login DPoP key.
#[derive(Clone, Serialize, Deserialize)]
pub struct EcKey {
    /// PKCS#8 PEM of the private key.
    pub pem: String,
    pub x: String,
    pub y: String,
}

impl std::fmt::Debug for EcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EcKey(<redacted>)")
    }
}

impl EcKey {
    pub fn generate() -> EcKey {
        use p256::pkcs8::EncodePrivateKey;
        let sk = p256::SecretKey::random(&mut rand::thread_rng());
        let pem = sk
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .expect("encoding a fresh key")
            .to_string();
        Self::from_secret(&sk, pem)
    }

    pub fn from_pem(pem: &str) -> anyhow::Result<EcKey> {
        use p256::pkcs8::DecodePrivateKey;
        let sk = p256::SecretKey::from_pkcs8_pem(pem)?;
        Ok(Self::from_secret(&sk, pem.to_string()))
    }

    fn from_secret(sk: &p256::SecretKey, pem: String) -> EcKey {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let point = sk.public_key().to_encoded_point(false);
        EcKey {
            pem,
            x: URL_SAFE_NO_PAD.encode(point.x().expect("uncompressed point")),
            y: URL_SAFE_NO_PAD.encode(point.y().expect("uncompressed point")),
        }
    }

    /// The public JWK.
    pub fn public_jwk(&self) -> serde_json::Value {
        serde_json::json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y})
    }

    /// RFC 7638 thumbprint, used as the key id.
    pub fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            self.x, self.y
        );
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    fn sign(&self, header: &Header, claims: &impl Serialize) -> Result<String> {
        let key = EncodingKey::from_ec_pem(self.pem.as_bytes())
            .map_err(|e| Error::Internal(anyhow::anyhow!("EC key: {e}")))?;
        jsonwebtoken::encode(header, claims, &key)
            .map_err(|e| Error::Internal(anyhow::anyhow!("signing: {e}")))
    }
}

/// Who we are to authorization servers.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub client_id: String,
    pub redirect_uri: String,
    /// `None` for the loopback development client (a public client).
    pub signing_key: Option<EcKey>,
}

impl ClientConfig {
    fn assertion(&self, audience: &str) -> Result<Vec<(&'static str, String)>> {
        let Some(key) = &self.signing_key else {
            return Ok(Vec::new());
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.thumbprint());
        let now = crate::db::now();
        let claims = serde_json::json!({
            "iss": self.client_id, "sub": self.client_id, "aud": audience,
            "jti": random_token(), "iat": now, "exp": now + 60,
        });
        Ok(vec![
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ),
            ("client_assertion", key.sign(&header, &claims)?),
        ])
    }
}

/// A validated authorization server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthServer {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub par_endpoint: String,
    pub revocation_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct AsMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    pushed_authorization_request_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    #[serde(default)]
    response_types_supported: Vec<String>,
    #[serde(default)]
    grant_types_supported: Vec<String>,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
    #[serde(default)]
    dpop_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    require_pushed_authorization_requests: bool,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
    #[serde(default)]
    client_id_metadata_document_supported: bool,
}

fn bad(msg: String) -> Error {
    tracing::warn!(reason = %msg, "authorization server refused");
    Error::Invalid(msg)
}

/// The authorization server a PDS names in its protected-resource metadata.
pub async fn issuer_of_pds(fetch: &Fetcher, pds: &str) -> Result<String> {
    #[derive(Deserialize)]
    struct Prm {
        #[serde(default)]
        authorization_servers: Vec<String>,
    }
    let url = format!("{pds}/.well-known/oauth-protected-resource");
    let (status, body) = fetch
        .get(&url, "application/json")
        .await
        .map_err(|e| bad(e.to_string()))?;
    if status != 200 {
        return Err(bad(format!(
            "{pds} did not describe its authorization server ({status})."
        )));
    }
    let prm: Prm =
        serde_json::from_slice(&body).map_err(|_| bad(format!("{url} is not valid metadata.")))?;
    prm.authorization_servers
        .into_iter()
        .next()
        .ok_or_else(|| bad(format!("{pds} names no authorization server.")))
}

/// Fetches and checks the authorization server metadata of `issuer`, refusing anything an
/// ATProto client must not use.
pub async fn discover(fetch: &Fetcher, issuer: &str, confidential: bool) -> Result<AuthServer> {
    let issuer = issuer.trim_end_matches('/');
    fetch.check_url(issuer).map_err(|e| bad(e.to_string()))?;
    let url = format!("{issuer}/.well-known/oauth-authorization-server");
    let (status, body) = fetch
        .get(&url, "application/json")
        .await
        .map_err(|e| bad(e.to_string()))?;
    if status != 200 {
        return Err(bad(format!("{url} answered {status}.")));
    }
    let m: AsMetadata = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("{url} is not valid metadata: {e}")))?;
    // RFC 8414 §3.3: the issuer in the document must be the one we asked.
    if m.issuer != issuer {
        return Err(bad(format!(
            "the authorization server claims issuer {:?}, expected {issuer:?}",
            m.issuer
        )));
    }
    let has = |v: &[String], x: &str| v.iter().any(|s| s == x);
    if !has(&m.response_types_supported, "code") {
        return Err(bad(
            "the authorization server does not support the code flow".into(),
        ));
    }
    if !m.grant_types_supported.is_empty() && !has(&m.grant_types_supported, "authorization_code") {
        return Err(bad(
            "the authorization server does not support authorization_code".into(),
        ));
    }
    if !has(&m.code_challenge_methods_supported, "S256") {
        return Err(bad(
            "the authorization server does not support PKCE S256".into()
        ));
    }
    if !has(&m.scopes_supported, "atproto") {
        return Err(bad(
            "the authorization server does not offer the atproto scope".into(),
        ));
    }
    if !has(&m.dpop_signing_alg_values_supported, "ES256") {
        return Err(bad(
            "the authorization server does not accept ES256 DPoP proofs".into(),
        ));
    }
    if confidential {
        if !has(&m.token_endpoint_auth_methods_supported, "private_key_jwt") {
            return Err(bad(
                "the authorization server does not accept private_key_jwt".into(),
            ));
        }
        if !has(&m.token_endpoint_auth_signing_alg_values_supported, "ES256") {
            return Err(bad(
                "the authorization server does not accept ES256 client assertions".into(),
            ));
        }
    } else if !has(&m.token_endpoint_auth_methods_supported, "none") {
        return Err(bad(
            "the authorization server does not accept public clients".into(),
        ));
    }
    if !m.authorization_response_iss_parameter_supported {
        return Err(bad(
            "the authorization server does not send the iss parameter (RFC 9207)".into(),
        ));
    }
    if !m.client_id_metadata_document_supported {
        return Err(bad(
            "the authorization server does not support client metadata documents".into(),
        ));
    }
    let par = m
        .pushed_authorization_request_endpoint
        .ok_or_else(|| bad("the authorization server has no PAR endpoint".into()))?;
    let _ = m.require_pushed_authorization_requests; // we always use PAR
    for endpoint in [&m.authorization_endpoint, &m.token_endpoint, &par] {
        fetch.check_url(endpoint).map_err(|e| bad(e.to_string()))?;
    }
    if let Some(r) = &m.revocation_endpoint {
        fetch.check_url(r).map_err(|e| bad(e.to_string()))?;
    }
    Ok(AuthServer {
        issuer: m.issuer,
        authorization_endpoint: m.authorization_endpoint,
        token_endpoint: m.token_endpoint,
        par_endpoint: par,
        revocation_endpoint: m.revocation_endpoint,
    })
}

/// What a login in progress must remember until its callback. Stored encrypted.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingSecrets {
    pub dpop_key: EcKey,
    pub verifier: String,
    pub dpop_nonce: Option<String>,
}

fn dpop_proof(
    key: &EcKey,
    method: &str,
    url: &str,
    nonce: Option<&str>,
    access_token: Option<&str>,
) -> Result<String> {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("dpop+jwt".into());
    header.jwk = Some(
        serde_json::from_value(key.public_jwk())
            .map_err(|e| Error::Internal(anyhow::anyhow!("jwk: {e}")))?,
    );
    let mut claims = serde_json::json!({
        "jti": random_token(), "htm": method, "htu": url, "iat": crate::db::now(),
    });
    if let Some(n) = nonce {
        claims["nonce"] = n.into();
    }
    if let Some(t) = access_token {
        claims["ath"] = URL_SAFE_NO_PAD.encode(Sha256::digest(t.as_bytes())).into();
    }
    key.sign(&header, &claims)
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// POSTs a form with a DPoP proof and client authentication, retrying once with the
/// server's nonce. Returns the body of a 2xx answer and the latest nonce.
async fn dpop_post(
    fetch: &Fetcher,
    client: &ClientConfig,
    server: &AuthServer,
    url: &str,
    key: &EcKey,
    nonce: &mut Option<String>,
    form: &[(&'static str, String)],
) -> Result<Vec<u8>> {
    for attempt in 0..2 {
        let mut fields: Vec<(&str, String)> = form.iter().map(|(k, v)| (*k, v.clone())).collect();
        fields.push(("client_id", client.client_id.clone()));
        fields.extend(client.assertion(&server.issuer)?);
        let proof = dpop_proof(key, "POST", url, nonce.as_deref(), None)?;
        let (status, headers, body) = fetch
            .post_form(url, &fields, &[("DPoP", proof)])
            .await
            .map_err(|e| bad(e.to_string()))?;
        if let Some(n) = headers.get("dpop-nonce").and_then(|v| v.to_str().ok()) {
            *nonce = Some(n.to_string());
        }
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let err: Option<OAuthError> = serde_json::from_slice(&body).ok();
        if attempt == 0
            && err.as_ref().is_some_and(|e| e.error == "use_dpop_nonce")
            && nonce.is_some()
        {
            continue;
        }
        let detail = err
            .map(|e| {
                format!(
                    "{}{}",
                    e.error,
                    e.error_description
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_else(|| format!("HTTP {status}"));
        return Err(bad(format!(
            "the authorization server refused the request ({detail})"
        )));
    }
    Err(bad(
        "the authorization server kept asking for a new DPoP nonce".into(),
    ))
}

/// Pushes the authorization request. Returns the URL to send the browser to, the
/// `state`, and the secrets the callback will need.
pub async fn push_authorization(
    fetch: &Fetcher,
    client: &ClientConfig,
    server: &AuthServer,
    login_hint: Option<&str>,
) -> Result<(String, String, PendingSecrets)> {
    let dpop_key = EcKey::generate();
    let verifier = format!("{}{}", random_token(), random_token());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_token();
    let mut form = vec![
        ("response_type", "code".to_string()),
        ("redirect_uri", client.redirect_uri.clone()),
        ("scope", "atproto".to_string()),
        ("state", state.clone()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256".to_string()),
    ];
    if let Some(h) = login_hint {
        form.push(("login_hint", h.to_string()));
    }
    let mut nonce = None;
    let body = dpop_post(
        fetch,
        client,
        server,
        &server.par_endpoint,
        &dpop_key,
        &mut nonce,
        &form,
    )
    .await?;
    #[derive(Deserialize)]
    struct Par {
        request_uri: String,
    }
    let par: Par = serde_json::from_slice(&body)
        .map_err(|_| bad("the PAR response has no request_uri".into()))?;
    let url = format!(
        "{}?client_id={}&request_uri={}",
        server.authorization_endpoint,
        crate::http::urlencode(&client.client_id),
        crate::http::urlencode(&par.request_uri)
    );
    Ok((
        url,
        state,
        PendingSecrets {
            dpop_key,
            verifier,
            dpop_nonce: nonce,
        },
    ))
}

/// Tokens from a successful exchange. `Debug` leaves the secrets out.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub sub: String,
    pub scope: String,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TokenSet {{ sub: {}, scope: {}, tokens: <redacted> }}",
            self.sub, self.scope
        )
    }
}

pub async fn exchange_code(
    fetch: &Fetcher,
    client: &ClientConfig,
    server: &AuthServer,
    secrets: &mut PendingSecrets,
    code: &str,
) -> Result<TokenSet> {
    let form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code.to_string()),
        ("redirect_uri", client.redirect_uri.clone()),
        ("code_verifier", secrets.verifier.clone()),
    ];
    let body = dpop_post(
        fetch,
        client,
        server,
        &server.token_endpoint,
        &secrets.dpop_key,
        &mut secrets.dpop_nonce,
        &form,
    )
    .await?;
    #[derive(Deserialize)]
    struct Resp {
        access_token: String,
        token_type: String,
        refresh_token: Option<String>,
        sub: Option<String>,
        scope: Option<String>,
    }
    let r: Resp =
        serde_json::from_slice(&body).map_err(|_| bad("the token response is malformed".into()))?;
    if !r.token_type.eq_ignore_ascii_case("DPoP") {
        return Err(bad(format!(
            "expected a DPoP-bound token, got {:?}",
            r.token_type
        )));
    }
    let scope = r.scope.unwrap_or_default();
    if !scope.split_whitespace().any(|s| s == "atproto") {
        return Err(bad("the token was not granted the atproto scope".into()));
    }
    let sub = r
        .sub
        .ok_or_else(|| bad("the token response names no account (sub)".into()))?;
    crate::db::users::validate_did(&sub)
        .map_err(|_| bad(format!("the token's sub {sub:?} is not a DID")))?;
    Ok(TokenSet {
        access_token: r.access_token,
        refresh_token: r.refresh_token,
        sub,
        scope,
    })
}

/// Revokes a token (RFC 7009), where the server has a revocation endpoint.
pub async fn revoke(
    fetch: &Fetcher,
    client: &ClientConfig,
    server: &AuthServer,
    key: &EcKey,
    token: &str,
) -> Result<()> {
    let Some(url) = &server.revocation_endpoint else {
        return Ok(());
    };
    let mut nonce = None;
    dpop_post(
        fetch,
        client,
        server,
        url,
        key,
        &mut nonce,
        &[("token", token.to_string())],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sign_verifiable_proofs() {
        let k = EcKey::generate();
        let again = EcKey::from_pem(&k.pem).unwrap();
        assert_eq!(k.x, again.x);
        assert_eq!(k.thumbprint(), again.thumbprint());
        let proof = dpop_proof(&k, "POST", "https://as.example/par", Some("n1"), None).unwrap();
        let header = jsonwebtoken::decode_header(&proof).unwrap();
        assert_eq!(header.typ.as_deref(), Some("dpop+jwt"));
        assert_eq!(header.alg, Algorithm::ES256);
        let jwk = header.jwk.expect("jwk in header");
        let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::ES256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(&proof, &dk, &v).unwrap();
        assert_eq!(data.claims["htm"], "POST");
        assert_eq!(data.claims["nonce"], "n1");
        assert!(format!("{k:?}").contains("redacted"));
    }
}
