//! One `Config` for the whole process: built-in defaults, then `robot.toml`, then
//! `ROBOT_*` environment variables. With no file and no variables robot serves locally:
//! data in `./data`, listening on `127.0.0.1:8080`, root site at `http://localhost:8080`
//! and wikis at `http://{slug}.localhost:8080`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod cache;
pub use cache::{ByteSize, CacheConfig};

/// Limits that every writer (web, REST, MCP) is held to.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Pages (`.md` files) per wiki.
    pub max_pages: usize,
    /// Bytes of content per wiki (the sum of the files at HEAD).
    pub max_wiki_bytes: u64,
    /// Bytes of one page's Markdown.
    pub max_page_bytes: usize,
    /// Bytes of one attachment.
    pub max_attachment_bytes: usize,
    /// Writes per minute per principal and per client address (all transports).
    pub writes_per_minute: u32,
    /// Writes allowed at once before the per-minute rate applies.
    pub write_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pages: 500,
            max_wiki_bytes: 50 * 1024 * 1024,
            max_page_bytes: 1_000_000,
            max_attachment_bytes: 10 * 1024 * 1024,
            writes_per_minute: 60,
            write_burst: 30,
        }
    }
}

/// ATProto sign-in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AtprotoConfig {
    /// The PLC directory that resolves `did:plc` identities.
    pub plc_url: String,
    /// Resolve handles with `com.atproto.identity.resolveHandle` at this service instead
    /// of DNS and `/.well-known/atproto-did` (for a local test PDS).
    pub handle_resolver_url: Option<String>,
    /// Allow http and private or loopback addresses for identity and OAuth fetches.
    /// Only for tests against a local PDS: never in production.
    pub allow_private_hosts: bool,
}

impl Default for AtprotoConfig {
    fn default() -> Self {
        AtprotoConfig {
            plc_url: "https://plc.directory".into(),
            handle_resolver_url: None,
            allow_private_hosts: false,
        }
    }
}

/// Semantic search: the embedding model and the vector indexes.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SearchConfig {
    /// Turn semantic search off even when the model is installed.
    pub semantic: bool,
    /// Where `model.onnx`, `tokenizer.json` and `libonnxruntime.so` live
    /// (default: `{data_dir}/model`, where `scripts/fetch-model.sh` puts them).
    pub model_dir: Option<PathBuf>,
    /// Threads one embedding batch uses. The default leaves a core to HTTP on small boxes.
    pub embed_threads: usize,
    /// Replaced by `[cache] vectors`; still read, with a warning.
    pub index_cache_mib: Option<usize>,
}

impl Default for SearchConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        SearchConfig {
            semantic: true,
            model_dir: None,
            embed_threads: if cores <= 2 { cores } else { cores - 1 },
            index_cache_mib: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where the database, keys, repositories and indexes live.
    pub data_dir: PathBuf,
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// The root domain, with a port when not on 80/443: `example.org` or `localhost:8080`.
    /// Wikis are its subdomains.
    pub domain: String,
    /// `http` or `https`: the scheme users reach robot by (Caddy terminates TLS).
    /// Defaults to `http` for localhost domains and `https` otherwise.
    pub scheme: Option<String>,
    /// DIDs with operator rights in the management app (and exempt from the one-wiki rule).
    pub admin_dids: Vec<String>,
    /// Hours a browser session lasts.
    pub session_hours: i64,
    /// `tracing` filter, e.g. `info` or `robot=debug,tower_http=info`.
    pub log: String,
    /// `json` (for journald) or `pretty`.
    pub log_format: String,
    pub limits: Limits,
    pub atproto: AtprotoConfig,
    pub search: SearchConfig,
    /// Memory budgets of the caches (`[cache]`, see `config/cache.rs`).
    pub cache: CacheConfig,
    /// Bearer token that opens `/metrics` to non-loopback scrapers (loopback without a
    /// proxy needs none).
    pub metrics_token: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges, e.g.
    /// `127.0.0.1/8`, `::1`). From any other peer the header is ignored. Default: none.
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            listen: "127.0.0.1:8080".parse().expect("literal socket address"),
            domain: "localhost:8080".into(),
            scheme: None,
            admin_dids: Vec::new(),
            session_hours: 24,
            log: "info".into(),
            log_format: "json".into(),
            limits: Limits::default(),
            atproto: AtprotoConfig::default(),
            search: SearchConfig::default(),
            cache: CacheConfig::default(),
            metrics_token: None,
            trusted_proxies: Vec::new(),
        }
    }
}

