#!/usr/bin/env bash
# Two builds of robot side by side in one run: page views (wrk over every page of the
# 500-page corpus) and MCP read_note (Streamable HTTP, the wiki token), the two servers
# taking turns, RUNS rounds each. Prints each side's median and the ratio new/base:
# a change that must not slow robot down keeps both ratios at 0.95 or above.
#
#   bench/compare.sh BASE_REV              # e.g. bench/compare.sh HEAD~1
#   DURATION=5 RUNS=1 bench/compare.sh HEAD~1
#
# BASE_REV is built from a temporary git worktree into this checkout's target directory
# (dependencies are built once); "new" is the working tree as it is.
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

BASE_REV="${1:?usage: bench/compare.sh BASE_REV}"
DURATION="${DURATION:-10}"
RUNS="${RUNS:-3}"
RUN="$WORK/compare"
ensure_wrk
rm -rf "$RUN" && mkdir -p "$RUN/bin"

base_sha="$(git -C "$REPO_DIR" rev-parse --short "$BASE_REV")"
log "building $BASE_REV ($base_sha) from a worktree (release, sharing this target directory)"
git -C "$REPO_DIR" worktree add --detach "$RUN/base-src" "$BASE_REV" >/dev/null 2>&1
trap 'git -C "$REPO_DIR" worktree remove --force "$RUN/base-src" >/dev/null 2>&1 || true' EXIT
(cd "$RUN/base-src" && CARGO_TARGET_DIR="$REPO_DIR/target" cargo build --release --locked --quiet --bin robot)
cp "$REPO_DIR/target/release/robot" "$RUN/bin/base"
log "building the working tree (release)"
# The binary's path is shared with the base build: relink it so it is this tree's again.
touch "$REPO_DIR/src/main.rs"
(cd "$REPO_DIR" && cargo build --release --locked --quiet --bin robot)
cp "$REPO_DIR/target/release/robot" "$RUN/bin/new"
cmp -s "$RUN/bin/base" "$RUN/bin/new" && die "the two builds are the same binary"

python3 "$REPO_DIR/tests/fixtures/gen_corpus.py" "$RUN/corpus" --pages 500 >/dev/null
page_paths_from_corpus "$RUN/corpus" >"$RUN/pages.txt"

# start SIDE: a fresh data dir with the corpus imported, then `serve`; sets PORT, PID, TOKEN.
start() {
    local side="$1" dir="$RUN/$1"
    rm -rf "$dir" && mkdir -p "$dir"
    PORT="$(free_port)"
    local env=(env ROBOT_DATA_DIR="$dir/data" ROBOT_LOG=warn ROBOT_LISTEN="127.0.0.1:$PORT"
        ROBOT_DOMAIN="localhost:$PORT" ROBOT_MAX_PAGES=1000 ROBOT_SEMANTIC=false
        ROBOT_WRITES_PER_MINUTE=100000000 ROBOT_WRITE_BURST=100000000 "$RUN/bin/$side")
    "${env[@]}" user add --did did:plc:bench --handle bench.test >"$dir/setup.log" 2>&1
    "${env[@]}" wiki create bench --owner did:plc:bench --title Bench --public >>"$dir/setup.log" 2>&1
    "${env[@]}" wiki import bench "$RUN/corpus" >>"$dir/setup.log" 2>&1
    TOKEN="$("${env[@]}" wiki token bench 2>/dev/null)"
    "${env[@]}" serve >"$dir/server.log" 2>&1 &
    PID=$!
    wait_http "$PID" "http://127.0.0.1:$PORT/health" "localhost:$PORT" 60 strict \
        || { tail -n 20 "$dir/server.log" >&2; die "$side did not start"; }
    warm_pages "http://127.0.0.1:$PORT" "bench.localhost:$PORT" "$RUN/pages.txt" >/dev/null
}

declare -A RPS
for run in $(seq 1 "$RUNS"); do
    for side in base new; do
        start "$side"
        out="$RUN/pageview-$side-$run.txt"
        wrk -t2 -c8 -d"${DURATION}s" --latency --timeout 10s -H "Host: bench.localhost:$PORT" \
            -s "$BENCH_DIR/paths.lua" "http://127.0.0.1:$PORT" -- "$RUN/pages.txt" >"$out" 2>&1 || true
        RPS[pageview_$side]+="$(wrk_rps "$out") "
        log "round $run, $side: page views $(wrk_rps "$out") req/s"
        out="$RUN/mcp-$side-$run.txt"
        wrk -t2 -c16 -d"${DURATION}s" --latency -s "$BENCH_DIR/mcp.lua" \
            -H "Host: bench.localhost:$PORT" -H "Authorization: Bearer $TOKEN" \
            "http://127.0.0.1:$PORT/mcp" -- read >"$out" 2>&1 || true
        RPS[mcp_$side]+="$(wrk_rps "$out") "
        log "round $run, $side: MCP read_note $(wrk_rps "$out") req/s"
        kill "$PID" && wait "$PID" 2>/dev/null || true
    done
done

results=()
for what in pageview mcp; do
    # shellcheck disable=SC2086 # the lists are space-separated on purpose
    b="$(median ${RPS[${what}_base]})"
    # shellcheck disable=SC2086
    n="$(median ${RPS[${what}_new]})"
    results+=("${what}_base_rps=$b" "${what}_new_rps=$n" "${what}_ratio=$(ratio "$n" "$b")")
done
printf '%s\n' "${results[@]}"
f="$BENCH_DIR/results/compare-$(date -u +%Y-%m-%dT%H%MZ).txt"
{
    echo "# bench/compare.sh $BASE_REV ($base_sha) vs the working tree at $(git -C "$REPO_DIR" rev-parse --short HEAD), $(nproc) cores, wrk ${DURATION}s x $RUNS rounds each, alternating"
    printf '%s\n' "${results[@]}"
} >"$f"
log "written $f"
