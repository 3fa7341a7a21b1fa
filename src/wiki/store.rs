//! The git store: a bare repository per wiki, read and written with libgit2 (no work
//! tree, no index file). Every write is exactly one commit on `refs/heads/main`, made from
//! an in-memory index so concurrent readers never see a half-written state, and moved onto
//! the branch only if the branch still points where the writer started (a compare-and-swap
//! that turns a race into a retryable conflict rather than a lost commit).

use std::path::Path;

use git2::{
    Commit, ErrorCode, Index, IndexEntry, IndexTime, ObjectType, Oid, Repository, Signature, Tree,
};
use serde::Serialize;

use crate::error::{Error, Result};

pub const BRANCH: &str = "refs/heads/main";

/// Who a commit is by.
#[derive(Debug, Clone)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Author {
    /// The author of commits nobody in particular made (the bootstrap template).
    pub fn robot() -> Author {
        Author {
            name: "robot".into(),
            email: "robot@localhost".into(),
        }
    }

    fn signature(&self) -> Result<Signature<'static>> {
        // git refuses `<`, `>` and newlines in identities; strip them rather than fail.
        let clean = |s: &str| {
            s.chars()
                .filter(|c| !"<>\n\r".contains(*c))
                .collect::<String>()
        };
        let name = clean(&self.name);
        let name = if name.trim().is_empty() {
            "unknown".to_string()
        } else {
            name
        };
        Ok(Signature::now(&name, &clean(&self.email))?)
    }
}

/// One file-level change inside a commit.
#[derive(Debug, Clone)]
pub enum Change {
    Write {
        path: String,
        content: Vec<u8>,
    },
    Delete {
        path: String,
    },
    /// Removes every file under a folder (a page's attachments and subpages).
    DeleteDir {
        path: String,
    },
}

/// Creates a bare repository whose HEAD names `main`. Fails if `path` exists.
/// The whole environment a `git` process of ours runs with (it starts from an empty
/// one): a `PATH` to find git's helpers, no system-wide configuration, and the data
/// directory as `HOME`, so no user's configuration applies either.
pub fn git_env(data_dir: &Path) -> [(&'static str, std::ffi::OsString); 3] {
    [
        (
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
        ),
        ("GIT_CONFIG_NOSYSTEM", "1".into()),
        ("HOME", data_dir.as_os_str().to_owned()),
    ]
}

pub fn init(path: &Path) -> Result<Repository> {
    if path.exists() {
        return Err(Error::Internal(anyhow::anyhow!(
            "{} already exists",
            path.display()
        )));
    }
    configure_libgit2();
    let mut opts = git2::RepositoryInitOptions::new();
    opts.bare(true)
        .initial_head("main")
        .mkdir(true)
        .mkpath(true);
    let repo = Repository::init_opts(path, &opts)?;
    {
        let mut cfg = repo.config()?;
        // Clones are served by spawning `git upload-pack`; these make sure it serves.
        cfg.set_bool("uploadpack.allowFilter", true)?;
        cfg.set_bool("uploadpack.allowAnySHA1InWant", false)?;
        cfg.set_bool("receive.denyNonFastForwards", true)?;
        cfg.set_bool("core.symlinks", false)?;
    }
    Ok(repo)
}

pub fn open(path: &Path) -> Result<Repository> {
    configure_libgit2();
    Ok(Repository::open_bare(path)?)
}

/// Sets libgit2's process-wide options, once:
/// - objects and refs are fsynced when written, so an acknowledged commit survives a
///   power cut, not only a crash (libgit2 leaves them to the page cache by default);
/// - no check, on every tree and commit written, that each object they name exists:
///   that is a header read (a file open and an inflate) per tree entry, so a write to a
///   500-page wiki cost 500 file opens. Every object robot names is one it has just
///   written or read from the parent commit.
fn configure_libgit2() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        git2::opts::strict_object_creation(false);
        // SAFETY: a documented libgit2 option taking one int, set before any repository
        // is used (git2 has initialised the library in the call above).
        let rc = unsafe {
            libgit2_sys::git_libgit2_opts(libgit2_sys::GIT_OPT_ENABLE_FSYNC_GITDIR as i32, 1)
        };
        if rc < 0 {
            tracing::warn!("libgit2 refused to fsync: commits may not survive a power cut");
        }
    });
}

