//! The durable reindex queue (`reindex_queue` in SQLite): pages whose semantic index entry
//! must be rebuilt. Enqueueing coalesces by (wiki, page) and never blocks on the worker;
//! the worker takes due rows in batches across wikis and pages, and a failure is retried
//! with exponential backoff while its error stays visible (admin page, `/health/ready`).

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
}

/// Queues pages of a wiki (a page already queued is refreshed, not duplicated).
pub fn enqueue(conn: &Connection, wiki_id: i64, paths: &[String], now: i64) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO reindex_queue (wiki_id, path, enqueued_at, next_attempt_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT(wiki_id, path) DO UPDATE SET enqueued_at = excluded.enqueued_at,
             next_attempt_at = excluded.next_attempt_at, attempts = 0, last_error = NULL",
    )?;
    for p in paths {
        stmt.execute(params![wiki_id, p, now])?;
    }
    Ok(())
}

/// Up to `limit` items due at `now`, oldest first.
pub fn due(conn: &Connection, now: i64, limit: usize) -> Result<Vec<Item>> {
    let mut stmt = conn.prepare_cached(
        "SELECT wiki_id, path, enqueued_at, attempts, last_error FROM reindex_queue
         WHERE next_attempt_at <= ?1 ORDER BY enqueued_at LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![now, limit as i64], |r| {
            Ok(Item {
                wiki_id: r.get(0)?,
                path: r.get(1)?,
                enqueued_at: r.get(2)?,
                attempts: r.get(3)?,
                last_error: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Removes an item once indexed — unless it was queued again meanwhile (a newer save),
/// in which case it stays for the next round.
pub fn done(conn: &Connection, item: &Item) -> Result<()> {
    conn.execute(
        "DELETE FROM reindex_queue WHERE wiki_id = ?1 AND path = ?2 AND enqueued_at = ?3",
        params![item.wiki_id, item.path, item.enqueued_at],
    )?;
    Ok(())
}

/// Records a failure and schedules a retry: 2, 4, 8 … seconds, at most an hour.
pub fn failed(conn: &Connection, item: &Item, error: &str, now: i64) -> Result<()> {
    let attempts = item.attempts + 1;
    let delay = 2i64.saturating_pow(attempts.min(12) as u32).min(3600);
    conn.execute(
        "UPDATE reindex_queue SET attempts = ?3, last_error = ?4, next_attempt_at = ?5
         WHERE wiki_id = ?1 AND path = ?2 AND enqueued_at = ?6",
        params![
            item.wiki_id,
            item.path,
            attempts,
            error,
            now + delay,
            item.enqueued_at
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
    Ok(conn.query_row(
        "SELECT COUNT(*), COALESCE(?1 - MIN(enqueued_at), 0), COUNT(last_error) FROM reindex_queue",
        [now],
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
    let mut stmt = conn.prepare(
        "SELECT wiki_id, path, enqueued_at, attempts, last_error FROM reindex_queue
         WHERE last_error IS NOT NULL ORDER BY enqueued_at DESC LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([limit as i64], |r| {
            Ok(Item {
                wiki_id: r.get(0)?,
                path: r.get(1)?,
                enqueued_at: r.get(2)?,
                attempts: r.get(3)?,
                last_error: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
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
        let items = due(&c, 200, 10).unwrap();
        assert_eq!(items.len(), 2, "one row per page");
        assert_eq!(items[0].path, "b.md", "oldest first");
        // The worker took a.md at 101; a newer save at 150 must not be lost by `done`.
        let a = items.iter().find(|i| i.path == "a.md").unwrap().clone();
        enqueue(&c, w, &["a.md".into()], 150).unwrap();
        done(&c, &a).unwrap();
        assert_eq!(
            due(&c, 200, 10)
                .unwrap()
                .iter()
                .filter(|i| i.path == "a.md")
                .count(),
            1
        );
        let d = depth(&c, 200).unwrap();
        assert_eq!((d.items, d.oldest_age_secs), (2, 100));
    }

    #[test]
    fn failures_back_off_and_stay_visible() {
        let (_d, db, w) = db();
        let c = db.conn().unwrap();
        enqueue(&c, w, &["a.md".into()], 100).unwrap();
        let item = due(&c, 100, 10).unwrap().remove(0);
        failed(&c, &item, "embedder unavailable", 100).unwrap();
        assert!(due(&c, 101, 10).unwrap().is_empty(), "backing off");
        let again = due(&c, 102, 10).unwrap().remove(0);
        assert_eq!(
            (again.attempts, again.last_error.as_deref()),
            (1, Some("embedder unavailable"))
        );
        failed(&c, &again, "still", 102).unwrap();
        assert!(due(&c, 105, 10).unwrap().is_empty());
        assert_eq!(due(&c, 106, 10).unwrap().len(), 1);
        assert_eq!(depth(&c, 106).unwrap().failing, 1);
        assert_eq!(
            failures(&c, 5).unwrap()[0].last_error.as_deref(),
            Some("still")
        );
        // A new save resets the backoff.
        enqueue(&c, w, &["a.md".into()], 107).unwrap();
        assert_eq!(due(&c, 107, 10).unwrap()[0].attempts, 0);
    }
}
