//! Account and wiki management: the operations behind the management app (`/app`, HTML)
//! and the management API (`/api`, JSON). Both call these and nothing else, so each rule —
//! one wiki per account, at most three collaborators, tokens shown once, who may do what —
//! lives here once, and every operation asks `access::authorize`.

use serde::{Deserialize, Serialize};

use crate::access::Caller;
use crate::access::{self, Action, Principal, Role, tokens};
use crate::db::users::{self, User};
use crate::db::wikis::{self, Wiki};
use crate::error::{Error, Result};
use crate::ops::audit;
use crate::service::Services;
use crate::wiki::provision::CreateWiki;

/// Collaborators a wiki may have besides its owner.
pub const MAX_COLLABORATORS: usize = 3;

/// A wiki as its members see it in the app and the API.
#[derive(Debug, Clone, Serialize)]
pub struct WikiView {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub is_public: bool,
    pub git_clone: bool,
    pub git_push: bool,
    pub role: Option<Role>,
    pub owner_did: String,
    pub url: String,
    pub mcp_url: String,
    pub clone_url: String,
    pub created_at: i64,
}

impl WikiView {
    pub fn new(state: &Services, w: &Wiki, role: Option<Role>) -> WikiView {
        let url = state.cfg.wiki_url(&w.slug);
        WikiView {
            slug: w.slug.clone(),
            title: w.title.clone(),
            description: w.description.clone(),
            is_public: w.is_public,
            git_clone: w.git_clone,
            git_push: w.git_push,
            role,
            owner_did: w.owner_did.clone(),
            mcp_url: format!("{url}/mcp"),
            clone_url: format!("{url}/repo.git"),
            url,
            created_at: w.created_at,
        }
    }
}

pub use crate::db::wikis::Collaborator;

/// The signed-in user, or 401.
pub fn user_of(caller: &Caller) -> Result<(&str, &str)> {
    match &caller.principal {
        Principal::User { did, handle, .. } => Ok((did, handle)),
        _ => Err(Error::Unauthorized),
    }
}

/// Loads a wiki and authorizes `action` on it for the caller.
pub async fn wiki_for(
    state: &Services,
    caller: &Caller,
    slug: &str,
    action: Action,
) -> Result<(Wiki, access::Grant)> {
    let (s, p) = (slug.to_string(), caller.principal.clone());
    let out = state
        .db
        .run(move |c| {
            let wiki = wikis::by_slug(c, &s)?
                .ok_or_else(|| Error::UnknownWiki(format!("No wiki named {s:?}.")))?;
            let grant = access::authorize(c, &p, &wiki, action)?;
            Ok((wiki, grant))
        })
        .await?;
    state.count_write(caller, action)?;
    Ok(out)
}

/// The wikis the signed-in user owns or collaborates on.
pub async fn my_wikis(state: &Services, caller: &Caller) -> Result<Vec<WikiView>> {
    let did = user_of(caller)?.0.to_string();
    let rows = state
        .db
        .run(move |c| {
            let mut out: Vec<(Wiki, Role)> = wikis::owned_by(c, &did)?
                .into_iter()
                .map(|w| (w, Role::Owner))
                .collect();
            out.extend(wikis::shared_with(c, &did)?);
            Ok(out)
        })
        .await?;
    Ok(rows
        .iter()
        .map(|(w, r)| WikiView::new(state, w, Some(*r)))
        .collect())
}

/// The signed-in person, as the app's dashboard and `/api/me` show them.
#[derive(Debug, Clone, Serialize)]
pub struct Me {
    pub did: String,
    pub handle: String,
    pub display_name: Option<String>,
    /// Claimed with the first wiki; `None` before it.
    pub username: Option<String>,
    pub is_admin: bool,
    /// Whether [`create_wiki`] would accept a new wiki from them (one per account).
    pub can_create_wiki: bool,
}

