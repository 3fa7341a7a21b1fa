//! The embedder: all-MiniLM-L6-v2 in-process through ONNX Runtime (loaded at run time from
//! `data/model/libonnxruntime.so`; see `scripts/fetch-model.sh`). Texts are tokenized as
//! sentence-transformers does (padding to the longest, truncation at 256 tokens), then the
//! last hidden state is mean-pooled over the attention mask and L2-normalised: 384-d unit
//! vectors whose inner product is the cosine similarity.
//!
//! Inference blocks; callers run it on a blocking thread. The thread count is configurable
//! so embedding can leave a core to HTTP.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Output size of the model.
pub const DIM: usize = 384;
/// sentence-transformers' `max_seq_length` for this model.
pub const MAX_TOKENS: usize = 256;

/// Turns texts into unit vectors: the model, or in tests a stand-in that fails on demand.
pub trait Embed: Send + Sync {
    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>>;
    /// What identifies the model (see [`fingerprint`]): a stored index made by another
    /// model cannot be searched with this one. `None`: not known, nothing is checked.
    fn fingerprint(&self) -> Option<&str> {
        None
    }
}

impl Embed for Embedder {
    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        Embedder::embed(self, texts)
    }

    fn fingerprint(&self) -> Option<&str> {
        Some(&self.fingerprint)
    }
}

/// Bytes read from each end of `model.onnx` for its fingerprint.
const FINGERPRINT_SPAN: u64 = 1 << 20;

/// A model's identity: SHA-256 of `tokenizer.json` and of `model.onnx`'s size and its
/// first and last MiB (its graph and the last weights: two models differ there), so
/// that the same files on another machine (after a restore) are the same model, without
/// hashing 90 MB at every start.
pub fn fingerprint(model_dir: &Path) -> anyhow::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::{Read, Seek, SeekFrom};
    let mut h = Sha256::new();
    h.update(std::fs::read(model_dir.join("tokenizer.json"))?);
    let mut model = std::fs::File::open(model_dir.join("model.onnx"))?;
    let len = model.metadata()?.len();
    h.update(len.to_le_bytes());
    let mut span = vec![0; FINGERPRINT_SPAN.min(len) as usize];
    model.read_exact(&mut span)?;
    h.update(&span);
    model.seek(SeekFrom::Start(len - span.len() as u64))?;
    model.read_exact(&mut span)?;
    h.update(&span);
    Ok(format!(
        "all-MiniLM-L6-v2:{}",
        &hex::encode(h.finalize())[..16]
    ))
}

/// ONNX Runtime is loaded once per process.
static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

pub struct Embedder {
    fingerprint: String,
    tokenizer: Tokenizer,
    /// `run` needs exclusive access; one inference at a time uses all its threads.
    session: Mutex<Session>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Embedder")
    }
}

impl Embedder {
    /// Loads the model from `model_dir` (`model.onnx`, `tokenizer.json`,
    /// `libonnxruntime.so`), running inference on `threads` threads.
    pub fn load(model_dir: &Path, threads: usize) -> anyhow::Result<Embedder> {
        for f in ["model.onnx", "tokenizer.json", "libonnxruntime.so"] {
            if !model_dir.join(f).exists() {
                anyhow::bail!(
                    "{} is missing: run scripts/fetch-model.sh",
                    model_dir.join(f).display()
                );
            }
        }
        let lib = model_dir.join("libonnxruntime.so");
        let env = RUNTIME.get_or_init(|| {
            ort::init_from(&lib)
                .map_err(|e| e.to_string())?
                .build()
                .map_err(|e| e.to_string())
        });
        let env = env
            .as_ref()
            .map_err(|e| anyhow::anyhow!("loading ONNX Runtime from {}: {e}", lib.display()))?;
        let mut tokenizer = Tokenizer::from_file(model_dir.join("tokenizer.json"))
            .map_err(|e| anyhow::anyhow!("tokenizer.json: {e}"))?;
        // The file ships fixed padding and truncation at 128; match sentence-transformers.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| anyhow::anyhow!("tokenizer truncation: {e}"))?;
        let session = Session::builder(env)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_intra_threads(threads.max(1))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .commit_from_file(model_dir.join("model.onnx"))?;
        Ok(Embedder {
            fingerprint: fingerprint(model_dir)?,
            tokenizer,
            session: Mutex::new(session),
        })
    }

    /// Embeds a batch of texts into unit vectors.
    pub fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        let batch = enc.len();
        let seq = enc.iter().map(|e| e.get_ids().len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch * seq);
        let mut mask = Vec::with_capacity(batch * seq);
        let mut types = Vec::with_capacity(batch * seq);
        for e in &enc {
            ids.extend(e.get_ids().iter().map(|&x| x as i64));
            mask.extend(e.get_attention_mask().iter().map(|&x| x as i64));
            types.extend(e.get_type_ids().iter().map(|&x| x as i64));
        }
        let shape = [batch, seq];
        let mut session = self
            .session
            .lock()
            .map_err(|_| anyhow::anyhow!("embedder lock poisoned"))?;
        let outputs = session.run(ort::inputs![
            "input_ids" => TensorRef::from_array_view((shape, &*ids))?,
            "attention_mask" => TensorRef::from_array_view((shape, &*mask))?,
            "token_type_ids" => TensorRef::from_array_view((shape, &*types))?,
        ])?;
        let (out_shape, hidden) = outputs["last_hidden_state"].try_extract_tensor::<f32>()?;
        if out_shape.len() != 3 || out_shape[2] as usize != DIM {
            anyhow::bail!("unexpected model output shape {out_shape:?}");
        }
        let mut vectors = Vec::with_capacity(batch);
        for b in 0..batch {
            let mut v = vec![0f32; DIM];
            let mut n = 0f32;
            for t in 0..seq {
                if mask[b * seq + t] == 0 {
                    continue;
                }
                n += 1.0;
                let row = &hidden[(b * seq + t) * DIM..(b * seq + t + 1) * DIM];
                for (acc, x) in v.iter_mut().zip(row) {
                    *acc += x;
                }
            }
            let n = n.max(1.0);
            v.iter_mut().for_each(|x| *x /= n);
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
            vectors.push(v);
        }
        Ok(vectors)
    }
}
