//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; the MCP
//! authorization spec's recommended way, since 2025-11-25, for a client to say who it is).
//! A `client_id` that is an https URL names a JSON document the client publishes there:
//! its name, redirect URIs and how it authenticates. Nobody registers; the authorization
//! server fetches the document when the client first appears.
//!
//! The rules, in the order they are applied:
//! - the URL: https, a path, no fragment, credentials or dot segments ([`check_id`]);
//! - the fetch: the SSRF-guarded client (public addresses only, no redirects, timeouts),
//!   and at most [`MAX_DOCUMENT_BYTES`];
//! - the document ([`validate`]): a JSON object whose `client_id` is exactly its URL, with
//!   redirect URIs held to the registration rules, no shared secret, and
//!   `token_endpoint_auth_method` `none` (the default) or `private_key_jwt` with `jwks` or
//!   `jwks_uri`; `grant_types` and `response_types` are read leniently (clients list what
//!   they do; the server grants what it offers);
//! - the cache ([`resolve`]): the last good copy is kept in `oauth_clients`, used while its
//!   `Cache-Control` lifetime lasts (clamped to a minute .. a day), and used again when a
//!   later fetch fails: some clients' documents sit behind bot protection that now and
//!   then refuses servers, and an outage of the client's website should not end sessions.
//!   A document that is fetched but invalid is refused, not papered over.
//!
//! An operator can seed a document from a file (`robot oauth client-document`), for a
//! client whose document this server cannot reach at all.

use reqwest::Url;
use serde_json::Value;

use super::register;
use crate::db::oauth::Client;
use crate::service::Services;

/// The largest document accepted. The draft suggests 5 KB; real documents (Claude, VS Code)
/// are under 2 KB, and a little room is left for long redirect lists.
pub const MAX_DOCUMENT_BYTES: usize = 8 * 1024;
/// Bounds on how long a fetched copy is used before it is fetched again.
const MIN_FRESH_SECS: i64 = 60;
const DEFAULT_FRESH_SECS: i64 = 3600;
const MAX_FRESH_SECS: i64 = 24 * 3600;

/// The `token_endpoint_auth_method` of a client that signs assertions (RFC 7523).
pub const PRIVATE_KEY_JWT: &str = "private_key_jwt";

/// Why a client's document was not accepted: `invalid_client` in the protocol, and a
/// sentence for the person or the client's developer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// Whether a `client_id` names a metadata document rather than a registration.
pub fn is_document_id(client_id: &str) -> bool {
    client_id.starts_with("https://")
}

/// Checks a document URL as the draft requires of a `client_id`.
pub fn check_id(client_id: &str) -> Result<Url, Refused> {
    let refuse = |why: &str| Err(Refused(format!("client_id {client_id:?} {why}")));
    let Ok(url) = Url::parse(client_id) else {
        return refuse("is not a URL");
    };
    if url.scheme() != "https" {
        return refuse("must be an https URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("must not carry credentials");
    }
    if url.fragment().is_some() {
        return refuse("must not have a fragment");
    }
    if url.path() == "/" {
        return refuse("must have a path");
    }
    // The parser removes `.` and `..` segments; the draft forbids writing them at all.
    let raw_path = client_id
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("");
    let raw_path = raw_path.split(['?', '#']).next().unwrap_or("");
    if raw_path
        .split('/')
        .any(|seg| matches!(seg, "." | ".." | "%2e" | "%2E" | "%2e%2e" | "%2E%2E"))
    {
        return refuse("must not contain dot segments");
    }
    Ok(url)
}

/// Checks a fetched document for `client_id`; the client row to keep (without its
/// freshness).
pub fn validate(client_id: &str, body: &[u8]) -> Result<Client, Refused> {
    let refuse = |why: String| Err(Refused(format!("the client metadata document {why}")));
    if body.len() > MAX_DOCUMENT_BYTES {
        return refuse(format!(
            "is {} bytes, over the {MAX_DOCUMENT_BYTES}-byte limit",
            body.len()
        ));
    }
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(body) else {
        return refuse("is not a JSON object".into());
    };
    // A plain string comparison, as the draft requires: no normalisation.
    if doc.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return refuse(format!("does not name {client_id} as its client_id"));
    }
    if doc.contains_key("client_secret") || doc.contains_key("client_secret_expires_at") {
        return refuse("must not contain a client secret".into());
    }
    let method = match doc.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => "none",
        Some(Value::String(m)) if m == "none" => "none",
        Some(Value::String(m)) if m == PRIVATE_KEY_JWT => PRIVATE_KEY_JWT,
        Some(m) => {
            return refuse(format!(
                "asks for token_endpoint_auth_method {m}; only none and private_key_jwt are possible without registration"
            ));
        }
    };
    if method == PRIVATE_KEY_JWT {
        let has_keys = doc
            .get("jwks")
            .and_then(|j| j.get("keys"))
            .and_then(Value::as_array)
            .is_some_and(|k| !k.is_empty());
        let jwks_uri = doc.get("jwks_uri").and_then(Value::as_str);
        if let Some(uri) = jwks_uri
            && Url::parse(uri)
                .map(|u| u.scheme() != "https")
                .unwrap_or(true)
        {
            return refuse("has a jwks_uri that is not an https URL".into());
        }
        if !has_keys && jwks_uri.is_none() {
            return refuse("uses private_key_jwt but gives neither jwks nor jwks_uri".into());
        }
    }
    // The rest (redirect URIs, name, echoed fields) as a registration would be checked;
    // grant and response types are not held against the client.
    let mut as_registration = Value::Object(doc.clone());
    for lenient in [
        "grant_types",
        "response_types",
        "token_endpoint_auth_method",
    ] {
        as_registration.as_object_mut().map(|o| o.remove(lenient));
    }
    as_registration["token_endpoint_auth_method"] = "none".into();
    let (mut client, _) = register::validate(&as_registration).map_err(|(_, why)| Refused(why))?;
    if doc.get("client_name").and_then(Value::as_str).is_none() {
        // Without a name, the consent page names the client by its host.
        client.client_name = Url::parse(client_id)
            .ok()
            .and_then(|u| u.host_str().map(String::from))
            .unwrap_or_else(|| client_id.to_string());
    }
    client.client_id = client_id.to_string();
    client.auth_method = method.to_string();
    client.metadata = Value::Object(doc);
    Ok(client)
}

