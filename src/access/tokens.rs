//! Bearer tokens for Claude Code, git and REST: 256 random bits shown once, stored as
//! SHA-256. Two kinds, told apart by their prefix:
//! - the per-wiki token (`db::tokens`): an editor on its own wiki and nothing anywhere
//!   else; its writes are the wiki token's;
//! - personal tokens (`db::personal_tokens`): a person's own, for one wiki, read-only or
//!   read-write, never more than the person's current role there; their writes are the
//!   person's.

use rusqlite::Connection;

use super::session::{hash_secret, random_token};
use crate::db::personal_tokens::{self, Holder, NewToken, PersonalToken};
use crate::db::tokens as store;
use crate::error::Result;

/// Prefix that tells a wiki token apart from a JWT at a glance (and in leaked-secret scans).
pub const PREFIX: &str = "rwt_";

/// Prefix of a personal token.
pub const PERSONAL_PREFIX: &str = "rpt_";

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

/// What a new personal token is for.
pub struct PersonalSpec<'a> {
    pub wiki_id: i64,
    pub did: &'a str,
    pub name: &'a str,
    pub can_write: bool,
    pub expires_at: Option<i64>,
}

/// Makes a personal token; returns its row and the plaintext, which is not kept. `None`
/// when the person already has a token of that name on the wiki.
pub fn create_personal(
    conn: &Connection,
    spec: &PersonalSpec,
) -> Result<Option<(PersonalToken, String)>> {
    let token = format!("{PERSONAL_PREFIX}{}", random_token());
    let row = NewToken {
        wiki_id: spec.wiki_id,
        did: spec.did,
        name: spec.name,
        can_write: spec.can_write,
        token_hash: &hash_secret(&token),
        expires_at: spec.expires_at,
    };
    Ok(personal_tokens::insert(conn, &row, crate::db::now())?.map(|t| (t, token)))
}

/// Who holds a presented personal token (`None`: unknown or expired).
pub fn holder_of(conn: &Connection, token: &str) -> Result<Option<(Holder, bool)>> {
    personal_tokens::holder(conn, &hash_secret(token), crate::db::now())
}
