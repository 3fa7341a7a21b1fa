//! Per-wiki bearer tokens (Claude Code, git, REST): 256 random bits shown once, stored as
//! SHA-256 (`db::tokens`). A token is an editor on its own wiki and nothing anywhere else.

use rusqlite::Connection;

use super::session::{hash_secret, random_token};
use crate::db::tokens as store;
use crate::error::Result;

/// Prefix that tells a wiki token apart from a JWT at a glance (and in leaked-secret scans).
pub const PREFIX: &str = "rwt_";

/// Creates or replaces the wiki's token; returns the plaintext, which is not kept.
pub fn regenerate(conn: &Connection, wiki_id: i64) -> Result<String> {
    let token = format!("{PREFIX}{}", random_token());
    store::set(conn, wiki_id, &hash_secret(&token), crate::db::now())?;
    Ok(token)
}

/// The wiki a presented token belongs to.
pub fn wiki_of(conn: &Connection, token: &str) -> Result<Option<i64>> {
    store::wiki_of(conn, &hash_secret(token))
}
