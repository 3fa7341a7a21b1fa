//! The domain core: wiki operations that every transport (web, REST, MCP, CLI) calls.
//! Nothing here knows about HTTP. Operations are synchronous (libgit2 and SQLite block);
//! async callers go through [`Wikis::run`], which moves them to the blocking pool.
//!
//! Writes on one wiki are serialized by a per-wiki lock, and each is checked against the
//! revision the writer started from, so a stale write is a conflict, never an overwrite.
//!
//! Reads are kept cheap by caches, none of which can serve a stale answer: the
//! snapshot (page list and links, rebuilt when HEAD moves), page texts by blob id
//! (`blobs`: immutable), each path's last change (`last_change`: carried forward
//! commit by commit), rendered pages and thumbnails. Each kind lives under its own byte
//! budget (`[cache]` in `robot.toml`), least recently used out first: an open wiki's
//! state (snapshot, last changes, repository handles) is dropped whole when it is the
//! least recently read, so a wiki nobody reads holds no memory and no descriptor.

pub mod attachment_type;
mod blobs;
pub mod dialect;
mod embed_sources;
pub mod embeds;
mod footnotes;
pub mod front_matter;
mod head;
mod last_change;
pub mod links;
pub mod markdown;
pub mod names;
pub mod nesting;
pub mod provision;
pub mod push;
pub mod query;
pub mod renders;
pub mod sanitize;
pub mod sections;
pub mod slug;
pub mod snapshot;
pub mod store;
pub mod thumbnails;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use git2::{Oid, Repository};
use serde::Serialize;

use crate::cache::{Budgeted, CacheStats};
use crate::config::Config;
use crate::db::Db;
use crate::db::wikis::Wiki;
use crate::error::{Error, Result};
use markdown::Rendered;
use names::PageName;
use renders::RenderCache;
use snapshot::{PageEntry, Snapshot};
use store::{Author, Change, CommitInfo};

/// What an open wiki costs before its snapshot and last changes (the state itself, its
/// paths, the head watch), for the `wikis` budget.
const STATE_BYTES: usize = 4 * 1024;
/// What one open repository handle costs: libgit2's object and ref caches and index
/// windows. Charging it to the budget bounds how many handles (and descriptors) stay open.
const HANDLE_BYTES: usize = 256 * 1024;
/// Handles one wiki keeps for reuse.
const POOLED_HANDLES: usize = 8;

/// The wiki service: configuration, database and per-wiki in-memory state.
#[derive(Clone)]
pub struct Wikis {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: Arc<Config>,
    db: Db,
    /// Open wikis by id (not slug: a deleted and recreated slug is a different wiki),
    /// within the `wikis` budget.
    open: Budgeted<i64, Arc<WikiState>>,
    /// Each wiki's write lock, outside `open`: a writer holding the state of a wiki that
    /// is evicted meanwhile must still exclude the writer who opens it again.
    write_locks: Mutex<HashMap<i64, Arc<Mutex<()>>>>,
    renders: RenderCache,
    /// Page texts by blob id (immutable, so never stale).
    blobs: blobs::BlobCache,
    /// Thumbnails of image attachments by (blob id, size).
    thumbnails: thumbnails::Thumbnails,
    /// Keeps the search indexes current: told of every commit (see [`Indexer`]).
    indexer: Arc<dyn Indexer>,
}

/// What keeps derived indexes (full-text, the semantic queue) current with each wiki's
/// repository. The domain core tells it of every commit and asks it to catch up with
/// outside ones; `search` implements it, so the core depends on no index.
pub trait Indexer: Send + Sync {
    /// A commit moved the wiki's HEAD from `before` to `snap.head` (called under the
    /// wiki's write lock, before the write returns).
    fn committed(
        &self,
        wiki: &Wiki,
        repo: &Repository,
        snap: &Snapshot,
        before: Option<Oid>,
    ) -> Result<()>;
    /// Brings the indexes to HEAD; returns how many pages it re-indexed.
    fn reconcile(&self, wiki: &Wiki, repo: &Repository, snap: &Snapshot) -> Result<usize>;
    /// Whether the indexes already reflect `head` (so reconciling has nothing to do).
    fn is_current(&self, wiki: &Wiki, head: Option<Oid>) -> Result<bool>;
    /// The wiki is being deleted: drop what is stored for it.
    fn deleted(&self, wiki_id: i64) -> Result<()>;
    /// Forget what is held in memory for the wiki.
    fn forget(&self, wiki_id: i64);
}

/// An indexer that keeps nothing (tools and tests that need no search).
pub struct NoIndex;

impl Indexer for NoIndex {
    fn committed(&self, _: &Wiki, _: &Repository, _: &Snapshot, _: Option<Oid>) -> Result<()> {
        Ok(())
    }
    fn reconcile(&self, _: &Wiki, _: &Repository, _: &Snapshot) -> Result<usize> {
        Ok(0)
    }
    fn is_current(&self, _: &Wiki, _: Option<Oid>) -> Result<bool> {
        Ok(true)
    }
    fn deleted(&self, _: i64) -> Result<()> {
        Ok(())
    }
    fn forget(&self, _: i64) {}
}

