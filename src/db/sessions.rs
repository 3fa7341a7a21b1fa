//! Browser sessions and single-use login links. A session is a signed JWT in a cookie; its
//! `jti` row here lets logout and account deletion revoke it early. Link secrets are stored
//! only as SHA-256. Operator sign-in links are bearer links; cross-host hand-off codes are
//! bound to a host and a browser ([`HandoffBinding`]).

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

/// Ends every live session of `did` (signing out signs out everywhere).
pub fn revoke_all(conn: &Connection, did: &str) -> Result<()> {
    conn.execute(
        "UPDATE sessions SET revoked_at = ?2 WHERE did = ?1 AND revoked_at IS NULL",
        params![did, super::now()],
    )?;
    Ok(())
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
/// Only unbound links (the operator's sign-in links): a hand-off code, bound to a host and
/// a browser, is redeemed only through [`consume_handoff`].
pub fn consume_link(conn: &Connection, token_hash: &str, purpose: &str) -> Result<Option<String>> {
    let now = super::now();
    Ok(conn
        .query_row(
            "UPDATE login_links SET used_at = ?3
             WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3
               AND host IS NULL AND browser_hash IS NULL
             RETURNING did",
            params![token_hash, purpose, now],
            |r| r.get(0),
        )
        .optional()?)
}

/// What a hand-off code is bound to: the host that may redeem it (`slug.domain` of a wiki
/// or the root's `domain`, without a port) and the SHA-256 of the nonce cookie of the
/// browser that asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffBinding {
    pub host: String,
    pub browser_hash: String,
}

/// Stores a hand-off code (purpose "handoff") bound to `binding`.
pub fn create_handoff(
    conn: &Connection,
    token_hash: &str,
    did: &str,
    binding: &HandoffBinding,
    ttl_secs: i64,
) -> Result<()> {
    let now = super::now();
    conn.execute(
        "INSERT INTO login_links (token_hash, did, purpose, created_at, expires_at, host, browser_hash)
         VALUES (?1, ?2, 'handoff', ?3, ?4, ?5, ?6)",
        params![token_hash, did, now, now + ttl_secs, binding.host, binding.browser_hash],
    )?;
    Ok(())
}

/// Why a hand-off code was not redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffRefused {
    /// Unknown, expired or already used.
    Gone,
    /// Presented on another host than the one it was minted for, or by another browser.
    /// The code is used up all the same.
    WrongPlace,
}

/// Uses up a hand-off code, atomically, and returns its DID when it was minted for
/// `binding` (host and browser). A code presented with the wrong binding is spent too:
/// it was out of its owner's hands.
pub fn consume_handoff(
    conn: &Connection,
    token_hash: &str,
    binding: &HandoffBinding,
) -> Result<std::result::Result<String, HandoffRefused>> {
    use subtle::ConstantTimeEq;
    let now = super::now();
    let row: Option<(String, Option<String>, Option<String>)> = conn
        .query_row(
            "UPDATE login_links SET used_at = ?2
             WHERE token_hash = ?1 AND purpose = 'handoff' AND used_at IS NULL AND expires_at > ?2
             RETURNING did, host, browser_hash",
            params![token_hash, now],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((did, host, browser)) = row else {
        return Ok(Err(HandoffRefused::Gone));
    };
    let host_ok = host.as_deref() == Some(binding.host.as_str());
    let browser_ok = browser.is_some_and(|b| {
        !binding.browser_hash.is_empty()
            && bool::from(b.as_bytes().ct_eq(binding.browser_hash.as_bytes()))
    });
    Ok(if host_ok && browser_ok {
        Ok(did)
    } else {
        Err(HandoffRefused::WrongPlace)
    })
}
