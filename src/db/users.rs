//! The `users` table: one row per person, keyed by their ATProto DID.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub did: String,
    pub handle: String,
    pub display_name: Option<String>,
    pub created_at: i64,
}

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<User> {
    Ok(User {
        did: r.get(0)?,
        handle: r.get(1)?,
        display_name: r.get(2)?,
        created_at: r.get(3)?,
    })
}

const COLUMNS: &str = "did, handle, display_name, created_at";

pub fn get(conn: &Connection, did: &str) -> Result<Option<User>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE did = ?1"),
            [did],
            from_row,
        )
        .optional()?)
}

/// Finds a user by DID or by handle (a leading `@` is ignored).
pub fn find(conn: &Connection, handle_or_did: &str) -> Result<Option<User>> {
    let key = handle_or_did.trim().trim_start_matches('@');
    if key.starts_with("did:") {
        return get(conn, key);
    }
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE handle = ?1"),
            [key.to_ascii_lowercase()],
            from_row,
        )
        .optional()?)
}

/// Creates the user or refreshes their handle (handles change; DIDs do not).
pub fn upsert(
    conn: &Connection,
    did: &str,
    handle: &str,
    display_name: Option<&str>,
) -> Result<User> {
    validate_did(did)?;
    let handle = handle.trim().trim_start_matches('@').to_ascii_lowercase();
    validate_handle(&handle)?;
    // A handle moves to whoever holds it now: clear it from any stale row first.
    conn.execute(
        "UPDATE users SET handle = 'invalid.' || did WHERE handle = ?1 AND did <> ?2",
        params![handle, did],
    )?;
    conn.execute(
        "INSERT INTO users (did, handle, display_name, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(did) DO UPDATE SET handle = excluded.handle,
             display_name = COALESCE(excluded.display_name, users.display_name)",
        params![did, handle, display_name, super::now()],
    )?;
    get(conn, did)?.ok_or_else(|| Error::Internal(anyhow::anyhow!("user vanished after upsert")))
}

/// Deletes the account; its sessions, collaborations and ATProto sessions go with it
/// (the foreign keys cascade).
pub fn delete(conn: &Connection, did: &str) -> Result<()> {
    conn.execute("DELETE FROM users WHERE did = ?1", [did])?;
    Ok(())
}

/// Records `name` as the user's username unless they have one (their first wiki's slug).
pub fn claim_username(conn: &Connection, did: &str, name: &str) -> Result<()> {
    conn.execute(
        "UPDATE users SET username = ?2 WHERE did = ?1 AND username IS NULL",
        params![did, name],
    )?;
    Ok(())
}

/// The username chosen at signup (the first wiki's slug), if any.
pub fn username(conn: &Connection, did: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT username FROM users WHERE did = ?1", [did], |r| {
            r.get(0)
        })
        .optional()?
        .flatten())
}

pub fn list(conn: &Connection) -> Result<Vec<User>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY created_at"))?;
    let rows = stmt
        .query_map([], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// `did:plc:…` or `did:web:…`, printable ASCII, bounded.
pub fn validate_did(did: &str) -> Result<()> {
    let ok = did.len() <= 2048
        && (did.starts_with("did:plc:") || did.starts_with("did:web:"))
        && did.len() > 8
        && did
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".:%-_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!("not a valid DID: {did:?}")))
    }
}

/// An ATProto handle: a DNS name of at least two labels.
pub fn validate_handle(handle: &str) -> Result<()> {
    let labels: Vec<&str> = handle.split('.').collect();
    let ok = handle.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!("not a valid handle: {handle:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_and_dids_are_validated() {
        assert!(validate_handle("alice.bsky.social").is_ok());
        assert!(validate_handle("alice").is_err());
        assert!(validate_handle("-a.b").is_err());
        assert!(validate_handle("a..b").is_err());
        assert!(validate_did("did:plc:abc123").is_ok());
        assert!(validate_did("did:web:example.org").is_ok());
        assert!(validate_did("did:key:z").is_err());
        assert!(validate_did("did:plc:<script>").is_err());
    }
}
