//! Sign-in with ATProto (Bluesky) accounts: robot is an OAuth client of the user's own
//! authorization server. In production it is a confidential client whose metadata document
//! is `{root}/auth/client-metadata.json`; on the localhost default it is the ATProto
//! loopback development client, so a laptop can sign in with a real account.
//!
//! - `fetch`: the SSRF-guarded HTTP client every outbound request goes through.
//! - `identity`: login input, handle ↔ DID resolution.
//! - `oauth`: PAR, PKCE, DPoP, private_key_jwt, code exchange, revocation.
//!
//! Secrets kept between requests (the DPoP key and PKCE verifier of a login in progress;
//! the tokens of a signed-in user, kept only to revoke them at logout) are stored sealed
//! with XChaCha20-Poly1305 under a key derived from the server secret.

pub mod fetch;
pub mod identity;
pub mod oauth;

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::db::{self, Db};
use crate::error::{Error, Result};
use fetch::Fetcher;
use identity::{LoginInput, Resolver};
use oauth::{AuthServer, ClientConfig, EcKey, PendingSecrets, TokenSet};

/// How long a started sign-in may take.
pub const LOGIN_TTL_SECS: i64 = 600;

/// Who signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    pub did: String,
    pub handle: String,
    pub return_to: String,
    /// SHA-256 of the nonce cookie of the browser that started the sign-in: a hand-off
    /// minted for this sign-in is bound to it.
    pub browser_hash: String,
}

/// A started sign-in: where to send the browser, and the nonce to set as its cookie
/// (the callback needs the same browser; only the nonce's SHA-256 is stored).
pub struct SignIn {
    pub url: String,
    pub browser_nonce: String,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What the callback knows of the browser that started the sign-in.
#[derive(Debug, Clone, Copy)]
pub enum CallbackBrowser<'a> {
    /// The callback arrived on the host that set the nonce cookie (the root): the cookie's
    /// value, if the browser sent one. It must be the one the sign-in started with.
    Cookie(Option<&'a str>),
    /// The callback arrived on another host, which cannot see the root's cookies (the
    /// loopback client's `127.0.0.1`): the caller must bind the hand-off it mints to
    /// [`Identity::browser_hash`], so the root checks the cookie instead.
    Elsewhere,
}

/// Refusal of a callback in a browser other than the one that started the sign-in.
pub const OTHER_BROWSER: &str =
    "This sign-in was started in another browser (or its cookie expired). Please sign in again.";

#[derive(Clone)]
pub struct Atproto {
    pub fetch: Fetcher,
    pub resolver: Resolver,
    pub client: ClientConfig,
    db: Db,
    seal_key: [u8; 32],
    root_url: String,
}

#[derive(Serialize, Deserialize)]
struct SessionSecrets {
    tokens: TokenSet,
    dpop_key: EcKey,
}

impl Atproto {
    /// Builds the client. The confidential client's key lives in `keys/atproto.pem` (0600),
    /// created on first use.
    pub fn new(cfg: &Config, db: Db, seal_key: [u8; 32]) -> anyhow::Result<Atproto> {
        let fetch = Fetcher::new(cfg.atproto.allow_private_hosts);
        let resolver = Resolver {
            fetch: fetch.clone(),
            plc_url: cfg.atproto.plc_url.clone(),
            handle_resolver_url: cfg.atproto.handle_resolver_url.clone(),
        };
        let client = if cfg.is_localhost() {
            // The loopback client: https://atproto.com/specs/oauth#localhost-client-development
            let redirect_uri = format!("http://127.0.0.1:{}/auth/callback", cfg.domain_port());
            ClientConfig {
                client_id: format!(
                    "http://localhost?redirect_uri={}&scope=atproto",
                    crate::http::urlencode(&redirect_uri)
                ),
                redirect_uri,
                signing_key: None,
            }
        } else {
            ClientConfig {
                client_id: format!("{}/auth/client-metadata.json", cfg.root_url()),
                redirect_uri: format!("{}/auth/callback", cfg.root_url()),
                signing_key: Some(load_or_create_key(&cfg.keys_dir().join("atproto.pem"))?),
            }
        };
        Ok(Atproto {
            fetch,
            resolver,
            client,
            db,
            seal_key,
            root_url: cfg.root_url(),
        })
    }

