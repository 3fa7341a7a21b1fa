//! Hybrid ranking: the full-text ranking (BM25) and the semantic one fused by reciprocal
//! rank fusion. RRF needs no score calibration between the two (BM25 ranks and cosine
//! distances live on different scales); a page ranked well by either rises, and a page
//! ranked well by both rises most.

use std::collections::HashMap;

/// The usual RRF constant (Cormack et al., 2009): damps the weight of the very top ranks.
pub const RRF_K: f64 = 60.0;

/// Fuses rankings (each a list of page paths, best first) into one, best first, with each
/// page's fused score. Ties keep the order of first appearance, so the result is stable.
pub fn fuse(rankings: &[&[String]]) -> Vec<(String, f64)> {
    let mut scores: HashMap<&str, (f64, usize)> = HashMap::new();
    let mut seen = 0usize;
    for ranking in rankings {
        for (rank, path) in ranking.iter().enumerate() {
            let e = scores.entry(path.as_str()).or_insert_with(|| {
                seen += 1;
                (0.0, seen)
            });
            e.0 += 1.0 / (RRF_K + rank as f64 + 1.0);
        }
    }
    let mut fused: Vec<(String, f64, usize)> = scores
        .into_iter()
        .map(|(p, (s, first))| (p.to_string(), s, first))
        .collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    fused.into_iter().map(|(p, s, _)| (p, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pages_found_by_both_rank_first() {
        let text = v(&["a.md", "b.md", "c.md"]);
        let meaning = v(&["d.md", "c.md", "a.md"]);
        let fused = fuse(&[&text, &meaning]);
        let order: Vec<&str> = fused.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(order, ["a.md", "c.md", "d.md", "b.md"]);
        assert!((fused[0].1 - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-12);
    }

    #[test]
    fn one_ranking_keeps_its_order_and_empty_is_empty() {
        let only = v(&["x.md", "y.md"]);
        let fused = fuse(&[&only, &[]]);
        assert_eq!(fused[0].0, "x.md");
        assert_eq!(fused[1].0, "y.md");
        assert!(fuse(&[&[], &[]]).is_empty());
    }
}
