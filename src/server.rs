//! The server: the router assembly, host dispatch and the serving loop. Every request
//! takes one path: the `Host` header picks the site (root or a wiki), the caller and the
//! wiki are established once (`access::caller`), and the site's router — the surfaces,
//! merged — handles it. Cross-cutting layers (request ids, tracing, body limits,
//! security headers, panic catching) wrap everything.

use std::future::Future;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::access::caller::{self, Caller, Credential, CurrentWiki, OAuthRole};
use crate::config::Config;
use crate::http::WebError;
use crate::service::Services;
use crate::web;

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
pub fn router(state: Services) -> Router {
    // Bodies are capped as they stream (a declared oversize one is refused before it is
    // read): a page or an attachment, and some; a push, a whole wiki's pack.
    let limit = state
        .cfg
        .limits
        .max_attachment_bytes
        .max(state.cfg.limits.max_page_bytes)
        + 1024 * 1024;
    let push_limit = crate::wiki::push::max_request_bytes(&state.cfg) as usize;
    web::assets::fingerprint(&state.highlight_css);
    let root = web::root::router()
        .merge(web::app::router())
        .merge(crate::api::manage::router_nested())
        .layer(RequestBodyLimitLayer::new(limit))
        .with_state(state.clone());
    let wiki = crate::githttp::router()
        .merge(crate::mcp::router(state.clone()))
        .merge(crate::oauth::router())
        .merge(crate::api::v1::router())
        .merge(web::wiki::router())
        .layer(RequestBodyLimitLayer::new(limit))
        .merge(crate::githttp::push_router().layer(RequestBodyLimitLayer::new(push_limit)))
        .with_state(state.clone());
    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .fallback(move |State(st): State<Services>, req: Request| dispatch(st, root.clone(), wiki.clone(), req))
        .with_state(state)
        .layer(DefaultBodyLimit::max(limit))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; media-src 'self' https:; \
                 frame-src https://www.youtube.com; \
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
async fn dispatch(state: Services, root: Router, wiki: Router, req: Request) -> Response {
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

async fn route(state: Services, root: Router, wiki: Router, mut req: Request) -> Response {
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
            // The caller and the wiki in one read (see `Db::read_now`). An OAuth token is
            // a credential only at the resource this request is for (RFC 8707).
            let path = req.uri().path();
            let git = crate::access::resource::is_git_path(path);
            let credential = Credential::of(req.headers(), git);
            let ip = caller::client_ip(req.headers(), peer, &state.cfg.trusted_proxies);
            let resource = crate::access::resource::target_resource(&state.cfg, &slug, path);
            let (st, s2) = (state.clone(), slug.clone());
            let found = state
                .db
                .read_now(move |c| {
                    let caller = caller::resolve_caller(
                        c,
                        &st.keys,
                        &st.cfg,
                        &credential,
                        ip,
                        resource.as_deref(),
                    )?;
                    let wiki = crate::db::wikis::by_slug(c, &s2)?;
                    let oauth_role = wiki.as_ref().and_then(|w| OAuthRole::of(c, &caller, w));
                    Ok((caller, wiki, oauth_role))
                })
                .await;
            match found {
                Ok((mut caller, Some(w), oauth_role)) => {
                    caller.unsafe_method = unsafe_method;
                    record_use(&state, &mut caller).await;
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
            let mut caller = caller_from_headers(&state, req.headers(), peer).await;
            caller.unsafe_method = unsafe_method;
            req.extensions_mut().insert(caller);
            root.oneshot(req).await.into_response()
        }
        Site::Unknown => not_found_site(
            &state,
            &caller_from_headers(&state, req.headers(), peer).await,
            "This address does not name a wiki on this server.",
        ),
    }
}

/// [`caller::resolve_caller`] (a read, see `Db::read_now`), for requests that target no OAuth resource
/// (the root host; wiki hosts resolve theirs with the wiki, in [`route`]); a database
/// error leaves the caller anonymous.
async fn caller_from_headers(
    state: &Services,
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
) -> Caller {
    let credential = Credential::of(headers, false);
    let ip = caller::client_ip(headers, peer, &state.cfg.trusted_proxies);
    if matches!(credential, Credential::None) {
        return Caller {
            ip,
            ..Caller::anonymous()
        };
    }
    let st = state.clone();
    let resolved = state
        .db
        .read_now(move |c| caller::resolve_caller(c, &st.keys, &st.cfg, &credential, ip, None))
        .await;
    let mut caller = resolved.unwrap_or_else(|e| {
        e.log();
        Caller {
            ip,
            ..Caller::anonymous()
        }
    });
    record_use(state, &mut caller).await;
    caller
}

/// Writes the "last used" of the caller's token when it is due (once a minute at most),
/// on the blocking pool; a failure only loses that minute's mark.
async fn record_use(state: &Services, caller: &mut Caller) {
    if let Some(used) = caller.last_use.take()
        && let Err(e) = state.db.run(move |c| used.record(c)).await
    {
        e.log();
    }
}

fn not_found_site(state: &Services, caller: &Caller, msg: &str) -> Response {
    let l = crate::http::Layout {
        title: "Not found".into(),
        site_title: "robot".into(),
        static_prefix: "/static",
        user: caller.principal.handle().map(String::from),
        login_url: format!("{}/auth/login", state.cfg.root_url()),
        logout_url: format!("{}/auth/logout", state.cfg.root_url()),
        ..Default::default()
    };
    let page = crate::http::Message {
        l,
        paragraphs: vec![msg.to_string()],
        link: Some((state.cfg.root_url(), "Go to the home page".into())),
    };
    let mut r = crate::http::render(&page);
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// Serves until `shutdown` resolves, then stops accepting and drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: Services,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // No push is running yet: what a crash left of one goes.
    crate::wiki::push::clear_leftovers(&state.cfg);
    // Bring every full-text index to its repository's HEAD before serving.
    {
        let (w, db) = (state.wikis.clone(), state.db.clone());
        tokio::task::spawn_blocking(move || crate::wiki::provision::reconcile_all(&w, &db))
            .await??;
    }
    // "Last changed by" takes a walk through each wiki's history: take it now, in the
    // background, rather than on the first reader's request (for as many wikis as the
    // `wikis` budget holds).
    {
        let (w, db) = (state.wikis.clone(), state.db.clone());
        tokio::task::spawn_blocking(move || {
            let all = db.conn().and_then(|c| crate::db::wikis::list(&c));
            for wiki in all.unwrap_or_default() {
                // Past the budget, warming one wiki would only evict another.
                if !w.has_room_for_wiki() {
                    break;
                }
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
