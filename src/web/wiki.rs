//! HTML for a wiki host, on Otterwiki's URL map: `/{page}` views, `/{page}/edit`,
//! `/{page}/history`, `/-/changelog`, `/-/search` and the rest. Page routes are parsed from
//! the path (a page name may contain `/`), then dispatched by action.

// Handler errors carry the layout to render the error page with; they are built once per
// failed request, so their size is irrelevant.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Multipart, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};

use super::templates::*;
use super::{Caller, CurrentWiki, WebError, check_csrf, render, safe_local_path, views};
use crate::access::{Action, Grant};
use crate::db::wikis::Wiki;
use crate::error::Error;
use crate::http::urlencode;
use crate::service::Services;
use crate::service::op::Surface;
use crate::service::{attachments, drafts, pages, reads};
use crate::wiki::markdown;
use crate::wiki::names::{PageName, url_path_encode};
use crate::wiki::snapshot::Snapshot;
use std::sync::Arc;

type WebResult = Result<Response, WebError>;

pub fn router() -> Router<Services> {
    Router::new()
        .route("/-/static/{*file}", get(super::assets::serve))
        .route("/-/create", get(create_form).post(create_submit))
        .route("/-/index", get(page_index))
        .route("/robots.txt", get(robots_txt))
        .route("/sitemap.xml", get(sitemap_xml))
        .route("/-/changelog", get(changelog))
        .route("/-/drafts/save", post(draft_save))
        .route("/-/drafts/discard", post(draft_discard))
        .route("/-/feed.atom", get(super::feeds::atom))
        .route("/-/feed.rss", get(super::feeds::rss))
        .route("/-/log", get(changelog))
        .route("/-/commit/{rev}", get(commit_view))
        .route("/-/revert/{rev}", get(revert_form).post(revert_submit))
        .route("/-/search", get(search))
        .route("/-/search/{q}", get(search_path))
        .route("/-/session", get(super::root::accept_handoff))
        .route("/-/login", get(login_redirect))
        .route("/-/logout", post(super::root::logout))
        .route("/", get(home))
        .fallback(page_route)
}

/// Everything a wiki handler needs: the wiki, the caller, the grant, and a layout.
struct Ctx {
    state: Services,
    wiki: Wiki,
    caller: Caller,
    grant: Grant,
    layout: Layout,
}

impl Ctx {
    /// Asks early whether the caller may do `action` here, so that a refusal is a page
    /// that says why (or a sign-in redirect) and the layout shows only what the caller may
    /// do. It decides nothing: every handler then calls a service operation, which
    /// authorizes again, counts the write and does the work.
    async fn new(
        state: &Services,
        wiki: Wiki,
        caller: Caller,
        action: Action,
        return_to: &str,
    ) -> Result<Ctx, WebError> {
        let mut layout = base_layout(state, &wiki, &caller, return_to);
        // A bearer token that is not valid here (unknown, expired, or an OAuth token, which
        // is a credential only at its own resource): 401, not an anonymous visit.
        if caller.bad_bearer {
            return Err(WebError {
                error: Error::Unauthorized,
                layout,
                login_redirect: None,
            });
        }
        let res = state.decide(&caller.principal, &wiki, action).await;
        // Refused something else, the caller may still read: then the page may name the
        // wiki. Only those who may read a wiki see its title.
        let may_read = match &res {
            Ok(_) => true,
            Err(_) if action == Action::Read => false,
            Err(_) => state
                .decide(&caller.principal, &wiki, Action::Read)
                .await
                .is_ok(),
        };
        if may_read {
            layout.title = wiki.title.clone();
            layout.site_title = wiki.title.clone();
        }
        match res {
            Ok(grant) => {
                layout.can_write = grant.can(Action::Write);
                Ok(Ctx {
                    state: state.clone(),
                    wiki,
                    caller,
                    grant,
                    layout,
                })
            }
            Err(error) => Err(WebError {
                error,
                layout: layout.clone(),
                login_redirect: Some(layout.login_url),
            }),
        }
    }

    fn fail(&self, error: Error) -> WebError {
        WebError {
            error,
            layout: self.layout.clone(),
            login_redirect: None,
        }
    }

    /// The wiki's page tree (for the sidebar and page lists), through the read operation.
    async fn tree(&self) -> Result<Arc<Snapshot>, WebError> {
        reads::tree(&self.state, &self.caller, &self.wiki)
            .await
            .map_err(|e| self.fail(e))
    }

    fn csrf(&self, token: Option<&str>, headers: &HeaderMap) -> Result<(), WebError> {
        check_csrf(&self.state.keys, &self.caller, token, headers).map_err(|e| self.fail(e))
    }

    /// Reads the page tree and frames the page in it: the sidebar with `current`
    /// highlighted, and the title. Returns the tree for handlers that list pages.
    async fn frame(
        &mut self,
        current: Option<&PageName>,
        title: &str,
    ) -> Result<Arc<Snapshot>, WebError> {
        let snap = self.tree().await?;
        self.with_sidebar(&snap, current, title);
        Ok(snap)
    }

    /// The layout with the page tree for this snapshot, the current page highlighted.
    fn with_sidebar(&mut self, snap: &Snapshot, current: Option<&PageName>, title: &str) {
        self.layout.sidebar = sidebar_html(&self.state, self.wiki.id, snap, current);
        self.layout.title = title.to_string();
        if let Some(c) = current {
            self.layout.page = c.as_str().to_string();
        }
    }
}

/// An operation's error, shown as this page's error page.
trait OrPage<T> {
    fn or_page(self, ctx: &Ctx) -> Result<T, WebError>;
}

impl<T> OrPage<T> for Result<T, Error> {
    fn or_page(self, ctx: &Ctx) -> Result<T, WebError> {
        self.map_err(|e| ctx.fail(e))
    }
}

/// The layout before the caller is authorized: a private wiki is named only once the
/// caller may read it ([`Ctx::new`]); until then its pages (errors: 401, 403, 404 of a
/// `/-/` path…) carry a generic site title, so they reveal only that the wiki exists.
fn base_layout(_state: &Services, wiki: &Wiki, caller: &Caller, return_to: &str) -> Layout {
    let login_url = format!("/-/login?return_to={}", urlencode(return_to));
    let name = if wiki.is_public {
        wiki.title.clone()
    } else {
        GENERIC_SITE_TITLE.to_string()
    };
    Layout {
        title: name.clone(),
        site_title: name,
        static_prefix: "/-/static",
        is_wiki: true,
        user: caller.principal.handle().map(String::from),
        csrf: caller.csrf.clone(),
        can_write: false,
        page: String::new(),
        sidebar: String::new(),
        login_url,
        logout_url: "/-/logout".into(),
    }
}

/// The site title of pages about a private wiki shown to someone who may not read it.
pub const GENERIC_SITE_TITLE: &str = "robot";