/// Bounds what libgit2 keeps across every repository of the process: at most `files`
/// pack files open (one descriptor each; the least recently used is closed first),
/// `mapped` bytes of them mapped, and `objects` bytes of parsed objects cached (libgit2's
/// default is 256 MiB). Process-wide, so the first call's values hold (set at start,
/// before any repository is read).
pub fn limit_git_memory(files: usize, mapped: usize, objects: usize) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        configure_libgit2();
        // SAFETY: documented libgit2 options, each taking one size_t, set at start-up
        // before any pack is mapped.
        let set = unsafe {
            git2::opts::set_mwindow_file_limit(files.max(8))
                .and_then(|()| git2::opts::set_mwindow_mapped_limit(mapped.max(1 << 20)))
                .and_then(|()| {
                    git2::opts::set_cache_max_size(isize::try_from(objects).unwrap_or(isize::MAX))
                })
        };
        if let Err(e) = set {
            tracing::warn!(error = %e, "libgit2 refused the open-pack limits");
        }
    });
}

/// The commits of `main`'s first-parent chain from `start`, newest first, produced
/// lazily. (A topological sort would walk the whole history before the first commit.)
pub fn first_parent_walk(repo: &Repository, start: Oid) -> Result<git2::Revwalk<'_>> {
    let mut walk = repo.revwalk()?;
    walk.push(start)?;
    walk.simplify_first_parent()?;
    Ok(walk)
}

