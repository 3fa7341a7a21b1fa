//! The rules a push must pass before `main` moves: the same as a save in the browser's,
//! checked against the pushed commits while git still holds their objects in quarantine.
//!
//! - only `refs/heads/main` is updated: no other branch, no tag, no deletion;
//! - fast-forward only, from the commit `main` is at now (the compare-and-swap every
//!   write makes);
//! - every file the push adds or changes is a page or an attachment where
//!   Otterwiki's layout puts them (`folder/two words.md`, `folder/two words/photo.png`),
//!   as a regular file (no symlink, no submodule);
//! - the resulting tree keeps the page count and the wiki quota, and every page and
//!   attachment the push changed is within its size limit.
//!
//! A refusal says, in a few lines a person reads in their git client, what to fix.

use git2::{Delta, FileMode, Oid, Repository};

use crate::config::Limits;
use crate::error::Result;
use crate::wiki::names::{self, PageName};
use crate::wiki::snapshot::Snapshot;
use crate::wiki::store;

/// The branch a push may update.
pub const MAIN: &str = "refs/heads/main";
/// Longest file path accepted in a pushed tree, in bytes.
const MAX_PATH_BYTES: usize = 1024;
/// At most this many problems are listed in a refusal (the rest are counted).
const MAX_LISTED: usize = 10;

/// One line of what `git receive-pack` hands its pre-receive hook: `old new ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// `None` when the ref is being created.
    pub old: Option<Oid>,
    /// `None` when the ref is being deleted.
    pub new: Option<Oid>,
    pub name: String,
}

impl RefUpdate {
    /// Parses `old new ref` (an all-zero id means no commit).
    pub fn parse(line: &str) -> Option<RefUpdate> {
        let mut parts = line.splitn(3, ' ');
        let id = |s: Option<&str>| -> Option<Option<Oid>> {
            let oid = Oid::from_str(s?).ok()?;
            Some((!oid.is_zero()).then_some(oid))
        };
        Some(RefUpdate {
            old: id(parts.next())?,
            new: id(parts.next())?,
            name: parts.next()?.trim_end().to_string(),
        })
    }
}

/// A push that passed: `main` may move from `old` to `new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub old: Option<Oid>,
    pub new: Oid,
    /// Commits the push adds to `main`.
    pub commits: usize,
}

/// Why a push was refused: lines for the pusher, each saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub Vec<String>);

impl Refusal {
    fn one(line: impl Into<String>) -> Refusal {
        Refusal(vec![line.into()])
    }
}

/// Checks `updates` against the wiki at `snap` (its current `main`), reading the pushed
/// objects from `repo` (which sees the quarantine). `Ok(Err(..))` is a refusal; `Err` is
/// a failure of ours (a missing object, an I/O error).
pub fn check(
    repo: &Repository,
    snap: &Snapshot,
    updates: &[RefUpdate],
    limits: &Limits,
) -> Result<std::result::Result<Accepted, Refusal>> {
    let (main, others): (Vec<_>, Vec<_>) = updates.iter().partition(|u| u.name == MAIN);
    if !others.is_empty() {
        let mut lines: Vec<String> = others
            .iter()
            .take(MAX_LISTED)
            .map(|u| {
                let what = if u.name.starts_with("refs/tags/") {
                    "tags are not kept"
                } else {
                    "only the branch main is kept"
                };
                format!(
                    "{}: refused, {what}; push main alone (git push origin main)",
                    u.name
                )
            })
            .collect();
        if others.len() > MAX_LISTED {
            lines.push(format!("… and {} more refs", others.len() - MAX_LISTED));
        }
        return Ok(Err(Refusal(lines)));
    }
    let Some(update) = main.first() else {
        return Ok(Err(Refusal::one("nothing to update: push the branch main")));
    };
    let Some(new) = update.new else {
        return Ok(Err(Refusal::one(
            "main cannot be deleted: delete pages instead, in a commit",
        )));
    };
    if update.old != snap.head {
        return Ok(Err(Refusal::one(format!(
            "the wiki changed since you fetched (main is now at {}): \
             fetch, merge or rebase, and push again",
            short(snap.head)
        ))));
    }
    if let Some(old) = update.old
        && new != old
        && !repo.graph_descendant_of(new, old)?
    {
        return Ok(Err(Refusal::one(
            "main can only move forward (no force push): \
             fetch, merge or rebase onto the wiki's main, and push again",
        )));
    }

    let mut problems = Vec::new();
    let commits = check_commits(repo, snap, update.old, new, &mut problems)?;
    check_tree(repo, snap, new, limits, &mut problems)?;
    if problems.is_empty() {
        return Ok(Ok(Accepted {
            old: update.old,
            new,
            commits,
        }));
    }
    let more = problems.len().saturating_sub(MAX_LISTED);
    problems.truncate(MAX_LISTED);
    if more > 0 {
        problems.push(format!("… and {more} more problems"));
    }
    Ok(Err(Refusal(problems)))
}

