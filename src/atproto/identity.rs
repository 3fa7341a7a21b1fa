//! ATProto identity: what a person types at the login form, handle → DID (DNS TXT
//! `_atproto.{handle}`, then `https://{handle}/.well-known/atproto-did`), DID → DID document
//! (`did:plc` through the PLC directory, `did:web` from the host), and the bidirectional
//! check that the document claims the handle back.

use serde::Deserialize;

use super::fetch::Fetcher;
use crate::db::users::{validate_did, validate_handle};
use crate::error::{Error, Result};

/// What the login form was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginInput {
    Handle(String),
    Did(String),
    /// A PDS or entryway URL: the account is chosen at the authorization server.
    Service(String),
}

impl LoginInput {
    /// Control characters and a leading `@` are dropped; a bare name means `.bsky.social`.
    pub fn parse(raw: &str) -> Result<LoginInput> {
        let cleaned: String = raw.chars().filter(|c| !c.is_control()).collect();
        let s = cleaned.trim().trim_start_matches('@').trim();
        if s.is_empty() {
            return Err(Error::Invalid(
                "Enter your handle (for example alice.bsky.social).".into(),
            ));
        }
        if s.len() > 2048 {
            return Err(Error::Invalid("That is too long to be a handle.".into()));
        }
        if s.starts_with("https://") || s.starts_with("http://") {
            return Ok(LoginInput::Service(s.trim_end_matches('/').to_string()));
        }
        if s.starts_with("did:") {
            validate_did(s).map_err(|_| {
                Error::Invalid(format!(
                    "{s:?} is not a DID robot can use (did:plc or did:web)."
                ))
            })?;
            return Ok(LoginInput::Did(s.to_string()));
        }
        let handle = if s.contains('.') {
            s.to_ascii_lowercase()
        } else {
            format!("{}.bsky.social", s.to_ascii_lowercase())
        };
        validate_handle(&handle)
            .map_err(|_| Error::Invalid(format!("{s:?} is not a valid handle.")))?;
        Ok(LoginInput::Handle(handle))
    }
}

/// The parts of a DID document login needs.
#[derive(Debug, Clone)]
pub struct DidDoc {
    pub id: String,
    /// `at://` handles the document claims.
    pub handles: Vec<String>,
    /// The `#atproto_pds` service endpoint.
    pub pds: String,
}

#[derive(Deserialize)]
struct RawDoc {
    id: String,
    #[serde(default, rename = "alsoKnownAs")]
    also_known_as: Vec<String>,
    #[serde(default)]
    service: Vec<RawService>,
}

#[derive(Deserialize)]
struct RawService {
    id: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(rename = "serviceEndpoint", default)]
    endpoint: serde_json::Value,
}

/// Resolves handles and DIDs over the guarded fetcher.
#[derive(Clone)]
pub struct Resolver {
    pub fetch: Fetcher,
    /// The PLC directory (`https://plc.directory`).
    pub plc_url: String,
    /// When set, handles are resolved with `com.atproto.identity.resolveHandle` at this
    /// service instead of DNS and well-known (used against a local test PDS).
    pub handle_resolver_url: Option<String>,
}

fn upstream(e: impl std::fmt::Display) -> Error {
    Error::Invalid(e.to_string())
}

impl Resolver {
    pub async fn resolve_handle(&self, handle: &str) -> Result<String> {
        validate_handle(handle)?;
        if let Some(base) = &self.handle_resolver_url {
            let url = format!(
                "{}/xrpc/com.atproto.identity.resolveHandle?handle={handle}",
                base.trim_end_matches('/')
            );
            let (status, body) = self
                .fetch
                .get(&url, "application/json")
                .await
                .map_err(upstream)?;
            if status != 200 {
                return Err(Error::Invalid(format!(
                    "The handle {handle} could not be resolved ({status})."
                )));
            }
            #[derive(Deserialize)]
            struct R {
                did: String,
            }
            let r: R = serde_json::from_slice(&body)
                .map_err(|_| Error::Invalid(format!("{url} did not return a DID")))?;
            validate_did(&r.did)?;
            return Ok(r.did);
        }
        if let Some(did) = dns_txt_did(handle).await {
            return Ok(did);
        }
        let url = format!("https://{handle}/.well-known/atproto-did");
        let (status, body) = self.fetch.get(&url, "text/plain").await.map_err(upstream)?;
        let text = String::from_utf8_lossy(&body).trim().to_string();
        if status != 200 || validate_did(&text).is_err() {
            return Err(Error::Invalid(format!(
                "The handle {handle} does not resolve to an ATProto account."
            )));
        }
        Ok(text)
    }

