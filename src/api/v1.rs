//! The per-wiki REST API, `/api/v1` on each wiki host, compatible with the shapes and error
//! texts of the reference (otterwiki-api): pages, history, changelog, search, links,
//! attachments. Unlike the reference, every call goes through `authorize`: credentials are
//! the wiki token (Bearer), or the session cookie — then unsafe methods need the
//! `X-CSRF-Token` header. Writes are commits authored by the caller.
//!
//! Errors are `{"error": "<text>"}` (plus `current_revision` on a revision mismatch).
//! The OpenAPI document is built from [`ENDPOINTS`], the same table the tests walk.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::Action;
use crate::access::{Caller, CurrentWiki};
use crate::db::wikis::Wiki;
use crate::error::Error;
use crate::service::Services;
use crate::service::op::Surface;
use crate::service::{attachments, pages, reads, search as find};
use crate::wiki::front_matter;
use crate::wiki::names::PageName;
use crate::wiki::query::{iso_time, parse_date};
use crate::wiki::store::CommitInfo;

/// An API error in the reference's shape.
pub struct V1Error {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
    /// The `WWW-Authenticate` of a 401 (default: `Bearer`).
    challenge: Option<String>,
}

impl V1Error {
    fn new(status: StatusCode, msg: impl Into<String>) -> V1Error {
        V1Error {
            status,
            body: json!({"error": msg.into()}),
            retry_after: None,
            challenge: None,
        }
    }

    /// A 401's challenge names this API's protected-resource metadata (RFC 9728 §5.1), so
    /// an OAuth client can find how to get a token for it (`{wiki}/api/v1`).
    fn with_challenge(mut self, state: &Services, wiki: &Wiki, error: Option<&str>) -> V1Error {
        if self.status == StatusCode::UNAUTHORIZED {
            let metadata = format!(
                "{}/.well-known/oauth-protected-resource/api/v1",
                state.cfg.wiki_url(&wiki.slug)
            );
            self.challenge = Some(match error {
                Some(e) => format!("Bearer error=\"{e}\", resource_metadata=\"{metadata}\""),
                None => format!("Bearer resource_metadata=\"{metadata}\""),
            });
        }
        self
    }
}