/// Sends the browser to sign in on the root. Sets (or keeps) this host's nonce cookie and
/// passes the nonce along: the hand-off code the root mints is bound to it, so only this
/// browser can redeem it at `/-/session` (see `root.rs`).
async fn login_redirect(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    use super::root::{HANDOFF_NONCE, nonce_cookie, nonce_from};
    let back = q
        .get("return_to")
        .and_then(|r| safe_local_path(r))
        .unwrap_or("/");
    let target = format!("{}{}", state.cfg.wiki_url(&wiki.slug), back);
    let nonce = nonce_from(&state, &headers, HANDOFF_NONCE)
        .unwrap_or_else(crate::access::session::random_token);
    let cookie = nonce_cookie(&state, HANDOFF_NONCE, &nonce, 3600);
    let to = format!(
        "{}/auth/login?return_to={}&nonce={nonce}",
        state.cfg.root_url(),
        urlencode(&target)
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(&to)).into_response()
}

// ---------------------------------------------------------------------------------------
// Page routes

/// What a page path asks for.
#[derive(Debug, PartialEq)]
enum PageAction {
    View(Option<String>),
    Edit,
    Save,
    Preview,
    Source(Option<String>),
    History,
    Diff(String, String),
    Blame(Option<String>),
    Rename,
    Delete,
    Attachments,
    Attachment(String),
    Download(String, Option<String>),
}

