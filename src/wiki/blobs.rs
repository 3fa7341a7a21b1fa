//! Page texts by blob id, kept in memory. A blob never changes (its id is the hash of
//! its content), so an entry can never be stale and needs no invalidation; the cache
//! only bounds its memory (`[cache] texts`). Reading a page from it skips the object
//! lookup, the file read and the zlib inflate.

use std::sync::Arc;

use git2::Oid;

use crate::cache::{Budgeted, CacheStats};
use crate::error::Result;

/// Larger blobs are read from git every time rather than crowd out many pages.
const MAX_ENTRY_BYTES: usize = 256 * 1024;
/// What an entry costs beyond its text (the map's slot, the `Arc`).
const ENTRY_OVERHEAD: usize = 96;

pub struct BlobCache {
    texts: Budgeted<Oid, Arc<str>>,
}

impl BlobCache {
    pub fn new(max_bytes: usize) -> BlobCache {
        BlobCache {
            texts: Budgeted::new("texts", max_bytes),
        }
    }

    /// The text of blob `id`, from memory or from `load` (whose bytes are read as UTF-8,
    /// invalid sequences replaced).
    pub fn text(&self, id: Oid, load: impl FnOnce() -> Result<Vec<u8>>) -> Result<Arc<str>> {
        if let Some(hit) = self.texts.get(&id) {
            return Ok(hit);
        }
        let bytes = load()?;
        let text: Arc<str> = String::from_utf8_lossy(&bytes).into();
        if text.len() <= MAX_ENTRY_BYTES {
            self.texts
                .insert(id, text.clone(), text.len() + ENTRY_OVERHEAD);
        }
        Ok(text)
    }

    pub fn stats(&self) -> CacheStats {
        self.texts.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u8) -> Oid {
        Oid::from_bytes(&[n; 20]).unwrap()
    }

    #[test]
    fn loads_once_and_evicts_the_oldest_beyond_its_budget() {
        let cache = BlobCache::new(10 + 2 * ENTRY_OVERHEAD);
        let loads = std::cell::Cell::new(0);
        let load = |s: &'static str| {
            loads.set(loads.get() + 1);
            Ok(s.as_bytes().to_vec())
        };
        assert_eq!(&*cache.text(oid(1), || load("aaaa")).unwrap(), "aaaa");
        assert_eq!(&*cache.text(oid(1), || load("zzzz")).unwrap(), "aaaa");
        assert_eq!(loads.get(), 1, "a hit does not load");
        cache.text(oid(2), || load("bbbb")).unwrap();
        cache.text(oid(3), || load("cccc")).unwrap(); // three do not fit: oid 1 goes
        assert_eq!(cache.stats().evictions, 1);
        cache.text(oid(1), || load("aaaa")).unwrap();
        assert_eq!(loads.get(), 4);
        // Larger than the whole budget: served, not kept.
        let big = "x".repeat(11 + 2 * ENTRY_OVERHEAD);
        cache.text(oid(4), || load(big.clone().leak())).unwrap();
        cache.text(oid(4), || load(big.clone().leak())).unwrap();
        assert_eq!(loads.get(), 6);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_refused() {
        let cache = BlobCache::new(100);
        let t = cache.text(oid(9), || Ok(vec![b'a', 0xff, b'b'])).unwrap();
        assert_eq!(&*t, "a\u{fffd}b");
    }
}