/// Who the signed-in caller is, and what the account may still do.
pub async fn me(state: &Services, caller: &Caller) -> Result<Me> {
    let (did, handle) = user_of(caller)?;
    let d = did.to_string();
    let (user, username, owns) = state
        .db
        .run(move |c| {
            Ok((
                users::get(c, &d)?,
                users::username(c, &d)?,
                !wikis::owned_by(c, &d)?.is_empty(),
            ))
        })
        .await?;
    // A session whose account was deleted meanwhile is no one.
    let user = user.ok_or(Error::Unauthorized)?;
    let is_admin = state.cfg.is_admin(did);
    Ok(Me {
        did: user.did,
        handle: handle.to_string(),
        display_name: user.display_name,
        username,
        is_admin,
        can_create_wiki: !owns || is_admin,
    })
}

/// Everything a wiki's settings page shows its owner.
#[derive(Debug, Clone)]
pub struct WikiSettings {
    pub wiki: WikiView,
    pub collaborators: Vec<Collaborator>,
    /// Applications connected through OAuth.
    pub clients: Vec<crate::db::oauth::Grant>,
    /// When the wiki token was last made, if it has one.
    pub token_created: Option<i64>,
    /// The most recent entries of the wiki's activity log.
    pub audit: Vec<audit::Entry>,
}

/// A wiki's settings, members, connections and recent activity (owner only).
pub async fn settings(state: &Services, caller: &Caller, slug: &str) -> Result<WikiSettings> {
    let (wiki, grant) = wiki_for(state, caller, slug, Action::Admin).await?;
    let id = wiki.id;
    let (collaborators, clients, token_created, audit) = state
        .db
        .run(move |c| {
            Ok((
                wikis::collaborators(c, id)?,
                crate::db::oauth::grants_for_wiki(c, id)?,
                crate::db::tokens::created_at(c, id)?,
                audit::for_wiki(c, id, 50)?,
            ))
        })
        .await?;
    Ok(WikiSettings {
        wiki: WikiView::new(state, &wiki, grant.role),
        collaborators,
        clients,
        token_created,
        audit,
    })
}

/// One wiki on the operator's page.
#[derive(Debug, Clone)]
pub struct WikiUsage {
    pub wiki: WikiView,
    /// `@handle` of the owner, or their DID when the account is gone.
    pub owner: String,
    /// Bytes the repository takes on disk.
    pub bytes: u64,
}

/// A page whose indexing keeps failing, for the operator.
#[derive(Debug, Clone)]
pub struct IndexFailure {
    pub slug: String,
    pub path: String,
    pub attempts: i64,
    pub error: String,
}

/// What the operator's page shows: accounts, wikis and their disk use, the indexer.
#[derive(Debug, Clone)]
pub struct Overview {
    pub users: Vec<User>,
    pub wikis: Vec<WikiUsage>,
    pub total_bytes: u64,
    /// Free space where the data directory lives, as `df -h` says it.
    pub free_disk: String,
    pub health: crate::search::semantic::Health,
    pub failures: Vec<IndexFailure>,
}

