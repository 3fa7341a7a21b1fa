//! Attachment writes as every surface calls them: upload (one commit for all the files of
//! one request) and delete. Both need `Upload`, on every surface.

use crate::access::{Action, Caller};
use crate::db::wikis::Wiki;
use crate::error::Result;
use crate::wiki::names::PageName;

use super::Services;
use super::op::{Surface, commit_message};

/// Files to attach to a page.
pub struct Upload {
    pub page: PageName,
    /// (file name as sent, bytes); names are made safe by the domain.
    pub files: Vec<(String, Vec<u8>)>,
    pub message: String,
}

/// Attaches files to a page in one commit; returns the commit and the names stored.
pub async fn upload(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    surface: Surface,
    input: Upload,
) -> Result<(String, Vec<String>)> {
    s.run(caller, wiki, Action::Upload, move |w, wiki, caller| {
        let author = &caller.principal.author();
        let Upload {
            page,
            files,
            message,
        } = input;
        let first = files.first().map(|(f, _)| f.clone()).unwrap_or_default();
        let message = commit_message(surface, &message, || format!("Attach: {page}/{first}"));
        w.upload_attachments(wiki, author, &page, files, &message)
    })
    .await
}

/// Deletes one attachment of a page; returns the commit.
pub async fn delete(
    s: &Services,
    caller: &Caller,
    wiki: &Wiki,
    surface: Surface,
    page: PageName,
    file: String,
    message: String,
) -> Result<String> {
    s.run(caller, wiki, Action::Upload, move |w, wiki, caller| {
        let author = &caller.principal.author();
        let message = commit_message(surface, &message, || {
            format!("Delete attachment: {page}/{file}")
        });
        w.delete_attachment(wiki, author, &page, &file, &message)
    })
    .await
}
