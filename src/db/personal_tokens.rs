//! The `personal_tokens` table: a person's own tokens for one wiki, by hash (the
//! plaintext is never stored; `access::tokens` makes and hashes them).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::error::Result;

/// A personal token as its owner sees it in the list (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct PersonalToken {
    pub id: i64,
    pub wiki_id: i64,
    pub wiki_slug: String,
    pub name: String,
    /// `read` or `write`.
    pub access: &'static str,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// What a presented token stands for, when it is live.
#[derive(Debug, Clone)]
pub struct Holder {
    pub token_id: i64,
    pub wiki_id: i64,
    pub did: String,
    pub handle: String,
    pub name: String,
    pub can_write: bool,
}

/// A new token's row.
pub struct NewToken<'a> {
    pub wiki_id: i64,
    pub did: &'a str,
    pub name: &'a str,
    pub can_write: bool,
    pub token_hash: &'a str,
    pub expires_at: Option<i64>,
}

/// Tokens as [`listed`] reads them; callers add the `WHERE`.
const SELECT_LISTED: &str = "SELECT t.id, t.wiki_id, w.slug, t.name, t.can_write, t.created_at, t.expires_at, t.last_used_at
     FROM personal_tokens t JOIN wikis w ON w.id = t.wiki_id";

fn listed(r: &Row) -> rusqlite::Result<PersonalToken> {
    Ok(PersonalToken {
        id: r.get(0)?,
        wiki_id: r.get(1)?,
        wiki_slug: r.get(2)?,
        name: r.get(3)?,
        access: if r.get::<_, bool>(4)? {
            "write"
        } else {
            "read"
        },
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        last_used_at: r.get(7)?,
    })
}

/// Stores a new token; `None` when the person already has one of that name on the wiki.
pub fn insert(conn: &Connection, t: &NewToken, now: i64) -> Result<Option<PersonalToken>> {
    let inserted = conn.execute(
        "INSERT INTO personal_tokens (wiki_id, did, name, can_write, token_hash, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(did, wiki_id, name) DO NOTHING",
        params![t.wiki_id, t.did, t.name, t.can_write, t.token_hash, now, t.expires_at],
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    let id = conn.last_insert_rowid();
    Ok(conn
        .query_row(&format!("{SELECT_LISTED} WHERE t.id = ?1"), [id], listed)
        .optional()?)
}

/// A person's tokens on every wiki, newest first.
pub fn of_person(conn: &Connection, did: &str) -> Result<Vec<PersonalToken>> {
    let mut st = conn.prepare_cached(&format!(
        "{SELECT_LISTED} WHERE t.did = ?1 ORDER BY t.created_at DESC, t.id DESC"
    ))?;
    let rows = st.query_map([did], listed)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deletes one of the person's tokens; returns it, or `None` when they have no such token.
pub fn delete(conn: &Connection, did: &str, id: i64) -> Result<Option<PersonalToken>> {
    let token = conn
        .query_row(
            &format!("{SELECT_LISTED} WHERE t.id = ?1 AND t.did = ?2"),
            params![id, did],
            listed,
        )
        .optional()?;
    if token.is_some() {
        conn.execute("DELETE FROM personal_tokens WHERE id = ?1", [id])?;
    }
    Ok(token)
}

/// The holder of the token with this hash, unless it has expired, and whether its "last
/// used" is a minute old or more ([`touch`] it then: shown by the minute, so a write per
/// request would only serialise readers on SQLite's lock). Only reads.
pub fn holder(conn: &Connection, token_hash: &str, now: i64) -> Result<Option<(Holder, bool)>> {
    let row = conn
        .prepare_cached(
            "SELECT t.id, t.wiki_id, t.did, u.handle, t.name, t.can_write, t.expires_at, t.last_used_at
             FROM personal_tokens t JOIN users u ON u.did = t.did WHERE t.token_hash = ?1",
        )?
        .query_row([token_hash], |r| {
            Ok((
                Holder {
                    token_id: r.get(0)?,
                    wiki_id: r.get(1)?,
                    did: r.get(2)?,
                    handle: r.get(3)?,
                    name: r.get(4)?,
                    can_write: r.get(5)?,
                },
                r.get::<_, Option<i64>>(6)?,
                r.get::<_, Option<i64>>(7)?,
            ))
        })
        .optional()?;
    let Some((holder, expires_at, last_used)) = row else {
        return Ok(None);
    };
    if expires_at.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    let stale = last_used.is_none_or(|t| now - t >= 60);
    Ok(Some((holder, stale)))
}

/// Marks the token used at `now`.
pub fn touch(conn: &Connection, token_id: i64, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE personal_tokens SET last_used_at = ?1 WHERE id = ?2",
        params![now, token_id],
    )?;
    Ok(())
}
