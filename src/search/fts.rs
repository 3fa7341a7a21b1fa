//! Full-text search: SQLite FTS5 (porter stemming, BM25 ranking, highlighted snippets).
//! The index is derived state. `sync` brings a wiki's rows from the commit they reflect to
//! the repository's HEAD by reading only the pages that changed in between; it runs after
//! every write and for every wiki at start, so a crash or an outside commit cannot leave
//! the index stale.

use git2::Repository;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::db::wikis::Wiki;
use crate::error::Result;
use crate::wiki::Wikis;
use crate::wiki::front_matter;
use crate::wiki::snapshot::Snapshot;
use crate::wiki::store;

/// The column filter that restricts a query to one wiki.
fn wiki_token(wiki_id: i64) -> String {
    format!("w{wiki_id}")
}

/// The commit the wiki's index reflects.
pub fn indexed_commit(conn: &Connection, wiki_id: i64) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT commit_id FROM fts_state WHERE wiki_id = ?1",
            [wiki_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// Brings the index of `wiki_id` to `snap.head`. Returns how many pages were (re)indexed.
pub fn sync(
    conn: &mut Connection,
    wiki_id: i64,
    repo: &Repository,
    snap: &Snapshot,
) -> Result<usize> {
    let target = snap.head.map(|h| h.to_string()).unwrap_or_default();
    let current = indexed_commit(conn, wiki_id)?;
    if current.as_deref() == Some(target.as_str()) {
        return Ok(0);
    }
    let from = current
        .as_deref()
        .filter(|c| !c.is_empty())
        .and_then(|c| git2::Oid::from_str(c).ok())
        .filter(|oid| repo.find_commit(*oid).is_ok());
    // Which pages to refresh: those changed since the indexed commit, or all of them.
    let paths: Vec<String> = match (from, current.is_some()) {
        (Some(from), _) => store::changed_paths(repo, Some(from), snap.head)?
            .into_iter()
            .filter(|p| p.ends_with(".md"))
            .collect(),
        _ => Vec::new(),
    };
    let full = from.is_none();
    // Immediate: the write lock is taken (waiting for it) before the first read, so the
    // transaction never has to upgrade a read snapshot, which SQLite refuses at once
    // with "database is locked" when another process wrote meanwhile.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if full {
        tx.execute(
            "DELETE FROM pages_fts WHERE rowid IN (SELECT id FROM fts_docs WHERE wiki_id = ?1)",
            [wiki_id],
        )?;
        tx.execute("DELETE FROM fts_docs WHERE wiki_id = ?1", [wiki_id])?;
    }
    let todo: Vec<String> = if full {
        snap.pages.values().map(|p| p.path.clone()).collect()
    } else {
        paths
    };
    let mut n = 0;
    for path in &todo {
        let old: Option<i64> = tx
            .query_row(
                "SELECT id FROM fts_docs WHERE wiki_id = ?1 AND path = ?2",
                params![wiki_id, path],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = old {
            tx.execute("DELETE FROM pages_fts WHERE rowid = ?1", [id])?;
            tx.execute("DELETE FROM fts_docs WHERE id = ?1", [id])?;
        }
        let Some(entry) = snap.pages.get(&path.to_lowercase()) else {
            continue;
        };
        if entry.path != *path {
            continue;
        }
        let content = store::read_blob(repo, entry.blob)?;
        let text = String::from_utf8_lossy(&content);
        // One page that cannot be read is indexed without its body, not the end of indexing.
        let body = crate::wiki::renders::isolated("indexing", path, || front_matter::body(&text))
            .unwrap_or("");
        tx.execute(
            "INSERT INTO fts_docs (wiki_id, path) VALUES (?1, ?2)",
            params![wiki_id, path],
        )?;
        let id = tx.last_insert_rowid();
        let title = if entry.title == entry.name.leaf() {
            entry.name.as_str().to_string()
        } else {
            format!("{} {}", entry.name.as_str(), entry.title)
        };
        tx.execute(
            "INSERT INTO pages_fts (rowid, wiki, title, body) VALUES (?1, ?2, ?3, ?4)",
            params![id, wiki_token(wiki_id), title, body],
        )?;
        n += 1;
    }
    tx.execute(
        "INSERT INTO fts_state (wiki_id, commit_id) VALUES (?1, ?2)
         ON CONFLICT(wiki_id) DO UPDATE SET commit_id = excluded.commit_id",
        params![wiki_id, target],
    )?;
    tx.commit()?;
    Ok(n)
}

/// Removes a wiki's rows (its `fts_docs` rows also go by cascade; the FTS rows do not).
pub fn drop_wiki(conn: &Connection, wiki_id: i64) -> Result<()> {
    conn.execute(
        "DELETE FROM pages_fts WHERE rowid IN (SELECT id FROM fts_docs WHERE wiki_id = ?1)",
        [wiki_id],
    )?;
    conn.execute("DELETE FROM fts_docs WHERE wiki_id = ?1", [wiki_id])?;
    conn.execute("DELETE FROM fts_state WHERE wiki_id = ?1", [wiki_id])?;
    Ok(())
}

/// A wiki's pages by words, BM25-ranked, with snippets from the pages as they are at
/// HEAD: the search every surface runs. An outside commit (plain git, a restore) is
/// picked up here, not only at start.
pub fn search_wiki(
    wikis: &Wikis,
    wiki: &Wiki,
    query: &str,
    limit: usize,
    offset: usize,
) -> Result<(Vec<Hit>, usize)> {
    wikis.reconcile(wiki)?;
    let (mut hits, total) = {
        let conn = wikis.db().conn()?;
        search(&conn, wiki.id, query, limit, offset)?
    };
    let repo = wikis.open_repo(wiki)?;
    let snap = wikis.snapshot_with(wiki, &repo)?;
    let prefixes = super::snippet::match_prefixes(query);
    for hit in &mut hits {
        if let Some(entry) = snap.page(&hit.path) {
            let content = store::read_blob(&repo, entry.blob)?;
            let text = String::from_utf8_lossy(&content);
            let body = front_matter::body(&text);
            (hit.snippet, hit.snippet_html) = super::snippet::snippet(body, &prefixes, 160);
        }
    }
    Ok((hits, total))
}

#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub path: String,
    /// Snippet with `<mark>` around matches; everything else HTML-escaped.
    pub snippet_html: String,
    /// The snippet as plain text (for APIs).
    pub snippet: String,
    /// BM25 rank (lower is better), as SQLite reports it.
    pub rank: f64,
}