/// Checks the files the push adds or changes, from `main` as it is to the pushed tip
/// (what the push leaves in the wiki); returns how many commits are new. A file as the
/// wiki has it now is not checked again (a merge of `main` brings in the wiki's own
/// files, and an imported wiki may hold names robot would not make). Trees inside the
/// range are not walked one by one: git's `fsckObjects` has already refused, in every
/// pushed tree, the names that could reach outside a checkout (`.git`, `..`,
/// `.gitmodules` tricks), and what a commit in between held is history, never served as
/// a page or an attachment.
fn check_commits(
    repo: &Repository,
    snap: &Snapshot,
    old: Option<Oid>,
    new: Oid,
    problems: &mut Vec<String>,
) -> Result<usize> {
    let mut walk = repo.revwalk()?;
    walk.push(new)?;
    if let Some(o) = old {
        walk.hide(o)?;
    }
    let mut count = 0;
    for id in walk {
        id?;
        count += 1;
    }
    let tree = repo.find_commit(new)?.tree()?;
    let before = match old {
        Some(o) => Some(repo.find_commit(o)?.tree()?),
        None => None,
    };
    let diff = repo.diff_tree_to_tree(before.as_ref(), Some(&tree), None)?;
    for delta in diff.deltas() {
        if !matches!(
            delta.status(),
            Delta::Added | Delta::Modified | Delta::Typechange | Delta::Renamed | Delta::Copied
        ) {
            continue;
        }
        let file = delta.new_file();
        let Some(path) = file.path().and_then(|p| p.to_str()) else {
            problems.push("a file name is not UTF-8: rename it".into());
            continue;
        };
        if snap
            .files
            .get(path)
            .is_some_and(|(blob, _)| *blob == file.id())
        {
            continue;
        }
        let problem = match file.mode() {
            FileMode::Blob | FileMode::BlobExecutable => check_path(path).err(),
            FileMode::Link => Some(format!(
                "{path}: symbolic links are not kept; commit the file itself"
            )),
            FileMode::Commit => Some(format!("{path}: submodules are not kept")),
            _ => Some(format!("{path}: not a regular file")),
        };
        problems.extend(problem);
    }
    Ok(count)
}

/// Checks the resulting tree against the page count and quota (when the push grows them
/// past their limit), and the files the push changed against their size limits.
fn check_tree(
    repo: &Repository,
    snap: &Snapshot,
    new: Oid,
    limits: &Limits,
    problems: &mut Vec<String>,
) -> Result<()> {
    let files = store::list_files(repo, new)?;
    let pages = files.iter().filter(|(p, _, _)| p.ends_with(".md")).count();
    let total: u64 = files.iter().map(|(_, _, size)| size).sum();
    if pages > limits.max_pages && pages > snap.page_count() {
        problems.push(format!(
            "the wiki would have {pages} pages; the limit is {} (delete some pages)",
            limits.max_pages
        ));
    }
    if total > limits.max_wiki_bytes && total > snap.total_bytes {
        problems.push(format!(
            "the wiki would hold {} MB; the quota is {} MB (remove large attachments)",
            total / (1024 * 1024),
            limits.max_wiki_bytes / (1024 * 1024)
        ));
    }
    for (path, blob, size) in &files {
        // Only what the push changed: a file kept as it was is not the pusher's to fix.
        if snap.files.get(path).is_some_and(|(b, _)| b == blob) {
            continue;
        }
        let (limit, what) = if path.ends_with(".md") {
            (limits.max_page_bytes as u64, "page")
        } else {
            (limits.max_attachment_bytes as u64, "attachment")
        };
        if *size > limit {
            problems.push(format!(
                "{path}: this {what} is {size} bytes; the limit is {limit} bytes"
            ));
        }
    }
    Ok(())
}

