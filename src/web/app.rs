//! The management app on the root host (`/app`): your wikis and creating one (the signup
//! step, where the username is chosen), a wiki's settings, collaborators, connection
//! details and token, its activity, deletion; your account; the operator's admin page.
//! Forms post back here with the session's CSRF token; every rule lives in `manage`.

use super::request_id;
use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::templates::{Layout, Message};
use super::{Caller, check_csrf, render};
use crate::error::Error;
use crate::ops::audit;
use crate::service::Services;
use crate::service::manage::{self, Collaborator, NewWiki, WikiPatch, WikiView};

pub fn router() -> Router<Services> {
    Router::new()
        .route("/app", get(dashboard))
        .route("/app/wikis", post(create))
        .route("/app/wikis/{slug}", get(wiki_page))
        .route("/app/wikis/{slug}/settings", post(settings))
        .route("/app/wikis/{slug}/collaborators", post(add_collaborator))
        .route(
            "/app/wikis/{slug}/collaborators/{did}",
            post(change_collaborator),
        )
        .route("/app/wikis/{slug}/token", post(token))
        .route("/app/wikis/{slug}/clients/{id}/revoke", post(revoke_client))
        .route("/app/wikis/{slug}/delete", post(delete_wiki))
        .route("/app/account", get(account))
        .route("/app/account/delete", post(delete_account))
        .route("/app/admin", get(admin))
}

mod filters {
    pub use crate::web::templates::filters::*;
}

#[derive(askama::Template)]
#[template(path = "app.html")]
struct Dashboard {
    l: Layout,
    wikis: Vec<WikiView>,
    can_create: bool,
    is_admin: bool,
    suggested_slug: String,
    example_url: String,
    error: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "manage_wiki.html")]
struct ManageWiki {
    l: Layout,
    w: WikiView,
    collaborators: Vec<Collaborator>,
    /// Applications connected through OAuth.
    clients: Vec<crate::db::oauth::Grant>,
    token_created: Option<i64>,
    audit: Vec<audit::Entry>,
    flash: Option<String>,
    error: Option<String>,
    new_token: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "account.html")]
struct Account {
    l: Layout,
    did: String,
    handle: String,
    audit: Vec<audit::Entry>,
    error: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "admin.html")]
struct Admin {
    l: Layout,
    users: Vec<crate::db::users::User>,
    wikis: Vec<(WikiView, String, u64)>,
    total_bytes: u64,
    free_disk: String,
    queue: String,
    /// "on", or why semantic search is off.
    semantic: String,
    /// (wiki slug, page, attempts, error) of pages whose indexing keeps failing.
    failures: Vec<(String, String, i64, String)>,
}

fn layout(caller: &Caller, title: &str) -> Layout {
    Layout {
        title: title.into(),
        site_title: "robot".into(),
        static_prefix: "/static",
        user: caller.principal.handle().map(String::from),
        csrf: caller.csrf.clone(),
        login_url: "/auth/login?return_to=%2Fapp".into(),
        logout_url: "/auth/logout".into(),
        ..Default::default()
    }
}

/// An error page for the app (sign-in redirect when there is no session).
fn fail(caller: &Caller, e: Error) -> Response {
    if matches!(e, Error::Unauthorized) {
        return Redirect::to("/auth/login?return_to=%2Fapp").into_response();
    }
    e.log();
    let status = e.status();
    let mut r = render(&Message {
        l: layout(caller, "Cannot do that"),
        paragraphs: vec![e.public_message()],
        link: Some(("/app".into(), "Back".into())),
    });
    *r.status_mut() = status;
    if let Error::RateLimited { retry_after_secs } = e {
        r.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, retry_after_secs.into());
    }
    r
}

