//! The `wikis` and `collaborators` tables: which wikis exist, who owns them, who else may
//! read or write them, and their settings.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::error::{Error, Result};

/// A role on one wiki. Owners are recorded on the wiki row; the others are collaborators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Owner,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Wiki {
    pub id: i64,
    pub slug: String,
    pub owner_did: String,
    pub title: String,
    pub description: String,
    pub is_public: bool,
    pub git_clone: bool,
    pub created_at: i64,
}

const COLUMNS: &str = "id, slug, owner_did, title, description, is_public, git_clone, created_at";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Wiki> {
    Ok(Wiki {
        id: r.get(0)?,
        slug: r.get(1)?,
        owner_did: r.get(2)?,
        title: r.get(3)?,
        description: r.get(4)?,
        is_public: r.get(5)?,
        git_clone: r.get(6)?,
        created_at: r.get(7)?,
    })
}

pub fn by_slug(conn: &Connection, slug: &str) -> Result<Option<Wiki>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM wikis WHERE slug = ?1"))?
        .query_row([slug], from_row)
        .optional()?)
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<Wiki>> {
    // Cached: every request with a wiki token looks its wiki up by id.
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM wikis WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn list(conn: &Connection) -> Result<Vec<Wiki>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM wikis ORDER BY slug"))?;
    let rows = stmt
        .query_map([], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn owned_by(conn: &Connection, did: &str) -> Result<Vec<Wiki>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM wikis WHERE owner_did = ?1 ORDER BY slug"
    ))?;
    let rows = stmt
        .query_map([did], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub struct NewWiki<'a> {
    pub slug: &'a str,
    pub owner_did: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub is_public: bool,
}

pub fn insert(conn: &Connection, w: &NewWiki) -> Result<Wiki> {
    let res = conn.execute(
        "INSERT INTO wikis (slug, owner_did, title, description, is_public, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            w.slug,
            w.owner_did,
            w.title,
            w.description,
            w.is_public,
            super::now()
        ],
    );
    match res {
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            return Err(Error::Conflict {
                message: format!("a wiki named {:?} already exists", w.slug),
                current: None,
            });
        }
        other => other?,
    };
    by_slug(conn, w.slug)?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("wiki vanished after insert")))
}

pub fn delete(conn: &Connection, id: i64) -> Result<()> {
    conn.execute("DELETE FROM wikis WHERE id = ?1", [id])?;
    Ok(())
}

pub fn set_public(conn: &Connection, id: i64, public: bool) -> Result<()> {
    conn.execute(
        "UPDATE wikis SET is_public = ?2 WHERE id = ?1",
        params![id, public],
    )?;
    Ok(())
}

/// The role `did` holds on the wiki through the collaborators table (owners are not there).
pub fn collaborator_role(conn: &Connection, wiki_id: i64, did: &str) -> Result<Option<Role>> {
    let role: Option<String> = conn
        .prepare_cached("SELECT role FROM collaborators WHERE wiki_id = ?1 AND did = ?2")?
        .query_row(params![wiki_id, did], |r| r.get(0))
        .optional()?;
    Ok(role.and_then(|r| Role::parse(&r)))
}

pub fn set_collaborator(conn: &Connection, wiki_id: i64, did: &str, role: Role) -> Result<()> {
    conn.execute(
        "INSERT INTO collaborators (wiki_id, did, role, added_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(wiki_id, did) DO UPDATE SET role = excluded.role",
        params![wiki_id, did, role.as_str(), super::now()],
    )?;
    Ok(())
}

pub fn remove_collaborator(conn: &Connection, wiki_id: i64, did: &str) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM collaborators WHERE wiki_id = ?1 AND did = ?2",
        params![wiki_id, did],
    )? > 0)
}
