//! The HTML templates (askama, compiled into the binary from `assets/templates/`) and the
//! data each one needs. Every template extends `base.html` through a [`Layout`].

use askama::Template;

pub use crate::http::page::{Layout, Message};

use crate::wiki::markdown::TocEntry;
use crate::wiki::store::{BlameLine, CommitInfo, FileDiff};
use crate::wiki::{Attachment, SaveConflict};

pub(crate) mod filters {
    /// Seconds since the epoch as `2026-11-22 14:03 UTC`.
    #[askama::filter_fn]
    pub fn fmt_time(t: &i64, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(chrono::DateTime::from_timestamp(*t, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default())
    }

    /// Seconds since the epoch as `2026-11-22`.
    #[askama::filter_fn]
    pub fn fmt_date(t: &i64, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(chrono::DateTime::from_timestamp(*t, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default())
    }
}

#[derive(Template)]
#[template(path = "page.html")]
pub struct PageView {
    pub l: Layout,
    pub title: String,
    /// The page's own Markdown starts with a level-1 heading, which is its title.
    pub has_h1: bool,
    /// `Folder › Page`, shown above a page that has its own title.
    pub path_label: String,
    pub url: String,
    pub html: String,
    pub toc: Vec<TocEntry>,
    pub backlinks: Vec<(String, String)>,
    pub revision: Option<String>,
    pub last_change: Option<CommitInfo>,
    pub needs_math: bool,
    /// What could not be rendered as written (limits applied), shown above the page.
    pub notices: Vec<String>,
}

/// A folder that has no page of its own: an index of the pages in it, as Otterwiki shows.
#[derive(Template)]
#[template(path = "folder.html")]
pub struct Folder {
    pub l: Layout,
    pub name: String,
    pub url: String,
    /// Each page's URL and its name inside the folder (`Sub/Page`).
    pub pages: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "missing.html")]
pub struct Missing {
    pub l: Layout,
    pub name: String,
    pub url: String,
    pub backlinks: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "edit.html")]
pub struct Edit {
    pub l: Layout,
    pub name: String,
    pub url: String,
    pub is_new: bool,
    pub content: String,
    pub base_revision: String,
    pub message: String,
    pub conflict: Option<SaveConflict>,
    pub error: Option<String>,
    /// The person's unsaved draft of this page: when it was kept, and whether the editor
    /// holds it now (restored) or is only offering it.
    pub draft: Option<(i64, bool)>,
}

#[derive(Template)]
#[template(path = "history.html")]
pub struct History {
    pub l: Layout,
    pub name: String,
    pub url: String,
    pub commits: Vec<CommitInfo>,
    pub offset: usize,
    pub prev_offset: usize,
    pub next_offset: usize,
    pub has_more: bool,
}

#[derive(Template)]
#[template(path = "diff.html")]
pub struct Diff {
    pub l: Layout,
    pub heading: String,
    pub commit: Option<CommitInfo>,
    pub commit_id: String,
    pub can_revert: bool,
    pub files: Vec<FileDiff>,
}

#[derive(Template)]
#[template(path = "blame.html")]
pub struct Blame {
    pub l: Layout,
    pub name: String,
    pub url: String,
    pub lines: Vec<BlameLine>,
}

#[derive(Template)]
#[template(path = "source.html")]
pub struct Source {
    pub l: Layout,
    pub name: String,
    pub url: String,
    pub revision: Option<String>,
    /// Highlighted Markdown source (escaped by the highlighter).
    pub html: String,
}

/// One input of a generic form.
pub struct Field {
    pub name: &'static str,
    pub label: String,
    /// `text`, `checkbox`, `hidden`, …
    pub kind: &'static str,
    pub value: String,
    pub checked: bool,
    pub required: bool,
    pub autofocus: bool,
    pub hint: String,
}

impl Field {
    pub fn text(name: &'static str, label: &str, value: &str) -> Field {
        Field {
            name,
            label: label.into(),
            kind: "text",
            value: value.into(),
            checked: false,
            required: false,
            autofocus: false,
            hint: String::new(),
        }
    }

    pub fn checkbox(name: &'static str, label: &str, checked: bool) -> Field {
        Field {
            kind: "checkbox",
            value: "y".into(),
            checked,
            ..Field::text(name, label, "")
        }
    }

    pub fn required(mut self) -> Field {
        self.required = true;
        self.autofocus = true;
        self
    }

    pub fn hint(mut self, h: &str) -> Field {
        self.hint = h.into();
        self
    }
}

/// A confirmation or small input form (create, rename, delete, revert).
#[derive(Template)]
#[template(path = "form.html")]
pub struct Form {
    pub l: Layout,
    pub heading: String,
    pub intro: String,
    pub action: String,
    pub fields: Vec<Field>,
    pub submit: String,
    pub cancel: String,
    pub danger: bool,
    pub confirm: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "changelog.html")]
pub struct Changelog {
    pub l: Layout,
    pub entries: Vec<(CommitInfo, Vec<(String, String)>)>,
    pub offset: usize,
    pub prev_offset: usize,
    pub next_offset: usize,
    pub has_more: bool,
    pub total: usize,
}

#[derive(Template)]
#[template(path = "index.html")]
pub struct Index {
    pub l: Layout,
    pub count: usize,
    pub groups: Vec<(String, Vec<(String, String)>)>,
}

pub struct SearchResult {
    pub url: String,
    pub title: String,
    pub path: String,
    /// Escaped text, with `<mark>` around matched words.
    pub snippet_html: String,
    /// How it was found (hybrid), or where in the page (semantic).
    pub detail: String,
}

impl SearchResult {
    pub fn new(
        url: String,
        title: String,
        path: &str,
        snippet_html: String,
        detail: String,
    ) -> SearchResult {
        SearchResult {
            url,
            title,
            path: path.to_string(),
            snippet_html,
            detail,
        }
    }
}

#[derive(Template)]
#[template(path = "search.html")]
pub struct Search {
    pub l: Layout,
    pub query: String,
    pub query_url: String,
    /// `hybrid`, `text` or `semantic`.
    pub mode: &'static str,
    pub semantic_on: bool,
    pub notice: Option<String>,
    pub total: usize,
    pub results: Vec<SearchResult>,
    pub offset: usize,
    pub prev_offset: usize,
    pub next_offset: Option<usize>,
}

#[derive(Template)]
#[template(path = "attachments.html")]
pub struct Attachments {
    pub l: Layout,
    pub name: String,
    pub url: String,
    pub files: Vec<Attachment>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "landing.html")]
pub struct Landing {
    pub l: Layout,
    /// (url, title, role)
    pub wikis: Vec<(String, String, String)>,
}