/// Checks the session and the form's CSRF token.
fn guard(
    state: &Services,
    caller: &Caller,
    f: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Result<(), Error> {
    manage::user_of(caller)?;
    check_csrf(
        &state.keys,
        caller,
        f.get("csrf").map(String::as_str),
        headers,
    )
}

async fn dashboard_page(
    state: &Services,
    caller: &Caller,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let (did, handle) = match manage::user_of(caller) {
        Ok(x) => x,
        Err(e) => return fail(caller, e),
    };
    let wikis = match manage::my_wikis(state, caller).await {
        Ok(w) => w,
        Err(e) => return fail(caller, e),
    };
    let is_admin = state.cfg.is_admin(did);
    let owns = wikis
        .iter()
        .any(|w| w.role == Some(crate::access::Role::Owner));
    let d = did.to_string();
    let username: Option<String> = state
        .db
        .run(move |c| crate::db::users::username(c, &d))
        .await
        .unwrap_or(None);
    let suggested = username.unwrap_or_else(|| crate::wiki::slug::suggest_from_handle(handle));
    let mut r = render(&Dashboard {
        l: layout(caller, "Your wikis"),
        can_create: !owns || is_admin,
        is_admin,
        example_url: state.cfg.wiki_url(if suggested.is_empty() {
            "name"
        } else {
            &suggested
        }),
        suggested_slug: suggested,
        wikis,
        error,
    });
    *r.status_mut() = status;
    r
}

async fn dashboard(State(state): State<Services>, caller: Caller) -> Response {
    dashboard_page(&state, &caller, None, StatusCode::OK).await
}

async fn create(
    State(state): State<Services>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f = super::parse_form(&body);
    if let Err(e) = guard(&state, &caller, &f, &headers) {
        return fail(&caller, e);
    }
    let req = NewWiki {
        slug: f.get("slug").cloned().unwrap_or_default(),
        title: f.get("title").cloned().unwrap_or_default(),
        description: String::new(),
        is_public: f.contains_key("is_public"),
    };
    match manage::create_wiki(&state, &caller, req, request_id(&headers)).await {
        Ok((w, token)) => {
            wiki_page_with(
                &state,
                &caller,
                &w.slug,
                Some(format!("Created {}.", w.url)),
                None,
                Some(token),
            )
            .await
        }
        Err(e @ (Error::Invalid(_) | Error::Conflict { .. } | Error::Forbidden(_))) => {
            let status = e.status();
            dashboard_page(&state, &caller, Some(e.public_message()), status).await
        }
        Err(e) => fail(&caller, e),
    }
}

async fn wiki_page_with(
    state: &Services,
    caller: &Caller,
    slug: &str,
    flash: Option<String>,
    error: Option<String>,
    new_token: Option<String>,
) -> Response {
    let (wiki, grant) =
        match manage::wiki_for(state, caller, slug, crate::access::Action::Admin).await {
            Ok(x) => x,
            Err(e) => return fail(caller, e),
        };
    let id = wiki.id;
    let loaded = state
        .db
        .run(move |c| {
            let collaborators = crate::db::wikis::collaborators(c, id)?;
            Ok((
                (collaborators, crate::db::oauth::grants_for_wiki(c, id)?),
                crate::db::tokens::created_at(c, id)?,
                audit::for_wiki(c, id, 50)?,
            ))
        })
        .await;
    let ((collaborators, clients), token_created, audit) = match loaded {
        Ok(x) => x,
        Err(e) => return fail(caller, e),
    };
    let has_error = error.is_some();
    let mut r = render(&ManageWiki {
        l: layout(caller, &wiki.title),
        w: WikiView::new(state, &wiki, grant.role),
        collaborators,
        clients,
        token_created,
        audit,
        flash,
        error,
        new_token,
    });
    if has_error {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    // The page may show a token once: never cache it.
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    r
}

async fn wiki_page(
    State(state): State<Services>,
    caller: Caller,
    Path(slug): Path<String>,
    axum::extract::Query(q): axum::extract::Query<BTreeMap<String, String>>,
) -> Response {
    // Only known outcomes are shown: the query string cannot put text on the page.
    let flash = match q.get("done").map(String::as_str) {
        Some("settings") => Some("Settings saved.".to_string()),
        Some("collaborator-added") => Some("Collaborator added.".to_string()),
        Some("collaborators") => Some("Collaborators updated.".to_string()),
        Some("client-revoked") => Some("Application disconnected.".to_string()),
        _ => None,
    };
    wiki_page_with(&state, &caller, &slug, flash, None, None).await
}

/// Runs a form action on a wiki and shows the wiki's page with its outcome.
async fn wiki_action<F, Fut>(
    state: Services,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
    slug: String,
    ok: &str,
    act: F,
) -> Response
where
    F: FnOnce(Services, Caller, BTreeMap<String, String>, Option<String>) -> Fut,
    Fut: std::future::Future<Output = crate::error::Result<()>>,
{
    let f = super::parse_form(&body);
    if let Err(e) = guard(&state, &caller, &f, &headers) {
        return fail(&caller, e);
    }
    match act(state.clone(), caller.clone(), f, request_id(&headers)).await {
        // Post/redirect/get: reloading the page must not repeat the action.
        Ok(()) => Redirect::to(&format!("/app/wikis/{slug}?done={ok}")).into_response(),
        // What was wrong with the form is shown on the wiki's page, beside the form.
        Err(
            e @ (Error::Invalid(_)
            | Error::NotFound(_)
            | Error::Conflict { .. }
            | Error::BadRequest(_)
            | Error::LimitReached(_)),
        ) => wiki_page_with(&state, &caller, &slug, None, Some(e.public_message()), None).await,
        Err(e) => fail(&caller, e),
    }
}

async fn settings(
    State(state): State<Services>,
    caller: Caller,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let s = slug.clone();
    wiki_action(
        state,
        caller,
        headers,
        body,
        slug,
        "settings",
        |st, c, f, rid| async move {
            let patch = WikiPatch {
                title: f.get("title").cloned(),
                description: f.get("description").cloned(),
                is_public: Some(f.contains_key("is_public")),
                git_clone: Some(f.contains_key("git_clone")),
            };
            manage::update_wiki(&st, &c, &s, patch, rid)
                .await
                .map(|_| ())
        },
    )
    .await
}

async fn add_collaborator(
    State(state): State<Services>,
    caller: Caller,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let s = slug.clone();
    wiki_action(
        state,
        caller,
        headers,
        body,
        slug,
        "collaborator-added",
        |st, c, f, rid| async move {
            let who = f.get("handle").cloned().unwrap_or_default();
            let role = f.get("role").cloned().unwrap_or_default();
            manage::add_collaborator(&st, &c, &s, &who, &role, rid)
                .await
                .map(|_| ())
        },
    )
    .await
}

async fn change_collaborator(
    State(state): State<Services>,
    caller: Caller,
    Path((slug, did)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let s = slug.clone();
    wiki_action(
        state,
        caller,
        headers,
        body,
        slug,
        "collaborators",
        |st, c, f, rid| async move {
            match f.get("action").map(String::as_str) {
                Some("remove") => manage::remove_collaborator(&st, &c, &s, &did, rid).await,
                _ => {
                    manage::set_collaborator_role(
                        &st,
                        &c,
                        &s,
                        &did,
                        f.get("role").map(String::as_str).unwrap_or(""),
                        rid,
                    )
                    .await
                }
            }
        },
    )
    .await
}

async fn token(
    State(state): State<Services>,
    caller: Caller,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f = super::parse_form(&body);
    if let Err(e) = guard(&state, &caller, &f, &headers) {
        return fail(&caller, e);
    }
    match manage::regenerate_token(&state, &caller, &slug, request_id(&headers)).await {
        Ok(t) => wiki_page_with(&state, &caller, &slug, None, None, Some(t)).await,
        Err(e) => fail(&caller, e),
    }
}

async fn revoke_client(
    State(state): State<Services>,
    caller: Caller,
    Path((slug, id)): Path<(String, i64)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let s = slug.clone();
    wiki_action(
        state,
        caller,
        headers,
        body,
        slug,
        "client-revoked",
        move |st, c, _, rid| async move { manage::revoke_client(&st, &c, &s, id, rid).await },
    )
    .await
}

async fn delete_wiki(
    State(state): State<Services>,
    caller: Caller,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f = super::parse_form(&body);
    if let Err(e) = guard(&state, &caller, &f, &headers) {
        return fail(&caller, e);
    }
    match manage::delete_wiki(
        &state,
        &caller,
        &slug,
        f.get("confirm").map(String::as_str).unwrap_or(""),
        request_id(&headers),
    )
    .await
    {
        Ok(()) => Redirect::to("/app").into_response(),
        Err(e @ Error::Invalid(_)) => {
            wiki_page_with(&state, &caller, &slug, None, Some(e.public_message()), None).await
        }
        Err(e) => fail(&caller, e),
    }
}

async fn account_page(state: &Services, caller: &Caller, error: Option<String>) -> Response {
    let (did, handle) = match manage::user_of(caller) {
        Ok(x) => x,
        Err(e) => return fail(caller, e),
    };
    let d = did.to_string();
    let audit = state
        .db
        .run(move |c| audit::for_actor(c, &d, 50))
        .await
        .unwrap_or_default();
    let has_error = error.is_some();
    let mut r = render(&Account {
        l: layout(caller, "Account"),
        did: did.into(),
        handle: handle.into(),
        audit,
        error,
    });
    if has_error {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

async fn account(State(state): State<Services>, caller: Caller) -> Response {
    account_page(&state, &caller, None).await
}

async fn delete_account(
    State(state): State<Services>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f = super::parse_form(&body);
    if let Err(e) = guard(&state, &caller, &f, &headers) {
        return fail(&caller, e);
    }
    match manage::delete_account(
        &state,
        &caller,
        f.get("confirm").map(String::as_str).unwrap_or(""),
        request_id(&headers),
    )
    .await
    {
        Ok(()) => {
            let mut r = Redirect::to("/").into_response();
            r.headers_mut().append(
                axum::http::header::SET_COOKIE,
                super::session_cookie(&state, "", 0, false),
            );
            r.headers_mut().append(
                axum::http::header::SET_COOKIE,
                super::session_cookie(&state, "", 0, true),
            );
            *r.status_mut() = StatusCode::SEE_OTHER;
            r
        }
        Err(e @ Error::Invalid(_)) => account_page(&state, &caller, Some(e.public_message())).await,
        Err(e) => fail(&caller, e),
    }
}

/// The operator's page: users, wikis with their disk use, free disk.
async fn admin(State(state): State<Services>, caller: Caller) -> Response {
    let did = match manage::user_of(&caller) {
        Ok((d, _)) => d.to_string(),
        Err(e) => return fail(&caller, e),
    };
    if !state.cfg.is_admin(&did) {
        return fail(
            &caller,
            Error::Forbidden("This page is for the operator (admin_dids).".into()),
        );
    }
    let data = state
        .db
        .run(|c| Ok((crate::db::users::list(c)?, crate::db::wikis::list(c)?)))
        .await;
    let (users, wikis) = match data {
        Ok(x) => x,
        Err(e) => return fail(&caller, e),
    };
    let wikis_dir = state.cfg.wikis_dir();
    let rows: Vec<(WikiView, String, u64)> = wikis
        .iter()
        .map(|w| {
            let owner = users
                .iter()
                .find(|u| u.did == w.owner_did)
                .map(|u| format!("@{}", u.handle))
                .unwrap_or_else(|| w.owner_did.clone());
            (
                WikiView::new(&state, w, None),
                owner,
                dir_size(&wikis_dir.join(&w.slug)),
            )
        })
        .collect();
    let sem = state.semantic.clone();
    let (health, failures) = match state
        .db
        .run(move |c| Ok((sem.health(c)?, crate::search::queue::failures(c, 20)?)))
        .await
    {
        Ok(x) => x,
        Err(e) => return fail(&caller, e),
    };
    let depth = &health.queue;
    let queue = format!(
        "{} page(s) waiting, oldest {} s, {} failing; {} pages and {} chunks embedded since start",
        depth.items,
        depth.oldest_age_secs,
        depth.failing,
        health.worker.pages_indexed,
        health.worker.chunks_embedded
    );
    let semantic = health.reason.clone().unwrap_or_else(|| "on".into());
    let failures = failures
        .into_iter()
        .map(|i| {
            let slug = wikis
                .iter()
                .find(|w| w.id == i.wiki_id)
                .map(|w| w.slug.clone())
                .unwrap_or_default();
            (slug, i.path, i.attempts, i.last_error.unwrap_or_default())
        })
        .collect();
    let total_bytes = rows.iter().map(|r| r.2).sum();
    render(&Admin {
        l: layout(&caller, "Administration"),
        users,
        wikis: rows,
        total_bytes,
        free_disk: free_disk(&state.cfg.data_dir),
        queue,
        semantic,
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
