//! The authorization endpoint. `GET` checks the request, sends a signed-out person to
//! sign in and back to the identical URL, and shows the consent page: the client's name,
//! where it will redirect, the wiki and the scopes. The page is refused to anyone without
//! access to this wiki. `POST` (the consent form, CSRF-checked) re-checks everything and
//! redirects with a single-use code bound to the client, redirect URI, PKCE challenge,
//! scopes, resource, user and wiki — or with `access_denied`.
//!
//! Errors about the client or its redirect URI are shown here, never redirected (the URI
//! cannot be trusted); every other error goes back to the client with `state` and `iss`.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::*;
use crate::access::{Action, Role};
use crate::access::{Caller, CurrentWiki};
use crate::db::wikis::Wiki;
use crate::http::urlencode;
use crate::http::{Layout, Message, parse_form, render};

#[derive(Template)]
#[template(path = "oauth_consent.html")]
/// The consent page: who asks for what, on which wiki.
struct OAuthConsent {
    l: Layout,
    client_name: String,
    /// For a client known by its metadata document: the host that publishes it (the
    /// person's only evidence of who this is; nobody registered it).
    client_host: Option<String>,
    wiki_title: String,
    wiki_host: String,
    handle: String,
    redirect_host: String,
    scope: String,
    can_write: bool,
    action: String,
    /// The request's parameters, carried to the POST.
    hidden: Vec<(String, String)>,
}

/// A checked authorization request.
struct Request {
    client: crate::db::oauth::Client,
    redirect_uri: String,
    state: Option<String>,
    code_challenge: String,
    scope: String,
    resource: String,
}

/// The parameters the consent form carries back.
const CARRIED: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
    "state",
    "scope",
    "resource",
];

fn page(
    state: &Services,
    caller: &Caller,
    status: StatusCode,
    title: &str,
    text: &str,
) -> Response {
    let l = Layout {
        title: title.into(),
        site_title: "robot".into(),
        static_prefix: "/static",
        user: caller.principal.handle().map(String::from),
        csrf: caller.csrf.clone(),
        login_url: format!("{}/auth/login", state.cfg.root_url()),
        logout_url: format!("{}/auth/logout", state.cfg.root_url()),
        ..Default::default()
    };
    let mut r = render(&Message {
        l,
        paragraphs: vec![text.to_string()],
        link: None,
    });
    *r.status_mut() = status;
    r
}

/// Back to the client with an error (RFC 6749 §4.1.2.1), `state` and `iss` included.
fn redirect_error(
    issuer: &str,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut to = format!(
        "{redirect_uri}{}error={error}&error_description={}",
        if redirect_uri.contains('?') { '&' } else { '?' },
        urlencode(description)
    );
    if let Some(s) = state {
        to.push_str(&format!("&state={}", urlencode(s)));
    }
    to.push_str(&format!("&iss={}", urlencode(issuer)));
    to_client(&to)
}

/// A redirect (303) to the client. Redirect URIs are checked by [`redirect_uri_problem`]
/// before anything is sent to them; one that still cannot be a `Location` header is a
/// 400, never a panic (`Redirect::to` panics).
fn to_client(to: &str) -> Response {
    match axum::http::HeaderValue::from_str(to) {
        Ok(v) => (StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, v)]).into_response(),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            "invalid_request: the redirect URI is malformed",
        )
            .into_response(),
    }
}

