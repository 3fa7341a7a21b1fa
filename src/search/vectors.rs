//! The per-wiki vector index: chunks with their embeddings, searched by exact inner
//! product over L2-normalised vectors (distance = 1 − inner product). A flat scan answers
//! in well under a millisecond at the sizes a wiki reaches (research/deps.md §3: 0.25 ms
//! at 5k vectors), so there is no approximate structure to keep in sync.
//!
//! Persistence: `wikis/{slug}/index/vectors.db`, a SQLite file of its own (rebuildable from
//! the repository, so it stays out of `robot.db` and its backups). A page's chunks are
//! replaced in one transaction, never the whole index, together with the commit the
//! index reflects. In memory, indexes are loaded on first use and evicted least recently
//! used beyond a byte budget, so a server with many wikis holds only the busy ones.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::{Connection, OptionalExtension, params};

use crate::cache::CacheStats;
use crate::error::Result;

pub const DIM: usize = 384;

/// One stored chunk (its vector lives alongside, in the flat array).
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRecord {
    pub path: String,
    pub chunk_index: usize,
    pub total_chunks: usize,
    pub section: String,
    pub section_path: String,
    pub text: String,
    pub page_word_count: usize,
}

/// One page's new chunks with their vectors (empty: the page is gone).
pub type PageChunks = (String, Vec<(ChunkRecord, Vec<f32>)>);

type Loaded = HashMap<i64, (u64, Arc<RwLock<FlatIndex>>)>;

/// Writes the commit an index reflects and, when known, the model that made it.
fn set_meta(conn: &Connection, commit: &str, model: Option<&str>) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('commit', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [commit],
    )?;
    if let Some(model) = model {
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('model', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [model],
        )?;
    }
    Ok(())
}

/// A search hit: the chunk and its distance (1 − inner product).
#[derive(Debug, Clone)]
pub struct Hit {
    pub chunk: ChunkRecord,
    pub distance: f32,
}

/// The on-disk store of one wiki's index.
pub struct Store {
    path: PathBuf,
}

impl Store {
    pub fn new(index_dir: &Path) -> Store {
        Store::at(&index_dir.join("vectors.db"))
    }

    /// The store in the file `path` (a copy in a backup, say).
    pub fn at(path: &Path) -> Store {
        Store {
            path: path.to_path_buf(),
        }
    }

