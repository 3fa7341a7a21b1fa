//! The restore drill: several wikis, a backup taken while writes are happening, a restore
//! into a new data directory, and robot started on it. Every commit, page and account row
//! of the backup is there, `git fsck` is clean, and the server serves and searches it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use robot::ops::backup::{BackupOptions, backup, restore};
use robot::wiki::names::PageName;
use robot::wiki::store::Author;

use crate::common::*;

const OWNER: &str = "did:plc:owner";

fn rows(db: &std::path::Path, sql: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut stmt = c.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
            .collect::<Vec<_>>()
            .join("|"))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_writes_restores_exactly() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.add_user("did:plc:ed", "ed.test");
    let slugs = ["alpha", "bravo", "charlie"];
    let mut wikis = Vec::new();
    for slug in slugs {
        wikis.push(s.create_wiki(slug, OWNER, slug == "alpha"));
    }
    s.add_collaborator("bravo", "did:plc:ed", robot::access::Role::Editor);
    // Writes keep landing on every wiki while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (w, wikis, stop) = (s.state.wikis.clone(), wikis.clone(), stop.clone());
        tokio::task::spawn_blocking(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) || n < 30 {
                let wiki = &wikis[n % wikis.len()];
                let name = PageName::parse(&format!("Log/Entry {n}")).unwrap();
                w.save_page(
                    wiki,
                    &Author::robot(),
                    &name,
                    &format!("# Entry {n}\n\nzebra {n}\n"),
                    None,
                    "entry",
                )
                .unwrap();
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let cfg = (*s.state.cfg).clone();
    let backups = tempfile::tempdir().unwrap();
    let to = backups.path().to_path_buf();
    let to2 = to.clone();
    let dir = tokio::task::spawn_blocking(move || {
        backup(
            &cfg,
            &BackupOptions {
                to: to2,
                include_keys: true,
                without_indexes: false,
                keep: 2,
            },
        )
    })
    .await
    .unwrap()
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    let written = writer.await.unwrap();
    assert!(written >= 30);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(manifest["wikis"].as_array().unwrap().len(), 3);
    assert!(dir.join("keys").exists());

    // Restore into a new, empty data directory.
    let target = tempfile::tempdir().unwrap();
    let mut cfg2 = (*s.state.cfg).clone();
    cfg2.data_dir = target.path().join("data");
    let (c2, d2) = (cfg2.clone(), dir.clone());
    tokio::task::spawn_blocking(move || restore(&c2, &d2))
        .await
        .unwrap()
        .unwrap();

    // Every commit and every page of the backup, byte for byte; fsck clean.
    for w in manifest["wikis"].as_array().unwrap() {
        let slug = w["slug"].as_str().unwrap();
        let head = w["head"].as_str().unwrap();
        let src = s.repo(slug);
        let dst = cfg2.wikis_dir().join(slug).join("repo.git");
        assert_eq!(
            git(&src, &["log", "--format=%H %an %s", head]),
            git(&dst, &["log", "--format=%H %an %s", "main"]),
            "{slug}: the same history"
        );
        assert_eq!(
            git(&src, &["ls-tree", "-r", head]),
            git(&dst, &["ls-tree", "-r", "main"]),
            "{slug}: the same files"
        );
        fsck(&dst);
    }
    // Every account row.
    for sql in [
        "SELECT did, handle, created_at FROM users ORDER BY did",
        "SELECT id, slug, owner_did, is_public FROM wikis ORDER BY id",
        "SELECT wiki_id, did, role FROM collaborators ORDER BY wiki_id, did",
    ] {
        assert_eq!(
            rows(&s.state.cfg.db_path(), sql),
            rows(&cfg2.db_path(), sql),
            "{sql}"
        );
    }
    // The server starts on it and serves and searches what was restored.
    drop(s);
    let restored = TestServer::start_in(target, |c| c.data_dir = cfg2.data_dir.clone()).await;
    let r = restored
        .client()
        .get(format!("{}/Log/Entry%200", restored.wiki_url("alpha")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = restored
        .client()
        .get(format!("{}/-/search?q=zebra", restored.wiki_url("alpha")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(r.contains("Entry 0"), "the full-text index was rebuilt");

    // A damaged backup is refused before anything is written.
    let bundle = dir.join("wikis/bravo.bundle");
    let mut bytes = std::fs::read(&bundle).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&bundle, bytes).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let mut cfg3 = cfg2.clone();
    cfg3.data_dir = empty.path().join("data");
    let err = restore(&cfg3, &dir).unwrap_err().to_string();
    assert!(err.contains("checksum"), "{err}");
    assert!(!cfg3.data_dir.join("robot.db").exists());
    // And a non-empty data directory is never overwritten.
    let err = restore(&cfg2, &dir).unwrap_err().to_string();
    assert!(err.contains("not empty"), "{err}");
}

#[test]
fn the_cli_backs_up_keeps_the_newest_and_restores() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let robot = |args: &[&str], data: &std::path::Path| {
        robot_command(data, tmp.path(), args).output().unwrap()
    };
    assert!(
        robot(
            &["user", "add", "--did", OWNER, "--handle", "o.test"],
            &data
        )
        .status
        .success()
    );
    assert!(
        robot(&["wiki", "create", "notes", "--owner", OWNER], &data)
            .status
            .success()
    );
    for _ in 0..3 {
        let out = robot(&["backup", "--to", "bk", "--keep", "2"], &data);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let kept: Vec<_> = std::fs::read_dir(tmp.path().join("bk")).unwrap().collect();
    assert_eq!(kept.len(), 2, "retention keeps the newest two");
    let newest = std::fs::read_dir(tmp.path().join("bk"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    assert!(
        !newest.join("keys").exists(),
        "keys only with --include-keys"
    );
    let out = robot(
        &["restore", newest.to_str().unwrap()],
        &tmp.path().join("restored"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("restored 1 wiki"));
    fsck(&tmp.path().join("restored/wikis/notes/repo.git"));
}