impl From<Error> for V1Error {
    fn from(e: Error) -> V1Error {
        e.log();
        let retry_after = match e {
            Error::RateLimited { retry_after_secs } => Some(retry_after_secs),
            _ => None,
        };
        let mut body = json!({"error": match &e {
            Error::Unauthorized => "Authentication required".to_string(),
            Error::RateLimited { .. } => "Rate limit exceeded".to_string(),
            other => other.public_message(),
        }});
        if let Error::Conflict {
            current: Some(c), ..
        } = &e
        {
            body["current_revision"] = c.clone().into();
        }
        V1Error {
            status: e.status(),
            body,
            retry_after,
            challenge: None,
        }
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let v = self
                .challenge
                .and_then(|c| HeaderValue::from_str(&c).ok())
                .unwrap_or(HeaderValue::from_static("Bearer"));
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

type V1Result = Result<Response, V1Error>;

/// One documented endpoint: the OpenAPI document is generated from this table.
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// `read` or `write`: the action `authorize` is asked for.
    pub access: &'static str,
    pub query: &'static [(&'static str, &'static str)],
    /// JSON body fields as (name, type, required).
    pub body: &'static [(&'static str, &'static str, bool)],
    pub ok: u16,
}

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/health",
        summary: "Liveness of the API",
        access: "none",
        query: &[],
        body: &[],
        ok: 200,
    },
    Endpoint {
        method: "get",
        path: "/pages",
        summary: "List pages, filtered and paginated",
        access: "read",
        query: &[
            ("prefix", "string"),
            ("category", "string"),
            ("tag", "string"),
            ("updated_since", "string"),
            ("limit", "integer"),
            ("offset", "integer"),
        ],
        body: &[],
        ok: 200,
    },
    Endpoint {
        method: "get",
        path: "/pages/{path}",
        summary: "Read a page (optionally at a revision)",
        access: "read",
        query: &[("revision", "string")],
        body: &[],
        ok: 200,
    },
    Endpoint {
        method: "put",
        path: "/pages/{path}",
        summary: "Create or update a page (updates need the revision read)",
        access: "write",
        query: &[],
        body: &[
            ("content", "string", true),
            ("commit_message", "string", false),
            ("revision", "string", false),
        ],
        ok: 200,
    },
    Endpoint {
        method: "patch",
        path: "/pages/{path}",
        summary: "Replace one unique string in a page",
        access: "write",
        query: &[],
        body: &[
            ("revision", "string", true),
            ("old_string", "string", true),
            ("new_string", "string", true),
            ("commit_message", "string", false),
        ],
        ok: 200,
    },
    Endpoint {
        method: "delete",
        path: "/pages/{path}",
        summary: "Delete a page",
        access: "write",
        query: &[],
        body: &[("commit_message", "string", false)],
        ok: 200,
    },
    Endpoint {
        method: "post",
        path: "/pages/{path}/rename",
        summary: "Rename a page, rewriting links to it (one commit)",
        access: "write",
        query: &[],
        body: &[
            ("new_path", "string", true),
            ("commit_message", "string", false),
        ],
        ok: 200,
    },
    Endpoint {
        method: "get",
        path: "/pages/{path}/history",
        summary: "A page's history",
        access: "read",
        query: &[("limit", "integer")],
        body: &[],
        ok: 200,
    },
    Endpoint {
        method: "get",
        path: "/pages/{path}/attachments",
        summary: "A page's attachments",
        access: "read",
        query: &[],
        body: &[],
        ok: 200,
    },
    Endpoint {
        method: "post",
        path: "/pages/{path}/attachments",
        summary: "Upload an attachment (base64 content)",
        access: "write",
        query: &[],
        body: &[
            ("filename", "string", true),
            ("content", "string", true),
            ("commit_message", "string", false),
        ],
        ok: 201,
    },
    Endpoint {
        method: "get",
        path: "/pages/{path}/attachments/{filename}",
        summary: "Download an attachment (base64)",
        access: "read",
        query: &[],
        body: &[],
        ok: 200,
    },
    Endpoint {
        method: "delete",
        path: "/pages/{path}/attachments/{filename}",
        summary: "Delete an attachment",
        access: "write",
        query: &[],
        body: &[("commit_message", "string", false)],
        ok: 200,
    },
    Endpoint {
        method: "get",
        path: "/changelog",
        summary: "Recent changes across the wiki",
        access: "read",
        query: &[("limit", "integer")],
        body: &[],
        ok: 200,
    },
    Endpoint {
        method: "get",
        path: "/search",
        summary: "Search: full text (BM25, the default), by meaning, or hybrid; without the model, full text with a notice",
        access: "read",
        query: &[("q", "string"), ("limit", "integer"), ("mode", "string")],
        body: &[],
        ok: 200,
    },
    Endpoint {
        method: "get",
        path: "/semantic-search",
        summary: "Search by meaning: the nearest chunks, at most max_chunks_per_page per page",
        access: "read",
        query: &[
            ("q", "string"),
            ("n", "integer"),
            ("max_chunks_per_page", "integer"),
        ],
        body: &[],
        ok: 200,
    },
    Endpoint {
        method: "post",
        path: "/reindex",
        summary: "Queue every page for re-embedding",
        access: "write",
        query: &[],
        body: &[],
        ok: 202,
    },
    Endpoint {
        method: "get",
        path: "/reindex/status",
        summary: "The semantic index's state and its queued work",
        access: "read",
        query: &[],
        body: &[],
        ok: 200,
    },
    Endpoint {
        method: "get",
        path: "/links",
        summary: "The whole link graph",
        access: "read",
        query: &[],
        body: &[],
        ok: 200,
    },
    Endpoint {
        method: "get",
        path: "/links/{path}",
        summary: "Links to and from a page",
        access: "read",
        query: &[],
        body: &[],
        ok: 200,
    },
    Endpoint {
        method: "get",
        path: "/openapi.json",
        summary: "This document",
        access: "none",
        query: &[],
        body: &[],
        ok: 200,
    },
];

