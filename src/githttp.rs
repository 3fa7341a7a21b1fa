//! `git clone` over smart HTTP, read-only, at `/repo.git/*` (and `/.git/*`, Otterwiki's
//! path). The real git server does the protocol: we authenticate, then spawn
//! `git upload-pack --stateless-rpc` and stream its output back (protocol v2 through the
//! `Git-Protocol` header, gzip request bodies, a deadline, and a cap on concurrent clones).
//! Pushes (`git-receive-pack`) are refused: edits go through the wiki.
//!
//! Credentials: none on a public wiki; on a private one the wiki token, as the Basic
//! password (any user name) or as a Bearer token. Missing → 401 with a Basic challenge so
//! git asks; another wiki's token → 403. When the owner switched clone off → 404.

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

use crate::access::Action;
use crate::access::{Caller, CurrentWiki};
use crate::db::wikis::Wiki;
use crate::error::Error;
use crate::service::Services;

/// Largest negotiation request accepted (wants and haves; not pack data, which never
/// flows this way on a clone or fetch).
const MAX_REQUEST: usize = 8 * 1024 * 1024;
/// A clone that takes longer than this is cut off.
const DEADLINE: Duration = Duration::from_secs(600);

pub fn router() -> Router<Services> {
    let mut r = Router::new();
    for prefix in crate::access::resource::GIT_PREFIXES {
        r = r
            .route(&format!("{prefix}/info/refs"), get(info_refs))
            .route(&format!("{prefix}/git-upload-pack"), post(upload_pack))
            .route(&format!("{prefix}/git-receive-pack"), post(receive_pack));
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

/// Authorizes a clone: 404 when clone is off, 401 (with a challenge) or 403 otherwise.
async fn authorize_clone(state: &Services, wiki: &Wiki, caller: &Caller) -> Result<(), Response> {
    if !wiki.git_clone {
        return Err(plain(
            StatusCode::NOT_FOUND,
            "git access is switched off for this wiki",
        ));
    }
    // The caller was resolved with git's credentials (a wiki token as the Basic
    // password, or Bearer), like every request, in `access::caller`.
    if caller.bad_bearer {
        let mut r = plain(StatusCode::UNAUTHORIZED, "invalid token");
        challenge(&mut r, &wiki.slug);
        return Err(r);
    }
    match state.decide(&caller.principal, wiki, Action::Read).await {
        Ok(_) => Ok(()),
        Err(Error::Unauthorized) => {
            let mut r = plain(
                StatusCode::UNAUTHORIZED,
                "authentication required: use the wiki token as the password",
            );
            challenge(&mut r, &wiki.slug);
            Err(r)
        }
        Err(Error::Forbidden(_)) => Err(plain(
            StatusCode::FORBIDDEN,
            "this token is not for this wiki",
        )),
        Err(e) => {
            e.log();
            Err(plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
        }
    }
}

fn challenge(r: &mut Response, slug: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{slug}\"")) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
}

fn git_command(state: &Services, wiki: &Wiki, headers: &HeaderMap) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("git");
    cmd.env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
        )
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", state.cfg.data_dir.as_os_str());
    // Protocol v2 is negotiated through this header; pass only well-formed values.
    if let Some(p) = git_protocol(headers.get("git-protocol").and_then(|v| v.to_str().ok())) {
        cmd.env("GIT_PROTOCOL", p);
    }
    cmd.arg("upload-pack").arg("--stateless-rpc");
    let _ = wiki;
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
    match q.get("service").map(String::as_str) {
        Some("git-upload-pack") => {}
        Some("git-receive-pack") => {
            return plain(StatusCode::FORBIDDEN, "Push access denied (read-only)");
        }
        _ => {
            return plain(
                StatusCode::FORBIDDEN,
                "only the smart protocol is served (git-upload-pack)",
            );
        }
    }
    if let Err(r) = authorize_clone(&state, &wiki, &caller).await {
        return r;
    }
    let Ok(_permit) = state.clones.clone().try_acquire_owned() else {
        return busy();
    };
    let repo = state.wikis.repo_path(&wiki.slug);
    let v2 = headers
        .get("git-protocol")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.contains("version=2"));
    let out = git_command(&state, &wiki, &headers)
        .arg("--http-backend-info-refs")
        .arg(&repo)
        .stdin(Stdio::null())
        .output()
        .await;
    let out = match out {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => {
            tracing::error!(stderr = %String::from_utf8_lossy(&o.stderr), "git upload-pack --advertise-refs failed");
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
        body.extend_from_slice(b"001e# service=git-upload-pack\n0000");
    }
    body.extend_from_slice(&out);
    (
        [
            (
                header::CONTENT_TYPE,
                "application/x-git-upload-pack-advertisement",
            ),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn busy() -> Response {
    let mut r = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many clones in progress; try again shortly",
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
    if let Err(r) = authorize_clone(&state, &wiki, &caller).await {
        return r;
    }
    let Ok(permit) = state.clones.clone().try_acquire_owned() else {
        return busy();
    };
    let raw = match axum::body::to_bytes(request.into_body(), MAX_REQUEST).await {
        Ok(b) => b,
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request too large"),
    };
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
    let input = match decode_body(gzip, &raw) {
        Ok(b) => b,
        Err(why @ "request too large") => return plain(StatusCode::PAYLOAD_TOO_LARGE, why),
        Err(why) => return plain(StatusCode::BAD_REQUEST, why),
    };
    let repo = state.wikis.repo_path(&wiki.slug);
    let spawned = git_command(&state, &wiki, &headers)
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

async fn receive_pack() -> Response {
    plain(StatusCode::FORBIDDEN, "Push access denied (read-only)")
}