    fn open(&self) -> Result<Connection> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS chunks (
                 id INTEGER PRIMARY KEY,
                 path TEXT NOT NULL,
                 chunk_index INTEGER NOT NULL,
                 total_chunks INTEGER NOT NULL,
                 section TEXT NOT NULL,
                 section_path TEXT NOT NULL,
                 text TEXT NOT NULL,
                 page_word_count INTEGER NOT NULL,
                 vector BLOB NOT NULL
             );
             CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path);
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        )?;
        Ok(conn)
    }

    /// The commit the stored index reflects.
    pub fn indexed_commit(&self) -> Result<Option<String>> {
        if !self.path.exists() {
            return Ok(None);
        }
        let conn = self.open()?;
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = 'commit'", [], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// The model the stored vectors were made by (see `embed::fingerprint`), if recorded.
    pub fn model(&self) -> Result<Option<String>> {
        if !self.path.exists() {
            return Ok(None);
        }
        let conn = self.open()?;
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = 'model'", [], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Records the commit the index reflects, and the model that made it.
    pub fn set_commit(&self, commit: &str, model: Option<&str>) -> Result<()> {
        let conn = self.open()?;
        set_meta(&conn, commit, model)
    }

    /// Empties the store (its vectors are of another model).
    pub fn clear(&self) -> Result<()> {
        let conn = self.open()?;
        conn.execute_batch("DELETE FROM chunks; DELETE FROM meta;")?;
        Ok(())
    }

    /// Replaces the chunks of some pages (an empty list deletes a page) and records the
    /// commit, in one transaction: a reader sees the old state or the new, never half.
    pub fn apply(&self, pages: &[PageChunks], commit: Option<&str>) -> Result<()> {
        let mut conn = self.open()?;
        let tx = conn.transaction()?;
        for (path, chunks) in pages {
            tx.execute("DELETE FROM chunks WHERE path = ?1", [path])?;
            for (c, v) in chunks {
                debug_assert_eq!(v.len(), DIM);
                tx.execute(
                    "INSERT INTO chunks (path, chunk_index, total_chunks, section, section_path, text, page_word_count, vector)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![c.path, c.chunk_index as i64, c.total_chunks as i64, c.section, c.section_path, c.text, c.page_word_count as i64, to_bytes(v)],
                )?;
            }
        }
        if let Some(commit) = commit {
            set_meta(&tx, commit, None)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The pages in the index.
    pub fn paths(&self) -> Result<Vec<String>> {
        if !self.path.exists() {
            return Ok(Vec::new());
        }
        let conn = self.open()?;
        let mut stmt = conn.prepare("SELECT DISTINCT path FROM chunks ORDER BY path")?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(rows)
    }

    /// (pages, chunks) in the index.
    pub fn counts(&self) -> Result<(usize, usize)> {
        if !self.path.exists() {
            return Ok((0, 0));
        }
        let conn = self.open()?;
        Ok(conn.query_row(
            "SELECT COUNT(DISTINCT path), COUNT(*) FROM chunks",
            [],
            |r| Ok((r.get::<_, i64>(0)? as usize, r.get::<_, i64>(1)? as usize)),
        )?)
    }

    /// Loads everything into a flat in-memory index.
    pub fn load(&self) -> Result<FlatIndex> {
        let mut index = FlatIndex::default();
        if !self.path.exists() {
            return Ok(index);
        }
        let conn = self.open()?;
        let mut stmt = conn.prepare(
            "SELECT path, chunk_index, total_chunks, section, section_path, text, page_word_count, vector FROM chunks ORDER BY path, chunk_index",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let blob: Vec<u8> = r.get(7)?;
            let chunk = ChunkRecord {
                path: r.get(0)?,
                chunk_index: r.get::<_, i64>(1)? as usize,
                total_chunks: r.get::<_, i64>(2)? as usize,
                section: r.get(3)?,
                section_path: r.get(4)?,
                text: r.get(5)?,
                page_word_count: r.get::<_, i64>(6)? as usize,
            };
            index.push(chunk, &from_bytes(&blob));
        }
        Ok(index)
    }
}

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Chunks and their vectors, contiguous, searched by a flat scan.
#[derive(Debug, Default, Clone)]
pub struct FlatIndex {
    chunks: Vec<ChunkRecord>,
    data: Vec<f32>,
}

impl FlatIndex {
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Approximate memory held, for the cache's budget.
    pub fn bytes(&self) -> usize {
        self.data.len() * 4
            + self
                .chunks
                .iter()
                .map(|c| c.text.len() + c.path.len() + c.section_path.len() + 64)
                .sum::<usize>()
    }

    fn push(&mut self, chunk: ChunkRecord, v: &[f32]) {
        if v.len() != DIM {
            return; // a vector of the wrong size is skipped; reindexing rewrites it
        }
        self.chunks.push(chunk);
        self.data.extend_from_slice(v);
    }

    /// Replaces one page's chunks in memory (mirrors [`Store::apply`]).
    pub fn replace_page(&mut self, path: &str, chunks: &[(ChunkRecord, Vec<f32>)]) {
        let keep: Vec<usize> = (0..self.chunks.len())
            .filter(|&i| self.chunks[i].path != path)
            .collect();
        if keep.len() != self.chunks.len() {
            let mut data = Vec::with_capacity(keep.len() * DIM);
            let mut kept = Vec::with_capacity(keep.len());
            for i in keep {
                data.extend_from_slice(&self.data[i * DIM..(i + 1) * DIM]);
                kept.push(self.chunks[i].clone());
            }
            self.chunks = kept;
            self.data = data;
        }
        for (c, v) in chunks {
            self.push(c.clone(), v);
        }
    }

    /// The `k` nearest chunks to a normalised query vector, at most `per_page` from any
    /// one page, nearest first.
    pub fn search(&self, query: &[f32], k: usize, per_page: usize) -> Vec<Hit> {
        if query.len() != DIM || k == 0 {
            return Vec::new();
        }
        let mut scored: Vec<(f32, usize)> = self
            .data
            .chunks_exact(DIM)
            .enumerate()
            .map(|(i, v)| (dot(v, query), i))
            .collect();
        scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let mut per: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::new();
        for (score, i) in scored {
            let c = &self.chunks[i];
            let n = per.entry(c.path.as_str()).or_insert(0);
            if *n >= per_page.max(1) {
                continue;
            }
            *n += 1;
            out.push(Hit {
                chunk: c.clone(),
                distance: 1.0 - score,
            });
            if out.len() >= k {
                break;
            }
        }
        out
    }
}

/// Inner product with eight independent accumulators, which the compiler vectorises.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for i in 0..chunks {
        for j in 0..8 {
            acc[j] += a[i * 8 + j] * b[i * 8 + j];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in chunks * 8..a.len() {
        sum += a[i] * b[i];
    }
    sum
}

/// Loaded indexes by wiki id, least recently used evicted beyond `budget_bytes`.
///
/// The worker writes a page to the store first and then to the loaded copy
/// ([`IndexCache::update`]); a load that raced with such a write is detected by the
/// wiki's version counter and redone, so a loaded index never misses a write.
pub struct IndexCache {
    budget_bytes: usize,
    inner: Mutex<CacheInner>,
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
    evictions: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct CacheInner {
    /// A use counter: larger is more recent.
    clock: u64,
    loaded: Loaded,
    /// Bumped by every update of a wiki's store.
    versions: HashMap<i64, u64>,
}

impl IndexCache {
    pub fn new(budget_bytes: usize) -> IndexCache {
        IndexCache {
            budget_bytes,
            inner: Mutex::new(CacheInner::default()),
            hits: Default::default(),
            misses: Default::default(),
            evictions: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().expect("index cache lock")
    }

    /// The wiki's index, loading it with `load` on a miss.
    pub fn get_or_load(
        &self,
        wiki_id: i64,
        load: impl Fn() -> Result<FlatIndex>,
    ) -> Result<Arc<RwLock<FlatIndex>>> {
        for _ in 0..3 {
            let version = {
                let mut g = self.lock();
                g.clock += 1;
                let now = g.clock;
                if let Some((used, idx)) = g.loaded.get_mut(&wiki_id) {
                    *used = now;
                    self.hits.fetch_add(1, AtomicOrdering::Relaxed);
                    return Ok(idx.clone());
                }
                self.misses.fetch_add(1, AtomicOrdering::Relaxed);
                g.versions.get(&wiki_id).copied().unwrap_or(0)
            };
            // Loading reads the whole store: not under the lock, other wikis go on.
            let fresh = Arc::new(RwLock::new(load()?));
            let mut g = self.lock();
            if g.versions.get(&wiki_id).copied().unwrap_or(0) != version {
                continue; // written while loading: the copy may miss it
            }
            g.clock += 1;
            let now = g.clock;
            let entry = g.loaded.entry(wiki_id).or_insert((now, fresh)).1.clone();
            self.evict(&mut g.loaded, wiki_id);
            return Ok(entry);
        }
        // Writes keep racing the load: answer from a fresh read without caching it.
        Ok(Arc::new(RwLock::new(load()?)))
    }

    /// Applies a store update to the loaded copy, if there is one. Call after the store
    /// has committed the same change.
    pub fn update(&self, wiki_id: i64, apply: impl FnOnce(&mut FlatIndex)) {
        let mut g = self.lock();
        *g.versions.entry(wiki_id).or_insert(0) += 1;
        if let Some((_, idx)) = g.loaded.get(&wiki_id) {
            apply(&mut idx.write().expect("index lock"));
        }
    }

    /// Drops least recently used indexes (never `keep`) until within budget.
    fn evict(&self, map: &mut Loaded, keep: i64) {
        let size = |m: &Loaded| {
            m.values()
                .map(|(_, i)| i.read().map(|x| x.bytes()).unwrap_or(0))
                .sum::<usize>()
        };
        while size(map) > self.budget_bytes && map.len() > 1 {
            let oldest = map
                .iter()
                .filter(|(id, _)| **id != keep)
                .min_by_key(|(_, (used, _))| *used)
                .map(|(id, _)| *id);
            match oldest {
                Some(id) => {
                    map.remove(&id);
                    self.evictions.fetch_add(1, AtomicOrdering::Relaxed);
                }
                None => break,
            }
        }
    }

    pub fn forget(&self, wiki_id: i64) {
        let mut g = self.lock();
        g.loaded.remove(&wiki_id);
        *g.versions.entry(wiki_id).or_insert(0) += 1;
    }

    /// What `/metrics` shows of the loaded indexes (the `vectors` cache).
    pub fn stats(&self) -> CacheStats {
        let g = self.lock();
        CacheStats {
            name: "vectors",
            budget_bytes: self.budget_bytes,
            bytes: g
                .loaded
                .values()
                .map(|(_, i)| i.read().map(|x| x.bytes()).unwrap_or(0))
                .sum(),
            entries: g.loaded.len(),
            hits: self.hits.load(AtomicOrdering::Relaxed),
            misses: self.misses.load(AtomicOrdering::Relaxed),
            evictions: self.evictions.load(AtomicOrdering::Relaxed),
        }
    }

    pub fn loaded(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.lock().loaded.keys().copied().collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u32) -> Vec<f32> {
        let mut x = seed.wrapping_mul(2654435761).max(1);
        let v: Vec<f32> = (0..DIM)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x as f32 / u32::MAX as f32) - 0.5
            })
            .collect();
        let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.into_iter().map(|a| a / n).collect()
    }

    fn chunk(path: &str, i: usize) -> ChunkRecord {
        ChunkRecord {
            path: path.into(),
            chunk_index: i,
            total_chunks: 2,
            section: String::new(),
            section_path: path.into(),
            text: format!("{path} {i}"),
            page_word_count: 10,
        }
    }

    #[test]
    fn exact_search_with_per_page_dedup() {
        let mut idx = FlatIndex::default();
        idx.replace_page(
            "a.md",
            &[(chunk("a.md", 0), unit(1)), (chunk("a.md", 1), unit(2))],
        );
        idx.replace_page("b.md", &[(chunk("b.md", 0), unit(3))]);
        let hits = idx.search(&unit(2), 5, 2);
        assert_eq!(hits[0].chunk.text, "a.md 1");
        assert!(
            hits[0].distance.abs() < 1e-5,
            "identical vector: distance 0"
        );
        assert_eq!(hits.len(), 3);
        assert_eq!(
            idx.search(&unit(2), 5, 1)
                .iter()
                .filter(|h| h.chunk.path == "a.md")
                .count(),
            1
        );
        // Replacing a page removes its old chunks.
        idx.replace_page("a.md", &[(chunk("a.md", 0), unit(9))]);
        assert_eq!(idx.len(), 2);
        assert!(
            idx.search(&unit(2), 5, 2)
                .iter()
                .all(|h| h.chunk.text != "a.md 1")
        );
        idx.replace_page("b.md", &[]);
        assert_eq!(idx.len(), 1);
    }

    #[test]
    fn the_store_updates_pages_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("index"));
        assert_eq!(store.indexed_commit().unwrap(), None);
        store
            .apply(
                &[
                    ("a.md".into(), vec![(chunk("a.md", 0), unit(1))]),
                    ("b.md".into(), vec![(chunk("b.md", 0), unit(2))]),
                ],
                Some("c1"),
            )
            .unwrap();
        store.apply(&[("a.md".into(), vec![])], Some("c2")).unwrap();
        assert_eq!(store.indexed_commit().unwrap().as_deref(), Some("c2"));
        let idx = store.load().unwrap();
        assert_eq!(idx.len(), 1);
        let hit = &idx.search(&unit(2), 1, 1)[0];
        assert_eq!(hit.chunk, chunk("b.md", 0));
        assert!(
            hit.distance.abs() < 1e-5,
            "vectors survive the round trip exactly"
        );
    }

    #[test]
    fn the_cache_evicts_least_recently_used() {
        let cache = IndexCache::new(3 * (DIM * 4 + 200));
        let one = |seed| {
            move || {
                let mut i = FlatIndex::default();
                i.replace_page("p.md", &[(chunk("p.md", 0), unit(seed))]);
                Ok(i)
            }
        };
        for w in 1..=3 {
            cache.get_or_load(w, one(w as u32)).unwrap();
        }
        cache.get_or_load(1, || panic!("still loaded")).unwrap();
        cache.get_or_load(4, one(4)).unwrap();
        assert_eq!(
            cache.loaded(),
            vec![1, 3, 4],
            "wiki 2 was least recently used"
        );
    }

    #[test]
    fn a_load_racing_a_write_is_redone() {
        let cache = IndexCache::new(1 << 20);
        let loads = std::cell::Cell::new(0);
        let idx = cache
            .get_or_load(7, || {
                loads.set(loads.get() + 1);
                if loads.get() == 1 {
                    // The worker writes while this (stale) load is in flight.
                    cache.update(7, |_| unreachable!("not loaded yet"));
                }
                let mut i = FlatIndex::default();
                i.replace_page("p.md", &[(chunk("p.md", loads.get()), unit(1))]);
                Ok(i)
            })
            .unwrap();
        assert_eq!(loads.get(), 2, "the stale load was discarded");
        assert_eq!(idx.read().unwrap().chunks[0].chunk_index, 2);
        cache.update(7, |i| i.replace_page("p.md", &[]));
        assert!(
            cache
                .get_or_load(7, || unreachable!())
                .unwrap()
                .read()
                .unwrap()
                .is_empty()
        );
    }
}