pub fn router() -> Router<Services> {
    Router::new()
        .route(
            "/api/v1/health",
            get(|| async { Json(json!({"status": "ok"})) }),
        )
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/pages", get(list_pages))
        .route("/api/v1/pages/{*rest}", any(page_routes))
        .route("/api/v1/changelog", get(changelog))
        .route("/api/v1/search", get(search))
        .route("/api/v1/semantic-search", get(semantic_search))
        .route("/api/v1/reindex", post(reindex))
        .route("/api/v1/reindex/status", get(reindex_status))
        .route("/api/v1/links", get(graph))
        .route("/api/v1/links/{*path}", get(links))
        .route(
            "/api/v1/{*rest}",
            any(|| async { V1Error::new(StatusCode::NOT_FOUND, "Not found") }),
        )
}

/// What every request is checked for before its operation: a bad bearer token (unknown,
/// expired, or an OAuth token issued for another resource, refused where the caller was
/// resolved) is a 401 with this API's challenge; an unsafe request with a session cookie
/// needs the CSRF header.
fn precheck(
    state: &Services,
    wiki: &Wiki,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<(), V1Error> {
    if caller.bad_bearer {
        return Err(
            V1Error::new(StatusCode::UNAUTHORIZED, "Invalid API key").with_challenge(
                state,
                wiki,
                Some("invalid_token"),
            ),
        );
    }
    if caller.unsafe_method {
        crate::access::caller::check_csrf(&state.keys, caller, None, headers)?;
    }
    Ok(())
}

/// An operation's error in this API's shape, a 401 with its challenge.
fn refused<'a>(state: &'a Services, wiki: &'a Wiki) -> impl Fn(Error) -> V1Error + 'a {
    move |e| V1Error::from(e).with_challenge(state, wiki, None)
}

/// [`precheck`], then the decision for `action`, for handlers that parse a body first:
/// a caller without the right gets 401/403, not a complaint about the body. (The
/// operation decides again, and counts the write.)
async fn allow(
    state: &Services,
    wiki: &Wiki,
    caller: &Caller,
    headers: &HeaderMap,
    action: Action,
) -> Result<(), V1Error> {
    precheck(state, wiki, caller, headers)?;
    state
        .decide(&caller.principal, wiki, action)
        .await
        .map(|_| ())
        .map_err(refused(state, wiki))
}

fn name_of(raw: &str) -> Result<PageName, V1Error> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned();
    Ok(PageName::parse(&decoded)?)
}

fn commit_json(c: &CommitInfo) -> Value {
    json!({"revision": c.id, "author": c.author, "date": iso_time(c.time), "message": c.message})
}

fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, V1Error> {
    if bytes.is_empty() {
        return serde_json::from_slice(b"{}").map_err(|e| {
            V1Error::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Invalid JSON body: {e}"),
            )
        });
    }
    serde_json::from_slice(bytes).map_err(|e| {
        V1Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Invalid JSON body: {e}"),
        )
    })
}

/// Front matter of a page as JSON (`tags` as a list).
fn frontmatter_json(content: &str) -> Value {
    let mut m = serde_json::Map::new();
    for p in front_matter::split(content).0.properties() {
        let val = match &p.value {
            front_matter::Value::List(items) => {
                Value::Array(items.iter().map(|x| x.as_str().into()).collect())
            }
            front_matter::Value::Text(t) => t.as_str().into(),
        };
        m.insert(p.key.clone(), val);
    }
    Value::Object(m)
}

async fn openapi(State(state): State<Services>, CurrentWiki(wiki): CurrentWiki) -> Json<Value> {
    Json(openapi_document(&state.cfg.wiki_url(&wiki.slug)))
}

