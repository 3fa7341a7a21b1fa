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
        .route("/app/account/tokens", post(create_token))
        .route("/app/account/tokens/{id}/revoke", post(revoke_token))
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
    max_collaborators: usize,
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
    flash: Option<String>,
    /// The wikis a token can be made for.
    wikis: Vec<WikiView>,
    tokens: Vec<manage::PersonalToken>,
    /// A token just made: its secret (shown this once) and the clone URL of its wiki.
    new_token: Option<NewToken>,
}

struct NewToken {
    secret: String,
    name: String,
    clone_url: String,
}

#[derive(askama::Template)]
#[template(path = "admin.html")]
struct Admin {
    l: Layout,
    o: manage::Overview,
    queue: String,
    /// "on", or why semantic search is off.
    semantic: String,
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
    let me = match manage::me(state, caller).await {
        Ok(me) => me,
        Err(e) => return fail(caller, e),
    };
    let wikis = match manage::my_wikis(state, caller).await {
        Ok(w) => w,
        Err(e) => return fail(caller, e),
    };
    let suggested = me
        .username
        .unwrap_or_else(|| crate::wiki::slug::suggest_from_handle(&me.handle));
    let mut r = render(&Dashboard {
        l: layout(caller, "Your wikis"),
        can_create: me.can_create_wiki,
        is_admin: me.is_admin,
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
    let s = match manage::settings(state, caller, slug).await {
        Ok(s) => s,
        Err(e) => return fail(caller, e),
    };
    let has_error = error.is_some();
    let r = render(&ManageWiki {
        l: layout(caller, &s.wiki.title),
        w: s.wiki,
        collaborators: s.collaborators,
        max_collaborators: manage::MAX_COLLABORATORS,
        clients: s.clients,
        token_created: s.token_created,
        audit: s.audit,
        flash,
        error,
        new_token,
    });
    showing_a_secret(r, has_error)
}

/// A page that may show a token once: never cached; 422 when it shows a form's error.
fn showing_a_secret(mut r: Response, has_error: bool) -> Response {
    if has_error {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
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
                git_push: Some(f.contains_key("git_push")),
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

/// What the account page shows besides the person and their activity.
#[derive(Default)]
struct AccountNotes {
    error: Option<String>,
    flash: Option<String>,
    new_token: Option<NewToken>,
}

impl AccountNotes {
    /// What was wrong with a form, shown beside it.
    fn error(message: String) -> AccountNotes {
        AccountNotes {
            error: Some(message),
            ..Default::default()
        }
    }
}

async fn account_page(state: &Services, caller: &Caller, notes: AccountNotes) -> Response {
    let (did, handle) = match manage::user_of(caller) {
        Ok(x) => x,
        Err(e) => return fail(caller, e),
    };
    let loaded = async {
        Ok::<_, Error>((
            manage::my_activity(state, caller).await?,
            manage::my_wikis(state, caller).await?,
            manage::personal_tokens(state, caller).await?,
        ))
    };
    let (audit, wikis, tokens) = match loaded.await {
        Ok(x) => x,
        Err(e) => return fail(caller, e),
    };
    let has_error = notes.error.is_some();
    let r = render(&Account {
        l: layout(caller, "Account"),
        did: did.into(),
        handle: handle.into(),
        audit,
        error: notes.error,
        flash: notes.flash,
        wikis,
        tokens,
        new_token: notes.new_token,
    });
    showing_a_secret(r, has_error)
}

async fn account(
    State(state): State<Services>,
    caller: Caller,
    axum::extract::Query(q): axum::extract::Query<BTreeMap<String, String>>,
) -> Response {
    let flash = match q.get("done").map(String::as_str) {
        Some("token-revoked") => Some("Token revoked.".to_string()),
        _ => None,
    };
    let notes = AccountNotes {
        flash,
        ..Default::default()
    };
    account_page(&state, &caller, notes).await
}

/// Shown beside the form, on the account page: what was wrong with it.
fn form_error(e: &Error) -> bool {
    matches!(
        e,
        Error::Invalid(_)
            | Error::NotFound(_)
            | Error::UnknownWiki(_)
            | Error::Conflict { .. }
            | Error::Forbidden(_)
            | Error::LimitReached(_)
    )
}

async fn create_token(
    State(state): State<Services>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f = super::parse_form(&body);
    if let Err(e) = guard(&state, &caller, &f, &headers) {
        return fail(&caller, e);
    }
    let field = |k: &str| f.get(k).cloned().unwrap_or_default();
    let days = field("expires_in_days");
    let expires_in_days = match days.trim() {
        "" => None,
        d => match d.parse::<i64>() {
            Ok(d) => Some(d),
            Err(_) => {
                let notes = AccountNotes::error("The expiry is a number of days.".into());
                return account_page(&state, &caller, notes).await;
            }
        },
    };
    let req = manage::NewPersonalToken {
        wiki: field("wiki"),
        name: field("name"),
        access: field("access"),
        expires_in_days,
    };
    let notes =
        match manage::create_personal_token(&state, &caller, req, request_id(&headers)).await {
            Ok((token, secret)) => AccountNotes {
                new_token: Some(NewToken {
                    secret,
                    clone_url: state.cfg.wiki_url(&token.wiki_slug) + "/repo.git",
                    name: token.name,
                }),
                ..Default::default()
            },
            Err(e) if form_error(&e) => AccountNotes::error(e.public_message()),
            Err(e) => return fail(&caller, e),
        };
    account_page(&state, &caller, notes).await
}

async fn revoke_token(
    State(state): State<Services>,
    caller: Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f = super::parse_form(&body);
    if let Err(e) = guard(&state, &caller, &f, &headers) {
        return fail(&caller, e);
    }
    match manage::revoke_personal_token(&state, &caller, id, request_id(&headers)).await {
        Ok(_) => Redirect::to("/app/account?done=token-revoked").into_response(),
        Err(e) if form_error(&e) => {
            let notes = AccountNotes::error(e.public_message());
            account_page(&state, &caller, notes).await
        }
        Err(e) => fail(&caller, e),
    }
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
        Err(e @ Error::Invalid(_)) => {
            let notes = AccountNotes::error(e.public_message());
            account_page(&state, &caller, notes).await
        }
        Err(e) => fail(&caller, e),
    }
}

/// The operator's page: users, wikis with their disk use, free disk.
async fn admin(State(state): State<Services>, caller: Caller) -> Response {
    let o = match manage::overview(&state, &caller).await {
        Ok(o) => o,
        Err(e) => return fail(&caller, e),
    };
    let (depth, worker) = (&o.health.queue, &o.health.worker);
    let queue = format!(
        "{} page(s) waiting, oldest {} s, {} failing; {} pages and {} chunks embedded since start",
        depth.items,
        depth.oldest_age_secs,
        depth.failing,
        worker.pages_indexed,
        worker.chunks_embedded
    );
    let semantic = o.health.reason.clone().unwrap_or_else(|| "on".into());
    render(&Admin {
        l: layout(&caller, "Administration"),
        o,
        queue,
        semantic,
    })
}
