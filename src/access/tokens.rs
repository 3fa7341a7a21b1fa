//! Per-wiki bearer tokens (Claude Code, git, REST): 256 random bits shown once, stored as
//! SHA-256. A token is an editor on its own wiki and nothing anywhere else.

use rusqlite::{Connection, OptionalExtension, params};

use super::session::{hash_secret, random_token};
use crate::error::Result;

/// Prefix that tells a wiki token apart from a JWT at a glance (and in leaked-secret scans).
pub const PREFIX: &str = "rwt_";

/// Creates or replaces the wiki's token; returns the plaintext, which is not kept.
pub fn regenerate(conn: &Connection, wiki_id: i64) -> Result<String> {
    let token = format!("{PREFIX}{}", random_token());
    conn.execute(
        "INSERT INTO wiki_tokens (wiki_id, token_hash, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(wiki_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at",
        params![wiki_id, hash_secret(&token), crate::db::now()],
    )?;
    Ok(token)
}

/// The wiki a presented token belongs to.
pub fn wiki_of(conn: &Connection, token: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT wiki_id FROM wiki_tokens WHERE token_hash = ?1")?
        .query_row([hash_secret(token)], |r| r.get(0))
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
