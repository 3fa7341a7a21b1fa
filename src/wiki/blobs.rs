//! Page texts by blob id, kept in memory. A blob never changes (its id is the hash of
//! its content), so an entry can never be stale and needs no invalidation; the cache
//! only bounds its memory, evicting the oldest entries first. Reading a page from it
//! skips the object lookup, the file read and the zlib inflate.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use git2::Oid;

use crate::error::Result;

/// Larger blobs are read from git every time rather than crowd out many pages.
const MAX_ENTRY_BYTES: usize = 256 * 1024;

pub struct BlobCache {
    max_bytes: usize,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    texts: HashMap<Oid, Arc<str>>,
    /// Insertion order, for eviction.
    order: VecDeque<Oid>,
    bytes: usize,
}

impl BlobCache {
    pub fn new(max_bytes: usize) -> BlobCache {
        BlobCache {
            max_bytes,
            inner: Mutex::default(),
        }
    }

    /// The text of blob `id`, from memory or from `load` (whose bytes are read as UTF-8,
    /// invalid sequences replaced).
    pub fn text(&self, id: Oid, load: impl FnOnce() -> Result<Vec<u8>>) -> Result<Arc<str>> {
        if let Some(hit) = self.inner.lock().expect("blob cache lock").texts.get(&id) {
            return Ok(hit.clone());
        }
        let bytes = load()?;
        let text: Arc<str> = String::from_utf8_lossy(&bytes).into();
        if text.len() <= MAX_ENTRY_BYTES && text.len() <= self.max_bytes {
            let mut e = self.inner.lock().expect("blob cache lock");
            if e.texts.insert(id, text.clone()).is_none() {
                e.order.push_back(id);
                e.bytes += text.len();
            }
            while e.bytes > self.max_bytes {
                let Some(old) = e.order.pop_front() else {
                    break;
                };
                if let Some(t) = e.texts.remove(&old) {
                    e.bytes -= t.len();
                }
            }
        }
        Ok(text)
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
        let cache = BlobCache::new(10);
        let loads = std::cell::Cell::new(0);
        let load = |s: &'static str| {
            loads.set(loads.get() + 1);
            Ok(s.as_bytes().to_vec())
        };
        assert_eq!(&*cache.text(oid(1), || load("aaaa")).unwrap(), "aaaa");
        assert_eq!(&*cache.text(oid(1), || load("zzzz")).unwrap(), "aaaa");
        assert_eq!(loads.get(), 1, "a hit does not load");
        cache.text(oid(2), || load("bbbb")).unwrap();
        cache.text(oid(3), || load("cccc")).unwrap(); // 12 bytes > 10: oid 1 goes
        cache.text(oid(1), || load("aaaa")).unwrap();
        assert_eq!(loads.get(), 4);
        // Larger than the whole budget: served, not kept.
        cache.text(oid(4), || load("0123456789ab")).unwrap();
        cache.text(oid(4), || load("0123456789ab")).unwrap();
        assert_eq!(loads.get(), 6);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_refused() {
        let cache = BlobCache::new(100);
        let t = cache.text(oid(9), || Ok(vec![b'a', 0xff, b'b'])).unwrap();
        assert_eq!(&*t, "a\u{fffd}b");
    }
}
