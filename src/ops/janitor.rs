//! The janitor: every ten minutes, removes what has expired — browser sessions and
//! sign-in links, ATProto authorization requests, OAuth codes and tokens, revoked
//! grants, and client registrations never used within a day (registration is open, so
//! they would otherwise pile up).

use std::time::Duration;

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
    n += crate::db::oauth::sweep(conn, now, crate::oauth::UNUSED_CLIENT_SECS)?;
    Ok(n)
}

/// Runs [`sweep`] now and every ten minutes, on the blocking pool.
pub fn spawn(db: Db) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            match db.run(|c| sweep(c, crate::db::now())).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "janitor removed expired rows"),
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
