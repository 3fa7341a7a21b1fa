//! Sign-ins in progress and the ATProto sessions behind signed-in users. The secret parts
//! arrive here already encrypted (see `atproto::Atproto::seal`).

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

pub struct AuthRequest {
    pub issuer: String,
    pub server: String,
    pub expected_did: Option<String>,
    pub handle: Option<String>,
    pub secrets: Vec<u8>,
    pub return_to: String,
    /// SHA-256 of the nonce cookie of the browser that started the sign-in (`None` for a
    /// request stored before sign-ins were bound to browsers: it cannot finish).
    pub browser_hash: Option<String>,
}

#[allow(clippy::too_many_arguments)]
pub fn insert_request(
    conn: &Connection,
    state: &str,
    issuer: &str,
    server: &str,
    expected_did: Option<&str>,
    handle: Option<&str>,
    secrets: &[u8],
    return_to: &str,
    browser_hash: &str,
    ttl_secs: i64,
) -> Result<()> {
    let now = super::now();
    conn.execute(
        "INSERT INTO atproto_auth_requests (state, issuer, server, expected_did, handle, secrets, return_to, created_at, expires_at, browser_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![state, issuer, server, expected_did, handle, secrets, return_to, now, now + ttl_secs, browser_hash],
    )?;
    Ok(())
}

/// Removes and returns an unexpired request: a state works once.
pub fn take_request(conn: &Connection, state: &str) -> Result<Option<AuthRequest>> {
    Ok(conn
        .query_row(
            "DELETE FROM atproto_auth_requests WHERE state = ?1 AND expires_at > ?2
             RETURNING issuer, server, expected_did, handle, secrets, return_to, browser_hash",
            params![state, super::now()],
            |r| {
                Ok(AuthRequest {
                    issuer: r.get(0)?,
                    server: r.get(1)?,
                    expected_did: r.get(2)?,
                    handle: r.get(3)?,
                    secrets: r.get(4)?,
                    return_to: r.get(5)?,
                    browser_hash: r.get(6)?,
                })
            },
        )
        .optional()?)
}

pub fn save_session(
    conn: &Connection,
    did: &str,
    issuer: &str,
    server: &str,
    secrets: &[u8],
) -> Result<()> {
    conn.execute(
        "INSERT INTO atproto_sessions (did, issuer, server, secrets, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(did) DO UPDATE SET issuer = excluded.issuer, server = excluded.server,
             secrets = excluded.secrets, created_at = excluded.created_at",
        params![did, issuer, server, secrets, super::now()],
    )?;
    Ok(())
}

/// Removes and returns a user's ATProto session (server JSON, sealed secrets).
pub fn take_session(conn: &Connection, did: &str) -> Result<Option<(String, Vec<u8>)>> {
    Ok(conn
        .query_row(
            "DELETE FROM atproto_sessions WHERE did = ?1 RETURNING server, secrets",
            [did],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}