/// Turns what a person types into an FTS5 query: words and "quoted phrases" become quoted
/// terms (so FTS syntax characters are inert), all required; the last bare word also
/// matches as a prefix, for search-as-you-type.
pub fn to_fts_query(input: &str) -> Option<String> {
    let mut terms = Vec::new();
    let mut rest = input.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('"') {
            let (phrase, tail) = after.split_once('"').unwrap_or((after, ""));
            let words: Vec<String> = tokens(phrase);
            if !words.is_empty() {
                terms.push(format!("\"{}\"", words.join(" ")));
            }
            rest = tail.trim_start();
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            for w in tokens(&rest[..end]) {
                terms.push(format!("\"{w}\""));
            }
            rest = rest[end..].trim_start();
        }
    }
    // A repeated word or phrase adds nothing but cost.
    let mut seen = std::collections::HashSet::new();
    terms.retain(|t| seen.insert(t.clone()));
    if terms.is_empty() {
        return None;
    }
    let last_is_word = !input.trim_end().ends_with('"');
    if last_is_word && let Some(last) = terms.last_mut() {
        last.push('*');
    }
    Some(terms.join(" "))
}

/// The alphanumeric runs of `s` (what unicode61 would index).
fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect()
}

/// BM25-ranked matches in one wiki (title matches weigh more than body matches), with
/// the total number of matches. Snippets are added by the caller for the rows it shows.
pub fn search(
    conn: &Connection,
    wiki_id: i64,
    query: &str,
    limit: usize,
    offset: usize,
) -> Result<(Vec<Hit>, usize)> {
    super::query::check(query)?;
    let Some(q) = to_fts_query(query) else {
        return Ok((Vec::new(), 0));
    };
    let full = format!("wiki : \"{}\" AND ({q})", wiki_token(wiki_id));
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM pages_fts WHERE pages_fts MATCH ?1",
        [&full],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(
        "SELECT d.path, bm25(pages_fts, 0.0, 8.0, 1.0) AS score
         FROM pages_fts JOIN fts_docs d ON d.id = pages_fts.rowid
         WHERE pages_fts MATCH ?1
         ORDER BY score LIMIT ?2 OFFSET ?3",
    )?;
    let hits = stmt
        .query_map(params![full, limit as i64, offset as i64], |r| {
            Ok(Hit {
                path: r.get(0)?,
                snippet_html: String::new(),
                snippet: String::new(),
                rank: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((hits, total as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_quoted_terms() {
        assert_eq!(
            to_fts_query("vector search").unwrap(),
            "\"vector\" \"search\"*"
        );
        assert_eq!(
            to_fts_query("\"exact phrase\" x").unwrap(),
            "\"exact phrase\" \"x\"*"
        );
        assert_eq!(
            to_fts_query("\"exact phrase\"").unwrap(),
            "\"exact phrase\""
        );
        assert_eq!(
            to_fts_query("a OR b NEAR(c)").unwrap(),
            "\"a\" \"or\" \"b\" \"near\" \"c\"*"
        );
        assert!(to_fts_query("  ** ").is_none());
    }
}