fn is_rev(s: &str) -> bool {
    s == "HEAD" || (s.len() >= 4 && s.len() <= 64 && s.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Splits `/Folder/Page/diff/abc123/def456` into the page name and its action.
fn parse_page_path(path: &str) -> Result<(String, PageAction), Error> {
    let decoded = percent_encoding::percent_decode_str(path.trim_start_matches('/'))
        .decode_utf8()
        .map_err(|_| Error::BadRequest("the path is not UTF-8".into()))?;
    let segs: Vec<&str> = decoded.split('/').collect();
    let n = segs.len();
    let page = |k: usize| segs[..n - k].join("/");
    let last = segs[n - 1];
    if n >= 4 && segs[n - 3] == "diff" && is_rev(segs[n - 2]) && is_rev(last) {
        return Ok((page(3), PageAction::Diff(segs[n - 2].into(), last.into())));
    }
    if n >= 4 && segs[n - 3] == "a" && is_rev(last) {
        return Ok((
            page(3),
            PageAction::Download(segs[n - 2].into(), Some(last.into())),
        ));
    }
    if n >= 3 && segs[n - 2] == "a" {
        return Ok((page(2), PageAction::Download(last.into(), None)));
    }
    if n >= 3 && segs[n - 2] == "attachment" {
        return Ok((page(2), PageAction::Attachment(last.into())));
    }
    if n >= 3 && is_rev(last) {
        let rev = Some(last.to_string());
        match segs[n - 2] {
            "view" => return Ok((page(2), PageAction::View(rev))),
            "source" => return Ok((page(2), PageAction::Source(rev))),
            "blame" => return Ok((page(2), PageAction::Blame(rev))),
            "edit" => return Ok((page(2), PageAction::Edit)),
            _ => {}
        }
    }
    if n >= 2 {
        let action = match last {
            "view" => Some(PageAction::View(None)),
            "edit" => Some(PageAction::Edit),
            "save" => Some(PageAction::Save),
            "preview" => Some(PageAction::Preview),
            "source" => Some(PageAction::Source(None)),
            "history" => Some(PageAction::History),
            "blame" => Some(PageAction::Blame(None)),
            "rename" => Some(PageAction::Rename),
            "delete" => Some(PageAction::Delete),
            "attachments" => Some(PageAction::Attachments),
            _ => None,
        };
        if let Some(a) = action {
            return Ok((page(1), a));
        }
    }
    Ok((decoded.into_owned(), PageAction::View(None)))
}

async fn home(
    state: State<Services>,
    wiki: CurrentWiki,
    caller: Caller,
    q: RawQuery,
    headers: HeaderMap,
) -> Response {
    show_page(state.0, wiki.0, caller, "Home".into(), None, q.0, headers)
        .await
        .into_response()
}

/// The fallback: every path that is not a `/-/` special is a page route.
async fn page_route(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    let path = uri.path().to_string();
    if path.starts_with("/-/") || path.starts_with("/.well-known/") || path == "/-" {
        let l = base_layout(&state, &wiki, &caller, &path);
        return WebError {
            error: Error::not_found("Not found"),
            layout: l,
            login_redirect: None,
        }
        .into_response();
    }
    let (name, action) = match parse_page_path(&path) {
        Ok(x) => x,
        Err(error) => {
            let l = base_layout(&state, &wiki, &caller, "/");
            return WebError {
                error,
                layout: l,
                login_redirect: None,
            }
            .into_response();
        }
    };
    let query = uri.query().map(String::from);
    // A form percent-encodes the page: a byte of Markdown is up to three of the body. The
    // page's own size limit is checked on the decoded text.
    let limit = 3 * state.cfg.limits.max_page_bytes + 64 * 1024;
    let result = match (method, action) {
        (Method::GET, PageAction::View(rev)) => {
            show_page(state, wiki, caller, name, rev, query, headers).await
        }
        (Method::GET, PageAction::Edit) => edit_form(state, wiki, caller, name, query).await,
        (Method::POST, PageAction::Save) => match read_form(request, limit).await {
            Ok(form) => save(state, wiki, caller, name, form, headers).await,
            Err(e) => Err(WebError {
                error: e,
                layout: base_layout(&state, &wiki, &caller, "/"),
                login_redirect: None,
            }),
        },
        (Method::POST, PageAction::Preview) => match read_form(request, limit).await {
            Ok(form) => preview(state, wiki, caller, name, form, headers).await,
            Err(e) => Ok((
                e.status(),
                Json(serde_json::json!({"error": e.public_message()})),
            )
                .into_response()),
        },
        (Method::GET, PageAction::Source(rev)) => source(state, wiki, caller, name, rev).await,
        (Method::GET, PageAction::History) => history(state, wiki, caller, name, query).await,
        (Method::GET, PageAction::Diff(a, b)) => diff(state, wiki, caller, name, a, b).await,
        (Method::GET, PageAction::Blame(rev)) => blame(state, wiki, caller, name, rev).await,
        (Method::GET, PageAction::Rename) => rename_form(state, wiki, caller, name, None).await,
        (Method::POST, PageAction::Rename) => match read_form(request, 64 * 1024).await {
            Ok(form) => rename_submit(state, wiki, caller, name, form, headers).await,
            Err(e) => Err(WebError {
                error: e,
                layout: base_layout(&state, &wiki, &caller, "/"),
                login_redirect: None,
            }),
        },
        (Method::GET, PageAction::Delete) => delete_form(state, wiki, caller, name).await,
        (Method::POST, PageAction::Delete) => match read_form(request, 64 * 1024).await {
            Ok(form) => delete_submit(state, wiki, caller, name, form, headers).await,
            Err(e) => Err(WebError {
                error: e,
                layout: base_layout(&state, &wiki, &caller, "/"),
                login_redirect: None,
            }),
        },
        (Method::GET, PageAction::Attachments) => {
            attachments(state, wiki, caller, name, None).await
        }
        (Method::POST, PageAction::Attachments) => {
            upload(state, wiki, caller, name, headers, request).await
        }
        (Method::POST, PageAction::Attachment(file)) => match read_form(request, 64 * 1024).await {
            Ok(form) => attachment_action(state, wiki, caller, name, file, form, headers).await,
            Err(e) => Err(WebError {
                error: e,
                layout: base_layout(&state, &wiki, &caller, "/"),
                login_redirect: None,
            }),
        },
        (Method::GET, PageAction::Attachment(file)) => Ok(Redirect::to(&format!(
            "/{}/a/{}",
            url_path_encode(&name),
            url_path_encode(&file)
        ))
        .into_response()),
        (Method::GET, PageAction::Download(file, None))
            if crate::wiki::thumbnails::applies_to(&file)
                && query_map(&query).contains_key("thumbnail") =>
        {
            let size = query_map(&query)
                .get("thumbnail")
                .map_or(crate::wiki::thumbnails::DEFAULT_SIZE, |v| {
                    crate::wiki::thumbnails::size_from_query(v)
                });
            thumbnail(state, wiki, caller, name, file, size).await
        }
        (Method::GET, PageAction::Download(file, rev)) => {
            download(state, wiki, caller, name, file, rev).await
        }
        _ => Ok((StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response()),
    };
    result.into_response()
}

/// Reads an urlencoded form body, refusing bodies over `limit` before reading them whole.
async fn read_form(
    request: axum::extract::Request,
    limit: usize,
) -> Result<BTreeMap<String, String>, Error> {
    let ct = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(Error::BadRequest(
            "expected a form (application/x-www-form-urlencoded)".into(),
        ));
    }
    let body = axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| Error::TooLarge(format!("The request is larger than {limit} bytes.")))?;
    Ok(super::parse_form(&body))
}

fn page_name(ctx: &Ctx, raw: &str) -> Result<PageName, WebError> {
    PageName::parse(raw).or_page(ctx)
}

fn query_map(q: &Option<String>) -> BTreeMap<String, String> {
    q.as_deref()
        .map(|q| super::parse_form(q.as_bytes()))
        .unwrap_or_default()
}

async fn show_page(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw_name: String,
    rev: Option<String>,
    query: Option<String>,
    headers: HeaderMap,
) -> WebResult {
    // The latest version of a page, as every anonymous reader of a public wiki sees it:
    // kept whole, by HEAD (see `views`). Asking for HEAD is the read operation, which
    // authorizes; when it refuses, the page below says why.
    let shared = rev.is_none()
        && query.as_deref().is_none_or(str::is_empty)
        && !caller.bad_bearer
        && views::shared(&caller.principal, &wiki);
    if shared
        && let Ok(head) = pages::head(&state, &caller, &wiki).await
        && let Some(view) = views::kept(&state, &views::key(&wiki, head, &raw_name))
    {
        return Ok(view.respond(&headers));
    }
    let mut ctx = Ctx::new(
        &state,
        wiki,
        caller,
        Action::Read,
        &format!("/{}", url_path_encode(&raw_name)),
    )
    .await?;
    let q = query_map(&query);
    let rev = rev
        .or_else(|| q.get("revision").cloned())
        .filter(|r| !r.is_empty());
    let name = page_name(&ctx, &raw_name)?;
    let raw = q.contains_key("raw");
    let (caller, wiki) = (&ctx.caller, &ctx.wiki);
    let found = if raw {
        pages::read(&state, caller, wiki, name.clone(), rev.clone())
            .await
            .map(|read| (read.snapshot, read.page, read.last_change, None))
    } else {
        pages::show(&state, caller, wiki, name.clone(), rev.clone())
            .await
            .map(|s| {
                let html = s.html().to_string();
                (s.snapshot, s.page, s.last_change, Some((s.rendered, html)))
            })
    };
    let (snap, page, rendered) = match found {
        Ok((snap, page, last_change, rendered)) => (snap, Some((page, last_change)), rendered),
        Err(Error::NotFound(_)) => (ctx.tree().await?, None, None),
        Err(e) => return Err(ctx.fail(e)),
    };
    let backlinks: Vec<(String, String)> = snap
        .backlinks(&name.file_path())
        .iter()
        .map(|e| (e.name.url(), e.title.clone()))
        .collect();
    let Some((page, last_change)) = page else {
        if rev.is_some() {
            return Err(ctx.fail(Error::not_found(format!(
                "Page not found at that revision: {name}"
            ))));
        }
        // A path naming an attachment of a parent page serves the file (Otterwiki's AutoRoute).
        if let Some((parent, file)) = raw_name.rsplit_once('/')
            && let Ok(parent) = PageName::parse(parent)
            && snap
                .files
                .contains_key(&format!("{}/{file}", snap.attachment_dir(&parent)))
        {
            return download(
                ctx.state.clone(),
                ctx.wiki.clone(),
                ctx.caller.clone(),
                parent.as_str().to_string(),
                file.to_string(),
                None,
            )
            .await;
        }
        let in_folder = snap.pages_under(&name);
        if let Some(first) = in_folder.first() {
            // The folder as its pages write it (`examples/x.md` → "Examples").
            let depth = name.as_str().split('/').count();
            let folder: Vec<&str> = first.name.as_str().split('/').take(depth).collect();
            let folder = PageName::parse(&folder.join("/")).unwrap_or(name.clone());
            let pages = in_folder
                .iter()
                .map(|e| {
                    let inside = e.name.as_str().splitn(depth + 1, '/').nth(depth);
                    (e.name.url(), inside.unwrap_or(e.name.as_str()).to_string())
                })
                .collect();
            ctx.with_sidebar(&snap, Some(&folder), folder.as_str());
            return Ok(render(&Folder {
                l: ctx.layout,
                name: folder.as_str().to_string(),
                url: folder.url(),
                pages,
            }));
        }
        ctx.with_sidebar(&snap, Some(&name), name.as_str());
        let mut resp = render(&Missing {
            l: ctx.layout,
            name: name.to_string(),
            url: name.url(),
            backlinks,
        });
        *resp.status_mut() = StatusCode::NOT_FOUND;
        return Ok(resp);
    };
    if raw {
        let mut body = page.content.clone();
        body.push_str(&format!(
            "\n[]: # ({}{})\n",
            state.cfg.wiki_url(&ctx.wiki.slug),
            page.name.url()
        ));
        return Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response());
    }
    let (rendered, html) = rendered.expect("rendered when not raw");
    ctx.with_sidebar(&snap, Some(&page.name), &page.title);
    let title = rendered.title.clone().unwrap_or_else(|| page.title.clone());
    let view = PageView {
        l: ctx.layout,
        has_h1: rendered.toc.first().is_some_and(|t| t.level == 1),
        path_label: page.name.as_str().replace('/', " › "),
        title,
        url: page.name.url(),
        html,
        toc: rendered.toc.clone(),
        backlinks,
        revision: rev,
        last_change,
        needs_math: rendered.needs_math,
        notices: rendered.notices.clone(),
    };
    let html = match askama::Template::render(&view) {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            return Ok((StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response());
        }
    };
    let view =
        crate::http::views::View::new(html, view.last_change.as_ref().map(|c| c.time), shared);
    if shared {
        views::keep(&state, views::key(&ctx.wiki, snap.head, &raw_name), &view);
    }
    Ok(view.respond(&headers))
}

