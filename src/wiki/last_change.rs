//! "Last changed by" for each path. Finding it means walking history back to the commit
//! that last touched the path — for a page untouched since an import, all of history (a
//! quarter of a second at 3,000 commits). So answers are kept, and when HEAD moves
//! forward they are carried along: only the paths the new commits touch get a new
//! answer. A reader still at an older HEAD (it read just before a write) is answered
//! from the same cache when the path has not changed since its HEAD, and by its own walk
//! otherwise, so its answer always matches the content it read. A HEAD that does not
//! descend from the cached one starts the cache afresh.

use std::collections::{HashMap, HashSet};

use git2::{Oid, Repository};

use super::store::{self, CommitInfo};
use crate::error::Result;

/// How far back from a new HEAD to look for the cached one before starting afresh.
const MAX_ADVANCE: usize = 1000;
/// How many commits the cache follows before it starts afresh (bounds its memory).
const MAX_CHAIN: usize = 100_000;

#[derive(Default)]
pub struct LastChanges {
    /// HEAD when the cache was (re)started.
    base: Option<Oid>,
    /// The commits since `base`, oldest first; the cache answers for the last one.
    chain: Vec<Oid>,
    /// Path → (its last change, `None` if never changed; the position in `chain` + 1 of
    /// that change, 0 when it is at or before `base`).
    by_path: HashMap<String, (Option<CommitInfo>, usize)>,
}

impl LastChanges {
    /// About how much memory the cache holds, for the `wikis` budget.
    pub fn heap_bytes(&self) -> usize {
        const SLOT: usize = 64;
        let paths: usize = self
            .by_path
            .iter()
            .map(|(p, (c, _))| {
                p.len()
                    + SLOT
                    + c.as_ref()
                        .map_or(0, |c| c.author.len() + c.message.len() + c.id.len() + SLOT)
            })
            .sum();
        paths + self.chain.len() * 20
    }

    /// What moves whenever the cache's contents do (it restarts, follows a commit or
    /// learns a path): cheap to compare, so a reader can tell when to weigh it again
    /// without walking every entry as [`LastChanges::heap_bytes`] does.
    pub fn generation(&self) -> (Option<Oid>, usize, usize) {
        (self.base, self.chain.len(), self.by_path.len())
    }

    fn head(&self) -> Option<Oid> {
        self.chain.last().copied().or(self.base)
    }

    /// Where `head` stands in the cache's history: its position in `chain` + 1, or 0
    /// for `base`. A newer `head` moves the cache forward first; one the cache cannot
    /// reach starts it afresh at `head` (position 0).
    fn position(&mut self, repo: &Repository, head: Option<Oid>) -> Result<usize> {
        if head == self.head() {
            return Ok(self.chain.len());
        }
        if let Some(h) = head {
            if let Some(i) = self.chain.iter().rposition(|c| *c == h) {
                return Ok(i + 1); // a reader behind the cache
            }
            if Some(h) == self.base {
                return Ok(0);
            }
        }
        if let (Some(old), Some(new)) = (self.head(), head)
            && self.chain.len() < MAX_CHAIN
            && self.extend(repo, old, new)?
        {
            return Ok(self.chain.len());
        }
        *self = LastChanges {
            base: head,
            ..Default::default()
        };
        Ok(0)
    }

    /// Moves the cache from `old` to its descendant `new`; false if `new` does not
    /// descend from `old` within [`MAX_ADVANCE`] commits.
    fn extend(&mut self, repo: &Repository, old: Oid, new: Oid) -> Result<bool> {
        let mut newer = Vec::new();
        for id in store::first_parent_walk(repo, new)?.take(MAX_ADVANCE) {
            let id = id?;
            if id == old {
                newer.reverse();
                for id in newer {
                    let (info, paths) = store::commit_changes(repo, id)?;
                    self.chain.push(id);
                    let at = self.chain.len();
                    for path in paths {
                        self.by_path.insert(path, (Some(info.clone()), at));
                    }
                }
                return Ok(true);
            }
            newer.push(id);
        }
        Ok(false)
    }

