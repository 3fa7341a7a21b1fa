//! Drafts, as Otterwiki keeps them: what a person types in the editor is saved on the
//! server as they go, offered again when they reopen the editor, and dropped when they
//! save the page (`pages::save`) or discard it. A draft is the person's own: only they
//! see it, and only while they may still write to the wiki.

use crate::access::{Action, Caller};
use crate::db::drafts::{self, Draft};
use crate::db::wikis::Wiki;
use crate::error::{Error, Result};
use crate::wiki::names::PageName;

use super::Services;

/// The person behind `caller` (a wiki token has no drafts).
fn person(caller: &Caller) -> Result<String> {
    caller
        .principal
        .did()
        .map(String::from)
        .ok_or_else(|| Error::Forbidden("Drafts belong to a signed-in person.".into()))
}

/// Keeps `content`, begun at `base_revision`, as the caller's draft of `name`.
pub async fn keep(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    name: PageName,
    content: String,
    base_revision: String,
) -> Result<()> {
    let did = person(caller)?;
    let max = s.cfg.limits.max_page_bytes;
    s.run(caller, wiki, Action::Write, move |w, wiki, _| {
        if content.len() > max {
            return Err(Error::TooLarge(format!(
                "Draft too large ({} bytes). Maximum size is {max} bytes.",
                content.len()
            )));
        }
        let draft = Draft {
            content,
            base_revision,
            updated_at: crate::db::now(),
        };
        drafts::put(&*w.db().conn()?, wiki.id, &name.file_path(), &did, &draft)
    })
    .await
}

/// The caller's draft of `name`, if they left one.
pub async fn find(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    name: &PageName,
) -> Result<Option<Draft>> {
    let Ok(did) = person(caller) else {
        return Ok(None);
    };
    let page = name.file_path();
    s.run(caller, wiki, Action::Write, move |w, wiki, _| {
        drafts::get(&*w.db().conn()?, wiki.id, &page, &did)
    })
    .await
}

/// Drops the caller's draft of `name`.
pub async fn discard(s: &Services, caller: &Caller, wiki: &Wiki, name: &PageName) -> Result<()> {
    let did = person(caller)?;
    let page = name.file_path();
    s.run(caller, wiki, Action::Write, move |w, wiki, _| {
        drafts::delete(&*w.db().conn()?, wiki.id, &page, &did).map(|_| ())
    })
    .await
}
