//! Where a wiki's HEAD is, known without asking libgit2 on every read.
//!
//! Every read starts by checking HEAD, because a commit from outside (a push, plain git on
//! the bare repository) may have moved it. libgit2's ref lookup opens, reads and closes
//! the ref file each time; here one `stat` of that file says whether it can have changed.
//! Git never rewrites a ref in place: it writes `main.lock` and renames it over `main`,
//! so every update gives the file a new inode and change time. While the file's identity
//! and times are as they were, HEAD is what it was.
//!
//! A loose ref file is also read directly (it holds the commit id in hex), so knowing
//! HEAD needs no repository handle: a reader served from a cache opens nothing.
//!
//! The one case a stat cannot see — two updates within one tick of the file-system clock
//! that also reuse the freed inode — is closed for this process's own writes, which call
//! [`HeadWatch::forget`] under the write lock. A ref that is not a loose file (packed by
//! `git pack-refs`, or no commit yet) is looked up every time, as before.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use git2::{Oid, Repository};

use super::store;
use crate::error::Result;

/// The last HEAD read, and the ref file as it was then.
#[derive(Default)]
pub struct HeadWatch {
    seen: Mutex<Option<(Stamp, Option<Oid>)>>,
}

/// What identifies one version of the ref file.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(ref_file: &Path) -> Option<Stamp> {
        let m = std::fs::symlink_metadata(ref_file).ok()?;
        m.is_file().then(|| Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// The loose ref file of the wiki's branch in the bare repository at `repo_path`.
pub fn ref_file(repo_path: &Path) -> PathBuf {
    repo_path.join(store::BRANCH)
}

impl HeadWatch {
    /// HEAD of `repo` (whose loose ref file is `ref_file`): the last answer while the file
    /// is unchanged, else looked up again.
    pub fn head(&self, repo: &Repository, ref_file: &Path) -> Result<Option<Oid>> {
        if let Some(head) = self.head_from_file(ref_file) {
            return Ok(head);
        }
        let stamp = Stamp::of(ref_file);
        if let Some(now) = stamp {
            let seen = self.seen.lock().expect("head lock");
            if let Some((then, head)) = *seen
                && then == now
            {
                return Ok(head);
            }
        }
        let head = store::head(repo)?;
        // Stamped before the lookup: a change in between makes the next read look again.
        *self.seen.lock().expect("head lock") = stamp.map(|s| (s, head));
        Ok(head)
    }

    /// HEAD from the loose ref file alone: the last answer while the file is unchanged,
    /// else the id the file holds. `None` when there is no such file to read (packed
    /// refs, no commit yet, a symbolic ref): then ask libgit2.
    pub fn head_from_file(&self, ref_file: &Path) -> Option<Option<Oid>> {
        let stamp = Stamp::of(ref_file)?;
        if let Some((then, head)) = *self.seen.lock().expect("head lock")
            && then == stamp
        {
            return Some(head);
        }
        // Stamped before the read: a change in between makes the next read look again.
        let text = std::fs::read_to_string(ref_file).ok()?;
        let id = Oid::from_str(text.trim()).ok()?;
        *self.seen.lock().expect("head lock") = Some((stamp, Some(id)));
        Some(Some(id))
    }

    /// Forgets the last answer (this process moved the ref).
    pub fn forget(&self) {
        *self.seen.lock().expect("head lock") = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wiki::store::{Author, Change};

    fn commit(repo: &Repository, text: &str) -> Oid {
        let parent = store::head(repo).unwrap();
        let author = Author {
            name: "T".into(),
            email: "t@example.org".into(),
        };
        store::commit(
            repo,
            parent,
            &[Change::Write {
                path: "Home.md".into(),
                content: text.as_bytes().to_vec(),
            }],
            &author,
            "edit",
        )
        .unwrap()
    }

    #[test]
    fn a_ref_moved_by_plain_git_is_seen_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repo.git");
        let repo = store::init(&path).unwrap();
        let watch = HeadWatch::default();
        let file = ref_file(&path);
        assert_eq!(watch.head(&repo, &file).unwrap(), None);
        let first = commit(&repo, "one");
        assert_eq!(watch.head(&repo, &file).unwrap(), Some(first));
        // Moved by another process, as `git update-ref` does (lock file, rename).
        let second = commit(&repo, "two");
        repo.reference(store::BRANCH, first, true, "back").unwrap();
        let out = std::process::Command::new("git")
            .args([
                "--git-dir",
                path.to_str().unwrap(),
                "update-ref",
                store::BRANCH,
            ])
            .arg(second.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(watch.head(&repo, &file).unwrap(), Some(second));
        // Packed refs have no loose file: looked up every time.
        let out = std::process::Command::new("git")
            .args(["--git-dir", path.to_str().unwrap(), "pack-refs", "--all"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(!file.exists());
        assert_eq!(watch.head(&repo, &file).unwrap(), Some(second));
    }
}