/// The OpenAPI 3.1 document for the endpoints of [`ENDPOINTS`].
pub fn openapi_document(server: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for e in ENDPOINTS {
        let mut params: Vec<Value> = Vec::new();
        for seg in e.path.split('/').filter(|s| s.starts_with('{')) {
            let name = seg.trim_matches(['{', '}']);
            params.push(
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}),
            );
        }
        for (q, t) in e.query {
            params.push(
                json!({"name": q, "in": "query", "required": *q == "q", "schema": {"type": t}}),
            );
        }
        let mut op = json!({
            "operationId": format!("{}{}", e.method, e.path.replace(['/', '{', '}', '.'], "_")),
            "summary": e.summary,
            "parameters": params,
            "responses": {
                e.ok.to_string(): {"description": "Success", "content": {"application/json": {"schema": {"type": "object"}}}},
                "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if e.access != "none" {
            op["security"] = json!([{"wikiToken": []}, {"session": []}]);
            op["x-robot-access"] = e.access.into();
        } else {
            op["security"] = json!([]);
        }
        if !e.body.is_empty() {
            let props: serde_json::Map<String, Value> = e
                .body
                .iter()
                .map(|(n, t, _)| (n.to_string(), json!({"type": t})))
                .collect();
            let required: Vec<&str> = e.body.iter().filter(|b| b.2).map(|b| b.0).collect();
            op["requestBody"] = json!({
                "required": !required.is_empty(),
                "content": {"application/json": {"schema": {"type": "object", "properties": props, "required": required}}},
            });
        }
        let entry = paths.entry(e.path.to_string()).or_insert_with(|| json!({}));
        entry[e.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "robot wiki API", "version": "1", "description": "Pages, history, search, links and attachments of one wiki."},
        "servers": [{"url": format!("{server}/api/v1")}],
        "paths": paths,
        "components": {
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "string"}, "current_revision": {"type": "string"}}, "required": ["error"]}},
            "securitySchemes": {
                "wikiToken": {"type": "http", "scheme": "bearer", "description": "The wiki's token (rwt_…)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "robot_session", "description": "Browser session; unsafe methods also need X-CSRF-Token"},
            },
        },
    })
}

async fn list_pages(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> V1Result {
    allow(&state, &wiki, &caller, &headers, Action::Read).await?;
    let since = match q.get("updated_since").filter(|s| !s.is_empty()) {
        Some(s) => Some(parse_date(s).ok_or_else(|| {
            V1Error::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Invalid updated_since: {s}"),
            )
        })?),
        None => None,
    };
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(500)
        .clamp(1, 1000);
    let offset: usize = q.get("offset").and_then(|l| l.parse().ok()).unwrap_or(0);
    let filter = crate::wiki::query::PageFilter {
        prefix: q.get("prefix").cloned().unwrap_or_default(),
        category: q.get("category").cloned().unwrap_or_default(),
        tag: q.get("tag").cloned().unwrap_or_default(),
        updated_since: since,
    };
    let pages: Vec<Value> = reads::pages(&state, &caller, &wiki, filter)
        .await
        .map_err(refused(&state, &wiki))?
        .into_iter()
        .map(|p| {
            json!({
                "name": p.name,
                "path": p.name,
                "category": p.category,
                "tags": p.tags,
                "last_updated": chrono::DateTime::from_timestamp(p.updated, 0).map(|d| d.format("%Y-%m-%d").to_string()),
                "content_length": p.words,
            })
        })
        .collect();
    let total = pages.len();
    let page: Vec<Value> = pages.into_iter().skip(offset).take(limit).collect();
    Ok(
        Json(json!({"pages": page, "total": total, "limit": limit, "offset": offset}))
            .into_response(),
    )
}

