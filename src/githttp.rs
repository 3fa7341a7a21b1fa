//! git over smart HTTP at `/repo.git/*` (and `/.git/*`, Otterwiki's path). The real git
//! server does the protocol: we authenticate, then run `git upload-pack --stateless-rpc`
//! for clones and fetches (streamed back; protocol v2 through the `Git-Protocol` header,
//! gzip request bodies, a deadline, a cap on concurrent clones) and `git receive-pack
//! --stateless-rpc` for pushes, whose ref updates the wiki decides (`wiki::push`).
//!
//! Credentials: none to clone a public wiki; otherwise a token (the wiki's, or a person's
//! own) as the Basic password (any user name) or as a Bearer token. Missing → 401 with a
//! Basic challenge so git asks; not enough → 403 with the reason; git switched off → 404.
//! All of it is decided before git reads a byte of the request (`service::git`).

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::access::{Caller, CurrentWiki};
use crate::db::wikis::Wiki;
use crate::error::Error;
use crate::http::request_id;
use crate::service::Services;
use crate::service::git::{self, GitAccess};
use crate::wiki::push;

/// Largest negotiation request accepted (wants and haves; not pack data, which never
/// flows this way on a clone or fetch).
const MAX_REQUEST: usize = 8 * 1024 * 1024;
/// A clone that takes longer than this is cut off.
const DEADLINE: Duration = Duration::from_secs(600);

/// Clone and fetch, and the advertisement of both services.
pub fn router() -> Router<Services> {
    let mut r = Router::new();
    for prefix in crate::access::resource::GIT_PREFIXES {
        r = r
            .route(&format!("{prefix}/info/refs"), get(info_refs))
            .route(&format!("{prefix}/git-upload-pack"), post(upload_pack));
    }
    r
}

/// Pushes: a router of their own, for their own body limit (a pack may hold a whole
/// wiki, [`push::max_request_bytes`]).
pub fn push_router() -> Router<Services> {
    let mut r = Router::new();
    for prefix in crate::access::resource::GIT_PREFIXES {
        r = r.route(&format!("{prefix}/git-receive-pack"), post(receive_pack));
    }
    r
}

fn plain(status: StatusCode, msg: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{msg}\n"),
    )
        .into_response()
}

/// Authorizes a clone or a push, answering a refusal as git clients show it.
async fn authorize(
    state: &Services,
    wiki: &Wiki,
    caller: &Caller,
    access: GitAccess,
) -> Result<(), Response> {
    match git::authorize(state, caller, wiki, access).await {
        Ok(()) => Ok(()),
        Err(Error::Unauthorized) => {
            let mut r = plain(
                StatusCode::UNAUTHORIZED,
                if caller.bad_bearer {
                    "invalid token"
                } else {
                    "authentication required: use a token as the password"
                },
            );
            challenge(&mut r, &wiki.slug);
            Err(r)
        }
        Err(e @ (Error::Forbidden(_) | Error::NotFound(_))) => {
            Err(plain(e.status(), &e.public_message()))
        }
        Err(e) => {
            e.log();
            Err(plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
        }
    }
}

/// Authorizes the request, then takes one of the slots for git processes (503 when all
/// are busy); the permit lives as long as the git process it is for.
async fn admit(
    state: &Services,
    wiki: &Wiki,
    caller: &Caller,
    access: GitAccess,
) -> Result<tokio::sync::OwnedSemaphorePermit, Response> {
    authorize(state, wiki, caller, access).await?;
    state.clones.clone().try_acquire_owned().map_err(|_| busy())
}

/// The request body is gzip (git compresses large negotiation requests).
fn is_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|e| e.eq_ignore_ascii_case("gzip"))
}

fn challenge(r: &mut Response, slug: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{slug}\"")) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
}

/// `git`, with a clean environment, ready for the service's arguments.
fn git_command(state: &Services, headers: &HeaderMap) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("git");
    cmd.env_clear()
        .envs(crate::wiki::store::git_env(&state.cfg.data_dir));
    // Protocol v2 is negotiated through this header; pass only well-formed values.
    if let Some(p) = git_protocol(headers.get("git-protocol").and_then(|v| v.to_str().ok())) {
        cmd.env("GIT_PROTOCOL", p);
    }
    cmd.kill_on_drop(true);
    cmd
}