/// Checks the request. `Err` is the response to give: an error page or a redirect.
// The error is the response itself; it is built once and returned at once.
#[allow(clippy::result_large_err)]
async fn check(
    state: &Services,
    wiki: &Wiki,
    caller: &Caller,
    q: &BTreeMap<String, String>,
) -> std::result::Result<Request, Response> {
    let issuer = issuer(state, &wiki.slug);
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(client_id) = get("client_id").map(String::from) else {
        return Err(page(
            state,
            caller,
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The application did not say who it is (no client_id).",
        ));
    };
    let client = match find_client(state, caller, &client_id).await {
        Ok(c) => c,
        Err(UnknownClient::Unregistered) => {
            return Err(page(
                state,
                caller,
                StatusCode::BAD_REQUEST,
                "Unknown application",
                "This application is not registered here (unknown client_id). Connect it again from the application.",
            ));
        }
        Err(UnknownClient::Refused(why)) => {
            return Err(page(
                state,
                caller,
                StatusCode::BAD_REQUEST,
                "Application not accepted",
                &format!(
                    "This application's description was not accepted (invalid_client): {why}."
                ),
            ));
        }
        Err(UnknownClient::Internal) => {
            return Err(page(
                state,
                caller,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "Internal server error",
            ));
        }
    };
    // Checked before it is compared: a malformed URI is refused here (a registration
    // stored before registrations were held to the same rule included).
    let malformed = get("redirect_uri")
        .or_else(|| (client.redirect_uris.len() == 1).then(|| client.redirect_uris[0].as_str()))
        .and_then(redirect_uri_problem);
    if let Some(why) = malformed {
        return Err(page(
            state,
            caller,
            StatusCode::BAD_REQUEST,
            "Invalid redirect URI",
            &format!("The application's redirect URI is malformed (invalid_request): {why}."),
        ));
    }
    let redirect_uri = match get("redirect_uri") {
        Some(r) if redirect_matches(&client.redirect_uris, r) => r.to_string(),
        Some(_) => {
            return Err(page(
                state,
                caller,
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The redirect URI is not one this application registered.",
            ));
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return Err(page(
                state,
                caller,
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The request has no redirect_uri.",
            ));
        }
    };
    let st = get("state").map(String::from);
    let fail = |error: &str, description: &str| {
        Err(redirect_error(
            &issuer,
            &redirect_uri,
            st.as_deref(),
            error,
            description,
        ))
    };
    let ours = resources(state, &wiki.slug);
    let (code_challenge, resource) = match check_params(q, &ours) {
        Ok(x) => x,
        Err((error, description)) => return fail(error, description),
    };
    Ok(Request {
        client,
        redirect_uri,
        state: st.clone(),
        code_challenge,
        scope: get("scope").unwrap_or("").to_string(),
        resource,
    })
}

/// The checks of an authorization request that need neither the database nor the
/// client: response type, PKCE (S256, a challenge of 43 to 128 characters) and the
/// resource, which must be one of `ours` (this wiki's /mcp URL or its /api/v1 URL; the
/// first when none is named). Returns the code challenge and the resource, or the error
/// and its description to send back to the client.
pub fn check_params(
    q: &BTreeMap<String, String>,
    ours: &[String],
) -> std::result::Result<(String, String), (&'static str, &'static str)> {
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if get("response_type") != Some("code") {
        return Err(("unsupported_response_type", "response_type must be code"));
    }
    let Some(code_challenge) = get("code_challenge").map(String::from) else {
        return Err((
            "invalid_request",
            "PKCE is required: code_challenge is missing",
        ));
    };
    if get("code_challenge_method") != Some("S256") {
        return Err(("invalid_request", "code_challenge_method must be S256"));
    }
    if code_challenge.len() < 43 || code_challenge.len() > 128 {
        return Err((
            "invalid_request",
            "code_challenge must be 43 to 128 characters",
        ));
    }
    let resource = match get("resource") {
        None => ours.first().cloned().unwrap_or_default(),
        Some(r) => match ours.iter().find(|o| same_resource(r, o)) {
            Some(o) => o.clone(),
            None => {
                return Err((
                    "invalid_target",
                    "this server protects only its own /mcp and /api/v1 resources",
                ));
            }
        },
    };
    Ok((code_challenge, resource))
}

/// The person's role here, or the page refusing them.
async fn role_here(
    state: &Services,
    wiki: &Wiki,
    caller: &Caller,
) -> std::result::Result<Role, Response> {
    let grant = state.decide(&caller.principal, wiki, Action::Read).await;
    match grant {
        Ok(g) if g.role.is_some() => Ok(g.role.unwrap_or(Role::Viewer)),
        _ => Err(page(
            state,
            caller,
            StatusCode::FORBIDDEN,
            "No access",
            "You do not have access to this wiki, so you cannot connect an application to it. Ask its owner to add you.",
        )),
    }
}