/// `/api/v1/pages/{path}[/history|/rename|/attachments[/{file}]]`, by method.
// Each argument is an axum extractor; grouping them would only hide what the handler reads.
#[allow(clippy::too_many_arguments)]
async fn page_routes(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    method: Method,
    headers: HeaderMap,
    Path(rest): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> V1Result {
    let (page, sub) = split_sub(&rest);
    match (method.clone(), sub) {
        (Method::GET, Sub::Page) => read_page(state, wiki, caller, headers, page, q).await,
        (Method::PUT, Sub::Page) => put_page(state, wiki, caller, headers, page, body).await,
        (Method::PATCH, Sub::Page) => patch_page(state, wiki, caller, headers, page, body).await,
        (Method::DELETE, Sub::Page) => delete_page(state, wiki, caller, headers, page, body).await,
        (Method::POST, Sub::Rename) => rename(state, wiki, caller, headers, page, body).await,
        (Method::GET, Sub::History) => history(state, wiki, caller, headers, page, q).await,
        (Method::GET, Sub::Attachments) => {
            list_attachments(state, wiki, caller, headers, page).await
        }
        (Method::POST, Sub::Attachments) => upload(state, wiki, caller, headers, page, body).await,
        (Method::GET, Sub::Attachment(f)) => download(state, wiki, caller, headers, page, f).await,
        (Method::DELETE, Sub::Attachment(f)) => {
            delete_attachment(state, wiki, caller, headers, page, f, body).await
        }
        _ => Err(V1Error::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
        )),
    }
}

enum Sub {
    Page,
    History,
    Rename,
    Attachments,
    Attachment(String),
}

fn split_sub(rest: &str) -> (String, Sub) {
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    if n >= 3 && segs[n - 2] == "attachments" {
        return (
            segs[..n - 2].join("/"),
            Sub::Attachment(
                percent_encoding::percent_decode_str(segs[n - 1])
                    .decode_utf8_lossy()
                    .into_owned(),
            ),
        );
    }
    if n >= 2 {
        let page = segs[..n - 1].join("/");
        match segs[n - 1] {
            "history" => return (page, Sub::History),
            "rename" => return (page, Sub::Rename),
            "attachments" => return (page, Sub::Attachments),
            _ => {}
        }
    }
    (rest.to_string(), Sub::Page)
}

fn not_found(name: &str) -> V1Error {
    V1Error::new(StatusCode::NOT_FOUND, format!("Page not found: {name}"))
}

async fn read_page(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    headers: HeaderMap,
    raw: String,
    q: BTreeMap<String, String>,
) -> V1Result {
    precheck(&state, &wiki, &caller, &headers)?;
    let name = name_of(&raw)?;
    let rev = q.get("revision").cloned().filter(|r| !r.is_empty());
    let read = pages::read(&state, &caller, &wiki, name.clone(), rev)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => not_found(name.as_str()),
            other => refused(&state, &wiki)(other),
        })?;
    let page = &read.page;
    Ok(Json(json!({
        "name": page.name.as_str(),
        "path": page.name.as_str(),
        "content": page.content,
        "frontmatter": frontmatter_json(&page.content),
        "links_to": read.links_to,
        "linked_from": read.linked_from,
        "revision": read.revision(),
        "last_commit": read.last_change.as_ref().map(commit_json),
    }))
    .into_response())
}

#[derive(Deserialize)]
struct PutBody {
    content: Option<String>,
    #[serde(default)]
    commit_message: String,
    revision: Option<String>,
}

fn check_revision(r: &str) -> Result<(), V1Error> {
    if r.len() < 7 || !r.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(V1Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Revision must be at least 7 hexadecimal characters.",
        ));
    }
    Ok(())
}

async fn put_page(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    headers: HeaderMap,
    raw: String,
    body: Bytes,
) -> V1Result {
    allow(&state, &wiki, &caller, &headers, Action::Write).await?;
    let name = name_of(&raw)?;
    let b: PutBody = parse_body(&body)?;
    let content = b.content.ok_or_else(|| {
        V1Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Missing required field: content",
        )
    })?;
    if let Some(r) = b.revision.as_deref().filter(|r| !r.is_empty()) {
        check_revision(r)?;
    }
    let input = pages::Save {
        name,
        content,
        base: b.revision.filter(|r| !r.is_empty()),
        message: b.commit_message,
    };
    let out = pages::save(&state, &caller, &wiki, Surface::Api, input)
        .await?
        .written()?;
    let status = if out.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"name": out.name.as_str(), "path": out.name.as_str(), "revision": out.revision, "created": out.created}))).into_response())
}

#[derive(Deserialize)]
struct PatchBody {
    revision: Option<String>,
    old_string: Option<String>,
    new_string: Option<String>,
    #[serde(default)]
    commit_message: String,
}