/// The operator's view of the whole service (configured `admin_dids` only).
pub async fn overview(state: &Services, caller: &Caller) -> Result<Overview> {
    let (did, _) = user_of(caller)?;
    if !state.cfg.is_admin(did) {
        return Err(Error::Forbidden(
            "This page is for the operator (admin_dids).".into(),
        ));
    }
    let sem = state.semantic.clone();
    let (users, all, health, failures) = state
        .db
        .run(move |c| {
            Ok((
                users::list(c)?,
                wikis::list(c)?,
                sem.health(c)?,
                crate::search::queue::failures(c, 20)?,
            ))
        })
        .await?;
    let (wikis_dir, data_dir) = (state.cfg.wikis_dir(), state.cfg.data_dir.clone());
    // Sizing repositories and asking `df` touch the disk: off the async runtime.
    let (sizes, free_disk) = tokio::task::spawn_blocking({
        let slugs: Vec<String> = all.iter().map(|w| w.slug.clone()).collect();
        move || {
            let sizes: Vec<u64> = slugs.iter().map(|s| dir_size(&wikis_dir.join(s))).collect();
            (sizes, free_disk(&data_dir))
        }
    })
    .await
    .map_err(|e| Error::Internal(anyhow::anyhow!("disk usage: {e}")))?;
    let wikis: Vec<WikiUsage> = all
        .iter()
        .zip(sizes)
        .map(|(w, bytes)| WikiUsage {
            wiki: WikiView::new(state, w, None),
            owner: users
                .iter()
                .find(|u| u.did == w.owner_did)
                .map(|u| format!("@{}", u.handle))
                .unwrap_or_else(|| w.owner_did.clone()),
            bytes,
        })
        .collect();
    let failures = failures
        .into_iter()
        .map(|i| IndexFailure {
            slug: all
                .iter()
                .find(|w| w.id == i.wiki_id)
                .map(|w| w.slug.clone())
                .unwrap_or_default(),
            path: i.path,
            attempts: i.attempts,
            error: i.last_error.unwrap_or_default(),
        })
        .collect();
    Ok(Overview {
        total_bytes: wikis.iter().map(|w| w.bytes).sum(),
        users,
        wikis,
        free_disk,
        health,
        failures,
    })
}

fn dir_size(p: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                Err(_) => {}
            }
        }
    }
    total
}

