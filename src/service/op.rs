//! The skeleton every operation shares, written once: authorize the caller for the
//! action, count the write (the one rate rule, [`Services::count_write`]), move to the
//! blocking pool, and call the domain with the author to record. Also the one rule for
//! commit messages, which the reference words per surface.

use crate::access::{self, Action, Caller, Grant, Principal};
use crate::db::wikis::Wiki;
use crate::error::Result;
use crate::wiki::{Wikis, default_message};

use super::{Services, count_write};

/// The surface an operation came through. It decides nothing but what the reference
/// decides per surface: the prefix of commit messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Web,
    Api,
    Mcp,
}

impl Services {
    /// Runs one operation of `caller` on `wiki`: the decision, the write count and the
    /// domain call `f`, in one trip to the blocking pool. Writers record their commits
    /// under the caller's author (`{handle} (via {client})` for OAuth clients, see
    /// `access::Principal::author`).
    pub async fn run<T, F>(&self, caller: &Caller, wiki: &Wiki, action: Action, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Wikis, &Wiki, &Caller) -> Result<T> + Send + 'static,
    {
        let limiter = self.limiter.clone();
        let (caller, wiki) = (caller.clone(), wiki.clone());
        self.wikis
            .run(move |w| {
                access::authorize(&*w.db().conn()?, &caller.principal, &wiki, action)?;
                count_write(&limiter, &caller, action)?;
                f(w, &wiki, &caller)
            })
            .await
    }
}

impl Services {
    /// Whether `principal` may do `action` on `wiki`, decided as every operation decides,
    /// for a surface that must know before it starts one: to answer with a sign-in page,
    /// to refuse before reading a body, to show a consent screen, to start `git`. It counts
    /// nothing and does nothing; the operation that follows decides again.
    pub async fn decide(
        &self,
        principal: &Principal,
        wiki: &Wiki,
        action: Action,
    ) -> Result<Grant> {
        let (p, w) = (principal.clone(), wiki.clone());
        self.db
            .run(move |c| access::authorize(c, &p, &w, action))
            .await
    }
}

/// The commit message of a write: the caller's own, or `default` when they gave none.
/// As the reference: MCP marks every message `[mcp] `, the REST API its default ones
/// `[api] `. The web UI's are as written; when empty, the domain writes Otterwiki's own
/// default (`Update Home`).
pub fn commit_message(surface: Surface, given: &str, default: impl FnOnce() -> String) -> String {
    match surface {
        Surface::Mcp => {
            let m = default_message(given, default);
            if m.starts_with("[mcp]") {
                m
            } else {
                format!("[mcp] {m}")
            }
        }
        Surface::Api => default_message(given, || format!("[api] {}", default())),
        Surface::Web => given.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_messages_follow_the_reference_per_surface() {
        let d = || "Update: Home".to_string();
        assert_eq!(commit_message(Surface::Mcp, "", d), "[mcp] Update: Home");
        assert_eq!(
            commit_message(Surface::Mcp, "fix typo", d),
            "[mcp] fix typo"
        );
        assert_eq!(commit_message(Surface::Mcp, "[mcp] fix", d), "[mcp] fix");
        assert_eq!(commit_message(Surface::Api, "", d), "[api] Update: Home");
        assert_eq!(commit_message(Surface::Api, "fix typo", d), "fix typo");
        assert_eq!(commit_message(Surface::Web, "", d), "");
        assert_eq!(commit_message(Surface::Web, " mine ", d), "mine");
    }
}
