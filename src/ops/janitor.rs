//! The janitor: every ten minutes, removes what has expired — browser sessions and
//! sign-in links, ATProto authorization requests, OAuth codes and tokens, revoked
//! grants, and client registrations never used within a day (registration is open, so
//! they would otherwise pile up) — and tidies the data directory: temporary files a crash
//! left behind are deleted, and a wiki directory with no row in the database is moved to
//! `quarantine/` (never deleted: it may be the only copy of someone's notes).

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::db::Db;
use crate::error::Result;

const EVERY: Duration = Duration::from_secs(600);
/// ATProto authorization requests older than this were abandoned.
const AUTH_REQUEST_SECS: i64 = 3600;

/// One sweep; returns the rows removed.
pub fn sweep(conn: &rusqlite::Connection, now: i64) -> Result<usize> {
    let mut n = conn.execute("DELETE FROM sessions WHERE expires_at < ?1", [now])?;
    n += conn.execute("DELETE FROM login_links WHERE expires_at < ?1", [now])?;
    n += conn.execute(
        "DELETE FROM atproto_auth_requests WHERE created_at < ?1",
        [now - AUTH_REQUEST_SECS],
    )?;
    n += crate::db::oauth::sweep(conn, now, crate::db::oauth::UNUSED_CLIENT_SECS)?;
    Ok(n)
}

/// A temporary file or directory older than this belongs to no running operation.
const TEMP_GRACE: Duration = Duration::from_secs(3600);
/// A wiki directory must be this old before its missing row makes it an orphan: wiki
/// creation renames the directory into place just before its row commits.
const ORPHAN_GRACE: Duration = Duration::from_secs(600);

/// What [`sweep_files`] did.
#[derive(Debug, Default, PartialEq)]
pub struct FileSweep {
    pub temp_removed: usize,
    pub quarantined: Vec<String>,
}

/// Tidies `wikis/`: removes old `.tmp-*` directories (half-made wikis) and git's old
/// `tmp_*` object files, and moves every directory whose slug has no row to
/// `quarantine/{slug}-{unix time}`.
pub fn sweep_files(cfg: &Config, conn: &rusqlite::Connection) -> Result<FileSweep> {
    let mut done = FileSweep::default();
    let wikis_dir = cfg.wikis_dir();
    let Ok(entries) = std::fs::read_dir(&wikis_dir) else {
        return Ok(done); // no wiki yet
    };
    let known: std::collections::HashSet<String> = crate::db::wikis::list(conn)?
        .into_iter()
        .map(|w| w.slug)
        .collect();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with(".tmp-") {
            if older_than(&path, TEMP_GRACE) && std::fs::remove_dir_all(&path).is_ok() {
                done.temp_removed += 1;
            }
        } else if known.contains(&name) {
            done.temp_removed += sweep_git_temp(&path.join("repo.git/objects"))?;
        } else if entry.file_type()?.is_dir() && older_than(&path, ORPHAN_GRACE) {
            let to = cfg
                .data_dir
                .join("quarantine")
                .join(format!("{name}-{}", crate::db::now()));
            std::fs::create_dir_all(cfg.data_dir.join("quarantine"))?;
            std::fs::rename(&path, &to)?;
            tracing::warn!(slug = %name, to = %to.display(), "a wiki directory has no database row: quarantined");
            done.quarantined.push(name);
        }
    }
    Ok(done)
}

/// Removes git's abandoned temporary object and pack files (`tmp_*`) under `objects`:
/// libgit2 writes them in `objects/` itself, git in the fan-out and `pack/` directories.
fn sweep_git_temp(objects: &Path) -> Result<usize> {
    let entries = |dir: &Path| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .collect::<Vec<_>>()
    };
    let top = entries(objects);
    let nested: Vec<_> = top
        .iter()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .flat_map(|d| entries(&d.path()))
        .collect();
    let mut removed = 0;
    for f in top.iter().chain(&nested) {
        let p = f.path();
        if f.file_name().to_string_lossy().starts_with("tmp_")
            && f.file_type().is_ok_and(|t| t.is_file())
            && older_than(&p, TEMP_GRACE)
            && std::fs::remove_file(&p).is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

fn older_than(path: &Path, age: Duration) -> bool {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|d| d > age)
}

/// Runs [`sweep`] and [`sweep_files`] now and every ten minutes, on the blocking pool.
pub fn spawn(db: Db, cfg: std::sync::Arc<Config>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let cfg = cfg.clone();
            let swept = db
                .run(move |c| Ok((sweep(c, crate::db::now())?, sweep_files(&cfg, c)?)))
                .await;
            match swept {
                Ok((rows, files)) => {
                    if rows > 0 {
                        tracing::info!(rows, "janitor removed expired rows");
                    }
                    if files.temp_removed > 0 {
                        tracing::info!(
                            files = files.temp_removed,
                            "janitor removed temporary files"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "janitor"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sweep_runs_on_a_fresh_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("t.db")).unwrap();
        let c = db.conn().unwrap();
        assert_eq!(super::sweep(&c, crate::db::now()).unwrap(), 0);
    }
}
