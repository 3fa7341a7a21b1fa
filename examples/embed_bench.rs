//! Embedding throughput: `cargo run --release --example embed_bench -- MODEL_DIR [N] [THREADS] [BATCH]`.
//! Embeds N sentences of 50 words (about 55 tokens, as research/deps.md measured) drawn
//! deterministically from the corpus vocabulary, and prints sentences per second.

use std::time::Instant;

const WORDS: &str = "agent model memory index vector search query token wiki page note research result method data figure table claim evidence source protocol server client cache latency throughput replica shard graph embedding chunk window context retrieval ranking score experiment baseline ablation dataset benchmark metric error bound theorem lemma proof design module interface contract invariant";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .ok_or_else(|| anyhow::anyhow!("usage: embed_bench MODEL_DIR [N] [THREADS] [BATCH]"))?;
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let threads: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2);
    let batch: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(8);
    let words: Vec<&str> = WORDS.split(' ').collect();
    let mut x: u64 = 7;
    let sentences: Vec<String> = (0..n)
        .map(|_| {
            (0..50)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    words[(x % words.len() as u64) as usize]
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let e = robot::search::embed::Embedder::load(std::path::Path::new(dir), threads)?;
    e.embed(&["warm up"])?;
    let start = Instant::now();
    for chunk in sentences.chunks(batch) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        e.embed(&refs)?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "embed rust_sentences_per_s={:.1} n={n} threads={threads} batch={batch} secs={secs:.2}",
        n as f64 / secs
    );
    Ok(())
}
