//! Browser sessions and single-use login links. A session is a signed JWT in a cookie; its
//! `jti` row here lets logout and account deletion revoke it early. Link secrets are stored
//! only as SHA-256.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

pub fn create(conn: &Connection, id: &str, did: &str, expires_at: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO sessions (id, did, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, did, super::now(), expires_at],
    )?;
    Ok(())
}

/// True when the session exists, is unexpired and was not revoked.
pub fn is_live(conn: &Connection, id: &str, did: &str) -> Result<bool> {
    let live: Option<i64> = conn
        .prepare_cached(
            "SELECT 1 FROM sessions WHERE id = ?1 AND did = ?2 AND revoked_at IS NULL AND expires_at > ?3",
        )?
        .query_row(params![id, did, super::now()], |r| r.get(0))
        .optional()?;
    Ok(live.is_some())
}

pub fn revoke(conn: &Connection, id: &str) -> Result<()> {
    conn.execute(
        "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, super::now()],
    )?;
    Ok(())
}

pub fn create_link(
    conn: &Connection,
    token_hash: &str,
    did: &str,
    purpose: &str,
    ttl_secs: i64,
) -> Result<()> {
    let now = super::now();
    conn.execute(
        "INSERT INTO login_links (token_hash, did, purpose, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![token_hash, did, purpose, now, now + ttl_secs],
    )?;
    Ok(())
}

/// Marks the link used and returns its DID, atomically, so a link works exactly once.
pub fn consume_link(conn: &Connection, token_hash: &str, purpose: &str) -> Result<Option<String>> {
    let now = super::now();
    Ok(conn
        .query_row(
            "UPDATE login_links SET used_at = ?3
             WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3
             RETURNING did",
            params![token_hash, purpose, now],
            |r| r.get(0),
        )
        .optional()?)
}
