//! Browser sessions: an RS256-signed JWT in an HttpOnly cookie, backed by a row that lets
//! it be revoked; CSRF tokens bound to the session; hashing of bearer secrets. Keys are
//! generated on first start and written 0600.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub const COOKIE: &str = "robot_session";
const AUDIENCE: &str = "robot-session";

/// The process's signing keys. `Debug` is hand-written so keys never reach a log.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// HMAC key for CSRF tokens and other server-side MACs.
    secret: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

impl Keys {
    /// Loads `session.pem` and `secret` from `dir`, creating them (0600) if missing.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Keys> {
        std::fs::create_dir_all(dir)?;
        set_mode(dir, 0o700)?;
        let pem_path = dir.join("session.pem");
        if !pem_path.exists() {
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)?;
            let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)?;
            write_private(&pem_path, pem.as_bytes())?;
        }
        let secret_path = dir.join("secret");
        if !secret_path.exists() {
            let mut s = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut s);
            write_private(&secret_path, hex::encode(s).as_bytes())?;
        }
        let pem = std::fs::read(&pem_path)?;
        let encoding = EncodingKey::from_rsa_pem(&pem)?;
        let public = {
            use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
            let key = rsa::RsaPrivateKey::from_pkcs8_pem(std::str::from_utf8(&pem)?)?;
            key.to_public_key()
                .to_public_key_pem(rsa::pkcs8::LineEnding::LF)?
        };
        let decoding = DecodingKey::from_rsa_pem(public.as_bytes())?;
        let secret_hex = std::fs::read_to_string(&secret_path)?;
        let bytes = hex::decode(secret_hex.trim())?;
        let secret: [u8; 32] = bytes.try_into().map_err(|_| {
            anyhow::anyhow!("{} must hold 32 hex-encoded bytes", secret_path.display())
        })?;
        Ok(Keys {
            encoding,
            decoding,
            secret,
        })
    }

    /// A 256-bit key for one purpose, derived from the server secret.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut m =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        m.update(b"derive\0");
        m.update(purpose.as_bytes());
        m.finalize().into_bytes().into()
    }

    /// HMAC-SHA256 of `data` under the server secret, base64url.
    pub fn mac(&self, purpose: &str, data: &str) -> String {
        let mut m =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        m.update(purpose.as_bytes());
        m.update(b"\0");
        m.update(data.as_bytes());
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    }
}

/// Writes a secret file readable only by its owner.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    let _ = (path, mode);
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's DID.
    pub sub: String,
    pub handle: String,
    /// Session id: the key of the `sessions` row.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

/// Signs a session JWT for `did`, valid `hours`.
pub fn issue(issuer: &str, did: &str, handle: &str, hours: i64) -> Result<Claims> {
    let now = crate::db::now();
    Ok(Claims {
        sub: did.into(),
        handle: handle.into(),
        jti: random_token(),
        iat: now,
        exp: now + hours * 3600,
        iss: issuer.into(),
        aud: AUDIENCE.into(),
    })
}

pub fn encode(keys: &Keys, claims: &Claims) -> Result<String> {
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &keys.encoding)
        .map_err(|e| Error::Internal(anyhow::anyhow!("signing session: {e}")))
}

/// Verifies signature, expiry, issuer and audience. Any failure is simply "no session".
pub fn verify(keys: &Keys, issuer: &str, token: &str) -> Option<Claims> {
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[AUDIENCE]);
    v.set_issuer(&[issuer]);
    v.leeway = 0;
    jsonwebtoken::decode::<Claims>(token, &keys.decoding, &v)
        .ok()
        .map(|d| d.claims)
}

/// The CSRF token for a session: a MAC of its id, so it needs no storage and dies with it.
pub fn csrf_token(keys: &Keys, session_id: &str) -> String {
    keys.mac("csrf", session_id)
}

pub fn check_csrf(keys: &Keys, session_id: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    let expected = csrf_token(keys, session_id);
    expected.as_bytes().ct_eq(presented.as_bytes()).into()
}

/// 256 random bits, base64url: session ids, link secrets, bearer tokens.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// How bearer secrets are stored: SHA-256, hex. (Secrets are 256 random bits, so a fast
/// hash is safe and lets a request look its token up directly.)
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_round_trip_and_rejections() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::load_or_create(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("session.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let c = issue("http://localhost", "did:plc:a", "a.test", 1).unwrap();
        let t = encode(&keys, &c).unwrap();
        assert_eq!(
            verify(&keys, "http://localhost", &t).unwrap().sub,
            "did:plc:a"
        );
        assert!(verify(&keys, "http://other", &t).is_none(), "wrong issuer");
        let mut tampered = t.clone();
        tampered.pop();
        assert!(verify(&keys, "http://localhost", &tampered).is_none());
        let mut expired = c.clone();
        expired.exp = crate::db::now() - 10;
        assert!(verify(&keys, "http://localhost", &encode(&keys, &expired).unwrap()).is_none());
        // Reloading gives the same keys.
        let again = Keys::load_or_create(dir.path()).unwrap();
        assert!(verify(&again, "http://localhost", &t).is_some());
        assert!(check_csrf(&keys, "s1", &csrf_token(&keys, "s1")));
        assert!(!check_csrf(&keys, "s2", &csrf_token(&keys, "s1")));
    }
}