fn free_disk(p: &std::path::Path) -> String {
    let out = std::process::Command::new("df")
        .arg("-h")
        .arg("--output=avail")
        .arg(p)
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .nth(1)
            .unwrap_or("?")
            .trim()
            .to_string(),
        _ => "unknown".into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct NewWiki {
    pub slug: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub is_public: bool,
}

/// Creates a wiki for the signed-in user, with its bootstrap pages and a fresh token.
/// Each account owns one wiki (configured admins are exempt). The first wiki's slug also
/// becomes the account's username.
pub async fn create_wiki(
    state: &Services,
    caller: &Caller,
    req: NewWiki,
    request_id: Option<String>,
) -> Result<(WikiView, String)> {
    let (did, _) = user_of(caller)?;
    let did = did.to_string();
    state.count_write(caller, Action::Admin)?;
    let is_admin = state.cfg.is_admin(&did);
    let d2 = did.clone();
    let owned = state.db.run(move |c| wikis::owned_by(c, &d2)).await?;
    if !owned.is_empty() && !is_admin {
        return Err(Error::Forbidden(
            "Wiki limit reached (1 wiki per user).".into(),
        ));
    }
    let wikis_svc = state.wikis.clone();
    let d3 = did.clone();
    let wiki = state
        .wikis
        .run(move |_| {
            wikis_svc.create_wiki(&CreateWiki {
                slug: req.slug.trim(),
                owner_did: &d3,
                title: &req.title,
                description: &req.description,
                is_public: req.is_public,
            })
        })
        .await?;
    let (w2, d4) = (wiki.clone(), did.clone());
    let token = state
        .db
        .run(move |c| {
            let token = tokens::regenerate(c, w2.id)?;
            crate::db::users::claim_username(c, &d4, &w2.slug)?;
            audit::record(
                c,
                Some(&d4),
                Some(&w2),
                "wiki.create",
                "",
                request_id.as_deref(),
            )?;
            Ok(token)
        })
        .await?;
    Ok((WikiView::new(state, &wiki, Some(Role::Owner)), token))
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct WikiPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
    pub git_clone: Option<bool>,
    pub git_push: Option<bool>,
}

pub async fn update_wiki(
    state: &Services,
    caller: &Caller,
    slug: &str,
    patch: WikiPatch,
    request_id: Option<String>,
) -> Result<WikiView> {
    let (wiki, grant) = wiki_for(state, caller, slug, Action::Admin).await?;
    if let Some(t) = &patch.title
        && (t.trim().is_empty() || t.len() > 100)
    {
        return Err(Error::Invalid("title must be 1–100 characters".into()));
    }
    if let Some(d) = &patch.description
        && d.len() > 500
    {
        return Err(Error::Invalid(
            "description must be at most 500 characters".into(),
        ));
    }
    let actor = caller.principal.did().map(String::from);
    let id = wiki.id;
    let updated = state
        .db
        .run(move |c| {
            let tx = c.transaction()?;
            let settings = wikis::Settings {
                title: patch.title.as_deref().map(str::trim),
                description: patch.description.as_deref().map(str::trim),
                is_public: patch.is_public,
                git_clone: patch.git_clone,
                git_push: patch.git_push,
            };
            wikis::update_settings(&tx, id, &settings)?;
            let w = wikis::by_slug(&tx, &wiki.slug)?
                .ok_or_else(|| Error::not_found("wiki vanished"))?;
            let detail =
                serde_json::json!({"is_public": w.is_public, "git_clone": w.git_clone, "git_push": w.git_push})
                    .to_string();
            audit::record(
                &tx,
                actor.as_deref(),
                Some(&w),
                "wiki.settings",
                &detail,
                request_id.as_deref(),
            )?;
            tx.commit()?;
            Ok(w)
        })
        .await?;
    Ok(WikiView::new(state, &updated, grant.role))
}

/// Deletes a wiki and its repository. `confirm` must repeat the slug.
pub async fn delete_wiki(
    state: &Services,
    caller: &Caller,
    slug: &str,
    confirm: &str,
    request_id: Option<String>,
) -> Result<()> {
    let (wiki, _) = wiki_for(state, caller, slug, Action::Admin).await?;
    if confirm.trim() != wiki.slug {
        return Err(Error::Invalid(format!(
            "Type the wiki's name ({}) to confirm.",
            wiki.slug
        )));
    }
    let actor = caller.principal.did().map(String::from);
    let w2 = wiki.clone();
    state
        .db
        .run(move |c| {
            audit::record(
                c,
                actor.as_deref(),
                Some(&w2),
                "wiki.delete",
                "",
                request_id.as_deref(),
            )
        })
        .await?;
    let svc = state.wikis.clone();
    state.wikis.run(move |_| svc.delete_wiki(&wiki)).await
}

/// Replaces the wiki's bearer token; the plaintext is returned once.
pub async fn regenerate_token(
    state: &Services,
    caller: &Caller,
    slug: &str,
    request_id: Option<String>,
) -> Result<String> {
    let (wiki, _) = wiki_for(state, caller, slug, Action::Admin).await?;
    let actor = caller.principal.did().map(String::from);
    state
        .db
        .run(move |c| {
            let t = tokens::regenerate(c, wiki.id)?;
            audit::record(
                c,
                actor.as_deref(),
                Some(&wiki),
                "token.regenerate",
                "",
                request_id.as_deref(),
            )?;
            Ok(t)
        })
        .await
}

pub use crate::db::personal_tokens::PersonalToken;

/// Personal tokens one person may hold, over all their wikis.
pub const MAX_PERSONAL_TOKENS: usize = 20;

/// The longest a personal token may live, in days.
pub const MAX_TOKEN_DAYS: i64 = 3650;

/// A personal token to make, as the app's form and `POST /api/tokens` ask for it.
#[derive(Debug, Clone, Deserialize)]
pub struct NewPersonalToken {
    /// The wiki's slug.
    pub wiki: String,
    pub name: String,
    /// `read` or `write`.
    pub access: String,
    /// Days until it expires; `None` (or 0): never.
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

/// The signed-in person's personal tokens, newest first.
pub async fn personal_tokens(state: &Services, caller: &Caller) -> Result<Vec<PersonalToken>> {
    let did = user_of(caller)?.0.to_string();
    state
        .db
        .run(move |c| crate::db::personal_tokens::of_person(c, &did))
        .await
}

/// Makes a personal token for a wiki the signed-in person has a role on; returns it and
/// its plaintext, shown once. A read-write token needs the editor role at least (and
/// stays at most the person's role: `access::role_of` reads it on every use).
pub async fn create_personal_token(
    state: &Services,
    caller: &Caller,
    req: NewPersonalToken,
    request_id: Option<String>,
) -> Result<(PersonalToken, String)> {
    let did = user_of(caller)?.0.to_string();
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "A token's name is 1 to 64 characters, without control characters.".into(),
        ));
    }
    let can_write = match req.access.as_str() {
        "read" => false,
        "write" => true,
        _ => return Err(Error::Invalid("access must be read or write".into())),
    };
    let expires_at = match req.expires_in_days {
        None | Some(0) => None,
        Some(d @ 1..=MAX_TOKEN_DAYS) => Some(crate::db::now() + d * 86_400),
        Some(_) => {
            return Err(Error::Invalid(format!(
                "expires_in_days is between 1 and {MAX_TOKEN_DAYS} (or 0: never)"
            )));
        }
    };
    let (wiki, grant) = wiki_for(state, caller, &req.wiki, Action::Read).await?;
    match grant.role {
        None => {
            return Err(Error::Forbidden(
                "You can make tokens only for wikis you own or collaborate on.".into(),
            ));
        }
        Some(Role::Viewer) if can_write => {
            return Err(Error::Forbidden(
                "You are a viewer of this wiki: your tokens can only read.".into(),
            ));
        }
        Some(_) => {}
    }
    state
        .db
        .run(move |c| {
            if crate::db::personal_tokens::of_person(c, &did)?.len() >= MAX_PERSONAL_TOKENS {
                return Err(Error::LimitReached(format!(
                    "You have {MAX_PERSONAL_TOKENS} tokens, the most one person may hold; revoke one first."
                )));
            }
            let spec = tokens::PersonalSpec {
                wiki_id: wiki.id,
                did: &did,
                name: &name,
                can_write,
                expires_at,
            };
            let made = tokens::create_personal(c, &spec)?.ok_or_else(|| Error::Conflict {
                message: format!("You already have a token named {name:?} for this wiki."),
                current: None,
            })?;
            audit::record(
                c,
                Some(&did),
                Some(&wiki),
                "token.personal.create",
                &format!("{name} ({})", made.0.access),
                request_id.as_deref(),
            )?;
            Ok(made)
        })
        .await
}

