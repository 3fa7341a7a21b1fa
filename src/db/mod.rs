//! SQLite: one pooled database file (WAL, foreign keys, busy timeout) holding accounts,
//! wikis, sessions, the search index and queues. Numbered migrations from `migrations/`
//! are compiled into the binary and applied at start, each once, each in a transaction.
//! One file per table family below.

pub mod atproto;
pub mod drafts;
pub mod oauth;
pub mod personal_tokens;
pub mod sessions;
pub mod tokens;
pub mod users;
pub mod wikis;

use std::path::Path;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

use crate::error::{Error, Result};

/// The embedded migrations, in order. The number is the version recorded once applied.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "core", include_str!("../../migrations/0001_core.sql")),
    (
        2,
        "search",
        include_str!("../../migrations/0002_search.sql"),
    ),
    (
        3,
        "accounts",
        include_str!("../../migrations/0003_accounts.sql"),
    ),
    (
        4,
        "reindex_queue",
        include_str!("../../migrations/0004_reindex_queue.sql"),
    ),
    (
        5,
        "reindex_version",
        include_str!("../../migrations/0005_reindex_version.sql"),
    ),
    (6, "oauth", include_str!("../../migrations/0006_oauth.sql")),
    (
        7,
        "signin_binding",
        include_str!("../../migrations/0007_signin_binding.sql"),
    ),
    (
        8,
        "personal_tokens",
        include_str!("../../migrations/0008_personal_tokens.sql"),
    ),
    (
        9,
        "git_push",
        include_str!("../../migrations/0009_git_push.sql"),
    ),
    (
        10,
        "fts_contentless",
        include_str!("../../migrations/0010_fts_contentless.sql"),
    ),
    (
        11,
        "client_documents",
        include_str!("../../migrations/0011_client_documents.sql"),
    ),
    (
        12,
        "drafts",
        include_str!("../../migrations/0012_drafts.sql"),
    ),
];

pub type Conn = r2d2::PooledConnection<SqliteConnectionManager>;

/// A cloneable handle on the pool.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<SqliteConnectionManager>,
}

impl Db {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: &Path) -> anyhow::Result<Db> {
        let manager = SqliteConnectionManager::file(path).with_init(|c| {
            c.busy_timeout(BUSY_TIMEOUT)?;
            c.execute_batch(
                "PRAGMA foreign_keys = ON;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA temp_store = MEMORY;",
            )
        });
        let pool = r2d2::Pool::builder()
            .max_size(16)
            // r2d2 would run an empty statement on every checkout to test the connection;
            // a local SQLite file does not go stale like a network connection.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(15))
            .build(manager)?;
        let db = Db { pool };
        {
            let mut conn = db.pool.get()?;
            // WAL is a property of the file; set it once, before anything else writes.
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                anyhow::bail!("could not enable WAL on {} (got {mode})", path.display());
            }
            migrate(&mut conn)?;
        }
        Ok(db)
    }

    /// A connection for synchronous callers (CLI, blocking tasks).
    pub fn conn(&self) -> Result<Conn> {
        Ok(self.pool.get()?)
    }

    /// Runs `f` with a connection on the blocking pool, so async handlers never wait on
    /// SQLite's file locks.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        // The caller's span (and its request id) follows the work to the blocking pool.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _in_request = span.enter();
            let mut conn = pool.get().map_err(Error::from)?;
            f(&mut conn)
        })
        .await?
    }

    /// Runs a short read `f` — the point look-ups by key every request starts with (its
    /// caller, its wiki) — at once on this thread when a connection is idle, and on the
    /// blocking pool as [`Db::run`] otherwise. For such a read the trip to the pool and
    /// back costs more than the read itself (two thread wake-ups, most of a cached MCP
    /// call's time).
    ///
    /// Why this may run on an async thread: in WAL mode a reader waits on no writer, and
    /// the one wait left (a lock held during WAL recovery or a restarting checkpoint) is
    /// not taken here: with the busy timeout at zero such a read fails at once and is run
    /// again on the pool, where waiting is allowed. `f` must only read.
    pub async fn read_now<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T> + Send + Sync + 'static,
    {
        if let Some(conn) = self.pool.try_get() {
            let no_wait = NoWait::on(&conn)?;
            match one_snapshot(no_wait.0, &f) {
                Err(e) if is_busy(&e) => {}
                done => return done,
            }
        }
        let f = std::sync::Arc::new(f);
        self.run(move |c| one_snapshot(c, &*f)).await
    }
}

/// Runs the reads of `f` in one read transaction: one snapshot of the database, and one
/// lock taken for all of them instead of one per statement.
fn one_snapshot<T>(conn: &Connection, f: &impl Fn(&Connection) -> Result<T>) -> Result<T> {
    let tx = conn.unchecked_transaction()?;
    let read = f(&tx);
    // Dropping the transaction rolls it back: nothing was written.
    drop(tx);
    read
}

/// How long a connection waits for another's lock before it fails with "busy".
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection whose busy timeout is zero until this is dropped.
struct NoWait<'c>(&'c Connection);

impl<'c> NoWait<'c> {
    fn on(conn: &'c Connection) -> Result<NoWait<'c>> {
        conn.busy_timeout(Duration::ZERO)?;
        Ok(NoWait(conn))
    }
}

impl Drop for NoWait<'_> {
    fn drop(&mut self) {
        let _ = self.0.busy_timeout(BUSY_TIMEOUT);
    }
}

/// Whether `e` is SQLite refusing to wait for a lock (busy or locked).
fn is_busy(e: &Error) -> bool {
    let Error::Internal(e) = e else {
        return false;
    };
    e.chain()
        .filter_map(|c| c.downcast_ref::<rusqlite::Error>())
        .any(|e| {
            matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            )
        })
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at INTEGER NOT NULL
         )",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let newest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > newest {
        anyhow::bail!(
            "the database is at schema version {current}, newer than this binary knows ({newest}); \
             run a newer robot or restore a backup"
        );
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .map_err(|e| anyhow::anyhow!("migration {version} ({name}) failed: {e}"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, now()],
        )?;
        tx.commit()?;
        tracing::info!(version, name, "applied migration");
    }
    Ok(())
}

/// Seconds since the epoch: the one clock every table uses.
/// Whether the database answers.
pub fn ping(conn: &Connection) -> Result<()> {
    conn.query_row("SELECT 1", [], |_| Ok(()))?;
    Ok(())
}

/// Row counts for `/metrics`.
pub struct Totals {
    pub wikis: i64,
    pub pages: i64,
    pub users: i64,
    pub live_sessions: i64,
}

pub fn totals(conn: &Connection) -> Result<Totals> {
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
    Ok(Totals {
        wikis: count("SELECT COUNT(*) FROM wikis")?,
        pages: count("SELECT COUNT(*) FROM fts_docs")?,
        users: count("SELECT COUNT(*) FROM users")?,
        live_sessions: conn.query_row(
            "SELECT COUNT(*) FROM sessions WHERE expires_at > ?1 AND revoked_at IS NULL",
            [now()],
            |r| r.get(0),
        )?,
    })
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        Db::open(&path).unwrap();
        let db = Db::open(&path).unwrap();
        let conn = db.conn().unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n as usize, MIGRATIONS.len());
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
