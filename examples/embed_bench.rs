//! Embedding throughput, two workloads:
//!
//! - `embed_bench MODEL_DIR sentences [N] [THREADS] [BATCH]`: N sentences of 50 words
//!   (about 55 tokens, as research/deps.md measured) from the corpus vocabulary.
//! - `embed_bench MODEL_DIR chunks CORPUS_DIR OUT.json [N] [THREADS]`: the first N chunks
//!   of a generated corpus, made by robot's chunker, embedded the way the worker does
//!   (shortest first, batches of 16). The texts are written to OUT.json so the
//!   sentence-transformers reference embeds exactly the same ones.

use std::path::Path;
use std::time::Instant;

use robot::search::embed::Embedder;

const WORDS: &str = "agent model memory index vector search query token wiki page note research result method data figure table claim evidence source protocol server client cache latency throughput replica shard graph embedding chunk window context retrieval ranking score experiment baseline ablation dataset benchmark metric error bound theorem lemma proof design module interface contract invariant";

const USAGE: &str = "usage: embed_bench MODEL_DIR sentences [N] [THREADS] [BATCH]\n       embed_bench MODEL_DIR chunks CORPUS_DIR OUT.json [N] [THREADS]";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).ok_or_else(|| anyhow::anyhow!(USAGE))?;
    let arg = |i: usize, default: usize| -> usize {
        args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
    };
    match args.get(2).map(String::as_str) {
        Some("sentences") => sentences(dir, arg(3, 1000), arg(4, 2), arg(5, 8)),
        Some("chunks") => {
            let corpus = args.get(3).ok_or_else(|| anyhow::anyhow!(USAGE))?;
            let out = args.get(4).ok_or_else(|| anyhow::anyhow!(USAGE))?;
            chunks(
                dir,
                Path::new(corpus),
                Path::new(out),
                arg(5, 1000),
                arg(6, 2),
            )
        }
        _ => anyhow::bail!(USAGE),
    }
}

fn sentences(dir: &str, n: usize, threads: usize, batch: usize) -> anyhow::Result<()> {
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
    let e = Embedder::load(Path::new(dir), threads)?;
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

fn chunks(dir: &str, corpus: &Path, out: &Path, n: usize, threads: usize) -> anyhow::Result<()> {
    let mut files: Vec<_> = std::fs::read_dir(corpus)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    let mut texts = Vec::new();
    for f in files {
        let name = f
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let (_, chunks) = robot::search::chunk::chunk_page(&name, &std::fs::read_to_string(&f)?);
        texts.extend(chunks.into_iter().map(|c| c.text));
        if texts.len() >= n {
            break;
        }
    }
    texts.truncate(n);
    std::fs::write(out, serde_json::to_vec(&texts)?)?;
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    let e = Embedder::load(Path::new(dir), threads)?;
    e.embed(&["warm up"])?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let start = Instant::now();
    let vectors = robot::search::worker::embed_all(&e, &refs)?;
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(vectors.len(), texts.len());
    println!(
        "embed rust_chunks_per_s={:.1} n={} mean_words={:.0} threads={threads} secs={secs:.2}",
        texts.len() as f64 / secs,
        texts.len(),
        words as f64 / texts.len().max(1) as f64
    );
    Ok(())
}
