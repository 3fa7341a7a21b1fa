#!/usr/bin/env bash
# MCP benchmark: tools/call read_note and write_note over Streamable HTTP, 16 concurrent
# clients (wrk -c16) on loopback, with the wiki token, against a 500-page wiki.
# Target: read_note p50 < 2 ms. Prints key=value lines, also saved to bench/results/.
#
#   bench/mcp.sh             # DURATION=15 per tool
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

DURATION="${DURATION:-15}"
ROBOT="$REPO_DIR/target/release/robot"
RUN="$WORK/mcp"
ensure_wrk
log "building the release binary"
(cd "$REPO_DIR" && cargo build --release --quiet --bin robot)
rm -rf "$RUN" && mkdir -p "$RUN"
python3 "$REPO_DIR/tests/fixtures/gen_corpus.py" "$RUN/corpus" --pages 500 >/dev/null
port="$(free_port)"
export ROBOT_DATA_DIR="$RUN/data" ROBOT_LOG=warn ROBOT_LISTEN="127.0.0.1:$port" ROBOT_DOMAIN="localhost:$port"
export ROBOT_MAX_PAGES=1000000 ROBOT_MAX_WIKI_BYTES=$((2 * 1024 * 1024 * 1024)) ROBOT_WRITES_PER_MINUTE=100000000 ROBOT_WRITE_BURST=100000000
export ROBOT_SEMANTIC=false
"$ROBOT" user add --did did:plc:bench --handle bench.test >/dev/null
"$ROBOT" wiki create bench --owner did:plc:bench >/dev/null
"$ROBOT" wiki import bench "$RUN/corpus" >/dev/null
token="$("$ROBOT" wiki token bench 2>/dev/null)"
"$ROBOT" serve >"$RUN/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
wait_http "$pid" "http://127.0.0.1:$port/health" "localhost:$port" 60 strict || die "robot did not start"

log "warming up (5 s of read_note, not measured)"
wrk -t2 -c16 -d5s -s "$BENCH_DIR/mcp.lua" -H "Host: bench.localhost:$port" -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$port/mcp" -- read >/dev/null 2>&1 || true
log "an OAuth access token through the real flow (bench/oauth_token.sh)"
oauth="$("$BENCH_DIR/oauth_token.sh" "$ROBOT" "$port" bench did:plc:bench)"
results=()
# name tool credential: read_note and write_note with the wiki token (Claude Code), then
# read_note with the OAuth token (Claude.ai: one more role check per call).
for run in "read read $token" "write write $token" "read_oauth read $oauth"; do
    read -r name tool credential <<<"$run"
    log "tools/call ${name}_note: wrk -t2 -c16 -d${DURATION}s"
    wrk -t2 -c16 -d"${DURATION}s" --latency -s "$BENCH_DIR/mcp.lua" \
        -H "Host: bench.localhost:$port" -H "Authorization: Bearer $credential" \
        "http://127.0.0.1:$port/mcp" -- "$tool" >"$RUN/wrk-$name.txt" 2>"$RUN/wrk-$name.err" || true
    grep -q "bad response" "$RUN/wrk-$name.err" && die "$name: $(head -3 "$RUN/wrk-$name.err")"
    results+=("mcp_${name}_note_rps=$(wrk_rps "$RUN/wrk-$name.txt")")
    results+=("mcp_${name}_note_p50_ms=$(wrk_pct "$RUN/wrk-$name.txt" 50)")
    results+=("mcp_${name}_note_p99_ms=$(wrk_pct "$RUN/wrk-$name.txt" 99)")
    results+=("mcp_${name}_note_errors=$(wrk_errors "$RUN/wrk-$name.txt")")
done
printf '%s\n' "${results[@]}"
mkdir -p "$BENCH_DIR/results"
f="$BENCH_DIR/results/mcp-$(date -u +%Y-%m-%dT%H%MZ).txt"
{ echo "# bench/mcp.sh on $(nproc) cores, $(date -u +%FT%TZ), wrk -t2 -c16 -d${DURATION}s"; printf '%s\n' "${results[@]}"; } >"$f"
log "written $f"