/// Whether `path` is where Otterwiki's layout keeps a page or an attachment: a page is
/// the file its name leads to (`folder/two words.md`, in any case), an attachment a file
/// named as an upload would be, in a page's folder (`folder/two words/photo.png`).
pub fn check_path(path: &str) -> std::result::Result<(), String> {
    if path.len() > MAX_PATH_BYTES {
        return Err(format!(
            "{}…: the path is longer than {MAX_PATH_BYTES} bytes",
            path.chars().take(40).collect::<String>()
        ));
    }
    for seg in path.split('/') {
        if seg.to_ascii_lowercase().starts_with(".git") {
            return Err(format!("{path}: .git files are not part of a wiki"));
        }
        if seg == "." || seg == ".." || seg.is_empty() {
            return Err(format!("{path}: '.' and '..' are not names"));
        }
        if seg.chars().any(char::is_control) {
            return Err(format!("{path}: the name contains control characters"));
        }
    }
    let lower = path.to_lowercase();
    if let Some(stem) = path.strip_suffix(".md") {
        let name = PageName::parse(stem).map_err(|e| format!("{path}: {}", e.public_message()))?;
        if name.file_path() != lower {
            return Err(format!(
                "{path}: no page name leads to this file; the page {name} would be {}",
                name.file_path()
            ));
        }
        return Ok(());
    }
    let Some((dir, leaf)) = path.rsplit_once('/') else {
        return Err(format!(
            "{path}: only pages (.md) live at the top; put attachments in their page's folder"
        ));
    };
    let page = PageName::parse(dir).map_err(|e| format!("{path}: {}", e.public_message()))?;
    if page.dir_path() != dir.to_lowercase() {
        return Err(format!(
            "{path}: the folder is not a page's; the page {page} keeps its files in {}/",
            page.dir_path()
        ));
    }
    let clean =
        names::attachment_name(leaf).map_err(|e| format!("{path}: {}", e.public_message()))?;
    if clean != leaf {
        return Err(format!("{path}: rename the file to {clean}"));
    }
    Ok(())
}

fn short(id: Option<Oid>) -> String {
    match id {
        Some(id) => id.to_string()[..7].to_string(),
        None => "no commit".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_otterwikis_layout() {
        for ok in [
            "home.md",
            "Home.md",
            "folder/two words.md",
            "folder/two words/photo.png",
            "folder/two words/sub page.md",
            "notes/a-b_c.md",
        ] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("../x.md", "'..'"),
            ("a/../x.md", "'..'"),
            (".gitattributes", ".git"),
            ("docs/.gitignore", ".git"),
            (".git/config", ".git"),
            ("logo.png", "page's folder"),
            ("notes/v1.2.md", "no page name"),
            ("folder/My Photo.png", "rename the file to My_Photo.png"),
            ("a\u{1}b.md", "control"),
            ("a.b/c.png", "not a page's"),
        ] {
            let e = check_path(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(check_path(&"x".repeat(2000)).is_err());
    }

    #[test]
    fn ref_updates_parse_as_git_writes_them() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let u = RefUpdate::parse(&format!("{z} {a} refs/heads/main\n")).unwrap();
        assert_eq!(u.old, None);
        assert_eq!(u.new, Some(Oid::from_str(&a).unwrap()));
        assert_eq!(u.name, MAIN);
        assert!(RefUpdate::parse("junk").is_none());
        assert!(RefUpdate::parse(&format!("{z} {a}")).is_none());
    }
}