/// Revokes one of the signed-in person's personal tokens: it stops working at once.
pub async fn revoke_personal_token(
    state: &Services,
    caller: &Caller,
    id: i64,
    request_id: Option<String>,
) -> Result<PersonalToken> {
    let did = user_of(caller)?.0.to_string();
    state
        .db
        .run(move |c| {
            let token = crate::db::personal_tokens::delete(c, &did, id)?
                .ok_or_else(|| Error::not_found("You have no such token."))?;
            let wiki = wikis::by_id(c, token.wiki_id)?;
            audit::record(
                c,
                Some(&did),
                wiki.as_ref(),
                "token.personal.revoke",
                &token.name,
                request_id.as_deref(),
            )?;
            Ok(token)
        })
        .await
}

/// The applications connected to a wiki through OAuth (owner only).
pub async fn connected_clients(
    state: &Services,
    caller: &Caller,
    slug: &str,
) -> Result<Vec<crate::db::oauth::Grant>> {
    let (wiki, _) = wiki_for(state, caller, slug, Action::Admin).await?;
    state
        .db
        .run(move |c| crate::db::oauth::grants_for_wiki(c, wiki.id))
        .await
}

/// Disconnects an application: its grant and every token under it end now.
pub async fn revoke_client(
    state: &Services,
    caller: &Caller,
    slug: &str,
    grant_id: i64,
    request_id: Option<String>,
) -> Result<()> {
    let (wiki, _) = wiki_for(state, caller, slug, Action::Admin).await?;
    let actor = caller.principal.did().map(String::from);
    state
        .db
        .run(move |c| {
            let grant = crate::db::oauth::grants_for_wiki(c, wiki.id)?
                .into_iter()
                .find(|g| g.id == grant_id)
                .ok_or_else(|| Error::not_found("No such connected application."))?;
            crate::db::oauth::revoke_grant(c, grant.id, crate::db::now())?;
            audit::record(
                c,
                actor.as_deref(),
                Some(&wiki),
                "oauth.revoke",
                &format!("{} for @{}", grant.client_name, grant.user_handle),
                request_id.as_deref(),
            )
        })
        .await
}

