//! The audit log: who did what to which wiki, when, under which request id. Written for
//! account and access events (sign-in, sign-out, wiki create/delete, collaborator and
//! token changes, account deletion); page edits are already in git.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::db::wikis::Wiki;
use crate::error::Result;

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub at: i64,
    pub actor: Option<String>,
    pub actor_handle: Option<String>,
    pub wiki_slug: Option<String>,
    pub action: String,
    pub detail: String,
    pub request_id: Option<String>,
}

pub fn record(
    conn: &Connection,
    actor: Option<&str>,
    wiki: Option<&Wiki>,
    action: &str,
    detail: &str,
    request_id: Option<&str>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO audit_log (at, actor, wiki_id, wiki_slug, action, detail, request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![crate::db::now(), actor, wiki.map(|w| w.id), wiki.map(|w| w.slug.as_str()), action, detail, request_id],
    )?;
    Ok(())
}

fn rows(conn: &Connection, sql: &str, arg: &dyn rusqlite::ToSql, limit: i64) -> Result<Vec<Entry>> {
    let mut stmt = conn.prepare(sql)?;
    let out = stmt
        .query_map(params![arg, limit], |r| {
            Ok(Entry {
                at: r.get(0)?,
                actor: r.get(1)?,
                actor_handle: r.get(2)?,
                wiki_slug: r.get(3)?,
                action: r.get(4)?,
                detail: r.get(5)?,
                request_id: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(out)
}

/// The newest entries about one wiki.
pub fn for_wiki(conn: &Connection, wiki_id: i64, limit: i64) -> Result<Vec<Entry>> {
    rows(
        conn,
        "SELECT a.at, a.actor, u.handle, a.wiki_slug, a.action, a.detail, a.request_id
         FROM audit_log a LEFT JOIN users u ON u.did = a.actor
         WHERE a.wiki_id = ?1 ORDER BY a.id DESC LIMIT ?2",
        &wiki_id,
        limit,
    )
}

/// The newest entries by one person.
pub fn for_actor(conn: &Connection, did: &str, limit: i64) -> Result<Vec<Entry>> {
    rows(
        conn,
        "SELECT a.at, a.actor, u.handle, a.wiki_slug, a.action, a.detail, a.request_id
         FROM audit_log a LEFT JOIN users u ON u.did = a.actor
         WHERE a.actor = ?1 ORDER BY a.id DESC LIMIT ?2",
        &did,
        limit,
    )
}
