//! Shared state, host dispatch and the server loop. Every request takes one path: the
//! `Host` header picks the site (root or a wiki), the caller is established from the
//! session cookie, and the site's router handles it. Cross-cutting layers (request ids,
//! tracing, body limits, security headers, panic catching) wrap everything.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::access::session::Keys;
use crate::config::Config;
use crate::db::Db;
use crate::web::{self, CurrentWiki, WebError};
use crate::wiki::Wikis;

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub cfg: Arc<Config>,
    pub db: Db,
    pub wikis: Wikis,
    pub keys: Arc<Keys>,
    pub highlight_css: Arc<String>,
    pub sidebars: Arc<web::wiki::SidebarCache>,
    pub atproto: Arc<crate::atproto::Atproto>,
    /// The one write rate limiter, shared by every transport.
    pub limiter: Arc<crate::access::ratelimit::RateLimiter>,
    /// Clones served at once (each is a `git upload-pack` process).
    pub clones: Arc<tokio::sync::Semaphore>,
    /// Search by meaning (off, with its reason, when the model is not installed).
    pub semantic: crate::search::semantic::Semantic,
    /// Request counters and latency histograms for `/metrics`.
    pub metrics: Arc<crate::ops::metrics::Metrics>,
}

impl AppState {
    /// Opens the data directory: creates it, the database (migrated) and the keys, and
    /// loads the embedding model when installed.
    pub fn open(cfg: Config) -> anyhow::Result<AppState> {
        Self::open_inner(cfg, true)
    }

    /// The same without loading the model (operator commands that do not embed).
    pub fn open_without_model(cfg: Config) -> anyhow::Result<AppState> {
        Self::open_inner(cfg, false)
    }

    fn open_inner(cfg: Config, load_model: bool) -> anyhow::Result<AppState> {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
            anyhow::anyhow!("cannot create data dir {}: {e}", cfg.data_dir.display())
        })?;
        std::fs::create_dir_all(cfg.wikis_dir())?;
        let db = Db::open(&cfg.db_path())?;
        // libgit2 re-hashes every object it reads by default; the repositories are ours
        // and `git fsck` (backups, tests) checks them, so skip that on the hot path.
        git2::opts::strict_hash_verification(false);
        let keys = Keys::load_or_create(&cfg.keys_dir())?;
        let atproto = crate::atproto::Atproto::new(&cfg, db.clone(), keys.derive("atproto-store"))?;
        let limiter = crate::access::ratelimit::RateLimiter::new(
            cfg.limits.writes_per_minute,
            cfg.limits.write_burst,
        );
        let cfg = Arc::new(cfg);
        let wikis = Wikis::new(cfg.clone(), db.clone());
        Ok(AppState {
            semantic: if load_model {
                crate::search::semantic::Semantic::load(wikis.clone())
            } else {
                crate::search::semantic::Semantic::new(
                    wikis.clone(),
                    None,
                    Some("the model is not loaded by this command".into()),
                )
            },
            wikis,
            cfg,
            db,
            keys: Arc::new(keys),
            highlight_css: Arc::new(crate::wiki::markdown::highlight_css()),
            sidebars: Arc::default(),
            atproto: Arc::new(atproto),
            limiter: Arc::new(limiter),
            clones: Arc::new(tokio::sync::Semaphore::new(8)),
            metrics: Arc::default(),
        })
    }
}

impl AppState {
    /// Counts one write against the caller and their address, or refuses with 429.
    pub fn check_write_rate(&self, caller: &web::Caller) -> crate::error::Result<()> {
        let mut keys = vec![format!("ip:{}", caller.ip)];
        keys.extend(caller.principal.rate_key());
        self.limiter.check(&keys)
    }
}

/// Which site a `Host` names.
#[derive(Debug, PartialEq, Eq)]
pub enum Site {
    Root,
    Wiki(String),
    Unknown,
}

/// `localhost:8080` → Root; `notes.localhost:8080` → Wiki("notes"); a reserved or invalid
/// label, a nested subdomain or a foreign host → Unknown.
pub fn resolve_site(cfg: &Config, host: &str) -> Site {
    let full = host.trim().to_ascii_lowercase();
    let host = crate::config::host_without_port(&full).to_string();
    let domain = cfg.domain_host();
    if host == domain {
        return Site::Root;
    }
    // On localhost, the ATProto loopback client's callback arrives at 127.0.0.1.
    if cfg.is_localhost() && full == format!("127.0.0.1:{}", cfg.domain_port()) {
        return Site::Root;
    }
    match host.strip_suffix(&format!(".{domain}")) {
        Some(label) if !label.contains('.') && crate::wiki::slug::validate(label).is_ok() => {
            Site::Wiki(label.to_string())
        }
        _ => Site::Unknown,
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let root = web::root::router()
        .merge(web::app::router())
        .merge(crate::api::manage::router_nested())
        .with_state(state.clone());
    let wiki = crate::githttp::router()
        .merge(crate::mcp::router(state.clone()))
        .merge(crate::oauth::router())
        .merge(crate::api::v1::router())
        .merge(web::wiki::router())
        .with_state(state.clone());
    let limit = state
        .cfg
        .limits
        .max_attachment_bytes
        .max(state.cfg.limits.max_page_bytes)
        + 1024 * 1024;
    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .fallback(move |State(st): State<AppState>, req: Request| dispatch(st, root.clone(), wiki.clone(), req))
        .with_state(state)
        .layer(DefaultBodyLimit::max(limit))
        // Refuses a declared oversize body before reading it, and caps streamed ones.
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; \
                 font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self' http: https:",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a handler panicked");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error").into_response()
        }))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
}

