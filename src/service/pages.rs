//! Page operations as every surface calls them: read (at a revision; shown rendered, or
//! as highlighted source), preview, save (with its base
//! revision; a stale one is a conflict naming the current revision), edit (one unique
//! replacement), rename (with backlinks) and delete. Each authorizes, counts a write,
//! runs on the blocking pool and returns typed results naming pages as the wiki stores
//! them (`Notes/Ts Sdk Check`, whatever spelling the caller used) and the revision to
//! send back with the next write: the page's last change.

use std::sync::Arc;

use crate::access::{Action, Caller};
use crate::db::wikis::Wiki;
use crate::error::{Error, Result};
use crate::wiki::markdown::{self, Rendered};
use crate::wiki::names::PageName;
use crate::wiki::snapshot::Snapshot;
use crate::wiki::store::CommitInfo;
use crate::wiki::{Page, SaveConflict, SaveOutcome, Wikis};

use super::Services;
use super::op::{Surface, commit_message};

/// A page as read: the text, its links, and its revision.
pub struct PageRead {
    pub page: Page,
    /// The wiki at the HEAD the page was read from.
    pub snapshot: Arc<Snapshot>,
    /// The page's last change at the revision read (HEAD unless one was asked for).
    pub last_change: Option<CommitInfo>,
    pub links_to: Vec<String>,
    pub linked_from: Vec<String>,
}

impl PageRead {
    /// The revision a writer sends back: the page's last change, at the revision read.
    pub fn revision(&self) -> String {
        self.last_change
            .as_ref()
            .map(|c| c.id.clone())
            .unwrap_or_else(|| self.page.commit.clone())
    }
}

/// What a write leaves: the page's name as stored and its new revision.
#[derive(Debug, Clone)]
pub struct Written {
    pub name: PageName,
    /// The page's last change after the write (the commit made, or the unchanged one).
    pub revision: String,
    pub created: bool,
}

/// What a save did.
pub enum Saved {
    Written(Written),
    /// The base revision was stale: nothing was written. `conflict` has the page as it
    /// is now and a clean merge when there is one (the web editor offers it); `error` is
    /// the conflict as the APIs answer it, naming the revision to re-read.
    Stale {
        conflict: Box<SaveConflict>,
        error: Error,
    },
}

impl Saved {
    /// The write, or the conflict as an error.
    pub fn written(self) -> Result<Written> {
        match self {
            Saved::Written(w) => Ok(w),
            Saved::Stale { error, .. } => Err(error),
        }
    }
}

/// What a rename leaves.
#[derive(Debug, Clone)]
pub struct Renamed {
    pub from: PageName,
    pub to: PageName,
    pub revision: String,
    /// The pages whose links were rewritten.
    pub updated_pages: Vec<PageName>,
}

/// The page's name and last change after a write.
fn written(w: &Wikis, wiki: &Wiki, name: &PageName, created: bool) -> Result<Written> {
    let snap = w.snapshot(wiki)?;
    let (name, path) = match snap.page(&name.file_path()) {
        Some(e) => (e.name.clone(), e.path.clone()),
        None => (name.clone(), name.file_path()),
    };
    Ok(Written {
        revision: w
            .last_change(wiki, &path)?
            .map(|c| c.id)
            .unwrap_or_default(),
        name,
        created,
    })
}

/// Reads a page, at HEAD or at `revision`.
pub async fn read(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    name: PageName,
    revision: Option<String>,
) -> Result<PageRead> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        let view = w.read_page_view(wiki, &name, revision.as_deref())?;
        let (links_to, linked_from) = view.snapshot.link_names(&view.page.path);
        Ok(PageRead {
            page: view.page,
            snapshot: view.snapshot,
            last_change: view.last_change,
            links_to,
            linked_from,
        })
    })
    .await
}

/// A page as a reader sees it: rendered (cached per blob), with the snapshot it was read
/// from and its last change at the revision read.
pub struct Shown {
    pub page: Page,
    pub snapshot: Arc<Snapshot>,
    pub last_change: Option<CommitInfo>,
    pub rendered: Arc<Rendered>,
    /// The page's HTML with its live embeds drawn (attachment lists, page indexes),
    /// when it has any; otherwise it is `rendered.html`.
    pub live_html: Option<String>,
}

impl Shown {
    /// The page's HTML as the reader sees it.
    pub fn html(&self) -> &str {
        self.live_html.as_deref().unwrap_or(&self.rendered.html)
    }
}

/// Where the wiki's HEAD is now (a reader's question: is what I showed still current?).
pub async fn head(s: &Services, caller: &Caller, wiki: &Wiki) -> Result<Option<git2::Oid>> {
    s.run(caller, wiki, Action::Read, |w, wiki, _| w.head(wiki))
        .await
}

/// Reads a page, at HEAD or at `revision`, and renders it.
pub async fn show(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    name: PageName,
    revision: Option<String>,
) -> Result<Shown> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        let view = w.read_page_view(wiki, &name, revision.as_deref())?;
        let rendered = w.render(&view.snapshot, &view.page);
        Ok(Shown {
            live_html: w.live_html(wiki, &view.snapshot, &view.page.name, &rendered),
            rendered,
            page: view.page,
            snapshot: view.snapshot,
            last_change: view.last_change,
        })
    })
    .await
}

/// A page's Markdown, at HEAD or at `revision`, and the same highlighted as HTML.
pub async fn source(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    name: PageName,
    revision: Option<String>,
) -> Result<(Page, String)> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        let page = w.read_page(wiki, &name, revision.as_deref())?;
        let html = markdown::source_html(&page.content);
        Ok((page, html))
    })
    .await
}

