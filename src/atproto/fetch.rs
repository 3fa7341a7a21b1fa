//! Outbound HTTP to hosts a user named (their handle's domain, their PDS, its
//! authorization server), guarded against server-side request forgery: https only, no
//! userinfo, no private, loopback or link-local addresses (checked on every resolved
//! address, so DNS cannot smuggle one in), no redirects, short timeouts and a size cap.
//! A test setting (`allow_private`) permits http and loopback for a local PDS.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

/// Largest response body read from a remote host.
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("refused: {0}")]
    Refused(String),
    #[error("{url}: {reason}")]
    Failed { url: String, reason: String },
}

/// The guarded client. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    allow_private: bool,
}

impl Fetcher {
    pub fn new(allow_private: bool) -> Fetcher {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .user_agent(concat!(
                "robot/",
                env!("CARGO_PKG_VERSION"),
                " (+atproto login)"
            ))
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .build()
            .expect("static client configuration");
        Fetcher {
            client,
            allow_private,
        }
    }

    /// Checks a URL before any connection: scheme, credentials, literal addresses.
    pub fn check_url(&self, raw: &str) -> Result<Url, FetchError> {
        let url = Url::parse(raw)
            .map_err(|e| FetchError::Refused(format!("{raw:?} is not a URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            s => {
                return Err(FetchError::Refused(format!(
                    "{raw}: only https URLs are allowed, not {s}"
                )));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::Refused(format!(
                "{raw}: URLs with credentials are not allowed"
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| FetchError::Refused(format!("{raw}: no host")))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>()
            && !self.allow_private
            && !is_public(ip)
        {
            return Err(FetchError::Refused(format!(
                "{raw}: {ip} is not a public address"
            )));
        }
        if !self.allow_private && (host == "localhost" || host.ends_with(".localhost")) {
            return Err(FetchError::Refused(format!(
                "{raw}: localhost is not allowed"
            )));
        }
        Ok(url)
    }

    /// GET returning (status, body) with the body capped at [`MAX_BODY`].
    pub async fn get(&self, url: &str, accept: &str) -> Result<(u16, Vec<u8>), FetchError> {
        self.get_with_headers(url, accept)
            .await
            .map(|(s, _, b)| (s, b))
    }

    /// GET returning (status, headers, body) with the body capped at [`MAX_BODY`].
    pub async fn get_with_headers(
        &self,
        url: &str,
        accept: &str,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), FetchError> {
        let u = self.check_url(url)?;
        let resp = self
            .client
            .get(u)
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await
            .map_err(|e| failed(url, e))?;
        read_capped(url, resp).await
    }

    /// Whether this is the test client that may reach private and loopback hosts.
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// POST of a form with extra headers, returning (status, headers, body).
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, String)],
        headers: &[(&str, String)],
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), FetchError> {
        let u = self.check_url(url)?;
        let mut req = self.client.post(u).form(form);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.map_err(|e| failed(url, e))?;
        read_capped(url, resp).await
    }
}

fn failed(url: &str, e: reqwest::Error) -> FetchError {
    // reqwest's Display omits the cause; include it (e.g. our resolver's refusal).
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    FetchError::Failed {
        url: url.to_string(),
        reason,
    }
}

async fn read_capped(
    url: &str,
    mut resp: reqwest::Response,
) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), FetchError> {
    let status = resp.status().as_u16();
    if let Some(len) = resp.content_length()
        && len as usize > MAX_BODY
    {
        return Err(FetchError::Failed {
            url: url.into(),
            reason: format!("response of {len} bytes is over the {MAX_BODY}-byte limit"),
        });
    }
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| failed(url, e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(FetchError::Failed {
                url: url.into(),
                reason: format!("response is over the {MAX_BODY}-byte limit"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
}

/// True for addresses on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10 carrier-grade NAT
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24 protocol assignments
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18/15 benchmarking
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

/// Resolves names with the system resolver, then refuses the connection if any address
/// is not public: a name cannot point us at the inside of the network.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                let e: Box<dyn std::error::Error + Send + Sync> = format!(
                    "{host} resolves to {}, which is not a public address",
                    bad.ip()
                )
                .into();
                return Err(e);
            }
            let it: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_before_connecting() {
        let f = Fetcher::new(false);
        assert!(f.check_url("https://bsky.social/xrpc").is_ok());
        for bad in [
            "http://bsky.social",
            "https://user:pw@bsky.social",
            "https://127.0.0.1/x",
            "https://[::1]/",
            "https://169.254.169.254/latest",
            "https://localhost/",
            "ftp://x.org",
            "not a url",
        ] {
            assert!(f.check_url(bad).is_err(), "{bad}");
        }
        let test = Fetcher::new(true);
        assert!(test.check_url("http://localhost:1234/x").is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused() {
        let f = Fetcher::new(false);
        // A plain host name that resolves to loopback (the machine's own name in /etc/hosts)
        // passes the literal checks; the resolver must still refuse it.
        let host = std::fs::read_to_string("/etc/hostname")
            .unwrap_or_default()
            .trim()
            .to_string();
        let name = if !host.is_empty()
            && tokio::net::lookup_host((host.as_str(), 0))
                .await
                .is_ok_and(|mut a| a.all(|x| !is_public(x.ip())))
        {
            host
        } else {
            eprintln!("no local host name resolving to a private address; skipping");
            return;
        };
        let err = f
            .get(&format!("https://{name}/x"), "*/*")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a public address"), "{err}");
    }
}
