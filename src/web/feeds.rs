//! The changelog as feeds, as Otterwiki offers them: `/-/feed.atom` (RFC 4287) and
//! `/-/feed.rss` (RSS 2.0), the newest commits first, each naming its author and the
//! pages it changed. A feed is a read of the changelog like any other: a public wiki's is
//! open to every reader, a private wiki's only to a signed-in reader who may read it.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{Caller, CurrentWiki, WebError};
use crate::service::{Services, reads};
use crate::wiki::markdown::html_escape_text as escape;
use crate::wiki::names::PageName;
use crate::wiki::store::CommitInfo;

/// Commits a feed holds: readers poll it, so the newest are enough.
const FEED_ENTRIES: usize = 50;

pub async fn atom(
    state: State<Services>,
    wiki: CurrentWiki,
    caller: Caller,
) -> Result<Response, WebError> {
    feed(state, wiki, caller, Format::Atom).await
}

pub async fn rss(
    state: State<Services>,
    wiki: CurrentWiki,
    caller: Caller,
) -> Result<Response, WebError> {
    feed(state, wiki, caller, Format::Rss).await
}

#[derive(Clone, Copy)]
enum Format {
    Atom,
    Rss,
}

async fn feed(
    State(state): State<Services>,
    CurrentWiki(wiki): CurrentWiki,
    caller: Caller,
    format: Format,
) -> Result<Response, WebError> {
    let (entries, _) = reads::changelog(&state, &caller, &wiki, 0, FEED_ENTRIES)
        .await
        .map_err(|error| WebError {
            error,
            layout: Default::default(),
            login_redirect: None,
        })?;
    let base = state.cfg.wiki_url(&wiki.slug);
    let items: Vec<Item> = entries
        .iter()
        .map(|(c, paths)| Item::of(&base, c, paths))
        .collect();
    let (content_type, body) = match format {
        Format::Atom => (
            "application/atom+xml; charset=utf-8",
            atom_xml(&base, &wiki.title, &items),
        ),
        Format::Rss => (
            "application/rss+xml; charset=utf-8",
            rss_xml(&base, &wiki.title, &items),
        ),
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// One commit, as both formats write it.
struct Item {
    link: String,
    title: String,
    author: String,
    time: chrono::DateTime<chrono::Utc>,
    /// The pages it changed, by name.
    pages: Vec<String>,
}

impl Item {
    fn of(base: &str, c: &CommitInfo, paths: &[String]) -> Item {
        let title = c.message.lines().next().unwrap_or("").trim();
        Item {
            link: format!("{base}/-/commit/{}", c.id),
            title: if title.is_empty() {
                c.short.clone()
            } else {
                title.to_string()
            },
            author: c.author.clone(),
            time: chrono::DateTime::from_timestamp(c.time, 0).unwrap_or_default(),
            pages: paths
                .iter()
                .filter(|p| p.ends_with(".md"))
                .map(|p| PageName::from_path(p).to_string())
                .collect(),
        }
    }

    fn summary(&self) -> String {
        match self.pages.as_slice() {
            [] => format!("By {}.", self.author),
            pages => format!("By {}. Changed: {}.", self.author, pages.join(", ")),
        }
    }
}

fn atom_xml(base: &str, title: &str, items: &[Item]) -> String {
    let updated = items.first().map(|i| i.time).unwrap_or_default();
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n",
    );
    x.push_str(&format!(
        "<title>{} – recent changes</title>\n<id>{}/-/changelog</id>\n<link rel=\"alternate\" href=\"{}/-/changelog\"/>\n<link rel=\"self\" href=\"{}/-/feed.atom\"/>\n<updated>{}</updated>\n",
        escape(title),
        escape(base),
        escape(base),
        escape(base),
        updated.to_rfc3339(),
    ));
    for i in items {
        x.push_str(&format!(
            "<entry><title>{}</title><id>{}</id><link rel=\"alternate\" href=\"{}\"/><updated>{}</updated><author><name>{}</name></author><summary>{}</summary></entry>\n",
            escape(&i.title),
            escape(&i.link),
            escape(&i.link),
            i.time.to_rfc3339(),
            escape(&i.author),
            escape(&i.summary()),
        ));
    }
    x.push_str("</feed>\n");
    x
}

fn rss_xml(base: &str, title: &str, items: &[Item]) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\">\n<channel>\n",
    );
    x.push_str(&format!(
        "<title>{} – recent changes</title>\n<link>{}/-/changelog</link>\n<description>The latest changes of {}.</description>\n",
        escape(title),
        escape(base),
        escape(title),
    ));
    for i in items {
        x.push_str(&format!(
            "<item><title>{}</title><link>{}</link><guid isPermaLink=\"true\">{}</guid><pubDate>{}</pubDate><description>{}</description></item>\n",
            escape(&i.title),
            escape(&i.link),
            escape(&i.link),
            i.time.to_rfc2822(),
            escape(&i.summary()),
        ));
    }
    x.push_str("</channel>\n</rss>\n");
    x
}