/// Renders Markdown that is not (yet) saved, as page `name`: the editor's live preview.
/// Only writers preview, and a preview costs a render, so it counts as a write.
pub async fn preview(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    name: PageName,
    content: String,
) -> Result<Rendered> {
    s.run(caller, wiki, Action::Write, move |w, wiki, _| {
        w.preview(wiki, &name, &content)
    })
    .await
}

/// A whole page to write.
pub struct Save {
    pub name: PageName,
    pub content: String,
    /// The revision the writer read; required to update an existing page.
    pub base: Option<String>,
    /// The caller's commit message (empty: the default).
    pub message: String,
}

/// One unique replacement in a page.
pub struct Edit {
    pub name: PageName,
    /// The revision the writer read.
    pub revision: String,
    pub old: String,
    pub new: String,
    pub message: String,
}

/// Creates or replaces a page. Updating an existing page needs the revision its writer
/// read (`base`); a stale one is a conflict naming the current revision.
pub async fn save(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    surface: Surface,
    input: Save,
) -> Result<Saved> {
    s.run(caller, wiki, Action::Write, move |w, wiki, caller| {
        let author = &caller.principal.author();
        let Save {
            name,
            content,
            base,
            message,
        } = input;
        let exists = w.snapshot(wiki)?.has_page(&name.file_path());
        let message = commit_message(surface, &message, || {
            format!("{}: {name}", if exists { "Update" } else { "Create" })
        });
        let base = base.as_deref().filter(|r| !r.is_empty());
        match w.save_page(wiki, author, &name, &content, base, &message)? {
            SaveOutcome::Saved { created, .. } => {
                // The page is saved: the person's draft of it has served (see `drafts`).
                // Losing that clean-up loses nothing, so it never fails the save.
                if let Some(did) = caller.principal.did() {
                    let dropped = w.db().conn().and_then(|c| {
                        crate::db::drafts::delete(&c, wiki.id, &name.file_path(), did)
                    });
                    if let Err(e) = dropped {
                        e.log();
                    }
                }
                Ok(Saved::Written(written(w, wiki, &name, created)?))
            }
            SaveOutcome::Conflict(conflict) => Ok(Saved::Stale {
                conflict: Box::new(conflict),
                error: w.revision_mismatch(wiki, &name.file_path()),
            }),
        }
    })
    .await
}

/// Replaces the one occurrence of `old` in the page read at `revision` with `new`.
pub async fn edit(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    surface: Surface,
    input: Edit,
) -> Result<Written> {
    s.run(caller, wiki, Action::Write, move |w, wiki, caller| {
        let author = &caller.principal.author();
        let Edit {
            name,
            revision,
            old,
            new,
            message,
        } = input;
        let message = commit_message(surface, &message, || format!("Edit: {name}"));
        w.edit_page(wiki, author, &name, &revision, &old, &new, &message)?;
        written(w, wiki, &name, false)
    })
    .await
}

/// A page to move.
pub struct Rename {
    pub from: PageName,
    pub to: PageName,
    /// Rewrite the links to it in other pages, in the same commit (the APIs always do).
    pub update_backlinks: bool,
    pub message: String,
}

/// Renames a page (with the links to it, see [`Rename`]).
pub async fn rename(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    surface: Surface,
    input: Rename,
) -> Result<Renamed> {
    s.run(caller, wiki, Action::Write, move |w, wiki, caller| {
        let author = &caller.principal.author();
        let Rename {
            from,
            to,
            update_backlinks,
            message,
        } = input;
        let stored = w
            .snapshot(wiki)?
            .page(&from.file_path())
            .map(|e| e.name.clone())
            .ok_or_else(|| Error::not_found(format!("Page not found: {from}")))?;
        let message = commit_message(surface, &message, || format!("Rename: {from} -> {to}"));
        let out = w.rename_page(wiki, author, &from, &to, update_backlinks, &message)?;
        let to = w
            .snapshot(wiki)?
            .page(&to.file_path())
            .map(|e| e.name.clone())
            .unwrap_or(to);
        Ok(Renamed {
            from: stored,
            to,
            revision: out.commit,
            // The domain names them as stored.
            updated_pages: out
                .updated_pages
                .iter()
                .map(|n| PageName::from_path(n))
                .collect(),
        })
    })
    .await
}

/// A page to delete.
pub struct Delete {
    pub name: PageName,
    /// Also its attachments and subpages (its folder).
    pub recursive: bool,
    pub message: String,
}

/// Deletes a page (its history stays). Returns its name as it was stored and the commit.
pub async fn delete(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    surface: Surface,
    input: Delete,
) -> Result<(PageName, String)> {
    s.run(caller, wiki, Action::Write, move |w, wiki, caller| {
        let author = &caller.principal.author();
        let Delete {
            name,
            recursive,
            message,
        } = input;
        let stored = w
            .snapshot(wiki)?
            .page(&name.file_path())
            .map(|e| e.name.clone())
            .ok_or_else(|| Error::not_found(format!("Page not found: {name}")))?;
        let message = commit_message(surface, &message, || format!("Delete: {name}"));
        let commit = w.delete_page(wiki, author, &name, recursive, &message)?;
        Ok((stored, commit))
    })
    .await
}

/// Undoes one commit with a new commit; returns it.
pub async fn revert(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    revision: String,
) -> Result<String> {
    s.run(caller, wiki, Action::Write, move |w, wiki, caller| {
        let author = &caller.principal.author();
        w.revert(wiki, author, &revision)
    })
    .await
}
