//! Production configuration, checked with the real tools: `caddy validate` on both
//! Caddyfiles, `systemd-analyze verify` on the unit, and real Caddy (Debian's package, with
//! `tls internal`) in front of robot on loopback: the root site, a wiki page, `/mcp` and a
//! `git clone`, all over HTTPS through it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn caddy() -> &'static str {
    assert!(
        Path::new("/usr/bin/caddy").exists(),
        "caddy is missing: scripts/setup.sh installs it"
    );
    "/usr/bin/caddy"
}

#[test]
fn the_caddyfiles_and_the_unit_validate() {
    // Debian's caddy has no DNS-provider module, so the production file is validated with
    // the local CA standing in for the DNS challenge; everything else is as shipped.
    for (file, tls) in [
        ("Caddyfile", Some("caddy/tls-internal.caddy")),
        ("caddy/Caddyfile.local", None),
    ] {
        let mut cmd = Command::new(caddy());
        cmd.args(["validate", "--adapter", "caddyfile", "--config", file])
            .current_dir(repo_root())
            .env("ROBOT_DOMAIN", "example.org")
            .env("HOME", std::env::temp_dir());
        if let Some(t) = tls {
            cmd.env("ROBOT_CADDY_TLS", t);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "caddy validate {file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // systemd-analyze checks that ExecStart exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let mut copies = Vec::new();
    for name in [
        "robot.service",
        "robot-backup.service",
        "robot-backup.timer",
    ] {
        let text = std::fs::read_to_string(repo_root().join("systemd").join(name)).unwrap();
        let copy = dir.path().join(name);
        std::fs::write(
            &copy,
            text.replace("/usr/local/bin/robot", env!("CARGO_BIN_EXE_robot")),
        )
        .unwrap();
        copies.push(copy);
    }
    let unit = std::fs::read_to_string(repo_root().join("systemd/robot.service")).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&copies)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for hardening in [
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/robot",
        "User=robot",
        "Restart=on-failure",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robot_behind_real_caddy_with_tls_internal() {
    let (https, http, admin) = (free_port(), free_port(), free_port());
    let domain = "robot.localhost";
    let s = TestServer::start_with(|c| {
        c.domain = format!("{domain}:{https}");
        c.scheme = Some("https".into());
    })
    .await;
    s.add_user("did:plc:owner", "owner.test");
    let wiki = s.create_wiki("notes", "did:plc:owner", true);
    let token = robot::access::tokens::regenerate(&s.state.db.conn().unwrap(), wiki.id).unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut proxy = tokio::process::Command::new(caddy())
        .args([
            "run",
            "--adapter",
            "caddyfile",
            "--config",
            "caddy/Caddyfile.local",
        ])
        .current_dir(repo_root())
        .env("ROBOT_DOMAIN", domain)
        .env("ROBOT_UPSTREAM", s.addr.to_string())
        .env("CADDY_HTTPS_PORT", https.to_string())
        .env("CADDY_HTTP_PORT", http.to_string())
        .env("CADDY_ADMIN", format!("127.0.0.1:{admin}"))
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Caddy makes its local CA on start; trust exactly that root.
    let root_crt = home
        .path()
        .join("data/caddy/pki/authorities/local/root.crt");
    let client = {
        let mut pem = None;
        for _ in 0..100 {
            if let Ok(p) = std::fs::read(&root_crt) {
                pem = Some(p);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let pem = pem.expect("caddy wrote its local CA");
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .resolve(domain, ([127, 0, 0, 1], https).into())
            .resolve(&format!("notes.{domain}"), ([127, 0, 0, 1], https).into())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let root = format!("https://{domain}:{https}");
    let wiki_url = format!("https://notes.{domain}:{https}");
    // The root site (retrying while Caddy finishes starting).
    let mut ok = false;
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{root}/health")).send().await
            && r.status() == 200
        {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "the root site answers through Caddy");
    let landing = client.get(format!("{root}/")).send().await.unwrap();
    assert_eq!(landing.status(), 200);
    // A wiki page: robot sees the wiki's Host through the proxy.
    let page = client.get(format!("{wiki_url}/Home")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<html"));
    // MCP.
    let r = client
        .post(format!("{wiki_url}/mcp"))
        .bearer_auth(&token)
        .header("Accept", "application/json, text/event-stream")
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["result"]["serverInfo"]["name"], "robot");
    // The 401 challenge names the public https URL.
    let r = client
        .post(format!("{wiki_url}/mcp"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(&format!(
                "resource_metadata=\"{wiki_url}/.well-known/oauth-protected-resource/mcp\""
            ))
    );
    // git clone over HTTPS through Caddy.
    let work = tempfile::tempdir().unwrap();
    let (url, dest, ca) = (
        format!("{wiki_url}/repo.git"),
        work.path().join("clone"),
        root_crt.clone(),
    );
    let resolve = format!("notes.{domain}:{https}:127.0.0.1");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("git")
            .args([
                "-c",
                &format!("http.curloptResolve={resolve}"),
                "clone",
                "-q",
                &url,
            ])
            .arg(&dest)
            .env("GIT_SSL_CAINFO", &ca)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "git clone through Caddy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(work.path().join("clone/home.md").exists());
    proxy.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_and_stay_private() {
    let s = TestServer::start_with(|c| c.metrics_token = Some("scrape-secret".into())).await;
    s.add_user("did:plc:owner", "owner.test");
    s.create_wiki("notes", "did:plc:owner", true);
    let c = s.client();
    for _ in 0..3 {
        assert_eq!(
            c.get(format!("{}/Home", s.wiki_url("notes")))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let _ = c
        .post(format!("{}/mcp", s.wiki_url("notes")))
        .send()
        .await
        .unwrap();
    let r = c.get(format!("{}/metrics", s.root())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for needle in [
        "robot_http_requests_total{route=\"wiki\",status=\"200\"} 3",
        "robot_http_requests_total{route=\"mcp\",status=\"401\"} 1",
        "robot_http_request_duration_seconds_bucket{route=\"wiki\",le=\"+Inf\"} 3",
        "robot_wikis 1",
        "robot_reindex_queue_depth ",
        "robot_sessions_active ",
        "robot_embedding_seconds_total ",
        "robot_semantic_enabled 0",
    ] {
        assert!(text.contains(needle), "{needle} in\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("robot_pages ") && !l.ends_with(" 0")),
        "{text}"
    );
    // Through a proxy (as from the internet via Caddy): only with the token.
    let r = c
        .get(format!("{}/metrics", s.root()))
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .get(format!("{}/metrics", s.root()))
        .header("X-Forwarded-For", "203.0.113.9")
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!("{}/metrics", s.root()))
        .header("X-Forwarded-For", "203.0.113.9")
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// Sets a file's or directory's modification time `secs` seconds into the past.
fn age(path: &Path, secs: u64) {
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
    std::fs::File::open(path)
        .unwrap()
        .set_modified(then)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_janitor_quarantines_orphans_and_sweeps_temporary_files() {
    let s = TestServer::start().await;
    s.add_user("did:plc:jan", "jan.test");
    s.create_wiki("kept", "did:plc:jan", false);
    let wikis = s.state.cfg.wikis_dir();
    let data = s.state.cfg.data_dir.clone();
    let dir = s.stop().await;

    // Left behind by crashes: a repository whose row never committed (old, and one just
    // renamed into place), a half-made wiki, and a temporary object file in a live repo.
    for (slug, secs) in [("ghost", 7200), ("newborn", 0)] {
        let repo = wikis.join(slug).join("repo.git");
        git(
            &wikis,
            &["init", "--quiet", "--bare", repo.to_str().unwrap()],
        );
        age(&wikis.join(slug), secs);
    }
    let half_made = wikis.join(".tmp-half-1234");
    std::fs::create_dir_all(half_made.join("repo.git")).unwrap();
    age(&half_made, 7200);
    let objects = wikis.join("kept/repo.git/objects");
    let fan = std::fs::read_dir(&objects)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().len() == 2)
        .unwrap()
        .path();
    let stray = fan.join("tmp_obj_abc");
    let stray_git2 = objects.join("tmp_object_git2_abc");
    let fresh = objects.join("tmp_object_git2_new");
    for f in [&stray, &stray_git2, &fresh] {
        std::fs::write(f, b"x").unwrap();
    }
    age(&stray, 7200);
    age(&stray_git2, 7200);

    // The janitor's first sweep runs at start.
    let s = TestServer::start_in(dir, |_| {}).await;
    let quarantine = data.join("quarantine");
    for _ in 0..100 {
        if quarantine.exists() && !stray_git2.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let moved: Vec<String> = std::fs::read_dir(&quarantine)
        .expect("a quarantine directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!(moved[0].starts_with("ghost-"), "{moved:?}");
    fsck(&quarantine.join(&moved[0]).join("repo.git"));
    assert!(!wikis.join("ghost").exists());
    assert!(
        wikis.join("newborn").exists(),
        "a fresh directory may be a wiki being created"
    );
    assert!(!half_made.exists() && !stray.exists() && !stray_git2.exists());
    assert!(
        fresh.exists(),
        "a fresh temporary file may belong to a running write"
    );
    fsck(&s.repo("kept"));
    let (status, _) = s
        .raw(&s.wiki_host("kept"), "GET", "/api/v1/health", None, None)
        .await;
    assert_eq!(status, 200);
}