/// How long a fetched document stays fresh, from its `Cache-Control`.
pub fn fresh_secs(cache_control: Option<&str>) -> i64 {
    let Some(cc) = cache_control else {
        return DEFAULT_FRESH_SECS;
    };
    let mut max_age = None;
    for directive in cc.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return MIN_FRESH_SECS;
        }
        if let Some(v) = directive.strip_prefix("max-age=") {
            max_age = v.trim_matches('"').parse::<i64>().ok();
        }
    }
    max_age
        .unwrap_or(DEFAULT_FRESH_SECS)
        .clamp(MIN_FRESH_SECS, MAX_FRESH_SECS)
}

/// The client a document URL names: the stored copy while it is fresh, else a new fetch,
/// else (the fetch failed) the last good copy. A fetch is made on `caller`'s behalf and
/// counts against their write-rate limit, as a registration does: anyone may name any
/// URL, and this server should not fetch for them at the rate they can ask.
pub async fn resolve(
    state: &Services,
    caller: &crate::access::Caller,
    client_id: &str,
) -> Result<Client, Refused> {
    check_id(client_id)?;
    let id = client_id.to_string();
    let stored = state
        .db
        .run(move |c| crate::db::oauth::client(c, &id))
        .await
        .map_err(|e| {
            e.log();
            Refused("could not be looked up (internal error)".into())
        })?
        // A registration's random id is never an https URL; a row without freshness is
        // not a document's copy.
        .filter(|c| c.document_fresh_until.is_some());
    let now = crate::db::now();
    if let Some(c) = &stored
        && c.document_fresh_until.is_some_and(|t| t > now)
    {
        return Ok(c.clone());
    }
    let mut on_behalf = caller.clone();
    on_behalf.unsafe_method = true;
    if let Err(e) = state.count_write(&on_behalf, crate::access::Action::Write) {
        return match stored {
            Some(c) => Ok(c),
            None => Err(Refused(format!(
                "the client metadata document was not fetched: {}",
                e.public_message()
            ))),
        };
    }
    match fetch(state, client_id).await {
        Ok(Fetched::Valid(mut client, fresh)) => {
            client.document_fresh_until = Some(now + fresh);
            let row = client.clone();
            if let Err(e) = state
                .db
                .run(move |c| crate::db::oauth::upsert_document_client(c, &row, now))
                .await
            {
                e.log();
            }
            Ok(client)
        }
        Ok(Fetched::Invalid(why)) => Err(why),
        Err(failure) => match stored {
            Some(c) => {
                tracing::warn!(client_id, %failure, "client metadata document unreachable; using the last good copy");
                Ok(c)
            }
            None => Err(Refused(format!(
                "the client metadata document could not be fetched: {failure}"
            ))),
        },
    }
}

/// Stores `body` as `client_id`'s document, as if fetched now (the operator's seed for a
/// client whose document this server cannot reach). It is used until a fetch succeeds.
pub fn seed(conn: &rusqlite::Connection, client_id: &str, body: &[u8]) -> anyhow::Result<Client> {
    check_id(client_id).map_err(|r| anyhow::anyhow!(r.0))?;
    let mut client = validate(client_id, body).map_err(|r| anyhow::anyhow!(r.0))?;
    let now = crate::db::now();
    // Already stale: the next authorization tries the network and, failing, keeps this.
    client.document_fresh_until = Some(now);
    crate::db::oauth::upsert_document_client(conn, &client, now)?;
    Ok(client)
}

enum Fetched {
    Valid(Client, i64),
    /// Served, but not a document this server accepts.
    Invalid(Refused),
}