    /// Answers every path in `paths` that has no answer yet, in one walk back from the
    /// cache's HEAD. Paths never seen changing are recorded as never changed.
    fn fill<'a>(&mut self, repo: &Repository, paths: impl Iterator<Item = &'a str>) -> Result<()> {
        let Some(head) = self.head() else {
            return Ok(());
        };
        let mut missing: HashSet<&str> = paths.filter(|p| !self.by_path.contains_key(*p)).collect();
        // Position of each commit of the walk: chain commits newest first, then base (0).
        let mut at = self.chain.len();
        for id in store::first_parent_walk(repo, head)? {
            if missing.is_empty() {
                break;
            }
            let (info, paths) = store::commit_changes(repo, id?)?;
            for path in paths {
                if missing.remove(path.as_str()) {
                    self.by_path.insert(path, (Some(info.clone()), at));
                }
            }
            at = at.saturating_sub(1);
        }
        for never in missing {
            self.by_path.insert(never.to_string(), (None, 0));
        }
        Ok(())
    }

    /// The last change of `path` up to `head`. `pages` lists the wiki's pages at `head`:
    /// a miss answers all of them in the same walk.
    pub fn get<'a>(
        &mut self,
        repo: &Repository,
        head: Option<Oid>,
        path: &'a str,
        pages: impl Iterator<Item = &'a str>,
    ) -> Result<Option<CommitInfo>> {
        let Some(h) = head else { return Ok(None) };
        let at = self.position(repo, head)?;
        if !self.by_path.contains_key(path) {
            self.fill(repo, pages.chain(std::iter::once(path)))?;
        }
        match self.by_path.get(path) {
            Some((change, when)) if *when <= at => Ok(change.clone()),
            // Changed after the reader's HEAD: its own answer, from its own HEAD.
            _ => store::last_change(repo, h, path),
        }
    }

    /// The last change of every path in `pages` up to `head` (never-changed ones left out).
    pub fn all<'a>(
        &mut self,
        repo: &Repository,
        head: Option<Oid>,
        pages: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<HashMap<String, CommitInfo>> {
        let Some(h) = head else {
            return Ok(HashMap::new());
        };
        let at = self.position(repo, head)?;
        self.fill(repo, pages.clone())?;
        let mut out = HashMap::new();
        for p in pages {
            let change = match self.by_path.get(p) {
                Some((change, when)) if *when <= at => change.clone(),
                _ => store::last_change(repo, h, p)?,
            };
            if let Some(c) = change {
                out.insert(p.to_string(), c);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wiki::store::{Author, Change, commit, init};

    fn write(path: &str, s: &str) -> Change {
        Change::Write {
            path: path.into(),
            content: s.as_bytes().to_vec(),
        }
    }

    fn id(c: Option<CommitInfo>) -> Option<String> {
        c.map(|c| c.id)
    }

    #[test]
    fn answers_match_a_fresh_walk_forward_behind_and_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let repo = init(&dir.path().join("r.git")).unwrap();
        let a = Author::robot();
        let none = std::iter::empty::<&str>;
        let c1 = commit(
            &repo,
            None,
            &[write("a.md", "1"), write("b.md", "1")],
            &a,
            "1",
        )
        .unwrap();
        let c2 = commit(&repo, Some(c1), &[write("a.md", "2")], &a, "2").unwrap();
        let mut cache = LastChanges::default();
        let got = cache
            .all(&repo, Some(c2), ["a.md", "b.md"].into_iter())
            .unwrap();
        assert_eq!(got["b.md"].id, c1.to_string());
        assert_eq!(got["a.md"].id, c2.to_string());

        // Forward: only what the new commits touch changes.
        let c3 = commit(
            &repo,
            Some(c2),
            &[write("b.md", "3"), write("c.md", "3")],
            &a,
            "3",
        )
        .unwrap();
        let c4 = commit(
            &repo,
            Some(c3),
            &[Change::Delete {
                path: "a.md".into(),
            }],
            &a,
            "4",
        )
        .unwrap();
        for p in ["a.md", "b.md", "c.md", "nowhere.md"] {
            let fresh = id(store::last_change(&repo, c4, p).unwrap());
            assert_eq!(
                id(cache.get(&repo, Some(c4), p, none()).unwrap()),
                fresh,
                "{p} at c4"
            );
        }
        // Behind: a reader still at c2 gets c2's answers, not the newer ones.
        for p in ["a.md", "b.md", "c.md"] {
            let fresh = id(store::last_change(&repo, c2, p).unwrap());
            assert_eq!(
                id(cache.get(&repo, Some(c2), p, none()).unwrap()),
                fresh,
                "{p} at c2"
            );
        }
        assert_eq!(
            cache.head(),
            Some(c4),
            "a reader behind does not move the cache back"
        );

        // A HEAD that does not descend from the cached one: start afresh, still right.
        let tree = repo.find_commit(c1).unwrap().tree().unwrap();
        let sig = git2::Signature::now("x", "x@example.org").unwrap();
        let lone = repo.commit(None, &sig, &sig, "lone", &tree, &[]).unwrap();
        assert_eq!(
            id(cache.get(&repo, Some(lone), "b.md", none()).unwrap()),
            Some(lone.to_string())
        );
        assert_eq!(cache.head(), Some(lone));
    }
}
