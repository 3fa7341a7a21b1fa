//! One kind of in-memory cache, bounded by bytes: entries are evicted least recently
//! used first once their weight passes the kind's budget (set in `robot.toml`,
//! `[cache]`). Every cache of per-wiki state (rendered pages, page texts, thumbnails,
//! open wikis, page trees) is one of these, so memory is bounded by configuration, not by
//! how many wikis were ever read, and `/metrics` shows each one the same way.
//!
//! A cache only saves work: what it answers is what a miss would compute, so eviction
//! can never change an answer.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A byte-budgeted LRU map from `K` to cheaply cloned `V` (an `Arc`, an id).
pub struct Budgeted<K, V> {
    name: &'static str,
    budget: usize,
    inner: Mutex<Entries<K, V>>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

struct Entries<K, V> {
    /// A use counter: larger is more recent.
    clock: u64,
    map: HashMap<K, Slot<V>>,
    /// Last use → key, oldest first: what to evict next.
    by_use: BTreeMap<u64, K>,
    bytes: usize,
}

struct Slot<V> {
    value: V,
    bytes: usize,
    used: u64,
}

/// What `/metrics` shows of one cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStats {
    pub name: &'static str,
    pub budget_bytes: usize,
    pub bytes: usize,
    pub entries: usize,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> Budgeted<K, V> {
    pub fn new(name: &'static str, budget_bytes: usize) -> Self {
        Budgeted {
            name,
            budget: budget_bytes,
            inner: Mutex::new(Entries {
                clock: 0,
                map: HashMap::new(),
                by_use: BTreeMap::new(),
                bytes: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<K, V>> {
        // A panic while holding the lock leaves the map consistent (every update is a
        // few field writes), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry for `key`, marked as just used.
    pub fn get(&self, key: &K) -> Option<V> {
        self.get_if(key, |_| true)
    }

    /// The entry for `key` if `fresh` accepts it (a stale one counts as a miss and stays
    /// until replaced or evicted).
    pub fn get_if(&self, key: &K, fresh: impl FnOnce(&V) -> bool) -> Option<V> {
        let mut e = self.lock();
        let Entries {
            clock, map, by_use, ..
        } = &mut *e;
        let hit = match map.get_mut(key) {
            Some(slot) if fresh(&slot.value) => {
                *clock += 1;
                by_use.remove(&slot.used);
                slot.used = *clock;
                by_use.insert(*clock, key.clone());
                Some(slot.value.clone())
            }
            _ => None,
        };
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// The entry for `key`, or the one `make` gives (with its weight), kept if it fits.
    /// `make` runs under the cache's lock: it must be cheap.
    pub fn get_or_insert_with(&self, key: K, make: impl FnOnce() -> (V, usize)) -> V {
        if let Some(hit) = self.get(&key) {
            return hit;
        }
        let mut e = self.lock();
        // Another caller may have made it between the two locks: share theirs.
        if let Some(slot) = e.map.get(&key) {
            return slot.value.clone();
        }
        let (value, bytes) = make();
        self.put(&mut e, key, value.clone(), bytes);
        value
    }

    /// Keeps `value` as weighing `bytes`, replacing any entry for `key`, then evicts the
    /// least recently used until within budget. An entry heavier than the whole budget
    /// is not kept.
    pub fn insert(&self, key: K, value: V, bytes: usize) {
        let mut e = self.lock();
        self.put(&mut e, key, value, bytes);
    }

    /// [`Budgeted::insert`] under the lock.
    fn put(&self, e: &mut Entries<K, V>, key: K, value: V, bytes: usize) {
        e.remove(&key);
        if bytes > self.budget {
            return;
        }
        e.clock += 1;
        let used = e.clock;
        e.by_use.insert(used, key.clone());
        e.map.insert(key, Slot { value, bytes, used });
        e.bytes += bytes;
        self.shrink(e);
    }

    /// Says that the entry for `key` now weighs `bytes` (it grew or shrank in place).
    pub fn reweigh(&self, key: &K, bytes: usize) {
        let mut e = self.lock();
        let Some(slot) = e.map.get_mut(key) else {
            return;
        };
        let before = std::mem::replace(&mut slot.bytes, bytes);
        e.bytes = e.bytes - before + bytes;
        self.shrink(&mut e);
    }

    pub fn remove(&self, key: &K) {
        self.lock().remove(key);
    }

    /// Keeps only the entries whose key `keep` accepts.
    pub fn retain(&self, keep: impl Fn(&K) -> bool) {
        let mut e = self.lock();
        let gone: Vec<K> = e.map.keys().filter(|k| !keep(k)).cloned().collect();
        for k in gone {
            e.remove(&k);
        }
    }

    /// Whether `bytes` more would fit without evicting anything.
    pub fn has_room(&self, bytes: usize) -> bool {
        self.lock().bytes + bytes <= self.budget
    }

    pub fn stats(&self) -> CacheStats {
        let e = self.lock();
        CacheStats {
            name: self.name,
            budget_bytes: self.budget,
            bytes: e.bytes,
            entries: e.map.len(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    fn shrink(&self, e: &mut Entries<K, V>) {
        while e.bytes > self.budget {
            let Some((_, oldest)) = e.by_use.pop_first() else {
                break;
            };
            if let Some(slot) = e.map.remove(&oldest) {
                e.bytes -= slot.bytes;
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl<K: Hash + Eq, V> Entries<K, V> {
    fn remove(&mut self, key: &K) {
        if let Some(slot) = self.map.remove(key) {
            self.by_use.remove(&slot.used);
            self.bytes -= slot.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used_beyond_the_budget() {
        let c: Budgeted<u32, &str> = Budgeted::new("test", 10);
        c.insert(1, "a", 4);
        c.insert(2, "b", 4);
        assert_eq!(c.get(&1), Some("a")); // 1 is now the most recent
        c.insert(3, "c", 4); // 12 > 10: 2 goes, not 1
        assert_eq!(c.get(&2), None);
        assert_eq!(c.get(&1), Some("a"));
        assert_eq!(c.get(&3), Some("c"));
        let s = c.stats();
        assert_eq!((s.bytes, s.entries, s.evictions), (8, 2, 1));
        assert_eq!((s.hits, s.misses), (3, 1));
    }

    #[test]
    fn heavy_entries_are_not_kept_and_replacing_reweighs() {
        let c: Budgeted<u32, u32> = Budgeted::new("test", 10);
        c.insert(1, 1, 11);
        assert_eq!(c.get(&1), None);
        c.insert(1, 1, 3);
        c.insert(1, 2, 5);
        assert_eq!(c.get(&1), Some(2));
        assert_eq!(c.stats().bytes, 5);
        c.insert(2, 2, 5);
        c.reweigh(&1, 6); // 11 > 10: the older (2 was inserted after 1 was read)
        assert_eq!(c.stats().entries, 1);
        assert!(c.has_room(5));
        assert!(!c.has_room(6));
    }

    #[test]
    fn get_or_insert_makes_once() {
        let c: Budgeted<u32, u32> = Budgeted::new("test", 10);
        assert_eq!(c.get_or_insert_with(1, || (5, 2)), 5);
        assert_eq!(c.get_or_insert_with(1, || (6, 2)), 5);
        // Too heavy to keep: made, returned, and made again next time.
        assert_eq!(c.get_or_insert_with(2, || (7, 20)), 7);
        assert_eq!(c.get_or_insert_with(2, || (8, 20)), 8);
        assert_eq!(c.stats().entries, 1);
    }

    #[test]
    fn stale_entries_are_misses_and_retain_drops_by_key() {
        let c: Budgeted<(u32, u32), u32> = Budgeted::new("test", 100);
        c.insert((1, 1), 7, 1);
        c.insert((2, 1), 8, 1);
        assert_eq!(c.get_if(&(1, 1), |v| *v == 0), None);
        assert_eq!(c.stats().misses, 1);
        c.retain(|k| k.0 != 1);
        assert_eq!(c.get(&(1, 1)), None);
        assert_eq!(c.get(&(2, 1)), Some(8));
        assert_eq!(c.stats().bytes, 1);
    }
}