async fn edit_form(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    query: Option<String>,
) -> WebResult {
    let url = format!("/{}/edit", url_path_encode(&raw));
    let mut ctx = Ctx::new(&state, wiki, caller, Action::Write, &url).await?;
    let name = page_name(&ctx, &raw)?;
    let page = match pages::read(&state, &ctx.caller, &ctx.wiki, name.clone(), None).await {
        Ok(read) => Some(read),
        Err(Error::NotFound(_)) => None,
        Err(e) => return Err(ctx.fail(e)),
    };
    let snap = match &page {
        Some(read) => read.snapshot.clone(),
        None => ctx.tree().await?,
    };
    ctx.with_sidebar(&snap, Some(&name), &format!("Edit {name}"));
    let (mut content, mut base, is_new) = match page {
        Some(read) => (read.page.content, read.page.commit, false),
        None => (format!("# {}\n\n", name.leaf()), String::new(), true),
    };
    // A draft left in an earlier editor is offered; `?draft=restore` puts it in this one,
    // against the revision it was begun at (so a change made since is a conflict).
    let draft = drafts::find(&state, &ctx.caller, &ctx.wiki, &name)
        .await
        .or_page(&ctx)?
        .filter(|d| d.content != content);
    let restore = query.as_deref() == Some("draft=restore");
    let draft = draft.map(|d| {
        if restore {
            content = d.content;
            base = d.base_revision;
        }
        (d.updated_at, restore)
    });
    Ok(render(&Edit {
        l: ctx.layout,
        name: name.to_string(),
        url: name.url(),
        is_new,
        content,
        base_revision: base,
        message: String::new(),
        conflict: None,
        error: None,
        draft,
    }))
}

/// `POST /-/drafts/save`: the editor keeps what is being typed (`page`, `content`,
/// `base_revision`, `csrf`). Answers 204, or the error as JSON for the editor to show.
async fn draft_save(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    let limit = 3 * state.cfg.limits.max_page_bytes + 64 * 1024;
    let kept = async {
        let form = read_form(request, limit).await?;
        check_csrf(
            &state.keys,
            &caller,
            form.get("csrf").map(String::as_str),
            &headers,
        )?;
        let name = PageName::parse(form.get("page").map_or("", String::as_str))?;
        let field = |k: &str| form.get(k).cloned().unwrap_or_default();
        drafts::keep(
            &state,
            &caller,
            &wiki,
            name,
            field("content"),
            field("base_revision"),
        )
        .await
    };
    match kept.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (
            e.status(),
            Json(serde_json::json!({"error": e.public_message()})),
        )
            .into_response(),
    }
}