    pub async fn resolve_did(&self, did: &str) -> Result<DidDoc> {
        validate_did(did)?;
        let url = if did.starts_with("did:plc:") {
            format!("{}/{did}", self.plc_url.trim_end_matches('/'))
        } else {
            let host = did.trim_start_matches("did:web:");
            if host.contains(':') || host.contains('%') || host.contains('/') {
                return Err(Error::Invalid(
                    "did:web with a port or path is not supported".into(),
                ));
            }
            format!("https://{host}/.well-known/did.json")
        };
        let (status, body) = self
            .fetch
            .get(&url, "application/json")
            .await
            .map_err(upstream)?;
        if status != 200 {
            return Err(Error::Invalid(format!(
                "The DID document of {did} could not be fetched ({status})."
            )));
        }
        let raw: RawDoc = serde_json::from_slice(&body)
            .map_err(|e| Error::Invalid(format!("The DID document of {did} is malformed: {e}")))?;
        if raw.id != did {
            return Err(Error::Invalid(format!(
                "The DID document fetched for {did} is for {}.",
                raw.id
            )));
        }
        let pds = raw
            .service
            .iter()
            .find(|s| {
                (s.id == "#atproto_pds" || s.id == format!("{did}#atproto_pds"))
                    && s.kind == "AtprotoPersonalDataServer"
            })
            .and_then(|s| s.endpoint.as_str())
            .ok_or_else(|| Error::Invalid(format!("The DID document of {did} names no PDS.")))?
            .trim_end_matches('/')
            .to_string();
        self.fetch.check_url(&pds).map_err(upstream)?;
        let handles = raw
            .also_known_as
            .iter()
            .filter_map(|a| a.strip_prefix("at://"))
            .map(|h| h.to_ascii_lowercase())
            .collect();
        Ok(DidDoc {
            id: raw.id,
            handles,
            pds,
        })
    }

    /// The handle a DID document claims, verified in the other direction; `None` if the
    /// claim does not resolve back to the DID.
    pub async fn verified_handle(&self, doc: &DidDoc) -> Option<String> {
        let handle = doc.handles.first()?.clone();
        match self.resolve_handle(&handle).await {
            Ok(did) if did == doc.id => Some(handle),
            _ => None,
        }
    }
}

/// `did=…` from the `_atproto.{handle}` TXT record, if there is exactly one valid one.
async fn dns_txt_did(handle: &str) -> Option<String> {
    let resolver = hickory_resolver::Resolver::builder_tokio()
        .ok()?
        .build()
        .ok()?;
    let lookup = resolver
        .txt_lookup(format!("_atproto.{handle}."))
        .await
        .ok()?;
    let dids: Vec<String> = lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            hickory_resolver::proto::rr::RData::TXT(txt) => Some(txt.to_string()),
            _ => None,
        })
        .filter_map(|t| t.strip_prefix("did=").map(String::from))
        .filter(|d| validate_did(d).is_ok())
        .collect();
    (dids.len() == 1).then(|| dids[0].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_input_is_normalised() {
        assert_eq!(
            LoginInput::parse(" @Alice.Bsky.Social ").unwrap(),
            LoginInput::Handle("alice.bsky.social".into())
        );
        assert_eq!(
            LoginInput::parse("alice").unwrap(),
            LoginInput::Handle("alice.bsky.social".into())
        );
        assert_eq!(
            LoginInput::parse("al\u{0}ice.test").unwrap(),
            LoginInput::Handle("alice.test".into())
        );
        assert_eq!(
            LoginInput::parse("did:plc:abc123").unwrap(),
            LoginInput::Did("did:plc:abc123".into())
        );
        assert_eq!(
            LoginInput::parse("https://pds.example.org/").unwrap(),
            LoginInput::Service("https://pds.example.org".into())
        );
        for bad in [
            "",
            "@",
            "did:key:zzz",
            "a..b",
            "-x.test",
            "a b.test",
            &"a".repeat(3000),
        ] {
            assert!(LoginInput::parse(bad).is_err(), "{bad:?}");
        }
    }
}
