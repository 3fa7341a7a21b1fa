//! Who is calling and what they may do. There is exactly one ACL function, [`authorize`];
//! every route of both hosts — web, REST, MCP, git — asks it, and none re-implements a rule.

pub mod caller;
pub mod ratelimit;
pub mod resource;
pub mod session;
pub mod tokens;

pub use caller::{Caller, CurrentWiki};

use rusqlite::Connection;

use crate::db::wikis::{self, Wiki};
use crate::error::{Error, Result};
use crate::wiki::store::Author;

pub use crate::db::wikis::Role;

impl Role {
    pub fn allows(self, action: Action) -> bool {
        match action {
            Action::Read => true,
            Action::Write | Action::Upload => self >= Role::Editor,
            Action::Admin => self == Role::Owner,
        }
    }
}

/// What a request wants to do to a wiki.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    Upload,
    /// Settings, collaborators, tokens, deletion.
    Admin,
}

/// Who is calling, as established from the request's credentials.
#[derive(Debug, Clone)]
pub enum Principal {
    Anonymous,
    /// A person with a browser session (or a platform JWT on the API).
    User {
        did: String,
        handle: String,
        session_id: String,
    },
    /// A wiki's bearer token: an editor on that wiki only.
    WikiToken {
        wiki_id: i64,
        slug: String,
    },
    /// A person's own token for one wiki: at most their current role there, and only
    /// a reader unless it was made read-write.
    PersonalToken {
        did: String,
        handle: String,
        wiki_id: i64,
        token_id: i64,
        /// The name its owner gave it, shown as the client of their commits.
        name: String,
        can_write: bool,
    },
    /// An OAuth access token: a person acting through a client on one wiki, within the
    /// scopes they consented to. Their role is read afresh on every request.
    OAuth {
        did: String,
        handle: String,
        wiki_id: i64,
        client_name: String,
        grant_id: i64,
        /// The token carries `wiki:write`.
        can_write: bool,
        /// The audience the token was issued for (the wiki's `/mcp` or `/api/v1` URL):
        /// it is a principal only on requests for that resource (`web::resolve_caller`).
        resource: String,
    },
}

impl Principal {
    pub fn did(&self) -> Option<&str> {
        match self {
            Principal::User { did, .. } => Some(did),
            _ => None,
        }
    }

    pub fn handle(&self) -> Option<&str> {
        match self {
            Principal::User { handle, .. } => Some(handle),
            _ => None,
        }
    }

    /// The key the write rate limiter counts this principal under.
    pub fn rate_key(&self) -> Option<String> {
        match self {
            Principal::User { did, .. } => Some(format!("user:{did}")),
            Principal::WikiToken { wiki_id, .. } => Some(format!("token:{wiki_id}")),
            Principal::OAuth { did, .. } | Principal::PersonalToken { did, .. } => {
                Some(format!("user:{did}"))
            }
            Principal::Anonymous => None,
        }
    }

    /// The git identity of commits this principal makes.
    pub fn author(&self) -> Author {
        match self {
            Principal::User { did, handle, .. } => Author {
                name: handle.clone(),
                email: did.clone(),
            },
            Principal::WikiToken { slug, .. } => Author {
                name: format!("{slug} wiki token"),
                email: format!("token@{slug}"),
            },
            Principal::OAuth {
                did,
                handle,
                client_name,
                ..
            } => Author {
                name: format!("{handle} (via {client_name})"),
                email: did.clone(),
            },
            Principal::PersonalToken {
                did, handle, name, ..
            } => Author {
                name: format!("{handle} (via token {name})"),
                email: did.clone(),
            },
            Principal::Anonymous => Author {
                name: "Anonymous".into(),
                email: String::new(),
            },
        }
    }
}

/// What `authorize` granted: the caller's role, or `None` for a reader of a public wiki
/// who holds no role on it.
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    pub role: Option<Role>,
}

impl Grant {
    pub fn can(&self, action: Action) -> bool {
        match self.role {
            Some(r) => r.allows(action),
            None => action == Action::Read,
        }
    }
}

/// The caller's role on `wiki`, read fresh from the database on every call so that a
/// removed collaborator loses access on their next request.
pub fn role_of(conn: &Connection, principal: &Principal, wiki: &Wiki) -> Result<Option<Role>> {
    match principal {
        Principal::Anonymous => Ok(None),
        Principal::WikiToken { wiki_id, .. } => Ok((*wiki_id == wiki.id).then_some(Role::Editor)),
        Principal::User { did, .. } => person_role(conn, did, wiki),
        // A token without `wiki:write` reads, whatever the person may do.
        Principal::OAuth {
            did,
            wiki_id,
            can_write,
            ..
        } => {
            let cap = if *can_write {
                Role::Owner
            } else {
                Role::Viewer
            };
            token_role(conn, did, *wiki_id, wiki, cap)
        }
        // A personal token writes at most (it never administers the wiki), and a
        // read-only one reads, whatever the person may do.
        Principal::PersonalToken {
            did,
            wiki_id,
            can_write,
            ..
        } => {
            let cap = if *can_write {
                Role::Editor
            } else {
                Role::Viewer
            };
            token_role(conn, did, *wiki_id, wiki, cap)
        }
    }
}

/// The role of a token a person holds for the wiki `token_wiki`: none elsewhere, and on
/// its own wiki the person's current role, at most `cap`.
fn token_role(
    conn: &Connection,
    did: &str,
    token_wiki: i64,
    wiki: &Wiki,
    cap: Role,
) -> Result<Option<Role>> {
    if token_wiki != wiki.id {
        return Ok(None);
    }
    Ok(person_role(conn, did, wiki)?.map(|r| r.min(cap)))
}