    /// The client metadata document served at `client_id` (confidential client only).
    pub fn client_metadata(&self) -> Option<serde_json::Value> {
        self.client.signing_key.as_ref()?;
        Some(serde_json::json!({
            "client_id": self.client.client_id,
            "client_name": "robot",
            "client_uri": self.root_url,
            "application_type": "web",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": [self.client.redirect_uri],
            "scope": "atproto",
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "dpop_bound_access_tokens": true,
            "jwks": self.jwks(),
        }))
    }

    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .client
            .signing_key
            .iter()
            .map(|k| {
                let mut jwk = k.public_jwk();
                jwk["kid"] = k.thumbprint().into();
                jwk["use"] = "sig".into();
                jwk["alg"] = "ES256".into();
                jwk
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    fn confidential(&self) -> bool {
        self.client.signing_key.is_some()
    }

    /// Starts a sign-in for what the person typed; returns the URL to send them to and the
    /// nonce the caller sets as a cookie in the browser (the sign-in is bound to it).
    pub async fn start(&self, input: &str, return_to: &str) -> Result<SignIn> {
        let input = LoginInput::parse(input)?;
        let (issuer, expected_did, handle, hint) = match &input {
            LoginInput::Handle(h) => {
                let did = self.resolver.resolve_handle(h).await?;
                let doc = self.resolver.resolve_did(&did).await?;
                if !doc.handles.iter().any(|x| x == h) {
                    return Err(Error::Invalid(format!(
                        "{did} does not confirm the handle {h}."
                    )));
                }
                let issuer = oauth::issuer_of_pds(&self.fetch, &doc.pds).await?;
                (issuer, Some(did), Some(h.clone()), Some(h.clone()))
            }
            LoginInput::Did(did) => {
                let doc = self.resolver.resolve_did(did).await?;
                let issuer = oauth::issuer_of_pds(&self.fetch, &doc.pds).await?;
                (issuer, Some(did.clone()), None, Some(did.clone()))
            }
            LoginInput::Service(url) => {
                self.fetch
                    .check_url(url)
                    .map_err(|e| Error::Invalid(e.to_string()))?;
                // A PDS names its authorization server; an entryway is one itself.
                let issuer = oauth::issuer_of_pds(&self.fetch, url)
                    .await
                    .unwrap_or_else(|_| url.clone());
                (issuer, None, None, None)
            }
        };
        let server = oauth::discover(&self.fetch, &issuer, self.confidential()).await?;
        let (url, state, secrets) =
            oauth::push_authorization(&self.fetch, &self.client, &server, hint.as_deref()).await?;
        let sealed =
            self.seal(&serde_json::to_vec(&secrets).map_err(|e| Error::Internal(e.into()))?)?;
        let server_json = serde_json::to_string(&server).map_err(|e| Error::Internal(e.into()))?;
        let return_to = return_to.to_string();
        let issuer = server.issuer.clone();
        let browser_nonce = crate::access::session::random_token();
        let browser_hash = crate::access::session::hash_secret(&browser_nonce);
        self.db
            .run(move |c| {
                db::atproto::insert_request(
                    c,
                    &state,
                    &issuer,
                    &server_json,
                    expected_did.as_deref(),
                    handle.as_deref(),
                    &sealed,
                    &return_to,
                    &browser_hash,
                    LOGIN_TTL_SECS,
                )
            })
            .await?;
        Ok(SignIn { url, browser_nonce })
    }

    /// Completes a sign-in from the callback's parameters. `browser` is what the callback
    /// knows of the browser it arrived in; a callback in another browser than the one that
    /// started the sign-in is refused before anything is exchanged.
    pub async fn finish(
        &self,
        state: &str,
        code: Option<&str>,
        iss: Option<&str>,
        error: Option<&str>,
        browser: CallbackBrowser<'_>,
    ) -> Result<Identity> {
        let st = state.to_string();
        let req = self
            .db
            .run(move |c| db::atproto::take_request(c, &st))
            .await?
            .ok_or_else(|| {
                Error::Forbidden(
                    "This sign-in has expired or was already used. Please sign in again.".into(),
                )
            })?;
        let Some(browser_hash) = req.browser_hash.clone() else {
            return Err(Error::Forbidden(OTHER_BROWSER.into()));
        };
        if let CallbackBrowser::Cookie(cookie) = browser {
            use subtle::ConstantTimeEq;
            let presented = crate::access::session::hash_secret(cookie.unwrap_or(""));
            if cookie.is_none_or(str::is_empty)
                || !bool::from(presented.as_bytes().ct_eq(browser_hash.as_bytes()))
            {
                tracing::warn!("sign-in callback in another browser than the one that started it");
                return Err(Error::Forbidden(OTHER_BROWSER.into()));
            }
        }
        if let Some(e) = error {
            return Err(Error::Forbidden(match e {
                "access_denied" => "Sign-in was cancelled at your account's server.".into(),
                other => format!("Your account's server refused the sign-in ({other})."),
            }));
        }
        let code = code.ok_or_else(|| Error::BadRequest("The callback carries no code.".into()))?;
        // RFC 9207: the response must name the server we sent the person to.
        if iss != Some(req.issuer.as_str()) {
            tracing::warn!(expected = %req.issuer, got = ?iss, "sign-in callback with the wrong issuer");
            return Err(Error::Forbidden(
                "The sign-in response came from an unexpected server.".into(),
            ));
        }
        let server: AuthServer =
            serde_json::from_str(&req.server).map_err(|e| Error::Internal(e.into()))?;
        let mut secrets: PendingSecrets = serde_json::from_slice(&self.open(&req.secrets)?)
            .map_err(|e| Error::Internal(e.into()))?;
        let tokens =
            oauth::exchange_code(&self.fetch, &self.client, &server, &mut secrets, code).await?;
        let doc = self.resolver.resolve_did(&tokens.sub).await?;
        match &req.expected_did {
            Some(did) if *did != tokens.sub => {
                tracing::warn!(expected = %did, got = %tokens.sub, "token for another account");
                return Err(Error::Forbidden(
                    "The server signed in a different account than the one asked for.".into(),
                ));
            }
            Some(_) => {}
            None => {
                // Started from a server URL: the account's own PDS must use this issuer.
                let issuer = oauth::issuer_of_pds(&self.fetch, &doc.pds).await?;
                if issuer != server.issuer {
                    return Err(Error::Forbidden(
                        "That account is not served by the server that signed it in.".into(),
                    ));
                }
            }
        }
        let handle = match &req.handle {
            Some(h) if doc.handles.contains(h) => h.clone(),
            _ => self.resolver.verified_handle(&doc).await.ok_or_else(|| {
                Error::Forbidden("Your account's handle could not be verified (its DNS or well-known record does not point back to your DID).".into())
            })?,
        };
        let sealed = self.seal(
            &serde_json::to_vec(&SessionSecrets {
                tokens: tokens.clone(),
                dpop_key: secrets.dpop_key.clone(),
            })
            .map_err(|e| Error::Internal(e.into()))?,
        )?;
        let (did, iss2) = (tokens.sub.clone(), server.issuer.clone());
        let handle2 = handle.clone();
        self.db
            .run(move |c| {
                db::users::upsert(c, &did, &handle2, None)?;
                db::atproto::save_session(c, &did, &iss2, &req.server, &sealed)
            })
            .await?;
        tracing::info!(did = %tokens.sub, handle = %handle, "signed in with ATProto");
        Ok(Identity {
            did: tokens.sub,
            handle,
            return_to: req.return_to,
            browser_hash,
        })
    }

    /// Revokes the user's ATProto tokens where their server supports it, and forgets them.
    pub async fn sign_out(&self, did: &str) {
        let d = did.to_string();
        let Ok(Some((server, sealed))) =
            self.db.run(move |c| db::atproto::take_session(c, &d)).await
        else {
            return;
        };
        let revoked = async {
            let server: AuthServer =
                serde_json::from_str(&server).map_err(|e| Error::Internal(e.into()))?;
            let s: SessionSecrets = serde_json::from_slice(&self.open(&sealed)?)
                .map_err(|e| Error::Internal(e.into()))?;
            if let Some(r) = &s.tokens.refresh_token {
                oauth::revoke(&self.fetch, &self.client, &server, &s.dpop_key, r).await?;
            }
            oauth::revoke(
                &self.fetch,
                &self.client,
                &server,
                &s.dpop_key,
                &s.tokens.access_token,
            )
            .await
        }
        .await;
        if let Err(e) = revoked {
            tracing::warn!(did, error = %e.public_message(), "could not revoke ATProto tokens");
        }
    }

    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>> {
        let cipher = XChaCha20Poly1305::new((&self.seal_key).into());
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        out.extend(
            cipher
                .encrypt(&XNonce::from(nonce), plain)
                .map_err(|_| Error::Internal(anyhow::anyhow!("sealing failed")))?,
        );
        Ok(out)
    }

    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 24 {
            return Err(Error::Internal(anyhow::anyhow!("sealed data too short")));
        }
        let cipher = XChaCha20Poly1305::new((&self.seal_key).into());
        cipher
            .decrypt(
                &XNonce::from(<[u8; 24]>::try_from(&sealed[..24]).expect("checked length")),
                &sealed[24..],
            )
            .map_err(|_| {
                Error::Internal(anyhow::anyhow!(
                    "sealed data does not open (was the server secret changed?)"
                ))
            })
    }
}

fn load_or_create_key(path: &Path) -> anyhow::Result<EcKey> {
    if !path.exists() {
        let key = EcKey::generate();
        crate::access::session::write_private(path, key.pem.as_bytes())?;
    }
    EcKey::from_pem(&std::fs::read_to_string(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_and_detects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let cfg = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let a = Atproto::new(&cfg, db, [7u8; 32]).unwrap();
        let sealed = a.seal(b"secret tokens").unwrap();
        assert!(
            !sealed.windows(6).any(|w| w == b"secret"),
            "not stored in the clear"
        );
        assert_eq!(a.open(&sealed).unwrap(), b"secret tokens");
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(a.open(&bad).is_err());
        // The localhost default is the loopback client, with no key and no metadata.
        assert!(a.client.client_id.starts_with(
            "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fauth%2Fcallback"
        ));
        assert!(a.client_metadata().is_none());
    }

    #[test]
    fn the_confidential_client_publishes_its_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        let cfg = Config {
            data_dir: dir.path().to_path_buf(),
            domain: "example.org".into(),
            ..Config::default()
        };
        let a = Atproto::new(&cfg, db, [7u8; 32]).unwrap();
        let m = a.client_metadata().unwrap();
        assert_eq!(
            m["client_id"],
            "https://example.org/auth/client-metadata.json"
        );
        assert_eq!(m["redirect_uris"][0], "https://example.org/auth/callback");
        assert_eq!(m["token_endpoint_auth_method"], "private_key_jwt");
        assert_eq!(m["dpop_bound_access_tokens"], true);
        assert_eq!(m["jwks"]["keys"][0]["kty"], "EC");
        assert!(m["jwks"]["keys"][0].get("d").is_none(), "no private part");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("keys/atproto.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