/// The `Git-Protocol` header's value if it is well formed (printable ASCII and spaces,
/// under 256 bytes), to pass to git as `GIT_PROTOCOL`.
pub fn git_protocol(header: Option<&str>) -> Option<&str> {
    header.filter(|p| p.len() < 256 && p.chars().all(|c| c.is_ascii_graphic() || c == ' '))
}

async fn info_refs(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<std::collections::BTreeMap<String, String>>,
) -> Response {
    let access = match q.get("service").map(String::as_str) {
        Some("git-upload-pack") => GitAccess::Clone,
        Some("git-receive-pack") => GitAccess::Push,
        _ => {
            return plain(
                StatusCode::FORBIDDEN,
                "only the smart protocol is served (git-upload-pack, git-receive-pack)",
            );
        }
    };
    let _permit = match admit(&state, &wiki, &caller, access).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let repo = state.wikis.repo_path(&wiki.slug);
    let mut cmd = git_command(&state, &headers);
    let (service, v2) = match access {
        GitAccess::Clone => {
            cmd.arg("upload-pack").arg("--http-backend-info-refs");
            let v2 = headers
                .get("git-protocol")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|p| p.contains("version=2"));
            ("git-upload-pack", v2)
        }
        GitAccess::Push => {
            // Advertised with the configuration the push itself runs with.
            cmd.args(push::receive_pack_config(&state.cfg))
                .arg("receive-pack")
                .arg("--http-backend-info-refs");
            ("git-receive-pack", false)
        }
    };
    let out = cmd.arg(&repo).stdin(Stdio::null()).output().await;
    let out = match out {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => {
            tracing::error!(service, stderr = %String::from_utf8_lossy(&o.stderr), "git --advertise-refs failed");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "git failed");
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot run git");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "git is not available");
        }
    };
    // Protocol v0/v1 answers start with the service announcement; v2 does not.
    let mut body = Vec::with_capacity(out.len() + 40);
    if !v2 {
        let line = format!("# service={service}\n");
        body.extend_from_slice(format!("{:04x}{line}0000", line.len() + 4).as_bytes());
    }
    body.extend_from_slice(&out);
    let content_type = format!("application/x-{service}-advertisement");
    (
        [
            (header::CONTENT_TYPE, content_type.as_str()),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn busy() -> Response {
    let mut r = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many clones and pushes in progress; try again shortly",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

async fn upload_pack(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let permit = match admit(&state, &wiki, &caller, GitAccess::Clone).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let raw = match axum::body::to_bytes(request.into_body(), MAX_REQUEST).await {
        Ok(b) => b,
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request too large"),
    };
    let gzip = is_gzip(&headers);
    let input = match decode_body(gzip, &raw) {
        Ok(b) => b,
        Err(why @ "request too large") => return plain(StatusCode::PAYLOAD_TOO_LARGE, why),
        Err(why) => return plain(StatusCode::BAD_REQUEST, why),
    };
    let repo = state.wikis.repo_path(&wiki.slug);
    let spawned = git_command(&state, &headers)
        .arg("upload-pack")
        .arg("--stateless-rpc")
        .arg(&repo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot run git");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "git is not available");
        }
    };
    // Feed the request while the response streams, so neither pipe can fill up and stall.
    let mut stdin = child.stdin.take().expect("piped stdin");
    tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
        let _ = stdin.shutdown().await;
    });
    let stdout = child.stdout.take().expect("piped stdout");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let reader = tokio_util::io::ReaderStream::with_capacity(stdout, 64 * 1024);
    // The child and the clone permit live as long as the response stream.
    let stream = futures_util::stream::unfold(
        (reader, Some(child), Some(permit)),
        move |(mut reader, child, permit)| async move {
            child.as_ref()?;
            match tokio::time::timeout_at(deadline, reader.next()).await {
                Ok(Some(chunk)) => Some((chunk, (reader, child, permit))),
                Ok(None) => None,
                Err(_) => {
                    tracing::warn!("clone exceeded its deadline; stopped");
                    Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "deadline",
                        )),
                        (reader, None, None),
                    ))
                }
            }
        },
    );
    (
        [
            (header::CONTENT_TYPE, "application/x-git-upload-pack-result"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// The most a request body may decode to (a gzip body inflates at most this far).
pub const MAX_DECODED: usize = MAX_REQUEST * 4;

/// The negotiation request as git reads it: the body, inflated when it is gzip, refused
/// when it is not valid gzip or would decode to more than [`MAX_DECODED`] bytes.
pub fn decode_body(gzip: bool, raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    decode_body_within(gzip, raw, MAX_DECODED)
}

/// [`decode_body`] with the cap given (the fuzz target tries small ones).
pub fn decode_body_within(gzip: bool, raw: &[u8], cap: usize) -> Result<Vec<u8>, &'static str> {
    if !gzip {
        if raw.len() > cap {
            return Err("request too large");
        }
        return Ok(raw.to_vec());
    }
    let mut out = Vec::new();
    // One byte past the cap tells a body at the cap from one beyond it.
    let mut dec = flate2::read::GzDecoder::new(raw).take(cap as u64 + 1);
    if dec.read_to_end(&mut out).is_err() {
        return Err("invalid gzip body");
    }
    if out.len() > cap {
        return Err("request too large");
    }
    Ok(out)
}

/// A push: authorized before a byte of the body is read, the body (git's commands and
/// its pack) spooled to the push's workspace up to the size a whole wiki may take, then
/// handed to the push operation. git's answer goes back as it is, refusals included (as
/// `remote:` lines and an `ng` in its report).
async fn receive_pack(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let _permit = match admit(&state, &wiki, &caller, GitAccess::Push).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ws = match push::Workspace::create(&state.cfg) {
        Ok(ws) => ws,
        Err(e) => {
            e.log();
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let gzip = is_gzip(&headers);
    let cap = push::max_request_bytes(&state.cfg);
    if let Err((status, why)) = spool(request.into_body(), gzip, cap, &ws.request_path()).await {
        return plain(status, why);
    }
    match git::push(&state, &caller, &wiki, ws, request_id(&headers)).await {
        Ok(outcome) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/x-git-receive-pack-result",
                ),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            outcome.response,
        )
            .into_response(),
        Err(e @ Error::RateLimited { .. }) => {
            let mut r = plain(e.status(), "too many writes: wait a minute and push again");
            if let Error::RateLimited { retry_after_secs } = e
                && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
            {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(e) => {
            e.log();
            plain(e.status(), &e.public_message())
        }
    }
}

/// Writes the request body to `path`, inflated when it is gzip, refusing more than `cap`
/// bytes either way.
async fn spool(
    body: Body,
    gzip: bool,
    cap: u64,
    path: &std::path::Path,
) -> Result<(), (StatusCode, &'static str)> {
    let too_large = (
        StatusCode::PAYLOAD_TOO_LARGE,
        "push too large: it would not fit in the wiki's quota",
    );
    let failed = (StatusCode::INTERNAL_SERVER_ERROR, "cannot store the push");
    let mut file = tokio::fs::File::create(path).await.map_err(|_| failed)?;
    let mut stream = body.into_data_stream();
    let mut raw = Vec::new();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| (StatusCode::BAD_REQUEST, "the request body broke off"))?;
        written += chunk.len() as u64;
        if written > cap {
            return Err(too_large);
        }
        if gzip {
            raw.extend_from_slice(&chunk);
        } else {
            file.write_all(&chunk).await.map_err(|_| failed)?;
        }
    }
    if gzip {
        let inflated = decode_body_within(true, &raw, cap as usize).map_err(|why| match why {
            "request too large" => too_large,
            _ => (StatusCode::BAD_REQUEST, "invalid gzip body"),
        })?;
        file.write_all(&inflated).await.map_err(|_| failed)?;
    }
    file.flush().await.map_err(|_| failed)?;
    Ok(())
}
