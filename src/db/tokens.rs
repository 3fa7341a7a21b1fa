//! The `wiki_tokens` table: each wiki's bearer token, by its hash (the plaintext is never
//! stored; `access::tokens` makes and hashes tokens).

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

/// Sets the wiki's token hash, replacing any earlier one.
pub fn set(conn: &Connection, wiki_id: i64, token_hash: &str, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO wiki_tokens (wiki_id, token_hash, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(wiki_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at",
        params![wiki_id, token_hash, now],
    )?;
    Ok(())
}

/// The wiki whose token has this hash.
pub fn wiki_of(conn: &Connection, token_hash: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT wiki_id FROM wiki_tokens WHERE token_hash = ?1")?
        .query_row([token_hash], |r| r.get(0))
        .optional()?)
}

/// When the wiki's token was made, if it has one.
pub fn created_at(conn: &Connection, wiki_id: i64) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT created_at FROM wiki_tokens WHERE wiki_id = ?1",
            [wiki_id],
            |r| r.get(0),
        )
        .optional()?)
}