async fn patch_page(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    headers: HeaderMap,
    raw: String,
    body: Bytes,
) -> V1Result {
    allow(&state, &wiki, &caller, &headers, Action::Write).await?;
    let name = name_of(&raw)?;
    let b: PatchBody = parse_body(&body)?;
    let missing = |f: &str| {
        V1Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Missing required field: {f}"),
        )
    };
    let revision = b.revision.ok_or_else(|| missing("revision"))?;
    let old = b.old_string.ok_or_else(|| missing("old_string"))?;
    let new = b.new_string.ok_or_else(|| missing("new_string"))?;
    check_revision(&revision)?;
    let input = pages::Edit {
        name,
        revision,
        old,
        new,
        message: b.commit_message,
    };
    let out = pages::edit(&state, &caller, &wiki, Surface::Api, input).await?;
    Ok(Json(
        json!({"name": out.name.as_str(), "path": out.name.as_str(), "revision": out.revision}),
    )
    .into_response())
}

#[derive(Deserialize, Default)]
struct MessageBody {
    #[serde(default)]
    commit_message: String,
}

async fn delete_page(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    headers: HeaderMap,
    raw: String,
    body: Bytes,
) -> V1Result {
    allow(&state, &wiki, &caller, &headers, Action::Write).await?;
    let name = name_of(&raw)?;
    let b: MessageBody = parse_body(&body)?;
    let input = pages::Delete {
        name: name.clone(),
        recursive: false,
        message: b.commit_message,
    };
    let (deleted, _) = pages::delete(&state, &caller, &wiki, Surface::Api, input)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => not_found(name.as_str()),
            other => other.into(),
        })?;
    Ok(Json(json!({"deleted": true, "path": deleted.as_str()})).into_response())
}

#[derive(Deserialize)]
struct RenameBody {
    new_path: Option<String>,
    #[serde(default)]
    commit_message: String,
}

async fn rename(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    headers: HeaderMap,
    raw: String,
    body: Bytes,
) -> V1Result {
    allow(&state, &wiki, &caller, &headers, Action::Write).await?;
    let old = name_of(&raw)?;
    let b: RenameBody = parse_body(&body)?;
    let new_raw = b.new_path.unwrap_or_default();
    if new_raw.trim().is_empty() {
        return Err(V1Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Missing required field: new_path",
        ));
    }
    let new = PageName::parse(&new_raw)
        .map_err(|e| V1Error::new(StatusCode::UNPROCESSABLE_ENTITY, e.public_message()))?;
    if new.as_str() == old.as_str() {
        return Err(V1Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "new_path is the same as the current path",
        ));
    }
    let input = pages::Rename {
        from: old.clone(),
        to: new,
        update_backlinks: true,
        message: b.commit_message,
    };
    let out = pages::rename(&state, &caller, &wiki, Surface::Api, input)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => not_found(old.as_str()),
            other => other.into(),
        })?;
    let updated: Vec<String> = out.updated_pages.iter().map(|p| p.to_string()).collect();
    Ok(Json(json!({"old_path": out.from.as_str(), "new_path": out.to.as_str(), "revision": out.revision, "updated_pages": updated})).into_response())
}

async fn history(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    headers: HeaderMap,
    raw: String,
    q: BTreeMap<String, String>,
) -> V1Result {
    precheck(&state, &wiki, &caller, &headers)?;
    let name = name_of(&raw)?;
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10)
        .clamp(1, 200);
    let (shown, commits) = reads::history(&state, &caller, &wiki, name.clone(), 0, limit)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => not_found(name.as_str()),
            other => refused(&state, &wiki)(other),
        })?;
    Ok(Json(json!({"path": shown.as_str(), "history": commits.iter().map(commit_json).collect::<Vec<_>>()})).into_response())
}

