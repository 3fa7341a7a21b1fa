//! What the embeds that read the wiki (`{{AttachmentList}}`, `{{PageIndex}}`, a CSV
//! `{{DataTable}}`, an attachment's `{{ImageFrame}}`) read: the page's attachments and
//! the pages below it, from the same snapshot as the page the reader was authorized to
//! read, so they show nothing that reader could not open. Drawn at each view: a page's
//! render is cached by its blob, and these change without it.

use git2::Repository;

use super::embeds::{self, AttachmentRow, Heading, IndexEntry};
use super::markdown::Rendered;
use super::names::{PageName, url_path_encode};
use super::snapshot::Snapshot;
use super::{Wikis, mime_of, store};
use crate::db::wikis::Wiki;

impl Wikis {
    /// The page's HTML as a reader sees it: the cached render, with its live embeds
    /// drawn from `snap`. `None` when the render has none (then it is `rendered.html`).
    pub fn live_html(
        &self,
        wiki: &Wiki,
        snap: &Snapshot,
        page: &PageName,
        rendered: &Rendered,
    ) -> Option<String> {
        if rendered.live.is_empty() {
            return None;
        }
        let repo = self.open_repo(wiki).ok();
        let sources = PageSources {
            wikis: self,
            wiki,
            snap,
            repo: repo.as_deref(),
            page: snap
                .page(&page.file_path())
                .map(|e| e.name.clone())
                .unwrap_or_else(|| page.clone()),
        };
        Some(embeds::draw_live(&rendered.html, &rendered.live, &sources))
    }
}

struct PageSources<'a> {
    wikis: &'a Wikis,
    wiki: &'a Wiki,
    snap: &'a Snapshot,
    repo: Option<&'a Repository>,
    page: PageName,
}

impl PageSources<'_> {
    /// `file` of this page or `/Page/file` of another: the page, the file's name, and
    /// its path in the repository, if the file exists.
    fn resolve(&self, src: &str) -> Result<(PageName, String, String), String> {
        let src = src.trim();
        let (page, file) = match src.strip_prefix('/').and_then(|s| s.rsplit_once('/')) {
            Some((parent, file)) => (
                PageName::parse(parent).map_err(|_| format!("{src}: not a page's attachment."))?,
                file,
            ),
            None => (self.page.clone(), src),
        };
        if file.is_empty() || file.contains(['/', '\\']) || file == ".." || file.ends_with(".md") {
            return Err(format!("{src}: not an attachment's name."));
        }
        let path = format!("{}/{file}", self.snap.attachment_dir(&page));
        if !self.snap.files.contains_key(&path) {
            return Err(format!("attachment \"{src}\" not found."));
        }
        Ok((page, file.to_string(), path))
    }
}

impl embeds::Sources for PageSources<'_> {
    fn attachments(&self) -> Vec<AttachmentRow> {
        let dir = self.snap.attachment_dir(&self.page);
        let files = self.snap.attachments(&self.page);
        let paths: Vec<String> = files.iter().map(|(f, _, _)| format!("{dir}/{f}")).collect();
        files
            .into_iter()
            .zip(&paths)
            .map(|((filename, _, size), path)| {
                let change = self.repo.and_then(|repo| {
                    let pages = paths.iter().map(String::as_str);
                    self.wikis
                        .last_change_of(self.wiki, repo, self.snap, path, pages)
                        .ok()
                        .flatten()
                });
                AttachmentRow {
                    url: format!("{}/a/{}", self.page.url(), url_path_encode(&filename)),
                    is_image: mime_of(&filename).starts_with("image/"),
                    size,
                    time: change.as_ref().map(|c| c.time),
                    author: change
                        .as_ref()
                        .map(|c| c.author.clone())
                        .unwrap_or_default(),
                    message: change
                        .map(|c| c.message.trim().to_string())
                        .unwrap_or_default(),
                    filename,
                }
            })
            .collect()
    }

    fn pages_below(&self) -> Vec<IndexEntry> {
        let prefix = format!("{}/", self.page.as_str());
        self.snap
            .pages_under(&self.page)
            .into_iter()
            .map(|e| {
                let title = e
                    .name
                    .as_str()
                    .get(prefix.len()..)
                    .unwrap_or(e.name.as_str());
                IndexEntry {
                    depth: title.matches('/').count(),
                    title: title.to_string(),
                    name: e.name.as_str().to_string(),
                    url: e.name.url(),
                }
            })
            .collect()
    }

    fn headings(&self, page: &str) -> Vec<Heading> {
        let (Some(repo), Ok(name)) = (self.repo, PageName::parse(page)) else {
            return Vec::new();
        };
        let Ok(page) = self.wikis.read_page_in(repo, self.snap, &name, None) else {
            return Vec::new();
        };
        let rendered = self.wikis.render(self.snap, &page);
        let mut toc = rendered.toc.as_slice();
        // The first heading names the page (Otterwiki's rule): it is the link itself.
        if let Some(first) = toc.first()
            && first.level == 1
            && rendered.title.as_deref() == Some(first.text.as_str())
        {
            toc = &toc[1..];
        }
        toc.iter()
            .map(|t| Heading {
                level: t.level,
                html: t.html.clone(),
                id: t.id.clone(),
            })
            .collect()
    }

    fn attachment_url(&self, src: &str) -> Result<String, String> {
        let (page, file, _) = self.resolve(src)?;
        Ok(format!("{}/a/{}", page.url(), url_path_encode(&file)))
    }

    fn attachment_bytes(&self, src: &str, limit: usize) -> Result<Vec<u8>, String> {
        let (_, _, path) = self.resolve(src)?;
        let (blob, size) = self.snap.files[&path];
        if size as usize > limit {
            return Err(format!(
                "attachment \"{src}\" is larger than {} KiB.",
                limit / 1024
            ));
        }
        let repo = self
            .repo
            .ok_or("the wiki's repository could not be opened.")?;
        store::read_blob(repo, blob).map_err(|e| e.to_string())
    }
}
