//! The `robot` command, run as a real process against a temporary data directory.

use std::path::Path;
use std::process::{Command, Output};

fn robot(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_robot"))
        .args(args)
        .env("ROBOT_DATA_DIR", data)
        .env("ROBOT_DOMAIN", "localhost:8080")
        .env("ROBOT_LOG", "warn")
        .env_remove("ROBOT_CONFIG")
        .current_dir(data.parent().unwrap())
        .output()
        .expect("run robot")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn operator_commands_work_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let init = ok(robot(&data, &["init"]));
    assert!(init.contains("http://localhost:8080"));
    let key = data.join("keys/session.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600,
            "private key is 0600"
        );
    }
    ok(robot(
        &data,
        &[
            "user",
            "add",
            "--did",
            "did:plc:alice",
            "--handle",
            "Alice.Test",
        ],
    ));
    assert!(ok(robot(&data, &["user", "list"])).contains("alice.test"));
    let created = ok(robot(
        &data,
        &[
            "wiki",
            "create",
            "notes",
            "--owner",
            "@alice.test",
            "--title",
            "My Notes",
        ],
    ));
    assert!(created.contains("http://notes.localhost:8080"));
    let list = ok(robot(&data, &["wiki", "list"]));
    assert!(list.contains("notes\tprivate\tdid:plc:alice"));
    let repo = data.join("wikis/notes/repo.git");
    let log = crate::common::git(&repo, &["log", "--format=%s"]);
    assert_eq!(
        log.trim(),
        "Initial commit",
        "the bootstrap template is one commit"
    );
    let files = crate::common::ls_files(&repo);
    assert_eq!(
        files,
        vec![
            "administration.md",
            "agent guide.md",
            "getting started.md",
            "home.md",
            "syntax.md"
        ]
    );
    let home = crate::common::show(&repo, "getting started.md");
    assert!(
        home.contains("http://notes.localhost:8080/mcp"),
        "placeholders filled"
    );
    assert!(!home.contains("{{"), "no placeholder left");

    let link = ok(robot(&data, &["admin", "login-link", "did:plc:alice"]));
    assert!(
        link.trim()
            .starts_with("http://localhost:8080/auth/login-link?token="),
        "{link}"
    );

    // Bad input: clear errors, nothing created.
    let out = robot(
        &data,
        &["wiki", "create", "Bad_Slug", "--owner", "alice.test"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("slug must be lowercase"));
    let out = robot(&data, &["wiki", "create", "admin", "--owner", "alice.test"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("slug is reserved"));
    let out = robot(
        &data,
        &["wiki", "create", "other", "--owner", "nobody.test"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user"));
    assert!(!data.join("wikis/other").exists());
    let out = robot(&data, &["wiki", "create", "notes", "--owner", "alice.test"]);
    assert!(!out.status.success(), "duplicate slug refused");
    let out = robot(
        &data,
        &["user", "add", "--did", "not-a-did", "--handle", "x.test"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid DID"));

    ok(robot(&data, &["wiki", "delete", "notes", "--yes"]));
    assert!(!data.join("wikis/notes").exists());
    assert!(!ok(robot(&data, &["wiki", "list"])).contains("notes"));
    // The slug is free again.
    ok(robot(
        &data,
        &["wiki", "create", "notes", "--owner", "alice.test"],
    ));
}

/// Operators run commands side by side (a script creating wikis, a cron job): each one
/// waits for the others' writes instead of failing with "database is locked".
#[test]
fn commands_run_at_the_same_time_wait_for_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(robot(&data, &["init"]));
    ok(robot(
        &data,
        &[
            "user",
            "add",
            "--did",
            "did:plc:ops",
            "--handle",
            "ops.test",
        ],
    ));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let data = data.clone();
            std::thread::spawn(move || {
                for i in 0..6 {
                    let slug = format!("side{w}x{i}");
                    ok(robot(
                        &data,
                        &["wiki", "create", &slug, "--owner", "ops.test"],
                    ));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("every create succeeded");
    }
    let list = ok(robot(&data, &["wiki", "list"]));
    assert_eq!(
        list.lines().filter(|l| l.starts_with("side")).count(),
        24,
        "{list}"
    );
}

#[test]
fn every_command_has_help() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["init", "--help"],
        vec!["wiki", "--help"],
        vec!["wiki", "create", "--help"],
        vec!["wiki", "list", "--help"],
        vec!["wiki", "delete", "--help"],
        vec!["wiki", "import", "--help"],
        vec!["user", "add", "--help"],
        vec!["admin", "login-link", "--help"],
    ] {
        let out = robot(&data, &args);
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{args:?}"
        );
    }
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_robot"))
        .args(["init"])
        .env("ROBOT_DATA_DIR", tmp.path().join("data"))
        .env("ROBOT_LISTEN", "not an address")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid ROBOT_LISTEN"));
    let cfg = tmp.path().join("robot.toml");
    std::fs::write(&cfg, "domain = \"example.org\"\nmystery = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_robot"))
        .args(["--config", cfg.to_str().unwrap(), "init"])
        .env("ROBOT_DATA_DIR", tmp.path().join("data"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown config key `mystery`"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("https://example.org"));
}