const KNOWN_KEYS: &[&str] = &[
    "data_dir",
    "listen",
    "domain",
    "scheme",
    "admin_dids",
    "session_hours",
    "log",
    "log_format",
    "limits",
    "atproto",
    "search",
    "cache",
    "metrics_token",
    "trusted_proxies",
];

impl Config {
    /// Loads `path` if given (it must exist), else `./robot.toml` if present, then applies
    /// the environment. Returns the config and warnings to log once logging is up.
    pub fn load(path: Option<&Path>) -> anyhow::Result<(Config, Vec<String>)> {
        let mut warnings = Vec::new();
        let default_path = Path::new("robot.toml");
        let file = match path {
            Some(p) => Some(p.to_path_buf()),
            None if default_path.exists() => Some(default_path.to_path_buf()),
            None => None,
        };
        let mut config = match &file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", p.display()))?;
                let table: toml::Table = toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("invalid config {}: {e}", p.display()))?;
                for key in table.keys() {
                    if !KNOWN_KEYS.contains(&key.as_str()) {
                        warnings.push(format!("unknown config key `{key}` in {}", p.display()));
                    }
                }
                toml::from_str::<Config>(&text)
                    .map_err(|e| anyhow::anyhow!("invalid config {}: {e}", p.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok(), &mut warnings)?;
        config.validate()?;
        Ok((config, warnings))
    }