pub async fn collaborators(
    state: &Services,
    caller: &Caller,
    slug: &str,
) -> Result<Vec<Collaborator>> {
    let (wiki, _) = wiki_for(state, caller, slug, Action::Admin).await?;
    state
        .db
        .run(move |c| wikis::collaborators(c, wiki.id))
        .await
}

fn collaborator_role(role: &str) -> Result<Role> {
    match Role::parse(role) {
        Some(r @ (Role::Editor | Role::Viewer)) => Ok(r),
        _ => Err(Error::Invalid("role must be editor or viewer".into())),
    }
}

/// Adds a collaborator by handle (resolved to a DID) or DID, as editor or viewer.
pub async fn add_collaborator(
    state: &Services,
    caller: &Caller,
    slug: &str,
    who: &str,
    role: &str,
    request_id: Option<String>,
) -> Result<Collaborator> {
    let role = collaborator_role(role)?;
    let (wiki, _) = wiki_for(state, caller, slug, Action::Admin).await?;
    let user = resolve_person(state, who).await?;
    if user.did == wiki.owner_did {
        return Err(Error::Invalid("The owner is already on the wiki.".into()));
    }
    let actor = caller.principal.did().map(String::from);
    let u2 = user.clone();
    state
        .db
        .run(move |c| {
            let tx = c.transaction()?;
            let existing = wikis::collaborators(&tx, wiki.id)?;
            if !existing.iter().any(|x| x.did == u2.did) && existing.len() >= MAX_COLLABORATORS {
                return Err(Error::LimitReached(format!(
                    "A wiki can have at most {MAX_COLLABORATORS} collaborators."
                )));
            }
            users::upsert(&tx, &u2.did, &u2.handle, None)?;
            wikis::set_collaborator(&tx, wiki.id, &u2.did, role)?;
            audit::record(
                &tx,
                actor.as_deref(),
                Some(&wiki),
                "collaborator.add",
                &format!("{} {}", u2.handle, role.as_str()),
                request_id.as_deref(),
            )?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(Collaborator {
        did: user.did,
        handle: user.handle,
        role,
        added_at: crate::db::now(),
    })
}

pub async fn set_collaborator_role(
    state: &Services,
    caller: &Caller,
    slug: &str,
    did: &str,
    role: &str,
    request_id: Option<String>,
) -> Result<()> {
    let role = collaborator_role(role)?;
    let (wiki, _) = wiki_for(state, caller, slug, Action::Admin).await?;
    let (actor, did) = (caller.principal.did().map(String::from), did.to_string());
    state
        .db
        .run(move |c| {
            if wikis::collaborator_role(c, wiki.id, &did)?.is_none() {
                return Err(Error::not_found("No such collaborator."));
            }
            wikis::set_collaborator(c, wiki.id, &did, role)?;
            audit::record(
                c,
                actor.as_deref(),
                Some(&wiki),
                "collaborator.role",
                &format!("{did} {}", role.as_str()),
                request_id.as_deref(),
            )
        })
        .await
}

/// Removes a collaborator. Their access — sessions, and later OAuth tokens — ends with
/// their next request, because every request re-reads their role.
pub async fn remove_collaborator(
    state: &Services,
    caller: &Caller,
    slug: &str,
    did: &str,
    request_id: Option<String>,
) -> Result<()> {
    let (wiki, _) = wiki_for(state, caller, slug, Action::Admin).await?;
    let (actor, did) = (caller.principal.did().map(String::from), did.to_string());
    state
        .db
        .run(move |c| {
            if !wikis::remove_collaborator(c, wiki.id, &did)? {
                return Err(Error::not_found("No such collaborator."));
            }
            audit::record(
                c,
                actor.as_deref(),
                Some(&wiki),
                "collaborator.remove",
                &did,
                request_id.as_deref(),
            )
        })
        .await
}

/// A person named by handle or DID: known locally, or resolved through ATProto.
async fn resolve_person(state: &Services, who: &str) -> Result<User> {
    let input = crate::atproto::identity::LoginInput::parse(who)?;
    let key = match &input {
        crate::atproto::identity::LoginInput::Handle(h) => h.clone(),
        crate::atproto::identity::LoginInput::Did(d) => d.clone(),
        crate::atproto::identity::LoginInput::Service(_) => {
            return Err(Error::Invalid("Give a handle or a DID, not a URL.".into()));
        }
    };
    let k2 = key.clone();
    if let Some(u) = state.db.run(move |c| users::find(c, &k2)).await? {
        return Ok(u);
    }
    let r = &state.atproto.resolver;
    let (did, handle) = match input {
        crate::atproto::identity::LoginInput::Handle(h) => {
            let did = r.resolve_handle(&h).await?;
            let doc = r.resolve_did(&did).await?;
            if !doc.handles.contains(&h) {
                return Err(Error::Invalid(format!(
                    "{did} does not confirm the handle {h}."
                )));
            }
            (did, h)
        }
        crate::atproto::identity::LoginInput::Did(d) => {
            let doc = r.resolve_did(&d).await?;
            let handle = r
                .verified_handle(&doc)
                .await
                .ok_or_else(|| Error::Invalid(format!("{d} has no verified handle.")))?;
            (d, handle)
        }
        crate::atproto::identity::LoginInput::Service(_) => unreachable!("refused above"),
    };
    Ok(User {
        did,
        handle,
        display_name: None,
        created_at: crate::db::now(),
    })
}

pub async fn audit_log(state: &Services, caller: &Caller, slug: &str) -> Result<Vec<audit::Entry>> {
    let (wiki, _) = wiki_for(state, caller, slug, Action::Admin).await?;
    state
        .db
        .run(move |c| audit::for_wiki(c, wiki.id, 200))
        .await
}

/// What the signed-in person did recently, on any wiki.
pub async fn my_activity(state: &Services, caller: &Caller) -> Result<Vec<audit::Entry>> {
    let did = user_of(caller)?.0.to_string();
    state.db.run(move |c| audit::for_actor(c, &did, 50)).await
}

/// Deletes the signed-in account: its wikis (repositories included), sessions, tokens and
/// collaborations. `confirm` must repeat the handle.
pub async fn delete_account(
    state: &Services,
    caller: &Caller,
    confirm: &str,
    request_id: Option<String>,
) -> Result<()> {
    let (did, handle) = user_of(caller)?;
    if confirm.trim().trim_start_matches('@') != handle {
        return Err(Error::Invalid(format!(
            "Type your handle ({handle}) to confirm."
        )));
    }
    state.count_write(caller, Action::Admin)?;
    state.atproto.sign_out(did).await;
    let d = did.to_string();
    let owned = state.db.run(move |c| wikis::owned_by(c, &d)).await?;
    for wiki in owned {
        let svc = state.wikis.clone();
        state.wikis.run(move |_| svc.delete_wiki(&wiki)).await?;
    }
    let (d, h) = (did.to_string(), handle.to_string());
    state
        .db
        .run(move |c| {
            audit::record(
                c,
                Some(&d),
                None,
                "account.delete",
                &h,
                request_id.as_deref(),
            )?;
            // Sessions, collaborations and ATProto sessions go with the row (cascade).
            crate::db::users::delete(c, &d)
        })
        .await?;
    tracing::info!(did, "account deleted");
    Ok(())
}