/// The commit `main` points at, or `None` for an empty repository.
pub fn head(repo: &Repository) -> Result<Option<Oid>> {
    match repo.refname_to_id(BRANCH) {
        Ok(id) => Ok(Some(id)),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Resolves a user-supplied revision: `HEAD` or 4–64 hex digits naming a commit. Anything
/// else (`HEAD~1`, `main@{0}`, ref names) is refused before it reaches revparse.
pub fn resolve_revision(repo: &Repository, rev: &str) -> Result<Oid> {
    let ok = rev == "HEAD"
        || (rev.len() >= 4 && rev.len() <= 64 && rev.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        return Err(Error::BadRequest(format!("not a revision: {rev:?}")));
    }
    if rev == "HEAD" {
        return head(repo)?.ok_or_else(|| Error::not_found("the wiki has no commits yet"));
    }
    let obj = match repo.revparse_single(rev) {
        Ok(o) => o,
        Err(e)
            if matches!(
                e.code(),
                ErrorCode::NotFound | ErrorCode::Ambiguous | ErrorCode::InvalidSpec
            ) =>
        {
            return Err(if e.code() == ErrorCode::Ambiguous {
                Error::BadRequest(format!("revision {rev} is ambiguous; give more digits"))
            } else {
                Error::not_found(format!("Revision not found: {rev}"))
            });
        }
        Err(e) => return Err(e.into()),
    };
    match obj.peel_to_commit() {
        Ok(c) => Ok(c.id()),
        Err(_) => Err(Error::not_found(format!("Revision not found: {rev}"))),
    }
}

/// The blob at `path` in `commit`'s tree.
pub fn blob_at(repo: &Repository, commit: Oid, path: &str) -> Result<Option<Oid>> {
    let tree = repo.find_commit(commit)?.tree()?;
    entry_blob(&tree, path)
}

fn entry_blob(tree: &Tree, path: &str) -> Result<Option<Oid>> {
    match tree.get_path(Path::new(path)) {
        Ok(e) if e.kind() == Some(ObjectType::Blob) => Ok(Some(e.id())),
        Ok(_) => Ok(None),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn read_blob(repo: &Repository, id: Oid) -> Result<Vec<u8>> {
    Ok(repo.find_blob(id)?.content().to_vec())
}

/// Every file in a commit's tree: (path, blob id, size).
pub fn list_files(repo: &Repository, commit: Oid) -> Result<Vec<(String, Oid, u64)>> {
    let tree = repo.find_commit(commit)?.tree()?;
    let odb = repo.odb()?;
    let mut out = Vec::new();
    let mut failure = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(ObjectType::Blob)
            && let Ok(name) = entry.name()
        {
            match odb.read_header(entry.id()) {
                Ok((size, _)) => out.push((format!("{dir}{name}"), entry.id(), size as u64)),
                Err(e) => {
                    failure = Some(e);
                    return git2::TreeWalkResult::Abort;
                }
            }
        }
        git2::TreeWalkResult::Ok
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    Ok(out)
}

/// The paths that differ between two commits (either may be `None` = empty tree).
pub fn changed_paths(repo: &Repository, from: Option<Oid>, to: Option<Oid>) -> Result<Vec<String>> {
    let tree = |c: Option<Oid>| -> Result<Option<Tree>> {
        Ok(match c {
            Some(id) => Some(repo.find_commit(id)?.tree()?),
            None => None,
        })
    };
    let (a, b) = (tree(from)?, tree(to)?);
    let diff = repo.diff_tree_to_tree(a.as_ref(), b.as_ref(), None)?;
    let mut out = Vec::new();
    for d in diff.deltas() {
        for f in [d.old_file(), d.new_file()] {
            if let Some(p) = f.path().and_then(|p| p.to_str())
                && !out.iter().any(|x: &String| x == p)
            {
                out.push(p.to_string());
            }
        }
    }
    Ok(out)
}

/// Makes one commit applying `changes` on top of `parent` and moves `main` to it, but only
/// if `main` still points at `parent`. Returns the new commit.
pub fn commit(
    repo: &Repository,
    parent: Option<Oid>,
    changes: &[Change],
    author: &Author,
    message: &str,
) -> Result<Oid> {
    let mut index = Index::new()?;
    let parent_commit = match parent {
        Some(p) => Some(repo.find_commit(p)?),
        None => None,
    };
    if let Some(c) = &parent_commit {
        index.read_tree(&c.tree()?)?;
    }
    for change in changes {
        match change {
            Change::Write { path, content } => {
                // An in-memory index cannot write blobs itself: write the blob, add its id.
                let mut entry = file_entry(path);
                entry.id = repo.blob(content)?;
                entry.file_size = content.len() as u32;
                index.add(&entry)?;
            }
            Change::Delete { path } => {
                // Removing an absent path is not an error in an in-memory index.
                index.remove_path(Path::new(path))?;
            }
            Change::DeleteDir { path } => {
                index.remove_dir(Path::new(path), 0)?;
            }
        }
    }
    let tree_id = index.write_tree_to(repo)?;
    let tree = repo.find_tree(tree_id)?;
    let sig = author.signature()?;
    let committer = Author {
        name: "robot".into(),
        email: author.email.clone(),
    }
    .signature()?;
    let parents: Vec<&Commit> = parent_commit.iter().collect();
    // Build the commit unattached, then swing the branch with a compare-and-swap.
    let id = repo.commit(None, &sig, &committer, message, &tree, &parents)?;
    let log = format!("robot: {}", message.lines().next().unwrap_or(""));
    swing_branch(repo, id, parent, &log)?;
    Ok(id)
}

/// How old a ref lock must be before it is taken for the leftover of a crash. Git holds
/// one for microseconds; a process killed in that window (kill -9, power loss) leaves it
/// behind, and every later write would fail on it.
const STALE_LOCK: std::time::Duration = std::time::Duration::from_secs(5);

/// Moves `main` to `id` only if it still points at `parent` (compare-and-swap), so a
/// concurrent writer is detected rather than overwritten. A stale lock left by a crash is
/// removed once and the swap retried.
fn swing_branch(repo: &Repository, id: Oid, parent: Option<Oid>, log: &str) -> Result<()> {
    let swap = || match parent {
        Some(p) => repo
            .reference_matching(BRANCH, id, true, p, log)
            .map(|_| ()),
        None => repo.reference(BRANCH, id, false, log).map(|_| ()),
    };
    let mut res = swap();
    if matches!(&res, Err(e) if e.code() == ErrorCode::Locked)
        && remove_stale_locks(repo.path(), STALE_LOCK) > 0
    {
        res = swap();
    }
    match res {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.code(),
                ErrorCode::Modified | ErrorCode::Exists | ErrorCode::Locked
            ) =>
        {
            Err(Error::Conflict {
                message: "The wiki changed while this write was being made; try again.".into(),
                current: None,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes the ref lock files (`HEAD.lock`, `packed-refs.lock`, `refs/heads/*.lock`) older
/// than `age` from the bare repository at `git_dir`; returns how many. At start-up `age` is
/// zero: no writer of ours is running yet, so every lock is a leftover of a crash.
pub fn remove_stale_locks(git_dir: &Path, age: std::time::Duration) -> usize {
    let heads = std::fs::read_dir(git_dir.join("refs/heads"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path());
    let candidates = [git_dir.join("HEAD.lock"), git_dir.join("packed-refs.lock")]
        .into_iter()
        .chain(heads)
        .filter(|p| p.extension().is_some_and(|e| e == "lock"));
    let mut removed = 0;
    for lock in candidates {
        let old = std::fs::metadata(&lock)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|a| a >= age);
        if old && std::fs::remove_file(&lock).is_ok() {
            tracing::warn!(lock = %lock.display(), "removed a ref lock left by a crash");
            removed += 1;
        }
    }
    removed
}

fn file_entry(path: &str) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100644,
        uid: 0,
        gid: 0,
        file_size: 0,
        id: Oid::ZERO_SHA1,
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}

/// A commit as the UI and APIs show it.
#[derive(Debug, Clone, Serialize)]
pub struct CommitInfo {
    pub id: String,
    pub short: String,
    pub author: String,
    pub email: String,
    /// Seconds since the epoch.
    pub time: i64,
    pub message: String,
    pub parents: Vec<String>,
}

impl CommitInfo {
    pub fn from_commit(c: &Commit) -> CommitInfo {
        let id = c.id().to_string();
        CommitInfo {
            short: id[..7].to_string(),
            id,
            author: c.author().name().unwrap_or("").to_string(),
            email: c.author().email().unwrap_or("").to_string(),
            time: c.author().when().seconds(),
            message: c.message().unwrap_or("").trim_end().to_string(),
            parents: c.parent_ids().map(|p| p.to_string()).collect(),
        }
    }

    pub fn summary(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }
}

pub fn commit_info(repo: &Repository, id: Oid) -> Result<CommitInfo> {
    Ok(CommitInfo::from_commit(&repo.find_commit(id)?))
}

/// Commits that changed `path` (newest first), skipping `skip` and returning at most `limit`.
/// A commit counts when the blob at `path` differs from its first parent's.
pub fn history(
    repo: &Repository,
    start: Oid,
    path: &str,
    skip: usize,
    limit: usize,
) -> Result<Vec<CommitInfo>> {
    let walk = first_parent_walk(repo, start)?;
    let mut out = Vec::new();
    let mut seen = 0;
    for id in walk {
        let commit = repo.find_commit(id?)?;
        let here = entry_blob(&commit.tree()?, path)?;
        let before = match commit.parent(0) {
            Ok(p) => entry_blob(&p.tree()?, path)?,
            Err(_) => None,
        };
        if here != before {
            if seen >= skip {
                out.push(CommitInfo::from_commit(&commit));
                if out.len() >= limit {
                    break;
                }
            }
            seen += 1;
        }
    }
    Ok(out)
}

/// The latest commit that changed `path`, at or before `start`.
pub fn last_change(repo: &Repository, start: Oid, path: &str) -> Result<Option<CommitInfo>> {
    Ok(history(repo, start, path, 0, 1)?.into_iter().next())
}

/// A page of the site changelog with the files each commit touched.
pub fn changelog(
    repo: &Repository,
    start: Oid,
    skip: usize,
    limit: usize,
) -> Result<Vec<(CommitInfo, Vec<String>)>> {
    first_parent_walk(repo, start)?
        .skip(skip)
        .take(limit)
        .map(|id| commit_changes(repo, id?))
        .collect()
}

/// A commit and the paths it changed against its first parent.
pub fn commit_changes(repo: &Repository, id: Oid) -> Result<(CommitInfo, Vec<String>)> {
    let commit = repo.find_commit(id)?;
    let paths = changed_paths(repo, commit.parent_ids().next(), Some(id))?;
    Ok((CommitInfo::from_commit(&commit), paths))
}

/// How many commits `main` has (for pagination).
pub fn count_commits(repo: &Repository, start: Oid) -> Result<usize> {
    Ok(first_parent_walk(repo, start)?.count())
}

/// One line of a rendered diff.
#[derive(Debug, Clone, Serialize)]
pub struct DiffLine {
    /// `ctx`, `add`, `del` or `hunk`.
    pub kind: &'static str,
    pub old_no: Option<u32>,
    pub new_no: Option<u32>,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileDiff {
    pub old_path: Option<String>,
    pub new_path: Option<String>,
    pub binary: bool,
    pub lines: Vec<DiffLine>,
}

impl FileDiff {
    pub fn path(&self) -> &str {
        self.new_path
            .as_deref()
            .or(self.old_path.as_deref())
            .unwrap_or("")
    }
}

/// The diff between two commits (`from = None` is the empty tree), optionally limited to
/// some paths.
pub fn diff(
    repo: &Repository,
    from: Option<Oid>,
    to: Oid,
    paths: &[String],
) -> Result<Vec<FileDiff>> {
    let old_tree = match from {
        Some(id) => Some(repo.find_commit(id)?.tree()?),
        None => None,
    };
    let new_tree = repo.find_commit(to)?.tree()?;
    let mut opts = git2::DiffOptions::new();
    opts.context_lines(3);
    for p in paths {
        opts.pathspec(p);
    }
    opts.disable_pathspec_match(true);
    let diff = repo.diff_tree_to_tree(old_tree.as_ref(), Some(&new_tree), Some(&mut opts))?;
    let mut files: Vec<FileDiff> = Vec::new();
    diff.print(git2::DiffFormat::Patch, |delta, hunk, line| {
        let old_path = delta
            .old_file()
            .path()
            .and_then(|p| p.to_str())
            .map(String::from);
        let new_path = delta
            .new_file()
            .path()
            .and_then(|p| p.to_str())
            .map(String::from);
        let is_new_file = files
            .last()
            .map(|f| f.old_path != old_path || f.new_path != new_path)
            .unwrap_or(true);
        if is_new_file {
            files.push(FileDiff {
                old_path: (delta.status() != git2::Delta::Added)
                    .then_some(old_path)
                    .flatten(),
                new_path: (delta.status() != git2::Delta::Deleted)
                    .then_some(new_path)
                    .flatten(),
                binary: delta.flags().is_binary(),
                lines: Vec::new(),
            });
        }
        let file = files.last_mut().expect("pushed above");
        let text = String::from_utf8_lossy(line.content())
            .trim_end_matches('\n')
            .to_string();
        let kind = match line.origin() {
            ' ' => "ctx",
            '+' => "add",
            '-' => "del",
            'H' => "hunk",
            'B' => {
                file.binary = true;
                return true;
            }
            _ => return true, // file headers and end-of-file markers
        };
        let text = if kind == "hunk" {
            hunk.map(|h| String::from_utf8_lossy(h.header()).trim_end().to_string())
                .unwrap_or(text)
        } else {
            text
        };
        file.lines.push(DiffLine {
            kind,
            old_no: line.old_lineno(),
            new_no: line.new_lineno(),
            text,
        });
        true
    })?;
    Ok(files)
}

/// One line of a blame: the commit that last changed it.
#[derive(Debug, Clone, Serialize)]
pub struct BlameLine {
    pub line_no: usize,
    pub text: String,
    pub commit: CommitInfo,
    /// True on the first line of a run from the same commit (the UI labels only those).
    pub first_of_run: bool,
}

pub fn blame(repo: &Repository, at: Oid, path: &str) -> Result<Vec<BlameLine>> {
    let blob = blob_at(repo, at, path)?
        .ok_or_else(|| Error::not_found(format!("Page not found: {path}")))?;
    let content = read_blob(repo, blob)?;
    let text = String::from_utf8_lossy(&content);
    let mut opts = git2::BlameOptions::new();
    opts.newest_commit(at);
    let blame = repo.blame_file(Path::new(path), Some(&mut opts))?;
    let mut cache: std::collections::HashMap<Oid, CommitInfo> = Default::default();
    let mut out = Vec::new();
    let mut prev: Option<Oid> = None;
    for (i, line) in text.lines().enumerate() {
        let Some(hunk) = blame.get_line(i + 1) else {
            continue;
        };
        let id = hunk.final_commit_id();
        let info = match cache.get(&id) {
            Some(c) => c.clone(),
            None => {
                let c = commit_info(repo, id)?;
                cache.insert(id, c.clone());
                c
            }
        };
        out.push(BlameLine {
            line_no: i + 1,
            text: line.to_string(),
            commit: info,
            first_of_run: prev != Some(id),
        });
        prev = Some(id);
    }
    Ok(out)
}

/// The changes that undo `rev` on top of `head`, or a conflict when later commits touched
/// the same lines.
pub fn revert_changes(repo: &Repository, head: Oid, rev: Oid) -> Result<Oid> {
    let to_revert = repo.find_commit(rev)?;
    if to_revert.parent_count() > 1 {
        return Err(Error::Invalid(
            "merge commits cannot be reverted here".into(),
        ));
    }
    let ours = repo.find_commit(head)?;
    let mut index = repo.revert_commit(&to_revert, &ours, 0, None)?;
    if index.has_conflicts() {
        return Err(Error::Conflict {
            message: format!(
                "Commit {} cannot be reverted cleanly: later changes touch the same lines.",
                &rev.to_string()[..7]
            ),
            current: None,
        });
    }
    Ok(index.write_tree_to(repo)?)
}

/// Commits an already-built tree (used by revert).
pub fn commit_tree(
    repo: &Repository,
    parent: Oid,
    tree: Oid,
    author: &Author,
    message: &str,
) -> Result<Oid> {
    let parent_commit = repo.find_commit(parent)?;
    let tree = repo.find_tree(tree)?;
    let sig = author.signature()?;
    let committer = Author {
        name: "robot".into(),
        email: author.email.clone(),
    }
    .signature()?;
    let id = repo.commit(None, &sig, &committer, message, &tree, &[&parent_commit])?;
    swing_branch(repo, id, Some(parent), message)?;
    Ok(id)
}

/// Result of merging a stale edit with the changes made since it was started.
pub enum Merge {
    Clean(String),
    Conflicted,
}

/// Three-way merges the user's text (`mine`) with the current text (`theirs`), both
/// descended from `base`.
pub fn merge_text(base: &str, mine: &str, theirs: &str) -> Result<Merge> {
    let mut a = git2::MergeFileInput::new();
    a.content(base.as_bytes());
    let mut o = git2::MergeFileInput::new();
    o.content(mine.as_bytes());
    let mut t = git2::MergeFileInput::new();
    t.content(theirs.as_bytes());
    let result = git2::merge_file(&a, &o, &t, None)?;
    if result.is_automergeable() {
        Ok(Merge::Clean(
            String::from_utf8_lossy(result.content()).into_owned(),
        ))
    } else {
        Ok(Merge::Conflicted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let repo = init(&dir.path().join("r.git")).unwrap();
        (dir, repo)
    }

    fn write(path: &str, s: &str) -> Change {
        Change::Write {
            path: path.into(),
            content: s.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_fresh_ref_lock_is_a_conflict_and_a_stale_one_is_cleared() {
        let (_d, repo) = repo();
        let a = Author::robot();
        let c1 = commit(&repo, None, &[write("a.md", "1")], &a, "one").unwrap();
        let lock = repo.path().join("refs/heads/main.lock");
        let f = std::fs::File::create(&lock).unwrap();
        // Held by a live writer: the write is refused, and the lock left alone.
        let busy = commit(&repo, Some(c1), &[write("a.md", "2")], &a, "two");
        assert!(matches!(busy, Err(Error::Conflict { .. })));
        assert!(lock.exists());
        // Left by a process killed long ago: cleared, and the write goes through.
        f.set_modified(std::time::SystemTime::now() - 2 * STALE_LOCK)
            .unwrap();
        let c2 = commit(&repo, Some(c1), &[write("a.md", "2")], &a, "two").unwrap();
        assert_eq!(head(&repo).unwrap(), Some(c2));
        assert!(!lock.exists());
    }

    #[test]
    fn commits_nested_files_and_reads_them_back() {
        let (_d, repo) = repo();
        let a = Author::robot();
        let c1 = commit(
            &repo,
            None,
            &[write("home.md", "# Home\n"), write("a/b/c.md", "deep\n")],
            &a,
            "one",
        )
        .unwrap();
        assert_eq!(head(&repo).unwrap(), Some(c1));
        let files = list_files(&repo, c1).unwrap();
        let paths: Vec<_> = files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(paths, vec!["a/b/c.md", "home.md"]);
        let c2 = commit(
            &repo,
            Some(c1),
            &[Change::DeleteDir { path: "a".into() }],
            &a,
            "two",
        )
        .unwrap();
        assert_eq!(list_files(&repo, c2).unwrap().len(), 1);
        assert_eq!(history(&repo, c2, "home.md", 0, 10).unwrap().len(), 1);
        assert_eq!(history(&repo, c2, "a/b/c.md", 0, 10).unwrap().len(), 2);
        assert_eq!(
            changed_paths(&repo, Some(c1), Some(c2)).unwrap(),
            vec!["a/b/c.md"]
        );
    }

    #[test]
    fn stale_parent_is_a_conflict() {
        let (_d, repo) = repo();
        let a = Author::robot();
        let c1 = commit(&repo, None, &[write("x.md", "1")], &a, "one").unwrap();
        commit(&repo, Some(c1), &[write("x.md", "2")], &a, "two").unwrap();
        let err = commit(&repo, Some(c1), &[write("x.md", "3")], &a, "three").unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    }

    #[test]
    fn revisions_are_validated_before_revparse() {
        let (_d, repo) = repo();
        let c1 = commit(&repo, None, &[write("x.md", "1")], &Author::robot(), "one").unwrap();
        assert_eq!(resolve_revision(&repo, &c1.to_string()[..7]).unwrap(), c1);
        assert_eq!(resolve_revision(&repo, "HEAD").unwrap(), c1);
        assert!(matches!(
            resolve_revision(&repo, "HEAD~1"),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(
            resolve_revision(&repo, "main"),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(
            resolve_revision(&repo, "deadbeef"),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn three_way_merge() {
        let base = "a\nb\nc\n";
        match merge_text(base, "A\nb\nc\n", "a\nb\nC\n").unwrap() {
            Merge::Clean(s) => assert_eq!(s, "A\nb\nC\n"),
            Merge::Conflicted => panic!("should merge"),
        }
        assert!(matches!(
            merge_text(base, "X\nb\nc\n", "Y\nb\nc\n").unwrap(),
            Merge::Conflicted
        ));
    }

    #[test]
    fn revert_undoes_a_commit() {
        let (_d, repo) = repo();
        let a = Author::robot();
        let c1 = commit(&repo, None, &[write("x.md", "1\n")], &a, "one").unwrap();
        let c2 = commit(&repo, Some(c1), &[write("x.md", "2\n")], &a, "two").unwrap();
        let tree = revert_changes(&repo, c2, c2).unwrap();
        let c3 = commit_tree(&repo, c2, tree, &a, "revert").unwrap();
        let blob = blob_at(&repo, c3, "x.md").unwrap().unwrap();
        assert_eq!(read_blob(&repo, blob).unwrap(), b"1\n");
        let d = diff(&repo, Some(c2), c3, &[]).unwrap();
        assert_eq!(d.len(), 1);
        assert!(d[0].lines.iter().any(|l| l.kind == "add" && l.text == "1"));
        let b = blame(&repo, c3, "x.md").unwrap();
        assert_eq!(b[0].commit.id, c3.to_string());
    }
}
