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
    /// Editors may push (when git access is on).
    pub git_push: bool,
    pub created_at: i64,
}

const COLUMNS: &str =
    "id, slug, owner_did, title, description, is_public, git_clone, created_at, git_push";
/// How many columns [`COLUMNS`] names (a query's own columns come after them).
const COLUMN_COUNT: usize = 9;

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
        git_push: r.get(8)?,
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

/// A collaborator of one wiki, as the management app lists them.
#[derive(Debug, Clone, Serialize)]
pub struct Collaborator {
    pub did: String,
    pub handle: String,
    pub role: Role,
    pub added_at: i64,
}

/// The collaborators of a wiki, oldest first.
pub fn collaborators(conn: &Connection, wiki_id: i64) -> Result<Vec<Collaborator>> {
    let mut stmt = conn.prepare(
        "SELECT c.did, u.handle, c.role, c.added_at FROM collaborators c JOIN users u ON u.did = c.did
         WHERE c.wiki_id = ?1 ORDER BY c.added_at",
    )?;
    let rows = stmt
        .query_map([wiki_id], |r| {
            let role: String = r.get(2)?;
            Ok(Collaborator {
                did: r.get(0)?,
                handle: r.get(1)?,
                role: Role::parse(&role).unwrap_or(Role::Viewer),
                added_at: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The wikis `did` collaborates on (not those they own), with their role, by slug.
pub fn shared_with(conn: &Connection, did: &str) -> Result<Vec<(Wiki, Role)>> {
    // No column of `collaborators` shares a name with one of `wikis`, so COLUMNS serve.
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS}, role FROM wikis JOIN collaborators ON wiki_id = id
         WHERE did = ?1 ORDER BY slug"
    ))?;
    let rows = stmt.query_map([did], |r| {
        let role: String = r.get(COLUMN_COUNT)?;
        Ok((from_row(r)?, role))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (wiki, role) = row?;
        if let Some(role) = Role::parse(&role) {
            out.push((wiki, role));
        }
    }
    Ok(out)
}

/// New values for a wiki's settings; `None` keeps the old one.
#[derive(Debug, Clone, Default)]
pub struct Settings<'a> {
    pub title: Option<&'a str>,
    pub description: Option<&'a str>,
    pub is_public: Option<bool>,
    pub git_clone: Option<bool>,
    pub git_push: Option<bool>,
}

/// Changes the settings given in `s`.
pub fn update_settings(conn: &Connection, id: i64, s: &Settings) -> Result<()> {
    conn.execute(
        "UPDATE wikis SET title = COALESCE(?2, title), description = COALESCE(?3, description),
         is_public = COALESCE(?4, is_public), git_clone = COALESCE(?5, git_clone),
         git_push = COALESCE(?6, git_push) WHERE id = ?1",
        params![
            id,
            s.title,
            s.description,
            s.is_public,
            s.git_clone,
            s.git_push
        ],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_with_lists_collaborations_not_ownership() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("t.db")).unwrap();
        let conn = db.conn().unwrap();
        for did in ["did:plc:a", "did:plc:b"] {
            crate::db::users::upsert(&conn, did, &format!("{}.test", &did[8..]), None).unwrap();
        }
        let wiki = |slug, owner| {
            insert(
                &conn,
                &NewWiki {
                    slug,
                    owner_did: owner,
                    title: "T",
                    description: "",
                    is_public: false,
                },
            )
            .unwrap()
        };
        let (zed, mine, yak) = (
            wiki("zed", "did:plc:a"),
            wiki("mine", "did:plc:b"),
            wiki("yak", "did:plc:a"),
        );
        set_collaborator(&conn, zed.id, "did:plc:b", Role::Viewer).unwrap();
        set_collaborator(&conn, yak.id, "did:plc:b", Role::Editor).unwrap();
        let shared: Vec<(String, i64, Role)> = shared_with(&conn, "did:plc:b")
            .unwrap()
            .into_iter()
            .map(|(w, r)| (w.slug, w.id, r))
            .collect();
        assert_eq!(
            shared,
            [
                ("yak".to_string(), yak.id, Role::Editor),
                ("zed".to_string(), zed.id, Role::Viewer)
            ]
        );
        assert!(mine.id != 0 && shared_with(&conn, "did:plc:a").unwrap().is_empty());
    }
}
