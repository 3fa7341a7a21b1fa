//! Rendered pages: cached by blob, rendered once however many readers ask at the same
//! time, a bounded number at once, and a page that cannot be rendered is isolated.
//!
//! Rendering is the most expensive thing an anonymous reader can ask for. The nesting caps
//! (`nesting`) make one render linear in the page's size; this module makes sure that
//! cost is paid once per blob (concurrent readers of the same blob wait for the first
//! one's result instead of each rendering it), that renders cannot occupy more than a
//! few threads of the blocking pool, and that a render that panics becomes a notice on
//! that one page, logged and counted on `/metrics`.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use git2::Oid;

use super::markdown::{self, Rendered};
use crate::cache::{Budgeted, CacheStats};

/// (lowercased path, blob): what a render is a function of, besides which pages it links
/// to exist (checked against the reader's snapshot on every use). Not the wiki: the same
/// page in many wikis (the starter template's, a fork's) is rendered once for all.
pub type RenderKey = (String, Oid);

/// Pages rendered with a notice (over a limit) since start.
static DEGRADED: AtomicU64 = AtomicU64::new(0);
/// Pages whose processing failed outright (a panic caught) since start.
static FAILED: AtomicU64 = AtomicU64::new(0);

/// Pages shown with a notice since start (for `/metrics`).
pub fn degraded_total() -> u64 {
    DEGRADED.load(Ordering::Relaxed)
}

/// Pages that could not be processed at all since start (for `/metrics`).
pub fn failed_total() -> u64 {
    FAILED.load(Ordering::Relaxed)
}

/// Runs `f` for one page; a panic is caught, logged with the page and counted, and
/// becomes `None`, so one page cannot stop rendering, indexing or start-up.
pub fn isolated<T>(what: &str, path: &str, f: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            FAILED.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%path, panic = %msg, "{what} failed for this page; skipped");
            None
        }
    }
}

/// Renders `md` under the page's isolation: over-limit input is logged and counted; a
/// panic becomes the page's source as plain text with a notice.
pub fn render_isolated(
    md: &str,
    name: &super::names::PageName,
    exists: &dyn Fn(&str) -> bool,
) -> Rendered {
    let path = name.file_path();
    match isolated("rendering", &path, || markdown::render(md, name, exists)) {
        Some(r) => {
            if !r.notices.is_empty() {
                DEGRADED.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%path, notices = ?r.notices, "page rendered with limits applied");
            }
            r
        }
        None => Rendered {
            html: format!(
                "<pre class=\"code\">{}</pre>",
                markdown::html_escape_text(md)
            ),
            notices: vec!["This page could not be rendered; its source is shown instead.".into()],
            title: None,
            ..Default::default()
        },
    }
}

/// A counting semaphore for blocking threads: at most `n` renders at once.
pub struct Permits {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Permits {
    pub fn new(n: usize) -> Permits {
        Permits {
            free: Mutex::new(n.max(1)),
            freed: Condvar::new(),
        }
    }

    /// Waits for a permit; it is returned when the guard drops.
    pub fn acquire(&self) -> PermitGuard<'_> {
        let mut free = self.free.lock().expect("permit lock");
        while *free == 0 {
            free = self.freed.wait(free).expect("permit lock");
        }
        *free -= 1;
        PermitGuard(self)
    }
}

pub struct PermitGuard<'a>(&'a Permits);

impl Drop for PermitGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().expect("permit lock") += 1;
        self.0.freed.notify_one();
    }
}

/// Rendered pages by (path, blob), within a byte budget (`[cache] pages`), least
/// recently used out first. Also the renders in progress, so that a second reader of the
/// same blob waits for the first one's result.
pub struct RenderCache {
    renders: Budgeted<RenderKey, Arc<Rendered>>,
    /// One lock per key being rendered; holding it is rendering that key.
    in_flight: Mutex<HashMap<RenderKey, Arc<Mutex<()>>>>,
    /// Renders at once (each holds a blocking-pool thread).
    permits: Permits,
}

impl RenderCache {
    pub fn new(budget_bytes: usize, concurrent: usize) -> Self {
        RenderCache {
            renders: Budgeted::new("pages", budget_bytes),
            in_flight: Mutex::default(),
            permits: Permits::new(concurrent),
        }
    }

    /// The cached render of `key` if `fresh` accepts it, else renders it with `render`,
    /// once for all concurrent callers, within the concurrency limit.
    pub fn get_or_render(
        &self,
        key: RenderKey,
        fresh: impl Fn(&Rendered) -> bool,
        render: impl FnOnce() -> Rendered,
    ) -> Arc<Rendered> {
        if let Some(hit) = self.renders.get_if(&key, |r| fresh(r)) {
            return hit;
        }
        let slot = self
            .in_flight
            .lock()
            .expect("render in-flight lock")
            .entry(key.clone())
            .or_default()
            .clone();
        let rendering = slot.lock().expect("render slot lock");
        // Whoever held the slot before us may have rendered it meanwhile.
        let rendered = match self.renders.get_if(&key, |r| fresh(r)) {
            Some(hit) => hit,
            None => {
                let _permit = self.permits.acquire();
                let rendered = Arc::new(render());
                let bytes = rendered.heap_bytes() + key.0.len();
                self.renders.insert(key.clone(), rendered.clone(), bytes);
                rendered
            }
        };
        drop(rendering);
        drop(slot);
        let mut in_flight = self.in_flight.lock().expect("render in-flight lock");
        // Only the map holds the slot now: nobody is waiting on it.
        if in_flight
            .get(&key)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            in_flight.remove(&key);
        }
        rendered
    }

    /// Runs an uncached render (the editor's preview) within the concurrency limit.
    pub fn render_uncached(&self, render: impl FnOnce() -> Rendered) -> Rendered {
        let _permit = self.permits.acquire();
        render()
    }

    pub fn stats(&self) -> CacheStats {
        self.renders.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn concurrent_readers_of_one_blob_share_one_render() {
        let cache = Arc::new(RenderCache::new(1 << 20, 2));
        let renders = Arc::new(AtomicUsize::new(0));
        let key: RenderKey = ("a.md".into(), Oid::ZERO_SHA1);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (cache, renders, key) = (cache.clone(), renders.clone(), key.clone());
                std::thread::spawn(move || {
                    cache.get_or_render(
                        key,
                        |_| true,
                        || {
                            renders.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            Rendered::default()
                        },
                    )
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        assert!(cache.in_flight.lock().unwrap().is_empty());
    }

    #[test]
    fn renders_at_once_are_bounded() {
        let cache = Arc::new(RenderCache::new(1 << 20, 2));
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let threads: Vec<_> = (0..6)
            .map(|i| {
                let (cache, now, most) = (cache.clone(), now.clone(), most.clone());
                std::thread::spawn(move || {
                    cache.get_or_render(
                        (format!("{i}.md"), Oid::ZERO_SHA1),
                        |_| true,
                        || {
                            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(n, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(30));
                            now.fetch_sub(1, Ordering::SeqCst);
                            Rendered::default()
                        },
                    )
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_panicking_page_becomes_a_notice() {
        let before = failed_total();
        assert_eq!(isolated("test", "x.md", || panic!("boom")), None::<()>);
        assert_eq!(failed_total(), before + 1);
        assert_eq!(isolated("test", "x.md", || 5), Some(5));
    }
}