/// `POST /-/drafts/discard`: drops the person's draft of `page`, back to the editor.
async fn draft_discard(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> WebResult {
    let form = read_form(request, 64 * 1024).await.map_err(|e| WebError {
        error: e,
        layout: base_layout(&state, &wiki, &caller, "/"),
        login_redirect: None,
    })?;
    let raw = form.get("page").cloned().unwrap_or_default();
    let url = format!("/{}/edit", url_path_encode(&raw));
    let ctx = Ctx::new(&state, wiki, caller, Action::Write, &url).await?;
    ctx.csrf(form.get("csrf").map(String::as_str), &headers)?;
    let name = page_name(&ctx, &raw)?;
    drafts::discard(&state, &ctx.caller, &ctx.wiki, &name)
        .await
        .or_page(&ctx)?;
    Ok(Redirect::to(&format!("{}/edit", name.url())).into_response())
}

async fn save(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    form: BTreeMap<String, String>,
    headers: HeaderMap,
) -> WebResult {
    let mut ctx = Ctx::new(
        &state,
        wiki,
        caller,
        Action::Write,
        &format!("/{}/edit", url_path_encode(&raw)),
    )
    .await?;
    ctx.csrf(form.get("csrf").map(String::as_str), &headers)?;
    let name = page_name(&ctx, &raw)?;
    let content = form.get("content").cloned().unwrap_or_default();
    let base = form.get("base_revision").cloned().unwrap_or_default();
    let message = form.get("commit").cloned().unwrap_or_default();
    let input = pages::Save {
        name: name.clone(),
        content: content.clone(),
        base: Some(base.clone()).filter(|b| !b.is_empty()),
        message: message.clone(),
    };
    let outcome = pages::save(&state, &ctx.caller, &ctx.wiki, Surface::Web, input)
        .await
        .or_page(&ctx);
    match outcome {
        Ok(pages::Saved::Written(w)) => Ok(Redirect::to(&w.name.url()).into_response()),
        Ok(pages::Saved::Stale { conflict, .. }) => {
            ctx.frame(Some(&name), &format!("Edit {name}")).await?;
            let editor_text = conflict
                .merged
                .clone()
                .unwrap_or_else(|| conflict.yours.clone());
            let mut resp = render(&Edit {
                l: ctx.layout,
                name: name.to_string(),
                url: name.url(),
                is_new: false,
                content: editor_text,
                base_revision: conflict.current_commit.clone(),
                message,
                conflict: Some(*conflict),
                error: None,
                draft: None,
            });
            *resp.status_mut() = StatusCode::CONFLICT;
            Ok(resp)
        }
        Err(we) => {
            // Keep the user's text: show the editor again with the error.
            let status = we.error.status();
            if matches!(we.error, Error::Internal(_)) {
                return Err(we);
            }
            ctx.frame(Some(&name), &format!("Edit {name}")).await?;
            let mut resp = render(&Edit {
                l: ctx.layout,
                name: name.to_string(),
                url: name.url(),
                is_new: base.is_empty(),
                content,
                base_revision: base,
                message,
                conflict: None,
                error: Some(we.error.public_message()),
                draft: None,
            });
            *resp.status_mut() = status;
            if let Error::RateLimited { retry_after_secs } = we.error {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Ok(resp)
        }
    }
}

async fn preview(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    form: BTreeMap<String, String>,
    headers: HeaderMap,
) -> WebResult {
    // Only writers preview, and a preview costs a render: it counts against the
    // write-rate limit like the save it leads to.
    let ctx = Ctx::new(&state, wiki, caller, Action::Write, "/").await?;
    ctx.csrf(form.get("csrf").map(String::as_str), &headers)?;
    let name = page_name(&ctx, &raw)?;
    let content = form.get("content").cloned().unwrap_or_default();
    let rendered = pages::preview(&state, &ctx.caller, &ctx.wiki, name, content)
        .await
        .or_page(&ctx)?;
    Ok(Json(serde_json::json!({
        "html": rendered.html,
        "toc": rendered.toc,
        "needs_math": rendered.needs_math,
        "needs_mermaid": rendered.needs_mermaid,
        "notices": rendered.notices,
    }))
    .into_response())
}

async fn source(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    rev: Option<String>,
) -> WebResult {
    let mut ctx = Ctx::new(
        &state,
        wiki,
        caller,
        Action::Read,
        &format!("/{}/source", url_path_encode(&raw)),
    )
    .await?;
    let name = page_name(&ctx, &raw)?;
    let (page, html) = pages::source(&state, &ctx.caller, &ctx.wiki, name.clone(), rev.clone())
        .await
        .or_page(&ctx)?;
    ctx.frame(Some(&name), &format!("Source of {name}")).await?;
    Ok(render(&Source {
        l: ctx.layout,
        name: page.name.to_string(),
        url: page.name.url(),
        revision: rev,
        html,
    }))
}

const HISTORY_PAGE: usize = 50;

async fn history(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    query: Option<String>,
) -> WebResult {
    let mut ctx = Ctx::new(
        &state,
        wiki,
        caller,
        Action::Read,
        &format!("/{}/history", url_path_encode(&raw)),
    )
    .await?;
    let name = page_name(&ctx, &raw)?;
    let q = query_map(&query);
    if let (Some(a), Some(b)) = (q.get("rev_a"), q.get("rev_b"))
        && is_rev(a)
        && is_rev(b)
    {
        return Ok(Redirect::to(&format!("{}/diff/{a}/{b}", name.url())).into_response());
    }
    let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let (name, mut commits) = reads::history(
        &state,
        &ctx.caller,
        &ctx.wiki,
        name,
        offset,
        HISTORY_PAGE + 1,
    )
    .await
    .or_page(&ctx)?;
    ctx.frame(Some(&name), &format!("History of {name}"))
        .await?;
    let has_more = commits.len() > HISTORY_PAGE;
    commits.truncate(HISTORY_PAGE);
    Ok(render(&History {
        l: ctx.layout,
        name: name.to_string(),
        url: name.url(),
        commits,
        offset,
        prev_offset: offset.saturating_sub(HISTORY_PAGE),
        next_offset: offset + HISTORY_PAGE,
        has_more,
    }))
}

async fn diff(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    a: String,
    b: String,
) -> WebResult {
    let mut ctx = Ctx::new(&state, wiki, caller, Action::Read, "/").await?;
    let name = page_name(&ctx, &raw)?;
    let files = reads::diff(
        &state,
        &ctx.caller,
        &ctx.wiki,
        name.clone(),
        a.clone(),
        b.clone(),
    )
    .await
    .or_page(&ctx)?;
    ctx.frame(Some(&name), &format!("Diff of {name}")).await?;
    Ok(render(&Diff {
        l: ctx.layout,
        heading: format!("{name}: {a} → {b}"),
        commit: None,
        commit_id: String::new(),
        can_revert: false,
        files,
    }))
}

async fn blame(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    rev: Option<String>,
) -> WebResult {
    let mut ctx = Ctx::new(
        &state,
        wiki,
        caller,
        Action::Read,
        &format!("/{}/blame", url_path_encode(&raw)),
    )
    .await?;
    let name = page_name(&ctx, &raw)?;
    let lines = reads::blame(&state, &ctx.caller, &ctx.wiki, name.clone(), rev)
        .await
        .or_page(&ctx)?;
    ctx.frame(Some(&name), &format!("Blame of {name}")).await?;
    Ok(render(&Blame {
        l: ctx.layout,
        name: name.to_string(),
        url: name.url(),
        lines,
    }))
}

async fn rename_form(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    error: Option<String>,
) -> WebResult {
    let mut ctx = Ctx::new(
        &state,
        wiki,
        caller,
        Action::Write,
        &format!("/{}/rename", url_path_encode(&raw)),
    )
    .await?;
    let name = page_name(&ctx, &raw)?;
    let snap = ctx.tree().await?;
    let entry = snap
        .page(&name.file_path())
        .ok_or_else(|| ctx.fail(Error::not_found(format!("Page not found: {name}"))))?;
    let name = entry.name.clone();
    ctx.with_sidebar(&snap, Some(&name), &format!("Rename {name}"));
    let backlinks = snap.backlinks(&entry.path).len();
    Ok(render(&Form {
        l: ctx.layout,
        heading: format!("Rename {name}"),
        intro: format!("{backlinks} page(s) link here."),
        action: format!("{}/rename", name.url()),
        fields: vec![
            Field::text("new_pagename", "New name", name.as_str()).required(),
            Field::text("message", "Commit message", ""),
            Field::checkbox("update_backlinks", "Update links in other pages", true),
        ],
        submit: "Rename".into(),
        cancel: name.url(),
        danger: false,
        confirm: String::new(),
        error,
    }))
}

async fn rename_submit(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    form: BTreeMap<String, String>,
    headers: HeaderMap,
) -> WebResult {
    let ctx = Ctx::new(&state, wiki.clone(), caller.clone(), Action::Write, "/").await?;
    ctx.csrf(form.get("csrf").map(String::as_str), &headers)?;
    let old = page_name(&ctx, &raw)?;
    let new_raw = form.get("new_pagename").cloned().unwrap_or_default();
    let new = match PageName::parse(&new_raw) {
        Ok(n) => n,
        Err(e) => return rename_form(state, wiki, caller, raw, Some(e.public_message())).await,
    };
    let input = pages::Rename {
        from: old,
        to: new,
        update_backlinks: form.contains_key("update_backlinks"),
        message: form.get("message").cloned().unwrap_or_default(),
    };
    match pages::rename(&state, &ctx.caller, &ctx.wiki, Surface::Web, input)
        .await
        .or_page(&ctx)
    {
        Ok(r) => Ok(Redirect::to(&r.to.url()).into_response()),
        Err(we) if !matches!(we.error, Error::Internal(_)) => {
            let status = we.error.status();
            let mut r = rename_form(state, wiki, caller, raw, Some(we.error.public_message()))
                .await
                .into_response();
            *r.status_mut() = status;
            if let Error::RateLimited { retry_after_secs } = we.error {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Ok(r)
        }
        Err(we) => Err(we),
    }
}

async fn delete_form(state: Services, wiki: Wiki, caller: Caller, raw: String) -> WebResult {
    let mut ctx = Ctx::new(
        &state,
        wiki,
        caller,
        Action::Write,
        &format!("/{}/delete", url_path_encode(&raw)),
    )
    .await?;
    let name = page_name(&ctx, &raw)?;
    let snap = ctx.tree().await?;
    let entry = snap
        .page(&name.file_path())
        .ok_or_else(|| ctx.fail(Error::not_found(format!("Page not found: {name}"))))?;
    let name = entry.name.clone();
    ctx.with_sidebar(&snap, Some(&name), &format!("Delete {name}"));
    Ok(render(&Form {
        l: ctx.layout,
        heading: format!("Delete {name}"),
        intro: "The page stays in the history and can be restored by reverting the commit.".into(),
        action: format!("{}/delete", name.url()),
        fields: vec![
            Field::text("message", "Commit message", ""),
            Field::checkbox(
                "recursive",
                "Also delete its attachments and subpages",
                false,
            ),
        ],
        submit: "Delete".into(),
        cancel: name.url(),
        danger: true,
        confirm: format!("Delete {name}?"),
        error: None,
    }))
}

async fn delete_submit(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    form: BTreeMap<String, String>,
    headers: HeaderMap,
) -> WebResult {
    let ctx = Ctx::new(&state, wiki, caller, Action::Write, "/").await?;
    ctx.csrf(form.get("csrf").map(String::as_str), &headers)?;
    let input = pages::Delete {
        name: page_name(&ctx, &raw)?,
        recursive: form.contains_key("recursive"),
        message: form.get("message").cloned().unwrap_or_default(),
    };
    pages::delete(&state, &ctx.caller, &ctx.wiki, Surface::Web, input)
        .await
        .or_page(&ctx)?;
    Ok(Redirect::to("/").into_response())
}

async fn attachments(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    error: Option<String>,
) -> WebResult {
    let mut ctx = Ctx::new(
        &state,
        wiki,
        caller,
        Action::Read,
        &format!("/{}/attachments", url_path_encode(&raw)),
    )
    .await?;
    let name = page_name(&ctx, &raw)?;
    let (name, files) = reads::attachments(&state, &ctx.caller, &ctx.wiki, name)
        .await
        .or_page(&ctx)?;
    ctx.frame(Some(&name), &format!("Attachments of {name}"))
        .await?;
    ctx.layout.can_write = ctx.grant.can(Action::Upload);
    Ok(render(&Attachments {
        l: ctx.layout,
        name: name.to_string(),
        url: name.url(),
        files,
        error,
    }))
}

async fn upload(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> WebResult {
    let ctx = Ctx::new(&state, wiki.clone(), caller.clone(), Action::Upload, "/").await?;
    let name = page_name(&ctx, &raw)?;
    let limit = state.cfg.limits.max_attachment_bytes;
    // The body limit layer allows the largest attachment plus form overhead; each part
    // is checked again as it is read.
    let mut multipart = match Multipart::from_request(request, &state).await {
        Ok(m) => m,
        Err(e) => {
            return Err(ctx.fail(Error::BadRequest(format!(
                "expected a multipart upload: {e}"
            ))));
        }
    };
    let mut files = Vec::new();
    let mut csrf = None;
    let mut message = String::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let err = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Error::TooLarge(format!(
                        "Attachment too large. Maximum size is {limit} bytes."
                    ))
                } else {
                    Error::BadRequest(format!("malformed upload: {e}"))
                };
                return Err(ctx.fail(err));
            }
        };
        match field.name().unwrap_or("") {
            "csrf" => csrf = field.text().await.ok(),
            "message" => message = field.text().await.unwrap_or_default(),
            "file" => {
                let fname = field.file_name().unwrap_or("").to_string();
                let data = field.bytes().await.map_err(|e| {
                    ctx.fail(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        Error::TooLarge(format!(
                            "Attachment too large. Maximum size is {limit} bytes."
                        ))
                    } else {
                        Error::BadRequest(format!("malformed upload: {e}"))
                    })
                })?;
                if !fname.is_empty() {
                    files.push((fname, data.to_vec()));
                }
            }
            _ => {}
        }
    }
    ctx.csrf(csrf.as_deref(), &headers)?;
    let input = attachments::Upload {
        page: name.clone(),
        files,
        message,
    };
    match attachments::upload(&state, &ctx.caller, &ctx.wiki, Surface::Web, input)
        .await
        .or_page(&ctx)
    {
        Ok(_) => Ok(Redirect::to(&format!("{}/attachments", name.url())).into_response()),
        Err(we) if !matches!(we.error, Error::Internal(_)) => {
            let status = we.error.status();
            let mut r = attachments(state, wiki, caller, raw, Some(we.error.public_message()))
                .await
                .into_response();
            *r.status_mut() = status;
            Ok(r)
        }
        Err(we) => Err(we),
    }
}