/// Routes the request (see [`route`]) and records it for `/metrics`.
async fn dispatch(state: AppState, root: Router, wiki: Router, req: Request) -> Response {
    let started = std::time::Instant::now();
    let path = req.uri().path().to_string();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let wiki_host = matches!(resolve_site(&state.cfg, host), Site::Wiki(_));
    let metrics = state.metrics.clone();
    let response = route(state, root, wiki, req).await;
    metrics.observe(
        crate::ops::metrics::route_class(wiki_host, &path),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn route(state: AppState, root: Router, wiki: Router, mut req: Request) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(String::from)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let site = resolve_site(&state.cfg, &host);
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let unsafe_method = !req.method().is_safe();
    match site {
        Site::Wiki(slug) => {
            // The caller and the wiki in one trip to the blocking pool. An OAuth token is
            // a credential only at the resource this request is for (RFC 8707).
            let credential = web::Credential::of(req.headers());
            let ip = web::client_ip(req.headers(), peer, &state.cfg.trusted_proxies);
            let resource = web::target_resource(&state, &slug, req.uri().path());
            let (st, s2) = (state.clone(), slug.clone());
            let found = state
                .db
                .run(move |c| {
                    let caller = web::resolve_caller(c, &st, &credential, ip, resource.as_deref())?;
                    let wiki = crate::db::wikis::by_slug(c, &s2)?;
                    let oauth_role = wiki
                        .as_ref()
                        .and_then(|w| web::OAuthRole::of(c, &caller, w));
                    Ok((caller, wiki, oauth_role))
                })
                .await;
            match found {
                Ok((mut caller, Some(w), oauth_role)) => {
                    caller.unsafe_method = unsafe_method;
                    req.extensions_mut().insert(caller);
                    req.extensions_mut().insert(CurrentWiki(w));
                    if let Some(role) = oauth_role {
                        req.extensions_mut().insert(role);
                    }
                    wiki.oneshot(req).await.into_response()
                }
                Ok((caller, None, _)) => not_found_site(
                    &state,
                    &caller,
                    &format!("There is no wiki called “{slug}”."),
                ),
                Err(e) => WebError {
                    error: e,
                    layout: Default::default(),
                    login_redirect: None,
                }
                .into_response(),
            }
        }
        Site::Root => {
            let mut caller = web::caller_from_headers(&state, req.headers(), peer).await;
            caller.unsafe_method = unsafe_method;
            req.extensions_mut().insert(caller);
            root.oneshot(req).await.into_response()
        }
        Site::Unknown => not_found_site(
            &state,
            &web::caller_from_headers(&state, req.headers(), peer).await,
            "This address does not name a wiki on this server.",
        ),
    }
}

fn not_found_site(state: &AppState, caller: &web::Caller, msg: &str) -> Response {
    let l = web::templates::Layout {
        title: "Not found".into(),
        site_title: "robot".into(),
        static_prefix: "/static",
        user: caller.principal.handle().map(String::from),
        login_url: format!("{}/auth/login", state.cfg.root_url()),
        logout_url: format!("{}/auth/logout", state.cfg.root_url()),
        ..Default::default()
    };
    let page = web::templates::Message {
        l,
        paragraphs: vec![msg.to_string()],
        link: Some((state.cfg.root_url(), "Go to the home page".into())),
    };
    let mut r = web::render(&page);
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// Serves until `shutdown` resolves, then stops accepting and drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Bring every full-text index to its repository's HEAD before serving.
    {
        let (w, db) = (state.wikis.clone(), state.db.clone());
        tokio::task::spawn_blocking(move || crate::wiki::provision::reconcile_all(&w, &db))
            .await??;
    }
    // "Last changed by" takes a walk through each wiki's history: take it now, in the
    // background, rather than on the first reader's request.
    {
        let (w, db) = (state.wikis.clone(), state.db.clone());
        tokio::task::spawn_blocking(move || {
            let all = db.conn().and_then(|c| crate::db::wikis::list(&c));
            for wiki in all.unwrap_or_default() {
                if let Err(e) = w.last_changes(&wiki) {
                    tracing::warn!(slug = %wiki.slug, error = %e, "warming the last-change cache");
                }
            }
        });
    }
    let semantic = state.semantic.clone();
    let worker = semantic.spawn_worker();
    let janitor = crate::ops::janitor::spawn(state.db.clone(), state.cfg.clone());
    let app = router(state);
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    janitor.abort();
    // The worker finishes its batch (its index writes are transactions either way).
    semantic.stop_worker();
    if let Some(w) = worker {
        let _ = tokio::task::spawn_blocking(move || w.join()).await;
    }
    served?;
    tracing::info!("stopped: every request answered, the worker's batch finished");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_resolve_to_sites() {
        let cfg = Config::default();
        assert_eq!(resolve_site(&cfg, "localhost:8080"), Site::Root);
        assert_eq!(resolve_site(&cfg, "LOCALHOST:8080"), Site::Root);
        assert_eq!(
            resolve_site(&cfg, "notes.localhost:8080"),
            Site::Wiki("notes".into())
        );
        assert_eq!(
            resolve_site(&cfg, "www.localhost:8080"),
            Site::Unknown,
            "reserved"
        );
        assert_eq!(
            resolve_site(&cfg, "a.b.localhost:8080"),
            Site::Unknown,
            "nested"
        );
        assert_eq!(resolve_site(&cfg, "evil.com"), Site::Unknown);
        assert_eq!(
            resolve_site(&cfg, "x.localhost:8080"),
            Site::Unknown,
            "too short to be a slug"
        );
    }
}
