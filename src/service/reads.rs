//! The read operations besides reading a page: the page tree and the filtered page list,
//! a page's history, diff and
//! blame, one commit, the wiki's changelog, links and backlinks, orphans, and attachments
//! (list, download), and what crawlers may index. Each authorizes a read on the blocking pool and names pages as the
//! wiki stores them.

use std::sync::Arc;

use crate::access::{Action, Caller};
use crate::db::wikis::Wiki;
use crate::error::{Error, Result};
use crate::wiki::names::PageName;
use crate::wiki::query::{PageFilter, PageSummary};
use crate::wiki::snapshot::Snapshot;
use crate::wiki::store::{BlameLine, CommitInfo, FileDiff};
use crate::wiki::{Attachment, ChangelogEntry, Wikis};

use super::Services;

/// The page's entry at HEAD, or the reference's "Page not found".
fn stored(w: &Wikis, wiki: &Wiki, name: &PageName) -> Result<(PageName, String)> {
    w.snapshot(wiki)?
        .page(&name.file_path())
        .map(|e| (e.name.clone(), e.path.clone()))
        .ok_or_else(|| Error::not_found(format!("Page not found: {name}")))
}

/// The wiki's pages at HEAD (names, titles, links): what page lists and trees show.
pub async fn tree(s: &Services, caller: &Caller, wiki: &Wiki) -> Result<Arc<Snapshot>> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        w.snapshot(wiki)
    })
    .await
}

/// The pages that pass `filter` (prefix, category, tag, changed since), by name.
pub async fn pages(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    filter: PageFilter,
) -> Result<Vec<PageSummary>> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        w.list_pages(wiki, &filter)
    })
    .await
}

/// Whether search engines may index this wiki: whether an anonymous reader may read it.
/// Crawlers are anonymous, so the rule is the read rule itself, not one of its own.
pub async fn crawlable(s: &Services, wiki: &Wiki) -> Result<bool> {
    match s
        .decide(&crate::access::Principal::Anonymous, wiki, Action::Read)
        .await
    {
        Ok(_) => Ok(true),
        Err(Error::Unauthorized | Error::Forbidden(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// What search engines may index: the pages an anonymous reader may read, with when each
/// last changed; `None` when the wiki is not [`crawlable`] (a private wiki).
pub async fn crawlable_pages(s: &Services, wiki: &Wiki) -> Result<Option<Vec<PageSummary>>> {
    match pages(s, &Caller::anonymous(), wiki, PageFilter::default()).await {
        Ok(pages) => Ok(Some(pages)),
        Err(Error::Unauthorized | Error::Forbidden(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A page's revisions, newest first. A page that is gone but has history keeps it; one
/// that never existed is not found.
pub async fn history(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    name: PageName,
    skip: usize,
    limit: usize,
) -> Result<(PageName, Vec<CommitInfo>)> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        let commits = w.history(wiki, &name, skip, limit)?;
        let shown = match stored(w, wiki, &name) {
            Ok((n, _)) => n,
            Err(e) if commits.is_empty() => return Err(e),
            Err(_) => PageName::from_path(&name.file_path()),
        };
        Ok((shown, commits))
    })
    .await
}

/// How a page changed from revision `from` to `to`.
pub async fn diff(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    name: PageName,
    from: String,
    to: String,
) -> Result<Vec<FileDiff>> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        w.diff(wiki, &name, &from, &to)
    })
    .await
}

/// Who last changed each line of a page, at HEAD or at `revision`.
pub async fn blame(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    name: PageName,
    revision: Option<String>,
) -> Result<Vec<BlameLine>> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        w.blame(wiki, &name, revision.as_deref())
    })
    .await
}

/// One commit and what it changed.
pub async fn commit(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    revision: String,
) -> Result<(CommitInfo, Vec<FileDiff>)> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        w.commit(wiki, &revision)
    })
    .await
}

/// The wiki's latest changes, newest first, each with the files it touched; and how
/// many changes there are in all.
pub async fn changelog(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    skip: usize,
    limit: usize,
) -> Result<(Vec<ChangelogEntry>, usize)> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        w.changelog(wiki, skip, limit)
    })
    .await
}

/// A page's links out and in, by name.
pub struct Links {
    pub name: PageName,
    pub links_to: Vec<String>,
    pub linked_from: Vec<String>,
}

pub async fn links(s: &Services, caller: &Caller, wiki: &Wiki, name: PageName) -> Result<Links> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        let snap = w.snapshot(wiki)?;
        let entry = snap
            .page(&name.file_path())
            .ok_or_else(|| Error::not_found(format!("Page not found: {name}")))?;
        let (links_to, linked_from) = snap.link_names(&entry.path);
        Ok(Links {
            name: entry.name.clone(),
            links_to,
            linked_from,
        })
    })
    .await
}

/// Pages no other page links to, Home excepted, by name.
pub async fn orphans(s: &Services, caller: &Caller, wiki: &Wiki) -> Result<Vec<String>> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        let snap = w.snapshot(wiki)?;
        Ok(snap
            .pages
            .values()
            .filter(|e| !e.name.as_str().eq_ignore_ascii_case("home"))
            .filter(|e| snap.link_names(&e.path).1.is_empty())
            .map(|e| e.name.to_string())
            .collect())
    })
    .await
}

/// A page's attachments, and the page's name as stored.
pub async fn attachments(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    name: PageName,
) -> Result<(PageName, Vec<Attachment>)> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        let (shown, _) = stored(w, wiki, &name)?;
        Ok((shown, w.list_attachments(wiki, &name)?))
    })
    .await
}

/// One attachment's bytes and type, at HEAD or at `revision`.
pub async fn attachment(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    name: PageName,
    file: String,
    revision: Option<String>,
) -> Result<(Vec<u8>, String)> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        w.read_attachment(wiki, &name, &file, revision.as_deref())
    })
    .await
}

/// An image attachment's thumbnail (`?thumbnail=N`): its bytes and type.
pub async fn thumbnail(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    name: PageName,
    file: String,
    size: u32,
) -> Result<crate::wiki::thumbnails::Thumbnail> {
    s.run(caller, wiki, Action::Read, move |w, wiki, _| {
        w.thumbnail(wiki, &name, &file, size)
    })
    .await
}