/// In-memory state of one wiki.
pub struct WikiState {
    repo_path: PathBuf,
    /// The branch's loose ref file, watched by `head`.
    ref_file: PathBuf,
    /// HEAD as last read, while its ref file is unchanged (one stat per read).
    head: head::HeadWatch,
    snapshot: RwLock<Arc<Snapshot>>,
    /// What the snapshot holds ([`Snapshot::heap_bytes`], counted when it is built).
    snapshot_bytes: std::sync::atomic::AtomicUsize,
    /// Repository handles in existence (pooled or lent).
    handles: std::sync::atomic::AtomicUsize,
    /// Open repository handles, reused: opening one costs a dozen file-system calls.
    repos: Mutex<Vec<Repository>>,
    /// "Last changed by" per page, valid for one HEAD (a history walk per view is too dear).
    last_changes: Mutex<LastChanges>,
}

use last_change::LastChanges;

impl WikiState {
    /// What the state holds, for the `wikis` budget.
    fn weight(&self) -> usize {
        use std::sync::atomic::Ordering::Relaxed;
        let last_changes = self
            .last_changes
            .lock()
            .map(|l| l.heap_bytes())
            .unwrap_or(0);
        STATE_BYTES
            + self.snapshot_bytes.load(Relaxed)
            + self.handles.load(Relaxed) * HANDLE_BYTES
            + last_changes
    }
}

/// A pooled repository handle; returns to its wiki's pool when dropped.
pub struct RepoHandle {
    repo: Option<Repository>,
    state: Arc<WikiState>,
}

impl std::ops::Deref for RepoHandle {
    type Target = Repository;

    fn deref(&self) -> &Repository {
        self.repo.as_ref().expect("present until drop")
    }
}

