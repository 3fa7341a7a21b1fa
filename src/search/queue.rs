//! The durable reindex queue (`reindex_queue` in SQLite): pages whose semantic index entry
//! must be rebuilt. Enqueueing coalesces by (wiki, page) and never blocks on the worker;
//! the worker takes due rows in batches across wikis and pages, and a failure is retried
//! with exponential backoff while its error stays visible (admin page, `/health/ready`).

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::error::Result;

/// One queued page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub wiki_id: i64,
    /// The page's file path (`folder/page.md`).
    pub path: String,
    pub enqueued_at: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// Bumped by every enqueue: `done` removes the row only at the version it took.
    pub version: i64,
}

const ITEM_COLUMNS: &str = "wiki_id, path, enqueued_at, attempts, last_error, version";

fn item_from(r: &rusqlite::Row) -> rusqlite::Result<Item> {
    Ok(Item {
        wiki_id: r.get(0)?,
        path: r.get(1)?,
        enqueued_at: r.get(2)?,
        attempts: r.get(3)?,
        last_error: r.get(4)?,
        version: r.get(5)?,
    })
}

/// Queues pages of a wiki (a page already queued is refreshed, not duplicated).
pub fn enqueue(conn: &Connection, wiki_id: i64, paths: &[String], now: i64) -> Result<()> {
    // One transaction for all of them (a push queues hundreds), unless the caller's
    // own is open.
    let tx = if conn.is_autocommit() && paths.len() > 1 {
        Some(conn.unchecked_transaction()?)
    } else {
        None
    };
    let mut stmt = conn.prepare_cached(
        "INSERT INTO reindex_queue (wiki_id, path, enqueued_at, next_attempt_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT(wiki_id, path) DO UPDATE SET enqueued_at = excluded.enqueued_at,
             next_attempt_at = excluded.next_attempt_at, attempts = 0, last_error = NULL,
             version = reindex_queue.version + 1",
    )?;
    for p in paths {
        stmt.execute(params![wiki_id, p, now])?;
    }
    drop(stmt);
    if let Some(tx) = tx {
        tx.commit()?;
    }
    Ok(())
}

/// Queues pages that are not queued yet, leaving queued ones (and their backoff) alone:
/// what reconciliation uses, since it finds work rather than reporting a new save.
pub fn ensure(conn: &Connection, wiki_id: i64, paths: &[String], now: i64) -> Result<usize> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO reindex_queue (wiki_id, path, enqueued_at, next_attempt_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT(wiki_id, path) DO NOTHING",
    )?;
    let mut added = 0;
    for p in paths {
        added += stmt.execute(params![wiki_id, p, now])?;
    }
    Ok(added)
}

/// Up to `limit` items due at `now` (of one wiki, or of all), oldest first.
pub fn due(conn: &Connection, wiki_id: Option<i64>, now: i64, limit: usize) -> Result<Vec<Item>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ITEM_COLUMNS} FROM reindex_queue
         WHERE next_attempt_at <= ?1 AND (?3 IS NULL OR wiki_id = ?3)
         ORDER BY enqueued_at, path LIMIT ?2"
    ))?;
    let rows = stmt
        .query_map(params![now, limit as i64, wiki_id], item_from)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Removes an item once indexed — unless it was queued again meanwhile (a newer save),
/// in which case it stays for the next round.
pub fn done(conn: &Connection, item: &Item) -> Result<()> {
    conn.execute(
        "DELETE FROM reindex_queue WHERE wiki_id = ?1 AND path = ?2 AND version = ?3",
        params![item.wiki_id, item.path, item.version],
    )?;
    Ok(())
}

/// Records a failure and schedules a retry: 2, 4, 8 … seconds, at most an hour.
pub fn failed(conn: &Connection, item: &Item, error: &str, now: i64) -> Result<()> {
    let attempts = item.attempts + 1;
    let delay = 2i64.saturating_pow(attempts.min(12) as u32).min(3600);
    conn.execute(
        "UPDATE reindex_queue SET attempts = ?3, last_error = ?4, next_attempt_at = ?5
         WHERE wiki_id = ?1 AND path = ?2 AND version = ?6",
        params![
            item.wiki_id,
            item.path,
            attempts,
            error,
            now + delay,
            item.version
        ],
    )?;
    Ok(())
}

/// Queue depth and the age of the oldest item, for health and the admin page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Depth {
    pub items: i64,
    pub oldest_age_secs: i64,
    pub failing: i64,
}

pub fn depth(conn: &Connection, now: i64) -> Result<Depth> {
    depth_where(conn, now, None)
}

/// The same for one wiki.
pub fn wiki_depth(conn: &Connection, wiki_id: i64, now: i64) -> Result<Depth> {
    depth_where(conn, now, Some(wiki_id))
}

fn depth_where(conn: &Connection, now: i64, wiki_id: Option<i64>) -> Result<Depth> {
    Ok(conn.query_row(
        "SELECT COUNT(*), COALESCE(?1 - MIN(enqueued_at), 0), COUNT(last_error) FROM reindex_queue
         WHERE ?2 IS NULL OR wiki_id = ?2",
        params![now, wiki_id],
        |r| {
            Ok(Depth {
                items: r.get(0)?,
                oldest_age_secs: r.get(1)?,
                failing: r.get(2)?,
            })
        },
    )?)
}

