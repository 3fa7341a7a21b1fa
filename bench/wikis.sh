#!/usr/bin/env bash
# Many wikis on one box: memory, open descriptors and throughput spread over all of
# them, with robot's default cache budgets (issue 17).
#
#   bench/wikis.sh                          # 10,000 starter wikis and 50 corpus wikis
#   WIKIS=1000 BIG=10 DURATION=5 bench/wikis.sh   # quicker
#
# Creates WIKIS public wikis from the starter template (`robot wiki create`) and BIG
# public wikis holding the 500-page corpus (`robot wiki import`), in a data directory
# kept between runs of the same size (creating 10,000 takes minutes). Then starts
# `robot serve` and reports:
#   - resident memory (RSS) and open descriptors right after start;
#   - the same after reading every wiki's home and 20 corpus pages of each big wiki;
#   - home-page throughput spread over every wiki against the same run's throughput on
#     one wiki's home (wrk, 64 connections, alternating rounds);
#   - RSS and descriptors after that load, and what each cache holds (/metrics).
# Targets: RSS < 300 MiB, descriptors < 200, spread >= 0.8x one wiki.
#
# Environment: WIKIS (10000), BIG (50), DURATION (10 s per wrk run), RUNS (3),
# ROBOT_BIN (target/release/robot; built if missing), ROBOT_PORT.
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

WIKIS="${WIKIS:-10000}"
BIG="${BIG:-50}"
DURATION="${DURATION:-10}"
RUNS="${RUNS:-3}"
ROBOT_BIN="${ROBOT_BIN:-$REPO_DIR/target/release/robot}"
ensure_wrk
if [[ ! -x $ROBOT_BIN ]]; then
    log "building robot (release)"
    (cd "$REPO_DIR" && cargo build --release --locked --quiet --bin robot)
fi

RUN="$WORK/wikis-$WIKIS-$BIG"
DATA="$RUN/data"
mkdir -p "$RUN" "$WORK/wrk"
PORT="${ROBOT_PORT:-$(free_port)}"
ROBOT=(env ROBOT_DATA_DIR="$DATA" ROBOT_LISTEN="127.0.0.1:$PORT" ROBOT_DOMAIN="localhost:$PORT"
    ROBOT_LOG=warn ROBOT_MAX_PAGES=1000 "$ROBOT_BIN")

# --- 1. the wikis (kept between runs: the domain is not stored, so ports may differ) ---
if [[ ! -f $RUN/created ]]; then
    rm -rf "$DATA"
    "${ROBOT[@]}" init >/dev/null
    "${ROBOT[@]}" user add --did did:plc:bench --handle bench.test >/dev/null
    log "creating $WIKIS starter wikis ($(nproc) at a time)"
    started=$(date +%s)
    seq 0 $((WIKIS - 1)) | xargs -P "$(nproc)" -I{} \
        "${ROBOT[@]}" wiki create "wiki{}" --owner bench.test --title "Wiki {}" --public >/dev/null
    log "created in $(($(date +%s) - started)) s"
    python3 "$REPO_DIR/tests/fixtures/gen_corpus.py" "$RUN/corpus" --pages 500 >/dev/null
    log "creating $BIG wikis with the 500-page corpus"
    for i in $(seq 0 $((BIG - 1))); do
        "${ROBOT[@]}" wiki create "big$i" --owner bench.test --title "Big $i" --public >/dev/null
        "${ROBOT[@]}" wiki import "big$i" "$RUN/corpus" --message "Import corpus" >/dev/null
    done
    touch "$RUN/created"
fi
[[ -d $RUN/corpus ]] || python3 "$REPO_DIR/tests/fixtures/gen_corpus.py" "$RUN/corpus" --pages 500 >/dev/null
log "data: $(du -sh "$DATA" | cut -f1) for $WIKIS + $BIG wikis"

# --- 2. serve ---------------------------------------------------------------------
"${ROBOT[@]}" serve >"$RUN/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
started=$(date +%s.%N)
wait_http "$PID" "http://127.0.0.1:$PORT/health" "localhost:$PORT" 600 strict \
    || { tail -n 30 "$RUN/server.log" >&2; die "robot did not come up"; }
