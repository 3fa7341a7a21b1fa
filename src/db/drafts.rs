//! The `drafts` table: one unsaved editor text per person and page.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

/// A person's draft of one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub content: String,
    pub base_revision: String,
    pub updated_at: i64,
}

/// Keeps `draft` as the person's draft of `page` (replacing an older one).
pub fn put(conn: &Connection, wiki_id: i64, page: &str, did: &str, draft: &Draft) -> Result<()> {
    conn.execute(
        "INSERT INTO drafts (wiki_id, page, did, content, base_revision, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (wiki_id, page, did) DO UPDATE SET
             content = excluded.content,
             base_revision = excluded.base_revision,
             updated_at = excluded.updated_at",
        params![
            wiki_id,
            page,
            did,
            draft.content,
            draft.base_revision,
            draft.updated_at
        ],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, wiki_id: i64, page: &str, did: &str) -> Result<Option<Draft>> {
    Ok(conn
        .query_row(
            "SELECT content, base_revision, updated_at FROM drafts
             WHERE wiki_id = ?1 AND page = ?2 AND did = ?3",
            params![wiki_id, page, did],
            |r| {
                Ok(Draft {
                    content: r.get(0)?,
                    base_revision: r.get(1)?,
                    updated_at: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// Drops the person's draft of `page`; whether there was one.
pub fn delete(conn: &Connection, wiki_id: i64, page: &str, did: &str) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM drafts WHERE wiki_id = ?1 AND page = ?2 AND did = ?3",
        params![wiki_id, page, did],
    )? > 0)
}