/// A person's own role on `wiki`: owner, a collaborator's role, or none.
pub fn person_role(conn: &Connection, did: &str, wiki: &Wiki) -> Result<Option<Role>> {
    if did == wiki.owner_did {
        return Ok(Some(Role::Owner));
    }
    wikis::collaborator_role(conn, wiki.id, did)
}

/// The only ACL decision. Owner: everything; editor: read, write, upload; viewer: read;
/// anyone (signed in or not) without a role: read, and only on a public wiki.
pub fn authorize(
    conn: &Connection,
    principal: &Principal,
    wiki: &Wiki,
    action: Action,
) -> Result<Grant> {
    // A token issued for another wiki is not a credential here at all.
    if let Principal::OAuth { wiki_id, .. } = principal
        && *wiki_id != wiki.id
    {
        return Err(Error::Unauthorized);
    }
    let role = role_of(conn, principal, wiki)?;
    let grant = Grant { role };
    let role_allows = role.is_some_and(|r| r.allows(action));
    let public_read = action == Action::Read && wiki.is_public;
    if role_allows || public_read {
        return Ok(grant);
    }
    match (principal, role) {
        (Principal::Anonymous, _) => {
            tracing::debug!(wiki = %wiki.slug, ?action, "denied: anonymous");
            Err(Error::Unauthorized)
        }
        (_, None) => {
            tracing::debug!(wiki = %wiki.slug, ?action, "denied: no role on this wiki");
            Err(Error::Forbidden(
                "You do not have access to this wiki.".into(),
            ))
        }
        (_, Some(r)) => {
            tracing::debug!(wiki = %wiki.slug, ?action, role = r.as_str(), "denied: role too low");
            Err(Error::Forbidden(format!(
                "Your role on this wiki ({}) does not allow this.",
                r.as_str()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (tempfile::TempDir, crate::db::Db, Wiki) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("t.db")).unwrap();
        let conn = db.conn().unwrap();
        crate::db::users::upsert(&conn, "did:plc:owner", "owner.test", None).unwrap();
        crate::db::users::upsert(&conn, "did:plc:ed", "ed.test", None).unwrap();
        crate::db::users::upsert(&conn, "did:plc:view", "view.test", None).unwrap();
        crate::db::users::upsert(&conn, "did:plc:other", "other.test", None).unwrap();
        let w = wikis::insert(
            &conn,
            &wikis::NewWiki {
                slug: "acl",
                owner_did: "did:plc:owner",
                title: "t",
                description: "",
                is_public: false,
            },
        )
        .unwrap();
        wikis::set_collaborator(&conn, w.id, "did:plc:ed", Role::Editor).unwrap();
        wikis::set_collaborator(&conn, w.id, "did:plc:view", Role::Viewer).unwrap();
        drop(conn);
        (dir, db, w)
    }

    fn user(did: &str) -> Principal {
        Principal::User {
            did: did.into(),
            handle: "h.test".into(),
            session_id: "s".into(),
        }
    }

    /// Regression: a principal without a role must not read a private wiki.
    #[test]
    fn private_wikis_are_private() {
        let (_d, db, mut w) = fixture();
        let c = db.conn().unwrap();
        use Action::*;
        assert!(matches!(
            authorize(&c, &Principal::Anonymous, &w, Read),
            Err(Error::Unauthorized)
        ));
        assert!(matches!(
            authorize(&c, &user("did:plc:other"), &w, Read),
            Err(Error::Forbidden(_))
        ));
        assert!(authorize(&c, &user("did:plc:view"), &w, Read).is_ok());
        assert!(matches!(
            authorize(&c, &user("did:plc:view"), &w, Write),
            Err(Error::Forbidden(_))
        ));
        assert!(authorize(&c, &user("did:plc:ed"), &w, Upload).is_ok());
        assert!(matches!(
            authorize(&c, &user("did:plc:ed"), &w, Admin),
            Err(Error::Forbidden(_))
        ));
        assert!(authorize(&c, &user("did:plc:owner"), &w, Admin).is_ok());
        w.is_public = true;
        assert!(authorize(&c, &Principal::Anonymous, &w, Read).is_ok());
        assert!(matches!(
            authorize(&c, &Principal::Anonymous, &w, Write),
            Err(Error::Unauthorized)
        ));
        assert!(matches!(
            authorize(&c, &user("did:plc:other"), &w, Write),
            Err(Error::Forbidden(_))
        ));
        // Removing a collaborator takes effect on the next call.
        wikis::remove_collaborator(&c, w.id, "did:plc:ed").unwrap();
        assert!(matches!(
            authorize(&c, &user("did:plc:ed"), &w, Write),
            Err(Error::Forbidden(_))
        ));
    }

    #[test]
    fn roles_allow_actions() {
        use Action::*;
        let g = |r| Grant { role: r };
        assert!(g(Some(Role::Owner)).can(Admin));
        assert!(g(Some(Role::Editor)).can(Write) && g(Some(Role::Editor)).can(Upload));
        assert!(!g(Some(Role::Editor)).can(Admin));
        assert!(g(Some(Role::Viewer)).can(Read) && !g(Some(Role::Viewer)).can(Write));
        assert!(g(None).can(Read) && !g(None).can(Write));
    }
}
