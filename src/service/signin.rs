//! Signing in and out, below the pages that ask for it: redeeming a single-use code (the
//! operator's sign-in link, or a cross-host hand-off bound to a host and a browser),
//! minting a hand-off, starting a revocable session, and ending all of a person's
//! sessions. The web layer only carries cookies and redirects around these.

use crate::access::session::{self, hash_secret, random_token};
use crate::db::{sessions, users};
use crate::error::{Error, Result};
use crate::ops::audit;
use crate::service::Services;

pub use crate::db::sessions::{HandoffBinding, HandoffRefused};

/// How long a hand-off code lives: long enough for one redirect.
const HANDOFF_SECS: i64 = 60;

/// What a single-use code presented to [`redeem`] must be.
pub enum Code {
    /// The operator's sign-in link (`robot admin login-link`): unbound, handed to a person.
    Login,
    /// A cross-host hand-off: valid only on the host and for the browser it names.
    Handoff(HandoffBinding),
}

/// Consumes a single-use code and answers whose it was; refused when it is unknown,
/// used, expired, or bound elsewhere. Either way the code cannot be used again.
pub async fn redeem(
    state: &Services,
    code: &str,
    kind: Code,
) -> Result<std::result::Result<String, HandoffRefused>> {
    let hash = hash_secret(code);
    state
        .db
        .run(move |c| match kind {
            Code::Login => {
                Ok(sessions::consume_link(c, &hash, "login")?.ok_or(HandoffRefused::Gone))
            }
            Code::Handoff(binding) => sessions::consume_handoff(c, &hash, &binding),
        })
        .await
}

/// Mints a short-lived hand-off code for `did`, bound to `binding`. Only its hash is kept.
pub async fn mint_handoff(state: &Services, did: &str, binding: HandoffBinding) -> Result<String> {
    let code = random_token();
    let (hash, did) = (hash_secret(&code), did.to_string());
    state
        .db
        .run(move |c| sessions::create_handoff(c, &hash, &did, &binding, HANDOFF_SECS))
        .await?;
    Ok(code)
}

/// A session just started: the signed token for the cookie, and how long it lasts.
pub struct Started {
    pub token: String,
    pub max_age_secs: i64,
}

/// Starts a session for an existing account: a signed JWT backed by a row that
/// [`sign_out`] (or the operator) can revoke.
pub async fn start_session(state: &Services, did: &str) -> Result<Started> {
    let did2 = did.to_string();
    let user = state
        .db
        .run(move |c| users::get(c, &did2))
        .await?
        .ok_or_else(|| Error::Forbidden("That account no longer exists.".into()))?;
    let claims = session::issue(
        &state.cfg.root_url(),
        &user.did,
        &user.handle,
        state.cfg.session_hours,
    )?;
    let token = session::encode(&state.keys, &claims)?;
    let (jti, did, exp) = (claims.jti.clone(), user.did.clone(), claims.exp);
    state
        .db
        .run(move |c| sessions::create(c, &jti, &did, exp))
        .await?;
    tracing::info!(did = %user.did, "session started");
    Ok(Started {
        token,
        max_age_secs: state.cfg.session_hours * 3600,
    })
}

/// Records a completed ATProto sign-in in the activity log. Best effort: a sign-in that
/// worked is not refused because the log could not be written.
pub async fn record_sign_in(state: &Services, did: &str, handle: &str, request_id: Option<String>) {
    let (did, handle) = (did.to_string(), handle.to_string());
    let res = state
        .db
        .run(move |c| audit::record(c, Some(&did), None, "login", &handle, request_id.as_deref()))
        .await;
    if let Err(e) = res {
        e.log();
    }
}

/// Signs a person out everywhere: their ATProto session, and every browser session.
pub async fn sign_out(state: &Services, did: &str, request_id: Option<String>) -> Result<()> {
    state.atproto.sign_out(did).await;
    let did = did.to_string();
    state
        .db
        .run(move |c| {
            sessions::revoke_all(c, &did)?;
            audit::record(c, Some(&did), None, "logout", "", request_id.as_deref())
        })
        .await
}