fn signed_in(caller: &Caller) -> Option<(&str, &str)> {
    match &caller.principal {
        crate::access::Principal::User { did, handle, .. } if !caller.bearer => Some((did, handle)),
        _ => None,
    }
}

pub async fn authorize(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    Query(q): Query<BTreeMap<String, String>>,
    uri: axum::http::Uri,
) -> Response {
    let req = match check(&state, &wiki, &caller, &q).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Some((_, handle)) = signed_in(&caller) else {
        // Sign in, then come back to exactly this request.
        let back = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or(AUTHORIZE_PATH);
        return Redirect::to(&format!("/-/login?return_to={}", urlencode(back))).into_response();
    };
    let role = match role_here(&state, &wiki, &caller).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let scope = grant_scopes(&req.scope, role >= Role::Editor);
    let redirect_host = reqwest::Url::parse(&req.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(String::from))
        .unwrap_or_default();
    let hidden = CARRIED
        .iter()
        .filter_map(|k| q.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    let l = Layout {
        title: format!("Connect {}", req.client.client_name),
        site_title: wiki.title.clone(),
        static_prefix: "/static",
        user: Some(handle.to_string()),
        csrf: caller.csrf.clone(),
        login_url: "/-/login".into(),
        logout_url: format!("{}/auth/logout", state.cfg.root_url()),
        ..Default::default()
    };
    render(&OAuthConsent {
        l,
        client_name: req.client.client_name.clone(),
        client_host: req
            .client
            .document_fresh_until
            .and_then(|_| reqwest::Url::parse(&req.client.client_id).ok())
            .and_then(|u| u.host_str().map(String::from)),
        wiki_title: wiki.title.clone(),
        wiki_host: state.cfg.wiki_host(&wiki.slug),
        handle: handle.to_string(),
        redirect_host,
        can_write: scope.contains(SCOPE_WRITE),
        scope,
        action: AUTHORIZE_PATH.to_string(),
        hidden,
    })
}

pub async fn consent(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form: BTreeMap<String, String> = parse_form(&body).into_iter().collect();
    if let Err(e) = crate::access::caller::check_csrf(
        &state.keys,
        &caller,
        form.get("csrf").map(String::as_str),
        &headers,
    ) {
        return page(
            &state,
            &caller,
            e.status(),
            "Expired form",
            "This consent form expired. Start the connection again from the application.",
        );
    }
    let req = match check(&state, &wiki, &caller, &form).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Some((did, _)) = signed_in(&caller) else {
        return page(
            &state,
            &caller,
            StatusCode::UNAUTHORIZED,
            "Signed out",
            "Sign in and start the connection again.",
        );
    };
    let role = match role_here(&state, &wiki, &caller).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let issuer = issuer(&state, &wiki.slug);
    if form.get("decision").map(String::as_str) != Some("approve") {
        return redirect_error(
            &issuer,
            &req.redirect_uri,
            req.state.as_deref(),
            "access_denied",
            "the user denied the request",
        );
    }
    let code = new_secret("rac_");
    let now = crate::db::now();
    let row = crate::db::oauth::Code {
        client_id: req.client.client_id.clone(),
        wiki_id: wiki.id,
        user_did: did.to_string(),
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        scope: grant_scopes(&req.scope, role >= Role::Editor),
        resource: req.resource.clone(),
        expires_at: now + CODE_TTL_SECS,
    };
    let hash = hash_secret(&code);
    if let Err(e) = state
        .db
        .run(move |c| crate::db::oauth::insert_code(c, &hash, &row, now))
        .await
    {
        e.log();
        return redirect_error(
            &issuer,
            &req.redirect_uri,
            req.state.as_deref(),
            "server_error",
            "could not issue a code",
        );
    }
    let mut to = format!(
        "{}{}code={code}",
        req.redirect_uri,
        if req.redirect_uri.contains('?') {
            '&'
        } else {
            '?'
        }
    );
    if let Some(s) = &req.state {
        to.push_str(&format!("&state={}", urlencode(s)));
    }
    to.push_str(&format!("&iss={}", urlencode(&issuer)));
    to_client(&to)
}