async fn changelog(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> V1Result {
    precheck(&state, &wiki, &caller, &headers)?;
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(50)
        .clamp(1, 500);
    let (entries, total) = reads::changelog(&state, &caller, &wiki, 0, limit)
        .await
        .map_err(refused(&state, &wiki))?;
    let entries: Vec<Value> = entries
        .iter()
        .map(|(c, paths)| {
            let mut j = commit_json(c);
            j["pages_affected"] = paths
                .iter()
                .filter(|p| p.ends_with(".md"))
                .map(|p| PageName::from_path(p).to_string())
                .collect::<Vec<_>>()
                .into();
            j
        })
        .collect();
    Ok(Json(json!({"entries": entries, "total": total})).into_response())
}

async fn search(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> V1Result {
    precheck(&state, &wiki, &caller, &headers)?;
    let query = required_q(&q)?;
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    // Full text unless asked: the reference's search is by words.
    let mode = match q.get("mode").map(String::as_str) {
        None | Some("") => find::Mode::Text,
        Some(m) => find::Mode::parse(m).ok_or_else(|| {
            V1Error::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "mode must be text, semantic or hybrid",
            )
        })?,
    };
    let found = find::search(&state, &caller, &wiki, query.clone(), mode, limit, 0)
        .await
        .map_err(refused(&state, &wiki))?;
    let results: Vec<Value> = found
        .hits
        .iter()
        .map(|h| json!({"name": h.name.as_str(), "path": h.name.as_str(), "snippet": h.snippet, "score": h.score}))
        .collect();
    let mut out = json!({"query": query, "mode": found.mode.as_str(), "results": results, "total": found.total});
    if let Some(n) = found.notice {
        out["notice"] = n.into();
    }
    Ok(Json(out).into_response())
}

/// The `q` parameter, or the reference's 422.
fn required_q(q: &BTreeMap<String, String>) -> Result<String, V1Error> {
    q.get("q")
        .cloned()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            V1Error::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Missing required parameter: q",
            )
        })
}

/// An integer query parameter within `range`, or the reference's 422.
fn int_param(
    q: &BTreeMap<String, String>,
    key: &str,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, V1Error> {
    let Some(raw) = q.get(key) else {
        return Ok(default);
    };
    match raw.trim().parse::<usize>() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(V1Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "Parameter {key} must be an integer between {} and {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

async fn semantic_search(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> V1Result {
    allow(&state, &wiki, &caller, &headers, Action::Read).await?;
    let query = required_q(&q)?;
    let n = int_param(&q, "n", 5, 1..=50)?;
    let per_page = int_param(&q, "max_chunks_per_page", 2, 1..=5)?;
    let hits = find::passages(&state, &caller, &wiki, query.clone(), n, per_page)
        .await
        .map_err(refused(&state, &wiki))?;
    let results: Vec<Value> = hits
        .iter()
        .map(|h| {
            json!({"name": h.name, "path": h.name, "text": h.text, "snippet": h.snippet,
                   "distance": h.distance, "section": h.section, "section_path": h.section_path,
                   "chunk_index": h.chunk_index, "total_chunks": h.total_chunks,
                   "page_word_count": h.page_word_count})
        })
        .collect();
    let total = results.len();
    Ok(Json(json!({"query": query, "results": results, "total": total})).into_response())
}

async fn reindex(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
) -> V1Result {
    allow(&state, &wiki, &caller, &headers, Action::Write).await?;
    let queued = find::reindex(&state, &caller, &wiki).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"status": "started", "pages_queued": queued})),
    )
        .into_response())
}

async fn reindex_status(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
) -> V1Result {
    precheck(&state, &wiki, &caller, &headers)?;
    let status = find::index_status(&state, &caller, &wiki)
        .await
        .map_err(refused(&state, &wiki))?;
    Ok(Json(status).into_response())
}

async fn links(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> V1Result {
    precheck(&state, &wiki, &caller, &headers)?;
    let name = name_of(&raw)?;
    let l = reads::links(&state, &caller, &wiki, name.clone())
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => not_found(name.as_str()),
            other => refused(&state, &wiki)(other),
        })?;
    Ok(
        Json(
            json!({"path": l.name.as_str(), "links_to": l.links_to, "linked_from": l.linked_from}),
        )
        .into_response(),
    )
}