impl Drop for RepoHandle {
    fn drop(&mut self) {
        if let Some(r) = self.repo.take() {
            let mut pool = self.state.repos.lock().expect("repo pool lock");
            if pool.len() < POOLED_HANDLES {
                pool.push(r);
            } else {
                self.state
                    .handles
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

/// A page as read.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub name: PageName,
    /// As stored (`folder/two words.md`).
    pub path: String,
    pub title: String,
    pub content: String,
    /// The commit the page was read at (HEAD unless a revision was asked for): what an
    /// editor must send back as its base revision.
    pub commit: String,
    pub blob: String,
}

/// A page as readers see it: see [`Wikis::read_page_view`].
pub struct PageView {
    pub page: Page,
    /// The wiki at the HEAD the page was read from.
    pub snapshot: Arc<Snapshot>,
    /// The last commit up to that HEAD that changed the page.
    pub last_change: Option<CommitInfo>,
}

/// Why a save did not happen: the page changed since the editor's base revision.
#[derive(Debug, Clone, Serialize)]
pub struct SaveConflict {
    pub current_commit: String,
    /// The page as it is now (`None` if it was deleted meanwhile).
    pub current: Option<String>,
    /// What the writer sent.
    pub yours: String,
    /// A clean three-way merge of both, when there is one.
    pub merged: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub enum SaveOutcome {
    Saved {
        commit: String,
        created: bool,
        changed: bool,
    },
    Conflict(SaveConflict),
}

/// A changelog row: the commit and the files it touched.
pub type ChangelogEntry = (CommitInfo, Vec<String>);

#[derive(Debug, Clone, Serialize)]
pub struct RenameOutcome {
    pub commit: String,
    pub updated_pages: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attachment {
    pub filename: String,
    pub size: u64,
    pub mime_type: String,
}

impl Wikis {
    pub fn new(cfg: Arc<Config>, db: Db, indexer: Arc<dyn Indexer>) -> Wikis {
        store::limit_git_memory(
            cfg.cache.open_packs,
            cfg.cache.mapped_packs.bytes(),
            cfg.cache.git_objects.bytes(),
        );
        let budgets = &cfg.cache;
        Wikis {
            inner: Arc::new(Inner {
                db,
                blobs: blobs::BlobCache::new(budgets.texts.bytes()),
                thumbnails: thumbnails::Thumbnails::new(budgets.thumbnails.bytes()),
                indexer,
                open: Budgeted::new("wikis", budgets.wikis.bytes()),
                write_locks: Mutex::default(),
                // Renders take a blocking-pool thread each: at most one per core at once.
                renders: RenderCache::new(
                    budgets.pages.bytes(),
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                ),
                cfg,
            }),
        }
    }

    /// Each cache of the core, for `/metrics`.
    pub fn cache_stats(&self) -> Vec<CacheStats> {
        vec![
            self.inner.open.stats(),
            self.inner.renders.stats(),
            self.inner.blobs.stats(),
            self.inner.thumbnails.stats(),
        ]
    }

    /// Whether another wiki's state fits in the `wikis` budget without evicting one (so
    /// that warming caches at start stops before it churns).
    pub fn has_room_for_wiki(&self) -> bool {
        self.inner.open.has_room(STATE_BYTES + HANDLE_BYTES)
    }

    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Runs a blocking operation on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Wikis) -> Result<T> + Send + 'static,
    {
        let me = self.clone();
        // The caller's span (and its request id) follows the work to the blocking pool.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _in_request = span.enter();
            f(&me)
        })
        .await?
    }

    pub fn repo_path(&self, slug: &str) -> PathBuf {
        self.inner.cfg.wikis_dir().join(slug).join("repo.git")
    }

    /// The wiki's in-memory state: the one open, or a new, empty one (which the first
    /// read fills).
    fn state(&self, wiki: &Wiki) -> Arc<WikiState> {
        self.inner.open.get_or_insert_with(wiki.id, || {
            let repo_path = self.repo_path(&wiki.slug);
            let state = WikiState {
                ref_file: head::ref_file(&repo_path),
                head: head::HeadWatch::default(),
                repo_path,
                snapshot: RwLock::new(Arc::new(Snapshot::default())),
                snapshot_bytes: Default::default(),
                handles: Default::default(),
                repos: Mutex::new(Vec::new()),
                last_changes: Mutex::default(),
            };
            let bytes = state.weight();
            (Arc::new(state), bytes)
        })
    }

    /// Counts what `state` holds now against the `wikis` budget.
    fn reweigh(&self, wiki: &Wiki, state: &WikiState) {
        self.inner.open.reweigh(&wiki.id, state.weight());
    }

    fn write_lock(&self, wiki: &Wiki) -> Arc<Mutex<()>> {
        let mut locks = self.inner.write_locks.lock().expect("write lock map");
        locks.entry(wiki.id).or_default().clone()
    }

    /// Forgets a wiki's in-memory state (after deletion).
    pub fn forget(&self, wiki_id: i64) {
        self.inner.open.remove(&wiki_id);
        self.inner
            .write_locks
            .lock()
            .expect("write lock map")
            .remove(&wiki_id);
        self.inner.indexer.forget(wiki_id);
    }

    /// A repository handle from the wiki's pool (opened if the pool is empty).
    pub fn open_repo(&self, wiki: &Wiki) -> Result<RepoHandle> {
        self.open_repo_in(wiki, self.state(wiki))
    }

    fn open_repo_in(&self, wiki: &Wiki, state: Arc<WikiState>) -> Result<RepoHandle> {
        let pooled = state.repos.lock().expect("repo pool lock").pop();
        let repo = match pooled {
            Some(r) => r,
            None => {
                let repo = store::open(&state.repo_path).map_err(|e| {
                    Error::Internal(anyhow::anyhow!("opening repository of {}: {e}", wiki.slug))
                })?;
                state
                    .handles
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.reweigh(wiki, &state);
                repo
            }
        };
        Ok(RepoHandle {
            repo: Some(repo),
            state,
        })
    }

    /// The snapshot at the repository's current HEAD (which an outside commit may have
    /// moved: the ref is read every time, the snapshot only rebuilt when it changed).
    pub fn snapshot(&self, wiki: &Wiki) -> Result<Arc<Snapshot>> {
        let repo = self.open_repo(wiki)?;
        self.snapshot_with(wiki, &repo)
    }

    /// [`Wikis::snapshot`] with a repository handle the caller already holds.
    pub fn snapshot_with(&self, wiki: &Wiki, repo: &Repository) -> Result<Arc<Snapshot>> {
        self.snapshot_in(wiki, &self.state(wiki), repo)
    }

    fn snapshot_in(&self, wiki: &Wiki, st: &WikiState, repo: &Repository) -> Result<Arc<Snapshot>> {
        let head = st.head.head(repo, &st.ref_file)?;
        let current = st.snapshot.read().expect("snapshot lock").clone();
        if current.head == head && (head.is_some() || current.pages.is_empty()) {
            return Ok(current);
        }
        let next = Arc::new(current.advance(repo, head)?);
        let mut slot = st.snapshot.write().expect("snapshot lock");
        // Another reader may have advanced it meanwhile; keep whichever is at HEAD.
        if slot.head != next.head {
            *slot = next.clone();
            st.snapshot_bytes
                .store(next.heap_bytes(), std::sync::atomic::Ordering::Relaxed);
            drop(slot);
            self.reweigh(wiki, st);
            return Ok(next);
        }
        Ok(slot.clone())
    }

    /// The wiki's HEAD now: one `stat` of its ref file while nothing moved it, and no
    /// repository handle while the ref is a loose file.
    pub fn head(&self, wiki: &Wiki) -> Result<Option<Oid>> {
        let st = self.state(wiki);
        if let Some(head) = st.head.head_from_file(&st.ref_file) {
            return Ok(head);
        }
        let repo = self.open_repo_in(wiki, st.clone())?;
        st.head.head(&repo, &st.ref_file)
    }

    /// Reads a page at HEAD, or at `revision`.
    pub fn read_page(&self, wiki: &Wiki, name: &PageName, revision: Option<&str>) -> Result<Page> {
        let repo = self.open_repo(wiki)?;
        let snap = self.snapshot_with(wiki, &repo)?;
        self.read_page_in(&repo, &snap, name, revision)
    }

    /// A page with what readers show beside it — the snapshot it was read from (links,
    /// backlinks) and its last change, at `revision` when one is asked for — from a
    /// single read of HEAD.
    pub fn read_page_view(
        &self,
        wiki: &Wiki,
        name: &PageName,
        revision: Option<&str>,
    ) -> Result<PageView> {
        let repo = self.open_repo(wiki)?;
        let snapshot = self.snapshot_with(wiki, &repo)?;
        let page = self.read_page_in(&repo, &snapshot, name, revision)?;
        let last_change = match revision {
            None => self.last_change_in(wiki, &repo, &snapshot, &page.path)?,
            Some(_) => {
                let at = Oid::from_str(&page.commit).map_err(|e| Error::Internal(e.into()))?;
                store::last_change(&repo, at, &page.path)?
            }
        };
        Ok(PageView {
            page,
            snapshot,
            last_change,
        })
    }

    fn read_page_in(
        &self,
        repo: &Repository,
        snap: &Snapshot,
        name: &PageName,
        revision: Option<&str>,
    ) -> Result<Page> {
        let not_found = || Error::not_found(format!("Page not found: {name}"));
        match revision {
            None => {
                let entry = snap.page(&name.file_path()).ok_or_else(not_found)?;
                let content = self
                    .inner
                    .blobs
                    .text(entry.blob, || store::read_blob(repo, entry.blob))?;
                Ok(page_from(
                    entry,
                    content.to_string(),
                    snap.head.expect("a page implies a commit"),
                ))
            }
            Some(rev) => {
                let commit = store::resolve_revision(repo, rev)?;
                let path = snap
                    .page(&name.file_path())
                    .map(|e| e.path.clone())
                    .unwrap_or_else(|| name.file_path());
                let blob = store::blob_at(repo, commit, &path)?.ok_or_else(not_found)?;
                let content = self
                    .inner
                    .blobs
                    .text(blob, || store::read_blob(repo, blob))?
                    .to_string();
                let name = PageName::from_path(&path);
                let title = snapshot::display_title(&name, content.as_bytes());
                let name = name.with_leaf(&title);
                let entry = PageEntry {
                    path,
                    name,
                    title,
                    blob,
                    size: content.len() as u64,
                };
                Ok(page_from(&entry, content, commit))
            }
        }
    }

    /// Renders a page's Markdown (cached per blob; a cached render is reused only while
    /// every page it links to still exists or is still missing).
    pub fn render(&self, snap: &Snapshot, page: &Page) -> Arc<Rendered> {
        let blob = Oid::from_str(&page.blob).unwrap_or(Oid::ZERO_SHA1);
        let key = (page.path.to_lowercase(), blob);
        self.inner.renders.get_or_render(
            key,
            |hit| {
                hit.link_targets
                    .iter()
                    .all(|(p, existed)| snap.has_page(p) == *existed)
            },
            || renders::render_isolated(&page.content, &page.name, &|p| snap.has_page(p)),
        )
    }

    /// Renders Markdown that is not (yet) a page: the editor's live preview.
    pub fn preview(&self, wiki: &Wiki, name: &PageName, content: &str) -> Result<Rendered> {
        let snap = self.snapshot(wiki)?;
        let mut rendered = self
            .inner
            .renders
            .render_uncached(|| renders::render_isolated(content, name, &|p| snap.has_page(p)));
        if let Some(html) = self.live_html(wiki, &snap, name, &rendered) {
            rendered.html = html;
            rendered.live.clear();
        }
        Ok(rendered)
    }

    /// The commit that last changed a page (for "last edited by").
    /// The last change of every page at HEAD, from one walk of the history (cached per
    /// HEAD alongside the per-page answers).
    pub fn last_changes(&self, wiki: &Wiki) -> Result<HashMap<String, CommitInfo>> {
        let repo = self.open_repo(wiki)?;
        let snap = self.snapshot_with(wiki, &repo)?;
        let Some(head) = snap.head else {
            return Ok(HashMap::new());
        };
        let state = self.state(wiki);
        let all = state.last_changes.lock().expect("last-change lock").all(
            &repo,
            Some(head),
            snap.pages.values().map(|p| p.path.as_str()),
        );
        self.reweigh(wiki, &state);
        all
    }

    pub fn last_change(&self, wiki: &Wiki, path: &str) -> Result<Option<CommitInfo>> {
        let repo = self.open_repo(wiki)?;
        let snap = self.snapshot_with(wiki, &repo)?;
        self.last_change_in(wiki, &repo, &snap, path)
    }

    /// The last commit up to `snap`'s HEAD that changed `path` (see [`last_change`]:
    /// a miss walks history, so it answers every page of the wiki in the same walk).
    fn last_change_in(
        &self,
        wiki: &Wiki,
        repo: &Repository,
        snap: &Snapshot,
        path: &str,
    ) -> Result<Option<CommitInfo>> {
        self.last_change_of(wiki, repo, snap, path, std::iter::empty())
    }

    /// As [`Wikis::last_change_in`], answering `others` (paths of attachments, say) in
    /// the same walk on a miss.
    fn last_change_of<'a>(
        &self,
        wiki: &Wiki,
        repo: &Repository,
        snap: &'a Snapshot,
        path: &'a str,
        others: impl Iterator<Item = &'a str>,
    ) -> Result<Option<CommitInfo>> {
        let pages = snap.pages.values().map(|p| p.path.as_str()).chain(others);
        let state = self.state(wiki);
        let mut cache = state.last_changes.lock().expect("last-change lock");
        let before = cache.generation();
        let found = cache.get(repo, snap.head, path, pages);
        let changed = cache.generation() != before;
        drop(cache);
        if changed {
            self.reweigh(wiki, &state);
        }
        found
    }

    /// Saves a page. `base` is the commit the writer read the page at; `None` is allowed
    /// only for a page that does not exist yet.
    pub fn save_page(
        &self,
        wiki: &Wiki,
        author: &Author,
        name: &PageName,
        content: &str,
        base: Option<&str>,
        message: &str,
    ) -> Result<SaveOutcome> {
        let content = normalize_content(content);
        let limits = &self.inner.cfg.limits;
        if content.len() > limits.max_page_bytes {
            return Err(Error::TooLarge(format!(
                "Content too large ({} bytes). Maximum size is {} bytes.",
                content.len(),
                limits.max_page_bytes
            )));
        }
        self.write(wiki, |repo, snap| {
        let existing = snap.page(&name.file_path()).cloned();
        let path = existing
            .as_ref()
            .map(|e| e.path.clone())
            .unwrap_or_else(|| name.file_path());
        let head = snap.head;

        if let Some(existing) = &existing {
            let Some(base) = base.filter(|b| !b.is_empty()) else {
                return Err(Error::Conflict {
                    message: "Revision required when updating an existing page. Read the page first to get the current revision.".into(),
                    current: head.map(|h| h.to_string()),
                });
            };
            let base_commit = store::resolve_revision(repo, base).map_err(|e| match e {
                Error::NotFound(_) | Error::BadRequest(_) => {
                    Error::Invalid(format!("Unknown revision: {base}"))
                }
                other => other,
            })?;
            let base_blob = store::blob_at(repo, base_commit, &path)?;
            if base_blob != Some(existing.blob) {
                let current =
                    String::from_utf8_lossy(&store::read_blob(repo, existing.blob)?).into_owned();
                let base_text = match base_blob {
                    Some(b) => String::from_utf8_lossy(&store::read_blob(repo, b)?).into_owned(),
                    None => String::new(),
                };
                let merged = match store::merge_text(&base_text, &content, &current)? {
                    store::Merge::Clean(m) => Some(m),
                    store::Merge::Conflicted => None,
                };
                return Ok(SaveOutcome::Conflict(SaveConflict {
                    current_commit: head.map(|h| h.to_string()).unwrap_or_default(),
                    current: Some(current),
                    yours: content,
                    merged,
                }));
            }
            if store::read_blob(repo, existing.blob)? == content.as_bytes() {
                let commit = head.map(|h| h.to_string()).unwrap_or_default();
                return Ok(SaveOutcome::Saved {
                    commit,
                    created: false,
                    changed: false,
                });
            }
        } else if let Some(base) = base.filter(|b| !b.is_empty()) {
            // The writer had read a version that has since been deleted.
            if let Ok(base_commit) = store::resolve_revision(repo, base)
                && let Some(b) = store::blob_at(repo, base_commit, &path)?
            {
                let _ = b;
                return Ok(SaveOutcome::Conflict(SaveConflict {
                    current_commit: head.map(|h| h.to_string()).unwrap_or_default(),
                    current: None,
                    yours: content,
                    merged: None,
                }));
            }
        }

        let created = existing.is_none();
        self.check_limits(
            snap,
            if created { 1 } else { 0 },
            content.len() as u64,
            existing.as_ref().map(|e| e.size).unwrap_or(0),
        )?;
        let message = default_message(message, || {
            format!("{} {name}", if created { "Create" } else { "Update" })
        });
        let changes = [Change::Write {
            path,
            content: content.into_bytes(),
        }];
        let commit = store::commit(repo, head, &changes, author, &message)?;
        Ok(SaveOutcome::Saved {
            commit: commit.to_string(),
            created,
            changed: true,
        })
        })
    }

    /// Refuses a write that would pass the page count or the wiki's byte quota.
    fn check_limits(
        &self,
        snap: &Snapshot,
        new_pages: usize,
        new_bytes: u64,
        replaced_bytes: u64,
    ) -> Result<()> {
        let limits = &self.inner.cfg.limits;
        if new_pages > 0 && snap.page_count() + new_pages > limits.max_pages {
            return Err(Error::TooLarge(format!(
                "Page limit reached ({} pages)",
                limits.max_pages
            )));
        }
        let after = snap.total_bytes.saturating_sub(replaced_bytes) + new_bytes;
        if new_bytes > replaced_bytes && after > limits.max_wiki_bytes {
            return Err(Error::TooLarge(format!(
                "Wiki quota exceeded ({}MB limit)",
                limits.max_wiki_bytes / (1024 * 1024)
            )));
        }
        Ok(())
    }

    /// The one way the core writes: under the wiki's write lock (held for the whole of
    /// the write: read HEAD, check, commit, move the branch), with a repository handle
    /// and the snapshot at HEAD, `f` checks what it must and makes at most one commit.
    /// When HEAD moved, derived state follows before the lock is released
    /// ([`Self::after_commit`]); a write that made no commit leaves it as it was.
    fn write<T>(
        &self,
        wiki: &Wiki,
        f: impl FnOnce(&Repository, &Snapshot) -> Result<T>,
    ) -> Result<T> {
        let lock = self.write_lock(wiki);
        let _guard = lock.lock().expect("write lock");
        // One state for the whole write, even if it is evicted meanwhile: the snapshot
        // the write checked against is the one advanced after it.
        let st = self.state(wiki);
        let repo = self.open_repo_in(wiki, st.clone())?;
        let snap = self.snapshot_in(wiki, &st, &repo)?;
        let out = f(&repo, &snap);
        // Whatever `f` did, the next read looks the ref up again (see `head`).
        st.head.forget();
        let out = out?;
        if store::head(&repo)? != snap.head {
            self.after_commit(wiki, &st, &repo)?;
        }
        Ok(out)
    }

    /// Brings derived state to the new HEAD after a commit: the snapshot, then the
    /// indexes (full-text at once, the changed pages queued for the semantic index).
    /// Every write of every surface ends here, through [`Self::write`].
    fn after_commit(&self, wiki: &Wiki, st: &WikiState, repo: &Repository) -> Result<()> {
        let before = st.snapshot.read().expect("snapshot lock").head;
        let snap = self.snapshot_in(wiki, st, repo)?;
        self.inner.indexer.committed(wiki, repo, &snap, before)
    }

    /// Reconciles the indexes with HEAD (start-up, and after outside commits).
    pub fn reconcile(&self, wiki: &Wiki) -> Result<usize> {
        // Most wikis are current: asking costs one ref read and keeps nothing open.
        let head = store::head(&store::open(&self.repo_path(&wiki.slug))?)?;
        if self.inner.indexer.is_current(wiki, head)? {
            return Ok(0);
        }
        let repo = self.open_repo(wiki)?;
        let snap = self.snapshot_with(wiki, &repo)?;
        self.inner.indexer.reconcile(wiki, &repo, &snap)
    }

    /// Deletes a page; with `recursive`, also its folder (attachments and subpages).
    pub fn delete_page(
        &self,
        wiki: &Wiki,
        author: &Author,
        name: &PageName,
        recursive: bool,
        message: &str,
    ) -> Result<String> {
        self.write(wiki, |repo, snap| {
            let entry = snap
                .page(&name.file_path())
                .ok_or_else(|| Error::not_found(format!("Page not found: {name}")))?;
            let mut changes = vec![Change::Delete {
                path: entry.path.clone(),
            }];
            if recursive {
                let dir = entry.path.trim_end_matches(".md").to_string();
                changes.push(Change::DeleteDir { path: dir });
            }
            let message = default_message(message, || format!("{} deleted.", entry.name));
            let commit = store::commit(repo, snap.head, &changes, author, &message)?;
            Ok(commit.to_string())
        })
    }

    /// Renames a page, moving its folder (attachments, subpages) with it and, if asked,
    /// rewriting links to it in other pages. One commit.
    pub fn rename_page(
        &self,
        wiki: &Wiki,
        author: &Author,
        old: &PageName,
        new: &PageName,
        update_backlinks: bool,
        message: &str,
    ) -> Result<RenameOutcome> {
        if old.file_path() == new.file_path() && old.as_str() == new.as_str() {
            return Err(Error::Invalid(
                "The new name is the same as the old one.".into(),
            ));
        }
        self.write(wiki, |repo, snap| {
            let entry = snap
                .page(&old.file_path())
                .ok_or_else(|| Error::not_found(format!("Page not found: {old}")))?
                .clone();
            let case_only = old.file_path() == new.file_path();
            if !case_only && snap.has_page(&new.file_path()) {
                return Err(Error::Conflict {
                    message: format!("Page already exists: {new}"),
                    current: None,
                });
            }
            let new_path = new.file_path();
            let old_dir = format!("{}/", entry.path.trim_end_matches(".md"));
            let new_dir = format!("{}/", new.dir_path());
            if new_dir.starts_with(&old_dir) {
                return Err(Error::Invalid(
                    "A page cannot be moved into its own folder.".into(),
                ));
            }
            let mut changes = Vec::new();
            let mut moved_content = store::read_blob(repo, entry.blob)?;
            // Everything in the page's folder moves along.
            for (path, (blob, _)) in snap
                .files
                .range(old_dir.clone()..)
                .take_while(|(p, _)| p.starts_with(&old_dir))
            {
                let target = format!("{new_dir}{}", &path[old_dir.len()..]);
                if snap.files.contains_key(&target) {
                    return Err(Error::Conflict {
                        message: format!("{target} already exists"),
                        current: None,
                    });
                }
                changes.push(Change::Delete { path: path.clone() });
                changes.push(Change::Write {
                    path: target,
                    content: store::read_blob(repo, *blob)?,
                });
            }
            let mut updated = Vec::new();
            if update_backlinks {
                if let Some(rewritten) =
                    links::rewrite(&String::from_utf8_lossy(&moved_content), old, new)
                {
                    moved_content = rewritten.into_bytes();
                }
                for linking in snap.backlinks(&entry.path) {
                    if linking.path == entry.path {
                        continue;
                    }
                    let text = String::from_utf8_lossy(&store::read_blob(repo, linking.blob)?)
                        .into_owned();
                    if let Some(rewritten) = links::rewrite(&text, old, new) {
                        // A backlinking page inside the moved folder is written at its new path.
                        let path = match linking.path.strip_prefix(&old_dir) {
                            Some(rest) => format!("{new_dir}{rest}"),
                            None => linking.path.clone(),
                        };
                        changes
                            .retain(|c| !matches!(c, Change::Write { path: p, .. } if *p == path));
                        changes.push(Change::Write {
                            path,
                            content: rewritten.into_bytes(),
                        });
                        updated.push(linking.name.as_str().to_string());
                    }
                }
            }
            changes.insert(
                0,
                Change::Delete {
                    path: entry.path.clone(),
                },
            );
            changes.push(Change::Write {
                path: new_path,
                content: moved_content,
            });
            let message = default_message(message, || format!("Renamed {} to {new}.", entry.name));
            let commit = store::commit(repo, snap.head, &changes, author, &message)?;
            Ok(RenameOutcome {
                commit: commit.to_string(),
                updated_pages: updated,
            })
        })
    }

    /// Reverts one commit with a new commit.
    pub fn revert(&self, wiki: &Wiki, author: &Author, revision: &str) -> Result<String> {
        self.write(wiki, |repo, snap| {
            let head = snap
                .head
                .ok_or_else(|| Error::not_found("the wiki has no commits"))?;
            let rev = store::resolve_revision(repo, revision)?;
            let tree = store::revert_changes(repo, head, rev)?;
            // Reverting may re-add pages and bytes: hold it to the limits like any write.
            let new_files = {
                let mut idx = git2::Index::new()?;
                idx.read_tree(&repo.find_tree(tree)?)?;
                idx.iter().filter(|e| e.path.ends_with(b".md")).count()
            };
            if new_files > snap.page_count() {
                self.check_limits(snap, new_files - snap.page_count(), 0, 0)?;
            }
            let short = &rev.to_string()[..7];
            let commit = store::commit_tree(
                repo,
                head,
                tree,
                author,
                &format!("Reverted commit {short}."),
            )?;
            Ok(commit.to_string())
        })
    }

    /// Adds or replaces attachments of an existing page.
    pub fn upload_attachments(
        &self,
        wiki: &Wiki,
        author: &Author,
        page: &PageName,
        files: Vec<(String, Vec<u8>)>,
        message: &str,
    ) -> Result<(String, Vec<String>)> {
        if files.is_empty() {
            return Err(Error::Invalid("No file was uploaded.".into()));
        }
        let limits = &self.inner.cfg.limits;
        let mut clean = Vec::new();
        for (name, data) in files {
            let name = names::attachment_name(&name)?;
            if data.len() > limits.max_attachment_bytes {
                return Err(Error::TooLarge(format!(
                    "Attachment too large ({} bytes). Maximum size is {} bytes.",
                    data.len(),
                    limits.max_attachment_bytes
                )));
            }
            clean.push((name, data));
        }
        self.write(wiki, |repo, snap| {
            let entry = snap
                .page(&page.file_path())
                .ok_or_else(|| Error::not_found(format!("Page not found: {page}")))?;
            let dir = entry.path.trim_end_matches(".md").to_string();
            let mut new_bytes = 0;
            let mut replaced = 0;
            let mut updated = false;
            let mut changes = Vec::new();
            let mut stored = Vec::new();
            for (name, data) in clean {
                let path = format!("{dir}/{name}");
                if let Some((_, size)) = snap.files.get(&path) {
                    replaced += size;
                    updated = true;
                }
                new_bytes += data.len() as u64;
                changes.push(Change::Write {
                    path,
                    content: data,
                });
                stored.push(name);
            }
            self.check_limits(snap, 0, new_bytes, replaced)?;
            let message = default_message(message, || {
                if updated && stored.len() == 1 {
                    format!("Updated attachment: {}.", stored[0])
                } else {
                    format!("Added attachment(s): {}.", stored.join(", "))
                }
            });
            let commit = store::commit(repo, snap.head, &changes, author, &message)?;
            Ok((commit.to_string(), stored))
        })
    }

    pub fn list_attachments(&self, wiki: &Wiki, page: &PageName) -> Result<Vec<Attachment>> {
        let snap = self.snapshot(wiki)?;
        let entry = snap
            .page(&page.file_path())
            .ok_or_else(|| Error::not_found(format!("Page not found: {page}")))?;
        let name = PageName::from_path(&entry.path);
        Ok(snap
            .attachments(&name)
            .into_iter()
            .map(|(filename, _, size)| Attachment {
                mime_type: mime_of(&filename),
                filename,
                size,
            })
            .collect())
    }

    /// An attachment's bytes and MIME type, at HEAD or a revision.
    pub fn read_attachment(
        &self,
        wiki: &Wiki,
        page: &PageName,
        file: &str,
        revision: Option<&str>,
    ) -> Result<(Vec<u8>, String)> {
        let repo = self.open_repo(wiki)?;
        let snap = self.snapshot_with(wiki, &repo)?;
        let dir = snap.attachment_dir(page);
        if file.contains('/') || file.contains("..") || file.is_empty() {
            return Err(Error::BadRequest("not a file name".into()));
        }
        let path = format!("{dir}/{file}");
        let not_found = || Error::not_found(format!("Attachment not found: {file}"));
        let blob = match revision {
            None => snap
                .files
                .get(&path)
                .map(|(b, _)| *b)
                .ok_or_else(not_found)?,
            Some(rev) => {
                let c = store::resolve_revision(&repo, rev)?;
                store::blob_at(&repo, c, &path)?.ok_or_else(not_found)?
            }
        };
        Ok((store::read_blob(&repo, blob)?, mime_of(file)))
    }

    /// An image attachment's thumbnail at HEAD, fitted inside `size`×`size` (made once
    /// per blob and size, see [`thumbnails`]).
    pub fn thumbnail(
        &self,
        wiki: &Wiki,
        page: &PageName,
        file: &str,
        size: u32,
    ) -> Result<thumbnails::Thumbnail> {
        if file.contains('/') || file.contains("..") || file.is_empty() {
            return Err(Error::BadRequest("not a file name".into()));
        }
        let repo = self.open_repo(wiki)?;
        let snap = self.snapshot_with(wiki, &repo)?;
        let path = format!("{}/{file}", snap.attachment_dir(page));
        let (blob, _) = snap
            .files
            .get(&path)
            .copied()
            .ok_or_else(|| Error::not_found(format!("Attachment not found: {file}")))?;
        self.inner
            .thumbnails
            .get(blob, size, || store::read_blob(&repo, blob))
    }

    pub fn delete_attachment(
        &self,
        wiki: &Wiki,
        author: &Author,
        page: &PageName,
        file: &str,
        message: &str,
    ) -> Result<String> {
        self.write(wiki, |repo, snap| {
            let path = format!("{}/{file}", snap.attachment_dir(page));
            if file.contains('/') || !snap.files.contains_key(&path) || path.ends_with(".md") {
                return Err(Error::not_found(format!("Attachment not found: {file}")));
            }
            let message = default_message(message, || format!("Deleted {file}"));
            let commit = store::commit(
                repo,
                snap.head,
                &[Change::Delete { path }],
                author,
                &message,
            )?;
            Ok(commit.to_string())
        })
    }

    pub fn history(
        &self,
        wiki: &Wiki,
        name: &PageName,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<CommitInfo>> {
        let repo = self.open_repo(wiki)?;
        let snap = self.snapshot_with(wiki, &repo)?;
        let Some(head) = snap.head else {
            return Ok(Vec::new());
        };
        let path = snap
            .page(&name.file_path())
            .map(|e| e.path.clone())
            .unwrap_or_else(|| name.file_path());
        store::history(&repo, head, &path, skip, limit)
    }

    pub fn changelog(
        &self,
        wiki: &Wiki,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<ChangelogEntry>, usize)> {
        let repo = self.open_repo(wiki)?;
        let Some(head) = store::head(&repo)? else {
            return Ok((Vec::new(), 0));
        };
        Ok((
            store::changelog(&repo, head, skip, limit)?,
            store::count_commits(&repo, head)?,
        ))
    }

    pub fn commit(
        &self,
        wiki: &Wiki,
        revision: &str,
    ) -> Result<(CommitInfo, Vec<store::FileDiff>)> {
        let repo = self.open_repo(wiki)?;
        let id = store::resolve_revision(&repo, revision)?;
        let info = store::commit_info(&repo, id)?;
        let parent = repo.find_commit(id)?.parent_ids().next();
        Ok((info, store::diff(&repo, parent, id, &[])?))
    }

    pub fn diff(
        &self,
        wiki: &Wiki,
        name: &PageName,
        rev_a: &str,
        rev_b: &str,
    ) -> Result<Vec<store::FileDiff>> {
        let repo = self.open_repo(wiki)?;
        let a = store::resolve_revision(&repo, rev_a)?;
        let b = store::resolve_revision(&repo, rev_b)?;
        let snap = self.snapshot_with(wiki, &repo)?;
        let path = snap
            .page(&name.file_path())
            .map(|e| e.path.clone())
            .unwrap_or_else(|| name.file_path());
        store::diff(&repo, Some(a), b, &[path])
    }

    pub fn blame(
        &self,
        wiki: &Wiki,
        name: &PageName,
        revision: Option<&str>,
    ) -> Result<Vec<store::BlameLine>> {
        let repo = self.open_repo(wiki)?;
        let snap = self.snapshot_with(wiki, &repo)?;
        let at = match revision {
            Some(r) => store::resolve_revision(&repo, r)?,
            None => snap
                .head
                .ok_or_else(|| Error::not_found(format!("Page not found: {name}")))?,
        };
        let path = snap
            .page(&name.file_path())
            .map(|e| e.path.clone())
            .unwrap_or_else(|| name.file_path());
        store::blame(&repo, at, &path)
    }
}

fn page_from(entry: &PageEntry, content: String, commit: Oid) -> Page {
    Page {
        name: entry.name.clone(),
        path: entry.path.clone(),
        title: entry.title.clone(),
        content,
        commit: commit.to_string(),
        blob: entry.blob.to_string(),
    }
}

/// Otterwiki's normalisation: LF line endings, trailing whitespace trimmed, one final newline.
pub fn normalize_content(s: &str) -> String {
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    let t = s.trim_end();
    if t.is_empty() {
        String::new()
    } else {
        format!("{t}\n")
    }
}

/// The commit message a writer gave, or a default when they gave none.
pub fn default_message(given: &str, default: impl FnOnce() -> String) -> String {
    let g = given.trim();
    if g.is_empty() {
        default()
    } else {
        g.to_string()
    }
}

pub fn mime_of(file: &str) -> String {
    mime_guess::from_path(file)
        .first_or_octet_stream()
        .essence_str()
        .to_string()
}
