//! The embedder against sentence-transformers' own output (tests/fixtures/
//! minilm-reference.json, 16 texts embedded with the official weights): every item must
//! reach cosine >= 0.999, alone and in a padded batch. The model is installed by
//! `scripts/fetch-model.sh` (the test command does it, into .tools/test-data).

use std::path::PathBuf;

use robot::search::embed::{DIM, Embedder};

use crate::common::model_dir;

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * y).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn embeddings_match_sentence_transformers() {
    let embedder = Embedder::load(&model_dir(), 2).expect("model loads");
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm-reference.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let items = fixture["items"].as_array().unwrap();
    assert_eq!(items.len(), 16);
    let texts: Vec<&str> = items.iter().map(|i| i["text"].as_str().unwrap()).collect();
    let batched = embedder.embed(&texts).unwrap();
    let mut worst = 1.0f64;
    for (i, item) in items.iter().enumerate() {
        let reference: Vec<f64> = item["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(reference.len(), DIM);
        let alone = &embedder.embed(&[texts[i]]).unwrap()[0];
        for (how, v) in [("alone", alone), ("batched", &batched[i])] {
            let c = cosine(v, &reference);
            worst = worst.min(c);
            assert!(
                c >= 0.999,
                "item {i} ({how}): cosine {c} for {:?}",
                texts[i]
            );
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "unit length");
        }
    }
    eprintln!("minimum cosine against the reference: {worst:.7}");
    assert!(embedder.embed(&[]).unwrap().is_empty());
}