async fn graph(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
) -> V1Result {
    precheck(&state, &wiki, &caller, &headers)?;
    let snap = reads::tree(&state, &caller, &wiki)
        .await
        .map_err(refused(&state, &wiki))?;
    let nodes: Vec<String> = snap.pages.values().map(|p| p.name.to_string()).collect();
    let mut edges = Vec::new();
    for (from, targets) in &snap.links_out {
        let Some(src) = snap.page(from) else { continue };
        for t in targets {
            let target = snap
                .page(t)
                .map(|e| e.name.to_string())
                .unwrap_or_else(|| PageName::from_path(t).to_string());
            edges.push(json!({"source": src.name.as_str(), "target": target}));
        }
    }
    edges.sort_by_key(|e| e.to_string());
    Ok(Json(json!({"nodes": nodes, "edges": edges})).into_response())
}

async fn list_attachments(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    headers: HeaderMap,
    raw: String,
) -> V1Result {
    precheck(&state, &wiki, &caller, &headers)?;
    let name = name_of(&raw)?;
    let (shown, files) = reads::attachments(&state, &caller, &wiki, name.clone())
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => not_found(name.as_str()),
            other => refused(&state, &wiki)(other),
        })?;
    let list: Vec<Value> = files
        .iter()
        .map(|f| json!({"filename": f.filename, "size": f.size, "mime_type": f.mime_type}))
        .collect();
    Ok(
        Json(json!({"attachments": list, "total": files.len(), "path": shown.as_str()}))
            .into_response(),
    )
}

#[derive(Deserialize)]
struct UploadBody {
    filename: Option<String>,
    content: Option<String>,
    #[serde(default)]
    commit_message: String,
}

async fn upload(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    headers: HeaderMap,
    raw: String,
    body: Bytes,
) -> V1Result {
    allow(&state, &wiki, &caller, &headers, Action::Upload).await?;
    let name = name_of(&raw)?;
    let b: UploadBody = parse_body(&body)?;
    let filename = b.filename.filter(|f| !f.is_empty()).ok_or_else(|| {
        V1Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Missing required field: filename",
        )
    })?;
    let content = b.content.ok_or_else(|| {
        V1Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Missing required field: content",
        )
    })?;
    let data = B64.decode(content.trim()).map_err(|_| {
        V1Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "content is not valid base64",
        )
    })?;
    let size = data.len();
    let input = attachments::Upload {
        page: name.clone(),
        files: vec![(filename, data)],
        message: b.commit_message,
    };
    let (_, stored) = attachments::upload(&state, &caller, &wiki, Surface::Api, input)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => not_found(name.as_str()),
            other => other.into(),
        })?;
    let f = stored.into_iter().next().unwrap_or_default();
    let mime = crate::wiki::mime_of(&f);
    Ok((
        StatusCode::CREATED,
        Json(json!({"filename": f, "path": name.as_str(), "size": size, "mime_type": mime})),
    )
        .into_response())
}

async fn download(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    headers: HeaderMap,
    raw: String,
    file: String,
) -> V1Result {
    precheck(&state, &wiki, &caller, &headers)?;
    let name = name_of(&raw)?;
    let (data, mime) = reads::attachment(&state, &caller, &wiki, name, file.clone(), None)
        .await
        .map_err(refused(&state, &wiki))?;
    Ok(Json(json!({"filename": file, "content": B64.encode(&data), "size": data.len(), "mime_type": mime})).into_response())
}

async fn delete_attachment(
    state: Services,
    wiki: Wiki,
    caller: Caller,
    headers: HeaderMap,
    raw: String,
    file: String,
    body: Bytes,
) -> V1Result {
    allow(&state, &wiki, &caller, &headers, Action::Upload).await?;
    let name = name_of(&raw)?;
    let b: MessageBody = parse_body(&body)?;
    attachments::delete(
        &state,
        &caller,
        &wiki,
        Surface::Api,
        name,
        file.clone(),
        b.commit_message,
    )
    .await?;
    Ok(Json(json!({"deleted": true, "filename": file})).into_response())
}
