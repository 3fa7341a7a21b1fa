#!/usr/bin/env python3
"""Check an all-MiniLM-L6-v2 ONNX file against the sentence-transformers reference fixture.

    verify-onnx.py MODEL_DIR FIXTURE.json [--model model.onnx] [--threads 2] [--min-cos 0.999]
                   [--bench N]

MODEL_DIR holds tokenizer.json (and model.onnx unless --model is given). FIXTURE is
shared/fixtures/minilm-reference.json: {"items": [{"text", "embedding"[384]}, ...]}.

Pipeline (what the Rust embedder must do too):
  * tokenizers: tokenizer.json, with its shipped Fixed(128) padding / 128 truncation replaced by
    padding BatchLongest and truncation 256 (sentence-transformers' max_seq_length);
  * ORT: inputs input_ids, attention_mask, token_type_ids (int64); output last_hidden_state;
  * mean pooling over attention_mask, then L2 normalisation.
Each item is compared twice: alone (batch 1, no padding) and inside one padded batch of all
items (checks the attention mask). Exits 1 if any cosine is below --min-cos.

--bench N times N synthetic ~55-token sentences at batch 8 (light sanity check, not a benchmark).
"""

import argparse
import json
import random
import sys
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def load_tokenizer(model_dir):
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tok.enable_truncation(max_length=256)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # length=None: pad to the longest in the batch
    return tok


def embed(sess, tok, texts):
    enc = tok.encode_batch(texts)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    types = np.array([e.type_ids for e in enc], dtype=np.int64)
    (hidden,) = sess.run(["last_hidden_state"],
                         {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
    m = mask[:, :, None].astype(np.float32)
    pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
    return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None), ids.shape


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("fixture")
    ap.add_argument("--model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-cos", type=float, default=0.999)
    ap.add_argument("--bench", type=int, default=0)
    args = ap.parse_args()

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(args.model or f"{args.model_dir}/model.onnx", so,
                                providers=["CPUExecutionProvider"])
    tok = load_tokenizer(args.model_dir)
    with open(args.fixture) as f:
        items = json.load(f)["items"]
    texts = [it["text"] for it in items]
    ref = np.array([it["embedding"] for it in items], dtype=np.float64)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)

    batched, shape = embed(sess, tok, texts)
    cos_batch = (batched.astype(np.float64) * ref).sum(axis=1)
    cos_single = []
    for i, t in enumerate(texts):
        e, sh = embed(sess, tok, [t])
        cos_single.append(float((e[0].astype(np.float64) * ref[i]).sum()))
    print(f"ort {ort.__version__}, {args.threads} thread(s), padded batch shape {shape}")
    print(f"{'#':>2} {'tokens':>6} {'cos single':>12} {'cos batched':>12}  text")
    for i, t in enumerate(texts):
        ntok = len(tok.encode(t).ids)
        print(f"{i:>2} {ntok:>6} {cos_single[i]:>12.7f} {cos_batch[i]:>12.7f}  {t[:50]!r}")
    worst = min(min(cos_single), float(cos_batch.min()))
    maxdiff = float(np.abs(batched - ref).max())
    print(f"min cosine {worst:.7f} (single {min(cos_single):.7f}, batched {cos_batch.min():.7f}); "
          f"max |diff| batched {maxdiff:.2e}")
    ok = worst >= args.min_cos

    if args.bench:
        rng = random.Random(42)
        words = [w for w in tok.get_vocab() if w.isalpha() and len(w) > 2 and not w.startswith("#")]
        words.sort()
        sents = [" ".join(rng.choice(words) for _ in range(53)) for _ in range(args.bench)]
        ntok = np.mean([len(e.ids) for e in tok.encode_batch(sents)])
        embed(sess, tok, sents[:8])  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(sents), 8):
            embed(sess, tok, sents[i:i + 8])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"bench: {len(sents)} sentences, mean {ntok:.1f} tokens, batch 8, {args.threads} threads: "
              f"{len(sents) / wall:.1f} sent/s ({wall:.2f} s wall, {cpu:.2f} s CPU)")

    print("PASS" if ok else f"FAIL: min cosine below {args.min_cos}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