    /// Applies `ROBOT_*` overrides read through `get` (an argument so tests need not touch
    /// the process environment).
    pub fn apply_env(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
        warnings: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        fn parse<T: std::str::FromStr>(key: &str, v: &str) -> anyhow::Result<T>
        where
            T::Err: std::fmt::Display,
        {
            v.parse()
                .map_err(|e| anyhow::anyhow!("invalid {key}={v:?}: {e}"))
        }
        if let Some(v) = get("ROBOT_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("ROBOT_LISTEN") {
            self.listen = parse("ROBOT_LISTEN", &v)?;
        }
        if let Some(v) = get("ROBOT_DOMAIN") {
            self.domain = v;
        }
        if let Some(v) = get("ROBOT_SCHEME") {
            self.scheme = Some(v);
        }
        if let Some(v) = get("ROBOT_ADMIN_DIDS") {
            self.admin_dids = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        if let Some(v) = get("ROBOT_SESSION_HOURS") {
            self.session_hours = parse("ROBOT_SESSION_HOURS", &v)?;
        }
        if let Some(v) = get("ROBOT_LOG") {
            self.log = v;
        }
        if let Some(v) = get("ROBOT_LOG_FORMAT") {
            self.log_format = v;
        }
        if let Some(v) = get("ROBOT_MAX_PAGES") {
            self.limits.max_pages = parse("ROBOT_MAX_PAGES", &v)?;
        }
        if let Some(v) = get("ROBOT_MAX_WIKI_BYTES") {
            self.limits.max_wiki_bytes = parse("ROBOT_MAX_WIKI_BYTES", &v)?;
        }
        if let Some(v) = get("ROBOT_MAX_PAGE_BYTES") {
            self.limits.max_page_bytes = parse("ROBOT_MAX_PAGE_BYTES", &v)?;
        }
        if let Some(v) = get("ROBOT_MAX_ATTACHMENT_BYTES") {
            self.limits.max_attachment_bytes = parse("ROBOT_MAX_ATTACHMENT_BYTES", &v)?;
        }
        if let Some(v) = get("ROBOT_WRITES_PER_MINUTE") {
            self.limits.writes_per_minute = parse("ROBOT_WRITES_PER_MINUTE", &v)?;
        }
        if let Some(v) = get("ROBOT_WRITE_BURST") {
            self.limits.write_burst = parse("ROBOT_WRITE_BURST", &v)?;
        }
        if let Some(v) = get("ROBOT_ATPROTO_PLC_URL") {
            self.atproto.plc_url = v;
        }
        if let Some(v) = get("ROBOT_ATPROTO_HANDLE_RESOLVER_URL") {
            self.atproto.handle_resolver_url = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = get("ROBOT_ATPROTO_ALLOW_PRIVATE_HOSTS") {
            self.atproto.allow_private_hosts = parse("ROBOT_ATPROTO_ALLOW_PRIVATE_HOSTS", &v)?;
            if self.atproto.allow_private_hosts {
                warnings.push(
                    "ROBOT_ATPROTO_ALLOW_PRIVATE_HOSTS is on: sign-in may fetch http and private addresses (tests only)".into(),
                );
            }
        }
        if let Some(v) = get("ROBOT_METRICS_TOKEN") {
            self.metrics_token = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = get("ROBOT_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| parse("ROBOT_TRUSTED_PROXIES", s))
                .collect::<anyhow::Result<_>>()?;
        }
        if let Some(v) = get("ROBOT_SEMANTIC") {
            self.search.semantic = parse("ROBOT_SEMANTIC", &v)?;
        }
        if let Some(v) = get("ROBOT_MODEL_DIR") {
            self.search.model_dir = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Some(v) = get("ROBOT_EMBED_THREADS") {
            self.search.embed_threads = parse("ROBOT_EMBED_THREADS", &v)?;
        }
        if let Some(v) = get("ROBOT_INDEX_CACHE_MIB") {
            self.search.index_cache_mib = Some(parse("ROBOT_INDEX_CACHE_MIB", &v)?);
        }
        if let Some(mib) = self.search.index_cache_mib.take() {
            warnings.push(format!(
                "`[search] index_cache_mib` is now `[cache] vectors = \"{mib} MiB\"`; using it"
            ));
            self.cache.vectors = ByteSize::mib(mib);
        }
        if self.log_format != "json" && self.log_format != "pretty" {
            warnings.push(format!(
                "log_format {:?} is neither json nor pretty; using json",
                self.log_format
            ));
            self.log_format = "json".into();
        }
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        let d = &self.domain;
        if d.is_empty() || d.contains('/') || d.contains("://") {
            anyhow::bail!(
                "domain must be a bare host such as `example.org` or `localhost:8080`, got {d:?}"
            );
        }
        if let Some(s) = &self.scheme
            && s != "http"
            && s != "https"
        {
            anyhow::bail!("scheme must be http or https, got {s:?}");
        }
        if self.session_hours <= 0 {
            anyhow::bail!("session_hours must be positive");
        }
        Ok(())
    }

    /// The domain without a port, lowercased: what cookies are scoped to.
    pub fn domain_host(&self) -> String {
        host_without_port(&self.domain).to_ascii_lowercase()
    }

    /// True for the local default, where cookies cannot carry a `Domain` attribute.
    pub fn is_localhost(&self) -> bool {
        let h = self.domain_host();
        h == "localhost" || h.ends_with(".localhost") || h.parse::<std::net::IpAddr>().is_ok()
    }

    pub fn scheme(&self) -> &str {
        match &self.scheme {
            Some(s) => s,
            None if self.is_localhost() => "http",
            None => "https",
        }
    }

    /// `http://localhost:8080`: the root site's origin.
    pub fn root_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.domain)
    }

    /// `http://{slug}.localhost:8080`: a wiki's origin (also its OAuth issuer).
    pub fn wiki_url(&self, slug: &str) -> String {
        format!("{}://{}", self.scheme(), self.wiki_host(slug))
    }

    /// `{slug}.localhost:8080`: a wiki's host (with the port, when the domain has one).
    pub fn wiki_host(&self, slug: &str) -> String {
        format!("{slug}.{}", self.domain)
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("robot.db")
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }

    /// Where the embedding model's files are.
    pub fn model_dir(&self) -> PathBuf {
        self.search
            .model_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("model"))
    }

    /// The hooks `git receive-pack` runs for pushes (written at start-up).
    pub fn hooks_dir(&self) -> PathBuf {
        self.data_dir.join("hooks")
    }

    /// Work directories of requests in progress (pushes); emptied at start-up.
    pub fn run_dir(&self) -> PathBuf {
        self.data_dir.join("run")
    }

    pub fn wikis_dir(&self) -> PathBuf {
        self.data_dir.join("wikis")
    }

    /// The port of the root domain (80/443 when none is given).
    pub fn domain_port(&self) -> u16 {
        match self.domain.rsplit_once(':') {
            Some((_, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
                p.parse().unwrap_or(80)
            }
            _ if self.scheme() == "https" => 443,
            _ => 80,
        }
    }

    pub fn is_admin(&self, did: &str) -> bool {
        self.admin_dids.iter().any(|d| d == did)
    }
}

/// An address range: an IP address and a prefix length (`10.0.0.0/8`, `::1/128`); a bare
/// address is the range of itself. Written as a string in `robot.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct IpNet {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` is in the range. IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`, what
    /// a dual-stack listener reports for IPv4 peers) count as their IPv4 address.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let bits = |len: u32, a: u128, b: u128| {
            let p = u32::from(self.prefix);
            p == 0 || (a ^ b) >> (len - p) == 0
        };
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                bits(32, u32::from(net).into(), u32::from(ip).into())
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => bits(128, u128::from(net), u128::from(ip)),
            _ => false,
        }
    }
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<IpNet, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = addr
            .parse::<std::net::IpAddr>()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?
            .to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl TryFrom<String> for IpNet {
    type Error = String;

    fn try_from(s: String) -> Result<IpNet, String> {
        s.parse()
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

pub fn host_without_port(host: &str) -> &str {
    // IPv6 literals keep their brackets; a port follows the last `]:` or the only `:`.
    if let Some(end) = host.rfind(']') {
        return &host[..=end];
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_locally() {
        let c = Config::default();
        assert_eq!(c.root_url(), "http://localhost:8080");
        assert_eq!(c.wiki_url("notes"), "http://notes.localhost:8080");
        assert_eq!(c.wiki_host("notes"), "notes.localhost:8080");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.is_localhost());
        assert_eq!(c.domain_host(), "localhost");
    }

    #[test]
    fn env_overrides_file_values() {
        let mut c: Config =
            toml::from_str("domain = \"example.org\"\n[limits]\nmax_pages = 10\n").unwrap();
        assert_eq!(c.limits.max_pages, 10);
        assert_eq!(
            c.limits.max_page_bytes, 1_000_000,
            "unset limits keep defaults"
        );
        assert_eq!(c.scheme(), "https");
        let mut w = Vec::new();
        c.apply_env(
            |k| match k {
                "ROBOT_MAX_PAGES" => Some("20".into()),
                "ROBOT_ADMIN_DIDS" => Some("did:plc:a, did:plc:b".into()),
                _ => None,
            },
            &mut w,
        )
        .unwrap();
        assert_eq!(c.limits.max_pages, 20);
        assert_eq!(c.admin_dids, vec!["did:plc:a", "did:plc:b"]);
        assert!(
            c.apply_env(|k| (k == "ROBOT_LISTEN").then(|| "nope".into()), &mut w)
                .is_err()
        );
    }

    #[test]
    fn trusted_proxies_parse_from_file_and_env() {
        let c: Config =
            toml::from_str("trusted_proxies = [\"127.0.0.1/8\", \"::1\", \"10.1.2.3\"]\n").unwrap();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let [lo, v6, one] = c.trusted_proxies[..] else {
            panic!("three ranges: {:?}", c.trusted_proxies);
        };
        assert!(lo.contains(ip("127.0.0.1")) && lo.contains(ip("127.255.0.9")));
        assert!(lo.contains(ip("::ffff:127.0.0.1")), "IPv4-mapped peers");
        assert!(!lo.contains(ip("128.0.0.1")) && !lo.contains(ip("::1")));
        assert!(v6.contains(ip("::1")) && !v6.contains(ip("::2")));
        assert!(one.contains(ip("10.1.2.3")) && !one.contains(ip("10.1.2.4")));
        assert!(
            Config::default().trusted_proxies.is_empty(),
            "none by default"
        );
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")) && !all.contains(ip("::1")));
        for bad in ["", "localhost", "10.0.0.0/33", "::/129", "1.2.3.4/x"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad:?}");
        }
        assert!(toml::from_str::<Config>("trusted_proxies = [\"nope\"]\n").is_err());
        let mut c = Config::default();
        let mut w = Vec::new();
        c.apply_env(
            |k| (k == "ROBOT_TRUSTED_PROXIES").then(|| "127.0.0.1/8, ::1".into()),
            &mut w,
        )
        .unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        assert_eq!(c.trusted_proxies[0].to_string(), "127.0.0.1/8");
        assert!(
            c.apply_env(
                |k| (k == "ROBOT_TRUSTED_PROXIES").then(|| "10.0.0.0/99".into()),
                &mut w
            )
            .is_err()
        );
    }

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(host_without_port("example.org:443"), "example.org");
        assert_eq!(host_without_port("example.org"), "example.org");
        assert_eq!(host_without_port("[::1]:8080"), "[::1]");
    }
}