/// Items that failed at least once, with their errors (newest first).
pub fn failures(conn: &Connection, limit: usize) -> Result<Vec<Item>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ITEM_COLUMNS} FROM reindex_queue
         WHERE last_error IS NOT NULL ORDER BY enqueued_at DESC LIMIT ?1"
    ))?;
    let rows = stmt
        .query_map([limit as i64], item_from)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The most recent error among a wiki's failing items.
pub fn last_wiki_error(conn: &Connection, wiki_id: i64) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row(
            "SELECT last_error FROM reindex_queue WHERE wiki_id = ?1 AND last_error IS NOT NULL
             ORDER BY enqueued_at DESC LIMIT 1",
            [wiki_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// Wakes the worker when work is queued. The flag keeps a wake-up that arrives while
/// the worker is busy, so it looks again before sleeping.
#[derive(Default)]
pub struct Wakeup {
    pending: Mutex<bool>,
    cv: Condvar,
}

impl Wakeup {
    pub fn notify(&self) {
        *self.pending.lock().expect("wakeup lock") = true;
        self.cv.notify_all();
    }

    /// Waits for a notification or the timeout, whichever comes first.
    pub fn wait(&self, timeout: Duration) {
        let guard = self.pending.lock().expect("wakeup lock");
        let (mut pending, _) = self
            .cv
            .wait_timeout_while(guard, timeout, |p| !*p)
            .expect("wakeup lock");
        *pending = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, crate::db::Db, i64) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("t.db")).unwrap();
        let c = db.conn().unwrap();
        crate::db::users::upsert(&c, "did:plc:o", "o.test", None).unwrap();
        let w = crate::db::wikis::insert(
            &c,
            &crate::db::wikis::NewWiki {
                slug: "qqq",
                owner_did: "did:plc:o",
                title: "q",
                description: "",
                is_public: false,
            },
        )
        .unwrap();
        drop(c);
        (dir, db, w.id)
    }

    #[test]
    fn enqueueing_coalesces_and_done_respects_newer_saves() {
        let (_d, db, w) = db();
        let c = db.conn().unwrap();
        enqueue(&c, w, &["a.md".into(), "b.md".into()], 100).unwrap();
        enqueue(&c, w, &["a.md".into()], 101).unwrap();
        let items = due(&c, None, 200, 10).unwrap();
        assert_eq!(items.len(), 2, "one row per page");
        assert_eq!(items[0].path, "b.md", "oldest first");
        // The worker took a.md; a newer save in the same second must not be lost by `done`.
        let a = items.iter().find(|i| i.path == "a.md").unwrap().clone();
        enqueue(&c, w, &["a.md".into()], 101).unwrap();
        done(&c, &a).unwrap();
        assert_eq!(
            due(&c, None, 200, 10)
                .unwrap()
                .iter()
                .filter(|i| i.path == "a.md")
                .count(),
            1
        );
        let d = depth(&c, 200).unwrap();
        assert_eq!((d.items, d.oldest_age_secs), (2, 100));
        // Reconciliation adds missing pages without touching queued ones.
        let b = due(&c, None, 200, 10).unwrap().remove(0);
        failed(&c, &b, "boom", 200).unwrap();
        assert_eq!(
            ensure(&c, w, &["b.md".into(), "c.md".into()], 201).unwrap(),
            1
        );
        assert_eq!(wiki_depth(&c, w, 201).unwrap().failing, 1, "backoff kept");
        assert_eq!(wiki_depth(&c, w, 201).unwrap().items, 3);
        assert_eq!(wiki_depth(&c, w + 1, 201).unwrap().items, 0);
    }

    #[test]
    fn failures_back_off_and_stay_visible() {
        let (_d, db, w) = db();
        let c = db.conn().unwrap();
        enqueue(&c, w, &["a.md".into()], 100).unwrap();
        let item = due(&c, None, 100, 10).unwrap().remove(0);
        failed(&c, &item, "embedder unavailable", 100).unwrap();
        assert!(due(&c, None, 101, 10).unwrap().is_empty(), "backing off");
        let again = due(&c, None, 102, 10).unwrap().remove(0);
        assert_eq!(
            (again.attempts, again.last_error.as_deref()),
            (1, Some("embedder unavailable"))
        );
        failed(&c, &again, "still", 102).unwrap();
        assert!(due(&c, None, 105, 10).unwrap().is_empty());
        assert_eq!(due(&c, None, 106, 10).unwrap().len(), 1);
        assert_eq!(depth(&c, 106).unwrap().failing, 1);
        assert_eq!(
            failures(&c, 5).unwrap()[0].last_error.as_deref(),
            Some("still")
        );
        // A new save resets the backoff.
        enqueue(&c, w, &["a.md".into()], 107).unwrap();
        assert_eq!(due(&c, None, 107, 10).unwrap()[0].attempts, 0);
    }
}