use axum::extract::FromRequest;

async fn attachment_action(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    file: String,
    form: BTreeMap<String, String>,
    headers: HeaderMap,
) -> WebResult {
    let ctx = Ctx::new(&state, wiki, caller, Action::Upload, "/").await?;
    ctx.csrf(form.get("csrf").map(String::as_str), &headers)?;
    let name = page_name(&ctx, &raw)?;
    if form.get("action").map(String::as_str) != Some("delete") {
        return Err(ctx.fail(Error::BadRequest("unknown attachment action".into())));
    }
    let message = form.get("message").cloned().unwrap_or_default();
    attachments::delete(
        &state,
        &ctx.caller,
        &ctx.wiki,
        Surface::Web,
        name.clone(),
        file,
        message,
    )
    .await
    .or_page(&ctx)?;
    Ok(Redirect::to(&format!("{}/attachments", name.url())).into_response())
}

/// `/Page/a/photo.png?thumbnail=N`: the image fitted inside N×N pixels (80 without N).
async fn thumbnail(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    file: String,
    size: u32,
) -> WebResult {
    let ctx = Ctx::new(&state, wiki, caller, Action::Read, "/").await?;
    let name = page_name(&ctx, &raw)?;
    let made = reads::thumbnail(&state, &ctx.caller, &ctx.wiki, name, file, size)
        .await
        .or_page(&ctx)?;
    let (bytes, mime) = (made.0.clone(), made.1);
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::wiki::attachment_type::SANDBOX_CSP),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(resp)
}

async fn download(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    raw: String,
    file: String,
    rev: Option<String>,
) -> WebResult {
    let ctx = Ctx::new(&state, wiki, caller, Action::Read, "/").await?;
    let name = page_name(&ctx, &raw)?;
    let immutable = rev.is_some();
    let (bytes, _) = reads::attachment(&state, &ctx.caller, &ctx.wiki, name, file.clone(), rev)
        .await
        .or_page(&ctx)?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    // Uploaded files share the wiki's origin: never let one run script there. One
    // function decides the type and disposition (outside its allow-list: a download).
    let served = crate::wiki::attachment_type::serve_as(&file);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&served.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::wiki::attachment_type::SANDBOX_CSP),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&served.disposition)
            .unwrap_or(HeaderValue::from_static("attachment")),
    );
    if immutable {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=604800, immutable"),
        );
    } else {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
    }
    Ok(resp)
}

// ---------------------------------------------------------------------------------------
// Site-wide pages

async fn create_form(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    Query(q): Query<BTreeMap<String, String>>,
) -> WebResult {
    let mut ctx = Ctx::new(&state, wiki, caller, Action::Write, "/-/create").await?;
    ctx.frame(None, "Create a page").await?;
    Ok(render(&create_page_form(
        ctx.layout,
        q.get("pagename").cloned().unwrap_or_default(),
        None,
    )))
}

fn create_page_form(l: Layout, name: String, error: Option<String>) -> Form {
    Form {
        l,
        heading: "Create a page".into(),
        intro: String::new(),
        action: "/-/create".into(),
        fields: vec![
            Field::text("pagename", "Page name", &name)
                .required()
                .hint("Use / for folders, e.g. Projects/Robot"),
        ],
        submit: "Create".into(),
        cancel: "/".into(),
        danger: false,
        confirm: String::new(),
        error,
    }
}

