//! git over smart HTTP as an operation: who may clone or push (the wiki's switches and the
//! caller's role, decided before git reads a byte), and the push itself, which counts as
//! one write, runs on the blocking pool like every other, and is audited and counted.

use crate::access::{Action, Caller};
use crate::db::wikis::Wiki;
use crate::error::{Error, Result};
use crate::ops::audit;
use crate::wiki::push::{self, PushOutcome, Workspace};

use super::Services;

/// What a git client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitAccess {
    /// `git-upload-pack`: clone and fetch.
    Clone,
    /// `git-receive-pack`: push.
    Push,
}

/// Whether `caller` may clone or push `wiki`: 404 when the owner switched git off, 403
/// when pushing is off or the caller cannot write, 401 without (valid) credentials.
pub async fn authorize(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    access: GitAccess,
) -> Result<()> {
    if !wiki.git_clone {
        return Err(Error::NotFound(
            "git access is switched off for this wiki".into(),
        ));
    }
    if access == GitAccess::Push && !wiki.git_push {
        return Err(Error::Forbidden(
            "pushing is switched off for this wiki (its owner can turn it on in the settings)"
                .into(),
        ));
    }
    if caller.bad_bearer {
        return Err(Error::Unauthorized);
    }
    let action = match access {
        GitAccess::Clone => Action::Read,
        GitAccess::Push => Action::Write,
    };
    s.decide(&caller.principal, wiki, action).await.map(|_| ())
}

/// Runs one push whose request body is in `ws`: authorized and counted as one write,
/// then decided by the wiki (see `wiki::push`). The audit log records who pushed which
/// range, or what was refused.
pub async fn push(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    ws: Workspace,
    request_id: Option<String>,
) -> Result<PushOutcome> {
    let outcome = s
        .run(caller, wiki, Action::Write, move |w, wiki, caller| {
            let outcome = w.receive_push(wiki, &ws)?;
            let author = caller.principal.author();
            let actor = (!author.email.is_empty()).then_some(author.email.as_str());
            let (action, detail) = match (&outcome.moved, &outcome.refused) {
                (Some(m), _) => (
                    "git.push",
                    serde_json::json!({
                        "by": author.name,
                        "range": push::describe(m),
                        "commits": m.commits,
                    }),
                ),
                (None, Some(r)) => (
                    "git.push.refused",
                    serde_json::json!({"by": author.name, "reasons": r.0}),
                ),
                (None, None) => return Ok(outcome),
            };
            audit::record(
                &*w.db().conn()?,
                actor,
                Some(wiki),
                action,
                &detail.to_string(),
                request_id.as_deref(),
            )?;
            Ok(outcome)
        })
        .await;
    s.metrics.push(match &outcome {
        Ok(o) if o.moved.is_some() => "accepted",
        Ok(o) if o.refused.is_some() => "refused",
        Ok(_) => "unchanged",
        Err(_) => "failed",
    });
    outcome
}