START_S="$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")"
rss_mib() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$PID/status"; }
fds() { find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
sleep 2
REST_RSS="$(rss_mib)" REST_FDS="$(fds)"
log "up in $START_S s: RSS $REST_RSS MiB, $REST_FDS descriptors"

# --- 3. read everything once ---------------------------------------------------------
TARGETS_ALL="$RUN/targets-all.txt" TARGETS_ONE="$RUN/targets-one.txt"
for i in $(seq 0 $((WIKIS - 1))); do echo "wiki$i.localhost:$PORT /Home"; done >"$TARGETS_ALL"
for _ in $(seq 1 100); do echo "wiki0.localhost:$PORT /Home"; done >"$TARGETS_ONE"
page_paths_from_corpus "$RUN/corpus" >"$RUN/corpus-pages.txt"
head -n 20 "$RUN/corpus-pages.txt" >"$RUN/big-pages.txt"
{
    cat "$TARGETS_ALL"
    for i in $(seq 0 $((BIG - 1))); do
        sed "s|^|big$i.localhost:$PORT |" "$RUN/big-pages.txt"
    done
} >"$RUN/targets-read.txt"
log "reading $(wc -l <"$RUN/targets-read.txt") pages, one at a time"
python3 - "$PORT" "$RUN/targets-read.txt" <<'PY'
import http.client, sys
port, targets = sys.argv[1:]
conn = http.client.HTTPConnection("127.0.0.1", int(port))
bad = 0
for line in open(targets):
    host, path = line.split()
    conn.request("GET", path, headers={"Host": host})
    r = conn.getresponse()
    r.read()
    bad += r.status != 200
if bad:
    sys.exit(f"{bad} pages were not 200")
PY
READ_RSS="$(rss_mib)" READ_FDS="$(fds)"
log "after reading: RSS $READ_RSS MiB, $READ_FDS descriptors"

# --- 4. throughput: spread over every wiki vs one wiki, alternating --------------------
SPREAD=() ONE=() PEAK_FDS=0
for run in $(seq 1 "$RUNS"); do
    for side in spread one; do
        file="$TARGETS_ALL"
        [[ $side == one ]] && file="$TARGETS_ONE"
        out="$WORK/wrk/wikis-$side-$run.txt"
        wrk -t2 -c64 -d"${DURATION}s" --timeout 10s -s "$BENCH_DIR/hosts.lua" \
            "http://127.0.0.1:$PORT" -- "$file" >"$out" 2>&1 || warn "wrk failed: $out"
        errs="$(wrk_errors "$out")"
        ((errs == 0)) || warn "$side round $run: $errs errors"
        f="$(fds)"
        ((f > PEAK_FDS)) && PEAK_FDS=$f
        log "round $run, $side: $(wrk_rps "$out") req/s, RSS $(rss_mib) MiB, $f descriptors"
        if [[ $side == spread ]]; then SPREAD+=("$(wrk_rps "$out")"); else ONE+=("$(wrk_rps "$out")"); fi
    done
done
LOAD_RSS="$(rss_mib)" LOAD_FDS="$(fds)"
spread="$(median "${SPREAD[@]}")" one="$(median "${ONE[@]}")"
curl -s -H "Host: localhost:$PORT" "http://127.0.0.1:$PORT/metrics" \
    | grep -E '^robot_cache_(bytes|entries|evictions_total)' >"$RUN/caches.txt" || true

stamp="$(date -u +%Y-%m-%dT%H%MZ)"
rev="$(git -C "$REPO_DIR" rev-parse --short HEAD)"
git -C "$REPO_DIR" diff --quiet HEAD || rev="$rev+dirty"
RESULT="$BENCH_DIR/results/wikis-$stamp.txt"
{
    echo "# bench/wikis.sh $stamp at $rev, $(nproc) cores: $WIKIS starter wikis + $BIG corpus wikis, default budgets"
    echo "start seconds=$START_S rss_mib=$REST_RSS fds=$REST_FDS"
    echo "after_reading rss_mib=$READ_RSS fds=$READ_FDS"
    echo "after_load rss_mib=$LOAD_RSS fds=$LOAD_FDS peak_fds=$PEAK_FDS"
    echo "throughput spread_rps=$spread one_wiki_rps=$one ratio=$(ratio "$spread" "$one") rounds_spread=$(IFS=,; echo "${SPREAD[*]}") rounds_one=$(IFS=,; echo "${ONE[*]}")"
    echo "targets rss_mib<300 fds<200 ratio>=0.8"
    sed 's/^/cache /' "$RUN/caches.txt"
} | tee "$RESULT"
log "wrote $RESULT"
