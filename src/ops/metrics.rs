//! Prometheus metrics at `/metrics` on the root host: requests by route and status,
//! latency histograms by route, and gauges read at scrape time (wikis, pages, active
//! sessions, the reindex queue, embedding work). Routes are coarse classes, so the
//! number of series stays fixed whatever URLs clients send.
//!
//! Reachable only from loopback without a proxy in between (a request Caddy forwarded
//! carries `X-Forwarded-For`), or with `metrics_token` as a bearer token.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::cache::CacheStats;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    total: u64,
}

#[derive(Default)]
pub struct Metrics {
    /// (route, status) → requests.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    /// Pushes by outcome (accepted, refused, unchanged, failed).
    pushes: Mutex<BTreeMap<&'static str, u64>>,
}

/// The route class of a request path.
pub fn route_class(wiki_host: bool, path: &str) -> &'static str {
    let p = path;
    if p == "/metrics" {
        "metrics"
    } else if p.starts_with("/health") {
        "health"
    } else if p.starts_with("/static/") {
        "static"
    } else if p == "/mcp" || p == "/mcp/" {
        "mcp"
    } else if p.starts_with("/.well-known/") || p.starts_with("/-/oauth/") {
        "oauth"
    } else if p.starts_with("/api/v1/") {
        "api_v1"
    } else if p.starts_with("/api/") {
        "api"
    } else if p.starts_with("/repo.git/") || p.starts_with("/.git/") {
        "git"
    } else if p.starts_with("/auth/") {
        "auth"
    } else if p.starts_with("/app") {
        "app"
    } else if wiki_host {
        "wiki"
    } else {
        "root"
    }
}

impl Metrics {
    pub fn observe(&self, route: &'static str, status: u16, elapsed: Duration) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((route, status))
            .or_insert(0) += 1;
        let secs = elapsed.as_secs_f64();
        let mut lat = self.latency.lock().expect("metrics lock");
        let h = lat.entry(route).or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.total += 1;
    }

    /// Counts one push, by how it ended.
    pub fn push(&self, outcome: &'static str) {
        *self
            .pushes
            .lock()
            .expect("metrics lock")
            .entry(outcome)
            .or_insert(0) += 1;
    }

    /// The exposition text, with `gauges` (name, help, value) and each cache's figures
    /// appended.
    pub fn render(&self, gauges: &[(&str, &str, f64)], caches: &[CacheStats]) -> String {
        let mut out = String::new();
        out.push_str("# HELP robot_http_requests_total HTTP requests by route class and status.\n");
        out.push_str("# TYPE robot_http_requests_total counter\n");
        for ((route, status), n) in self.requests.lock().expect("metrics lock").iter() {
            out.push_str(&format!(
                "robot_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}\n"
            ));
        }
        out.push_str(
            "# HELP robot_http_request_duration_seconds Request latency by route class.\n",
        );
        out.push_str("# TYPE robot_http_request_duration_seconds histogram\n");
        for (route, h) in self.latency.lock().expect("metrics lock").iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                out.push_str(&format!(
                    "robot_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}\n",
                    h.counts[i]
                ));
            }
            out.push_str(&format!(
                "robot_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n",
                h.total
            ));
            out.push_str(&format!(
                "robot_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n",
                h.sum
            ));
            out.push_str(&format!(
                "robot_http_request_duration_seconds_count{{route=\"{route}\"}} {}\n",
                h.total
            ));
        }
        out.push_str("# HELP robot_git_pushes_total git pushes by outcome.\n");
        out.push_str("# TYPE robot_git_pushes_total counter\n");
        for (outcome, n) in self.pushes.lock().expect("metrics lock").iter() {
            out.push_str(&format!(
                "robot_git_pushes_total{{outcome=\"{outcome}\"}} {n}\n"
            ));
        }
        for (name, help, v) in gauges {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
            ));
        }
        type Figure = fn(&CacheStats) -> u64;
        let series: [(&str, &str, &str, Figure); 6] = [
            (
                "robot_cache_bytes",
                "gauge",
                "Memory a cache holds now.",
                |c| c.bytes as u64,
            ),
            (
                "robot_cache_budget_bytes",
                "gauge",
                "A cache's budget ([cache] in robot.toml).",
                |c| c.budget_bytes as u64,
            ),
            (
                "robot_cache_entries",
                "gauge",
                "Entries a cache holds now.",
                |c| c.entries as u64,
            ),
            (
                "robot_cache_hits_total",
                "counter",
                "Lookups a cache answered.",
                |c| c.hits,
            ),
            (
                "robot_cache_misses_total",
                "counter",
                "Lookups a cache could not answer.",
                |c| c.misses,
            ),
            (
                "robot_cache_evictions_total",
                "counter",
                "Entries a cache dropped to stay within its budget.",
                |c| c.evictions,
            ),
        ];
        for (name, kind, help, figure) in series {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for c in caches {
                out.push_str(&format!("{name}{{cache=\"{}\"}} {}\n", c.name, figure(c)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_buckets_and_classes() {
        let m = Metrics::default();
        m.observe("wiki", 200, Duration::from_millis(3));
        m.observe("wiki", 200, Duration::from_millis(30));
        m.observe("mcp", 401, Duration::from_micros(500));
        let cache = CacheStats {
            name: "pages",
            budget_bytes: 100,
            bytes: 40,
            entries: 2,
            hits: 5,
            misses: 1,
            evictions: 3,
        };
        let t = m.render(&[("robot_wikis", "Wikis.", 2.0)], &[cache]);
        assert!(t.contains("robot_cache_bytes{cache=\"pages\"} 40"), "{t}");
        assert!(
            t.contains("robot_cache_evictions_total{cache=\"pages\"} 3"),
            "{t}"
        );
        assert!(t.contains("robot_http_requests_total{route=\"wiki\",status=\"200\"} 2"));
        assert!(
            t.contains("robot_http_request_duration_seconds_bucket{route=\"wiki\",le=\"0.005\"} 1")
        );
        assert!(
            t.contains("robot_http_request_duration_seconds_bucket{route=\"wiki\",le=\"+Inf\"} 2")
        );
        assert!(t.contains("robot_wikis 2"));
        assert_eq!(route_class(true, "/Some/Page"), "wiki");
        assert_eq!(route_class(true, "/api/v1/pages"), "api_v1");
        assert_eq!(route_class(false, "/app/wikis/x"), "app");
    }
}