async fn create_submit(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> WebResult {
    let mut ctx = Ctx::new(&state, wiki, caller, Action::Write, "/-/create").await?;
    let form = read_form(request, 64 * 1024).await.or_page(&ctx)?;
    ctx.csrf(form.get("csrf").map(String::as_str), &headers)?;
    let raw = form.get("pagename").cloned().unwrap_or_default();
    match PageName::parse(&raw) {
        Ok(name) => {
            if ctx.tree().await?.has_page(&name.file_path()) {
                return Ok(Redirect::to(&name.url()).into_response());
            }
            Ok(Redirect::to(&format!("{}/edit", name.url())).into_response())
        }
        Err(e) => {
            ctx.frame(None, "Create a page").await?;
            let mut r = render(&create_page_form(ctx.layout, raw, Some(e.public_message())));
            *r.status_mut() = StatusCode::BAD_REQUEST;
            Ok(r)
        }
    }
}

/// An error of an answer made for machines (`robots.txt`, the sitemap): the plain error
/// page, without the wiki's layout or a sign-in redirect.
fn machine_error(error: Error) -> WebError {
    WebError {
        error,
        layout: Default::default(),
        login_redirect: None,
    }
}

/// `robots.txt`: a wiki anonymous readers may read is open to crawlers (its pages, not
/// the `/-/` tools: search, changelog, sign-in), with its sitemap; any other wiki is
/// closed to them.
async fn robots_txt(State(state): State<Services>, CurrentWiki(wiki): CurrentWiki) -> WebResult {
    let body = match reads::crawlable(&state, &wiki).await {
        Ok(true) => format!(
            "User-agent: *\nDisallow: /-/\nAllow: /\n\nSitemap: {}/sitemap.xml\n",
            state.cfg.wiki_url(&wiki.slug)
        ),
        Ok(false) => "User-agent: *\nDisallow: /\n".to_string(),
        Err(error) => return Err(machine_error(error)),
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}

/// `sitemap.xml` (sitemaps.org 0.9): every page an anonymous reader may read, with the
/// day it last changed; a wiki closed to anonymous readers has none.
async fn sitemap_xml(State(state): State<Services>, CurrentWiki(wiki): CurrentWiki) -> WebResult {
    let pages = match reads::crawlable_pages(&state, &wiki).await {
        Ok(Some(pages)) => pages,
        Ok(None) => {
            return Err(machine_error(Error::not_found("This wiki has no sitemap.")));
        }
        Err(error) => return Err(machine_error(error)),
    };
    let base = state.cfg.wiki_url(&wiki.slug);
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for p in pages {
        let Ok(name) = PageName::parse(&p.name) else {
            continue;
        };
        xml.push_str("<url><loc>");
        xml.push_str(&markdown::html_escape_text(&format!(
            "{base}{}",
            name.url()
        )));
        xml.push_str("</loc>");
        if let Some(day) = chrono::DateTime::from_timestamp(p.updated, 0).filter(|_| p.updated > 0)
        {
            xml.push_str(&format!("<lastmod>{}</lastmod>", day.format("%Y-%m-%d")));
        }
        xml.push_str("</url>\n");
    }
    xml.push_str("</urlset>\n");
    Ok((
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        xml,
    )
        .into_response())
}

async fn page_index(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
) -> WebResult {
    let mut ctx = Ctx::new(&state, wiki, caller, Action::Read, "/-/index").await?;
    let snap = ctx.tree().await?;
    let mut groups: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut pages: Vec<_> = snap.pages.values().collect();
    pages.sort_by_key(|p| p.name.as_str().to_lowercase());
    for p in &pages {
        let letter = p
            .name
            .as_str()
            .chars()
            .next()
            .map(|c| c.to_uppercase().to_string())
            .unwrap_or_default();
        let letter = if letter.chars().all(char::is_alphabetic) {
            letter
        } else {
            "#".into()
        };
        groups
            .entry(letter)
            .or_default()
            .push((p.name.url(), p.name.as_str().to_string()));
    }
    ctx.with_sidebar(&snap, None, "Page index");
    Ok(render(&Index {
        l: ctx.layout,
        count: pages.len(),
        groups: groups.into_iter().collect(),
    }))
}

const CHANGELOG_PAGE: usize = 100;

async fn changelog(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    Query(q): Query<BTreeMap<String, String>>,
) -> WebResult {
    let mut ctx = Ctx::new(&state, wiki, caller, Action::Read, "/-/changelog").await?;
    let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let (entries, total) = reads::changelog(&state, &ctx.caller, &ctx.wiki, offset, CHANGELOG_PAGE)
        .await
        .or_page(&ctx)?;
    let snap = ctx.tree().await?;
    let entries = entries
        .into_iter()
        .map(|(c, paths)| {
            let pages = paths
                .iter()
                .filter(|p| p.ends_with(".md"))
                .map(|p| {
                    let n = snap
                        .page(p)
                        .map(|e| e.name.clone())
                        .unwrap_or_else(|| PageName::from_path(p));
                    (n.url(), n.as_str().to_string())
                })
                .collect();
            (c, pages)
        })
        .collect();
    ctx.with_sidebar(&snap, None, "Recent changes");
    Ok(render(&Changelog {
        l: ctx.layout,
        entries,
        offset,
        prev_offset: offset.saturating_sub(CHANGELOG_PAGE),
        next_offset: offset + CHANGELOG_PAGE,
        has_more: offset + CHANGELOG_PAGE < total,
        total,
    }))
}

async fn commit_view(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    Path(rev): Path<String>,
) -> WebResult {
    let mut ctx = Ctx::new(
        &state,
        wiki,
        caller,
        Action::Read,
        &format!("/-/commit/{rev}"),
    )
    .await?;
    let (info, files) = reads::commit(&state, &ctx.caller, &ctx.wiki, rev)
        .await
        .or_page(&ctx)?;
    ctx.frame(None, &format!("Commit {}", info.short)).await?;
    let can_revert = ctx.grant.can(Action::Write) && info.parents.len() == 1;
    Ok(render(&Diff {
        l: ctx.layout,
        heading: format!("Commit {}", info.short),
        commit_id: info.id.clone(),
        commit: Some(info),
        can_revert,
        files,
    }))
}

async fn revert_form(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    Path(rev): Path<String>,
) -> WebResult {
    let mut ctx = Ctx::new(
        &state,
        wiki,
        caller,
        Action::Write,
        &format!("/-/revert/{rev}"),
    )
    .await?;
    let (info, _) = reads::commit(&state, &ctx.caller, &ctx.wiki, rev)
        .await
        .or_page(&ctx)?;
    ctx.frame(None, "Revert a commit").await?;
    Ok(render(&Form {
        l: ctx.layout,
        heading: format!("Revert commit {}", info.short),
        intro: format!(
            "“{}” by {}. Reverting makes a new commit that undoes it.",
            info.summary(),
            info.author
        ),
        action: format!("/-/revert/{}", info.id),
        fields: vec![],
        submit: "Revert".into(),
        cancel: format!("/-/commit/{}", info.id),
        danger: true,
        confirm: String::new(),
        error: None,
    }))
}

async fn revert_submit(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    Path(rev): Path<String>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> WebResult {
    let ctx = Ctx::new(&state, wiki, caller, Action::Write, "/").await?;
    let form = read_form(request, 16 * 1024).await.or_page(&ctx)?;
    ctx.csrf(form.get("csrf").map(String::as_str), &headers)?;
    let commit = pages::revert(&state, &ctx.caller, &ctx.wiki, rev)
        .await
        .or_page(&ctx)?;
    Ok(Redirect::to(&format!("/-/commit/{commit}")).into_response())
}

/// Results per search page.
const SEARCH_PAGE: usize = 20;

async fn search_path(
    state: State<Services>,
    wiki: CurrentWiki,
    caller: Caller,
    Path(q): Path<String>,
) -> WebResult {
    let mut m = BTreeMap::new();
    m.insert("q".to_string(), q);
    search(state, wiki, caller, Query(m)).await
}

async fn search(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    Query(q): Query<BTreeMap<String, String>>,
) -> WebResult {
    use crate::service::search::{self as find, Mode};
    let mut ctx = Ctx::new(&state, wiki, caller, Action::Read, "/-/search").await?;
    let query = q
        .get("q")
        .or_else(|| q.get("query"))
        .cloned()
        .unwrap_or_default();
    let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let semantic_on = state.semantic.enabled();
    let asked = q
        .get("mode")
        .and_then(|m| Mode::parse(m))
        .unwrap_or_else(|| Mode::default_for(&state));
    let (mode, notice, total, results) = if query.trim().is_empty() {
        (asked, None, 0, Vec::new())
    } else {
        let found = find::search(
            &state,
            &ctx.caller,
            &ctx.wiki,
            query.clone(),
            asked,
            SEARCH_PAGE,
            offset,
        )
        .await
        .or_page(&ctx)?;
        let results = found
            .hits
            .into_iter()
            .map(|h| SearchResult::new(h.name.url(), h.title, &h.file, h.snippet_html, h.how))
            .collect();
        (found.mode, found.notice, found.total, results)
    };
    ctx.frame(None, "Search").await?;
    let more = offset + SEARCH_PAGE < total;
    Ok(render(&Search {
        l: ctx.layout,
        query_url: urlencode(&query),
        query,
        mode: mode.as_str(),
        semantic_on,
        notice,
        total,
        results,
        offset,
        prev_offset: offset.saturating_sub(SEARCH_PAGE),
        next_offset: more.then_some(offset + SEARCH_PAGE),
    }))
}

// ---------------------------------------------------------------------------------------
// Sidebar

/// The page tree of a wiki's snapshot as HTML, rendered once per HEAD and kept in
/// `Services::trees` (`[cache] trees`): a function of the commit alone, checked on every use.
fn page_tree(state: &Services, wiki_id: i64, snap: &Snapshot) -> Arc<String> {
    if let Some((_, html)) = state.trees.get_if(&wiki_id, |(head, _)| *head == snap.head) {
        return html;
    }
    let html = Arc::new(sidebar_tree(snap));
    let bytes = html.len() + 64;
    state
        .trees
        .insert(wiki_id, (snap.head, html.clone()), bytes);
    html
}

/// The tree with the current page marked and the folders above it open.
fn sidebar_html(
    state: &Services,
    wiki_id: i64,
    snap: &Snapshot,
    current: Option<&PageName>,
) -> String {
    let base = page_tree(state, wiki_id, snap);
    let Some(cur) = current else {
        return base.to_string();
    };
    let href = format!("<a href=\"{}\">", markdown::html_escape_attr(&cur.url()));
    let mut html = base.replacen(
        &href,
        &format!(
            "<a class=\"current\" href=\"{}\">",
            markdown::html_escape_attr(&cur.url())
        ),
        1,
    );
    let segs: Vec<&str> = cur.as_str().split('/').collect();
    for i in 1..segs.len() {
        let dir = markdown::html_escape_attr(&segs[..i].join("/").to_lowercase());
        html = html.replacen(
            &format!("<details data-dir=\"{dir}\">"),
            &format!("<details open data-dir=\"{dir}\">"),
            1,
        );
    }
    html
}

/// Most entries shown per folder; the page index lists everything.
const SIDEBAR_MAX: usize = 150;

/// The page tree as nested lists; folders are `<details data-dir="…">`.
fn sidebar_tree(snap: &Snapshot) -> String {
    #[derive(Default)]
    struct Node {
        page: Option<(String, String)>,
        /// The folder as its pages' names write it, and its URL (its page, or its index).
        folder: (String, String),
        children: BTreeMap<String, Node>,
    }
    let mut root = Node::default();
    for p in snap.pages.values() {
        let mut node = &mut root;
        let segs: Vec<&str> = p.name.as_str().split('/').collect();
        for (i, seg) in segs.iter().enumerate() {
            node = node.children.entry(seg.to_lowercase()).or_default();
            if node.folder.0.is_empty() {
                let path = segs[..=i].join("/");
                node.folder = (
                    seg.to_string(),
                    format!("/{}", crate::wiki::names::url_path_encode(&path)),
                );
            }
        }
        node.page = Some((p.name.url(), p.name.leaf().to_string()));
    }
    fn walk(node: &Node, prefix: &str, out: &mut String) {
        out.push_str("<ul>");
        for (i, (key, child)) in node.children.iter().enumerate() {
            if i == SIDEBAR_MAX {
                out.push_str("<li><a href=\"/-/index\">… all pages</a></li>");
                break;
            }
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}/{key}")
            };
            let link = |out: &mut String, (url, label): &(String, String)| {
                out.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    markdown::html_escape_attr(url),
                    markdown::html_escape_text(label)
                ));
            };
            out.push_str("<li>");
            if child.children.is_empty() {
                if let Some(p) = &child.page {
                    link(out, p);
                }
            } else {
                out.push_str(&format!(
                    "<details data-dir=\"{}\"><summary>",
                    markdown::html_escape_attr(&path)
                ));
                match &child.page {
                    Some(p) => link(out, p),
                    None => link(out, &(child.folder.1.clone(), child.folder.0.clone())),
                }
                out.push_str("</summary>");
                walk(child, &path, out);
                out.push_str("</details>");
            }
            out.push_str("</li>");
        }
        out.push_str("</ul>");
    }
    let mut out = String::new();
    walk(&root, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_paths_parse_to_actions() {
        let p = |s: &str| parse_page_path(s).unwrap();
        assert_eq!(p("/Home"), ("Home".into(), PageAction::View(None)));
        assert_eq!(
            p("/Folder/Two%20Words/edit"),
            ("Folder/Two Words".into(), PageAction::Edit)
        );
        assert_eq!(
            p("/A/diff/abcd12/ef0123"),
            (
                "A".into(),
                PageAction::Diff("abcd12".into(), "ef0123".into())
            )
        );
        assert_eq!(
            p("/A/B/a/pic.png"),
            ("A/B".into(), PageAction::Download("pic.png".into(), None))
        );
        assert_eq!(
            p("/A/a/pic.png/abcdef"),
            (
                "A".into(),
                PageAction::Download("pic.png".into(), Some("abcdef".into()))
            )
        );
        assert_eq!(
            p("/A/view/HEAD"),
            ("A".into(), PageAction::View(Some("HEAD".into())))
        );
        assert_eq!(p("/A/history"), ("A".into(), PageAction::History));
        assert_eq!(
            p("/history"),
            ("history".into(), PageAction::View(None)),
            "a lone action word is a page"
        );
    }
}