/// A GET of a client's URL (its document, its keys) through the SSRF-guarded fetcher.
pub async fn get(
    state: &Services,
    url: &str,
) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), String> {
    let fetcher = &state.atproto.fetch;
    // Local test servers have no certificate: the test-only setting that lets the fetcher
    // reach loopback also fetches a loopback https URL over plain http.
    let url = match Url::parse(url) {
        Ok(u) if fetcher.allows_private() && u.host_str().is_some_and(is_loopback) => {
            url.replacen("https://", "http://", 1)
        }
        _ => url.to_string(),
    };
    fetcher
        .get_with_headers(&url, "application/json")
        .await
        .map_err(|e| e.to_string())
}

async fn fetch(state: &Services, client_id: &str) -> Result<Fetched, String> {
    let (status, headers, body) = get(state, client_id).await?;
    if (300..400).contains(&status) {
        // Redirects are never followed: the document must be at its own URL.
        return Ok(Fetched::Invalid(Refused(format!(
            "the client metadata document at {client_id} redirects ({status}); it must be served at its own URL"
        ))));
    }
    if status != 200 {
        return Err(format!("{client_id} answered {status}"));
    }
    let cache_control = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok());
    Ok(match validate(client_id, &body) {
        Ok(client) => Fetched::Valid(client, fresh_secs(cache_control)),
        Err(why) => Fetched::Invalid(why),
    })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "https://client.example.com/oauth/client.json";

    fn doc(extra: Value) -> Vec<u8> {
        let mut d = serde_json::json!({
            "client_id": ID,
            "client_name": "Example",
            "redirect_uris": ["https://client.example.com/callback"],
        });
        for (k, v) in extra.as_object().unwrap() {
            d[k] = v.clone();
        }
        serde_json::to_vec(&d).unwrap()
    }

    #[test]
    fn document_urls_are_checked() {
        assert!(check_id(ID).is_ok());
        for bad in [
            "http://client.example.com/c.json",
            "https://client.example.com/",
            "https://client.example.com",
            "https://u:p@client.example.com/c.json",
            "https://client.example.com/c.json#x",
            "https://client.example.com/a/../c.json",
            "https://client.example.com/./c.json",
            "https://client.example.com/%2e%2e/c.json",
            "not a url",
        ] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn documents_are_validated() {
        let c = validate(ID, &doc(serde_json::json!({}))).unwrap();
        assert_eq!((c.client_id.as_str(), c.auth_method.as_str()), (ID, "none"));
        assert_eq!(c.client_name, "Example");
        // Lenient: grant types the server does not offer are not held against it.
        let c = validate(
            ID,
            &doc(serde_json::json!({"grant_types": ["authorization_code", "refresh_token", "urn:x"], "response_types": "code"})),
        )
        .unwrap();
        assert_eq!(c.redirect_uris, ["https://client.example.com/callback"]);
        // No name: the host.
        let unnamed = serde_json::to_vec(
            &serde_json::json!({"client_id": ID, "redirect_uris": ["http://127.0.0.1:3000/cb"]}),
        )
        .unwrap();
        assert_eq!(
            validate(ID, &unnamed).unwrap().client_name,
            "client.example.com"
        );
        let jwt = validate(
            ID,
            &doc(serde_json::json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://client.example.com/jwks"})),
        )
        .unwrap();
        assert_eq!(jwt.auth_method, PRIVATE_KEY_JWT);

        for (bad, why) in [
            (
                doc(serde_json::json!({"client_id": "https://other.example/c.json"})),
                "does not name",
            ),
            (doc(serde_json::json!({"client_secret": "s"})), "secret"),
            (
                doc(serde_json::json!({"token_endpoint_auth_method": "client_secret_basic"})),
                "only none",
            ),
            (
                doc(serde_json::json!({"token_endpoint_auth_method": "private_key_jwt"})),
                "neither jwks",
            ),
            (
                doc(
                    serde_json::json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://x.example/j"}),
                ),
                "https",
            ),
            (
                doc(serde_json::json!({"redirect_uris": ["javascript:alert(1)"]})),
                "redirect",
            ),
            (
                doc(serde_json::json!({"redirect_uris": []})),
                "redirect_uris",
            ),
            (b"[1]".to_vec(), "JSON object"),
            (
                doc(serde_json::json!({"client_uri": "x".repeat(MAX_DOCUMENT_BYTES)})),
                "limit",
            ),
        ] {
            let err = validate(ID, &bad).unwrap_err().0;
            assert!(err.contains(why), "{err} (expected {why:?})");
        }
    }

    #[test]
    fn freshness_follows_cache_control() {
        assert_eq!(fresh_secs(None), DEFAULT_FRESH_SECS);
        assert_eq!(fresh_secs(Some("public, max-age=600")), 600);
        assert_eq!(fresh_secs(Some("max-age=5")), MIN_FRESH_SECS);
        assert_eq!(fresh_secs(Some("max-age=99999999")), MAX_FRESH_SECS);
        assert_eq!(fresh_secs(Some("no-store")), MIN_FRESH_SECS);
        assert_eq!(fresh_secs(Some("Max-Age=120, No-Cache")), MIN_FRESH_SECS);
    }
}
