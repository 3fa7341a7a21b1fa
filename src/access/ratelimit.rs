//! The write rate limiter: one per process, shared by every transport, keyed by principal
//! and by client address. A token bucket per key: `burst` writes at once, refilled at
//! `per_minute`. Idle buckets are dropped so the map stays small.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::error::{Error, Result};

pub struct RateLimiter {
    per_minute: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_minute: per_minute.max(1) as f64,
            burst: burst.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from each key's bucket, or refuses with the wait in seconds. A
    /// refusal takes nothing, so a blocked client is not pushed further back.
    pub fn check(&self, keys: &[String]) -> Result<()> {
        self.check_at(keys, Instant::now())
    }

    pub fn check_at(&self, keys: &[String], now: Instant) -> Result<()> {
        let rate = self.per_minute / 60.0;
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        if buckets.len() > 50_000 {
            let burst = self.burst;
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let mut wait: f64 = 0.0;
        for k in keys {
            let (tokens, at) = buckets.get(k).copied().unwrap_or((self.burst, now));
            let available =
                (tokens + now.saturating_duration_since(at).as_secs_f64() * rate).min(self.burst);
            if available < 1.0 {
                wait = wait.max((1.0 - available) / rate);
            }
        }
        if wait > 0.0 {
            return Err(Error::RateLimited {
                retry_after_secs: wait.ceil().max(1.0) as u64,
            });
        }
        for k in keys {
            let (tokens, at) = buckets.get(k).copied().unwrap_or((self.burst, now));
            let available =
                (tokens + now.saturating_duration_since(at).as_secs_f64() * rate).min(self.burst);
            buckets.insert(k.clone(), (available - 1.0, now));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_refills() {
        let l = RateLimiter::new(60, 3);
        let t0 = Instant::now();
        let k = vec!["p:a".to_string(), "ip:1".to_string()];
        for _ in 0..3 {
            l.check_at(&k, t0).unwrap();
        }
        match l.check_at(&k, t0) {
            Err(Error::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("{other:?}"),
        }
        l.check_at(&k, t0 + Duration::from_secs(1)).unwrap();
        // Another principal from the same address shares the address's bucket.
        let k2 = vec!["p:b".to_string(), "ip:1".to_string()];
        assert!(l.check_at(&k2, t0 + Duration::from_secs(1)).is_err());
        assert!(
            l.check_at(&["p:b".to_string(), "ip:2".to_string()], t0)
                .is_ok()
        );
    }
}
