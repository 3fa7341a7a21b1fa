#!/usr/bin/env bash
# Page-view and search benchmark: robot vs Otterwiki on the same corpus,
# same machine, same run (see ../shared/BENCHMARKS.md for the rules), and robot vs
# the static-file limit: Caddy's file_server serving the same pages' HTML, as robot
# served it, from disk (targets: robot >= 500x Otterwiki, >= 0.9x Caddy).
#
#   bench/pageview.sh                     # full run (DURATION=20 RUNS=3)
#   DURATION=5 RUNS=1 bench/pageview.sh   # quick check
#
# Environment (all optional):
#   DURATION         seconds per page-view wrk run (20)
#   RUNS             page-view runs per side, alternating sides (3)
#   SEARCH_DURATION  seconds per search wrk run (10)
#   PAGES            corpus size (500)
#   ROBOT_BIN        robot binary (target/release/robot)
#   ROBOT_BUILD=1    run `cargo build --release` if ROBOT_BIN is missing;
#                    otherwise a missing binary skips the robot half
#   SHARED           shared/ folder; if set, its tools/gen_corpus.py is used
#                    instead of the copy in bench/
#   GEN_CORPUS       explicit path to gen_corpus.py (wins over SHARED)
#   OW_PORT, ROBOT_PORT, CADDY_PORT   fixed ports (default: free ports picked at start)
#   CADDY_BIN        caddy binary (caddy on PATH); missing skips the static-file half
#
# Prints progress on stderr and a key=value summary block on stdout, which is
# also written to bench/results/pageview-<date>.txt.
set -euo pipefail

# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

DURATION="${DURATION:-20}"
RUNS="${RUNS:-3}"
SEARCH_DURATION="${SEARCH_DURATION:-10}"
PAGES="${PAGES:-500}"
SEARCH_WORDS=20
ROBOT_BIN="${ROBOT_BIN:-$REPO_DIR/target/release/robot}"

# The in-repo copy of the generator is the default so the bench runs from the
# repository alone; SHARED (or GEN_CORPUS) points elsewhere on purpose.
if [[ -n ${GEN_CORPUS:-} ]]; then
    :
elif [[ -n ${SHARED:-} ]]; then
    GEN_CORPUS="$SHARED/tools/gen_corpus.py"
elif [[ -f $REPO_DIR/tests/fixtures/gen_corpus.py ]]; then
    GEN_CORPUS="$REPO_DIR/tests/fixtures/gen_corpus.py"
else
    GEN_CORPUS="$REPO_DIR/../shared/tools/gen_corpus.py"
fi
[[ -f $GEN_CORPUS ]] || die "corpus generator not found: $GEN_CORPUS"
# Same seed -> same corpus only if the generator is the same: flag drift
# between our copy and the shared original rather than silently diverging.
shared_gen="${SHARED:-$REPO_DIR/../shared}/tools/gen_corpus.py"
if [[ -f $shared_gen && $GEN_CORPUS != "$shared_gen" ]] && ! cmp -s "$GEN_CORPUS" "$shared_gen"; then
    warn "$GEN_CORPUS differs from $shared_gen; figures may not match other benches"
fi

mkdir -p "$WORK" "$WORK/wrk" "$BENCH_DIR/results"

# --- cleanup: stop the servers we started, whatever happens -----------------
SERVER_PIDS=()
cleanup() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${SERVER_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM   # run the EXIT trap on ^C too

# --- 1. tools -----------------------------------------------------------------
ensure_wrk
OW_VENV="$WORK/ow"
ensure_otterwiki_venv "$OW_VENV"
OW_VERSION="$(otterwiki_version "$OW_VENV")"
log "otterwiki $OW_VERSION, $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2 || true)"

# --- 2. corpus and URL lists ---------------------------------------------------
# Regenerated every run: it is deterministic and takes under a second, and it
# guarantees both servers get exactly the files listed here.
CORPUS="$WORK/corpus"
rm -rf "$CORPUS"
python3 "$GEN_CORPUS" "$CORPUS" --pages "$PAGES"
n_files="$(find "$CORPUS" -name '*.md' | wc -l)"
[[ $n_files -eq $PAGES ]] || die "expected $PAGES corpus files, found $n_files"
log "corpus: $n_files pages, $(du -sh "$CORPUS" | cut -f1) in $CORPUS"

PAGE_LIST="$WORK/pages.txt"
page_paths_from_corpus "$CORPUS" >"$PAGE_LIST"
# The page whose response size is reported: the corpus's page 0 (the one
# BENCHMARKS.md quotes), or the first listed if the corpus has changed.
FIRST_PAGE="$(grep -m1 -x '/Retrieval%20Note%200000' "$PAGE_LIST" || head -n1 "$PAGE_LIST")"

# The two servers spell search URLs differently: robot /-/search?q=W,
# Otterwiki /-/search/W.
search_words "$GEN_CORPUS" "$SEARCH_WORDS" >"$WORK/search-words.txt"
sed 's|^|/-/search?q=|' "$WORK/search-words.txt" >"$WORK/search-robot.txt"
sed 's|^|/-/search/|' "$WORK/search-words.txt" >"$WORK/search-otterwiki.txt"

# --- 3. robot binary (decided early: building can take many minutes) ----------
HAVE_ROBOT=1
if [[ ! -x $ROBOT_BIN ]]; then
    if [[ ${ROBOT_BUILD:-0} == 1 ]]; then
        log "robot binary missing; ROBOT_BUILD=1, so running cargo build --release"
        (cd "$REPO_DIR" && cargo build --release >&2)
        [[ -x $ROBOT_BIN ]] || die "cargo build finished but $ROBOT_BIN still does not exist"
    else
        warn "robot binary not found at $ROBOT_BIN — SKIPPING the robot half."
        warn "  build it (cargo build --release), point ROBOT_BIN at one, or rerun with ROBOT_BUILD=1."
        HAVE_ROBOT=0
    fi
fi

# --- 4. Otterwiki -----------------------------------------------------------
# Otterwiki reads pages from a normal (non-bare) git work tree; its files are
# the corpus, committed once. Rebuilt each run so no state leaks between runs.
OW_DIR="$WORK/otterwiki"
rm -rf "$OW_DIR"
mkdir -p "$OW_DIR/repo"
cp "$CORPUS"/*.md "$OW_DIR/repo/"
git -C "$OW_DIR/repo" init -q
git -C "$OW_DIR/repo" add -A
git -C "$OW_DIR/repo" -c user.name=bench -c user.email=bench@localhost \
    commit -q -m "Import corpus"

cat >"$OW_DIR/settings.cfg" <<EOF
REPOSITORY = '$OW_DIR/repo'
SECRET_KEY = '$(python3 -c 'import secrets; print(secrets.token_hex(16))')'
SQLALCHEMY_DATABASE_URI = 'sqlite:///$OW_DIR/otterwiki.db'
READ_ACCESS = 'ANONYMOUS'
WRITE_ACCESS = 'ANONYMOUS'
SITE_NAME = 'Bench'
EOF

OW_PORT="${OW_PORT:-$(free_port)}"
OW_HOST="127.0.0.1:$OW_PORT"
OW_BASE="http://127.0.0.1:$OW_PORT"
# --preload: without it the two workers race to create the sqlite database
# and one of them fails to boot (BENCHMARKS.md).
log "starting Otterwiki (gunicorn, 2 workers) on $OW_HOST"
(cd "$OW_DIR" && OTTERWIKI_SETTINGS="$OW_DIR/settings.cfg" exec "$OW_VENV/bin/gunicorn" \
    --preload -w 2 -b "127.0.0.1:$OW_PORT" otterwiki.server:app) >"$OW_DIR/server.log" 2>&1 &
SERVER_PIDS+=($!)
wait_http "${SERVER_PIDS[-1]}" "$OW_BASE/" "$OW_HOST" 60 \
    || { tail -n 30 "$OW_DIR/server.log" >&2; die "Otterwiki did not come up (log: $OW_DIR/server.log)"; }

# --- 5. robot -----------------------------------------------------------------
if ((HAVE_ROBOT)); then
    ROBOT_DIR="$WORK/robot"
    rm -rf "$ROBOT_DIR"   # fresh data dir: init must start from nothing
    mkdir -p "$ROBOT_DIR"
    ROBOT_PORT="${ROBOT_PORT:-$(free_port)}"
    ROBOT_ROOT_HOST="localhost:$ROBOT_PORT"      # root host: /health
    ROBOT_WIKI_HOST="bench.localhost:$ROBOT_PORT" # the wiki's own host
    ROBOT_BASE="http://127.0.0.1:$ROBOT_PORT"     # always connect to loopback

    # `env` (a real command, not a shell function) so that a backgrounded
    # `robot serve` is the process whose pid $! reports and cleanup kills.
    ROBOT=(env ROBOT_DATA_DIR="$ROBOT_DIR/data" ROBOT_LISTEN="127.0.0.1:$ROBOT_PORT"
        ROBOT_DOMAIN="localhost:$ROBOT_PORT" ROBOT_LOG=warn ROBOT_MAX_PAGES=1000 "$ROBOT_BIN")
    robot_step() {
        log "robot $*"
        "${ROBOT[@]}" "$@" >>"$ROBOT_DIR/setup.log" 2>&1 \
            || { tail -n 30 "$ROBOT_DIR/setup.log" >&2; die "'robot $*' failed (log: $ROBOT_DIR/setup.log)"; }
    }
    robot_step init
    robot_step user add --did did:plc:bench --handle bench.test
    robot_step wiki create bench --owner bench.test --title Bench --public
    robot_step wiki import bench "$CORPUS" --message "Import corpus"

    log "starting robot serve on 127.0.0.1:$ROBOT_PORT"
    "${ROBOT[@]}" serve >"$ROBOT_DIR/server.log" 2>&1 &
    SERVER_PIDS+=($!)
    wait_http "${SERVER_PIDS[-1]}" "$ROBOT_BASE/health" "$ROBOT_ROOT_HOST" 60 strict \
        || { tail -n 30 "$ROBOT_DIR/server.log" >&2; die "robot did not come up (log: $ROBOT_DIR/server.log)"; }
fi

# --- 6. warm-up and correctness check ---------------------------------------
# Every page once on each side: warms caches and proves that the page list
# really is what both servers serve (a bench of 404s would be meaningless).
log "warming Otterwiki: $PAGES pages"
OW_WARM_FAIL="$(warm_pages "$OW_BASE" "$OW_HOST" "$PAGE_LIST")"
OW_BYTES="$(response_size "$OW_BASE$FIRST_PAGE" "$OW_HOST")"
log "Otterwiki: $OW_WARM_FAIL of $PAGES pages not 200; $FIRST_PAGE is $OW_BYTES bytes"
ROBOT_WARM_FAIL=NA ROBOT_BYTES=NA
if ((HAVE_ROBOT)); then
    log "warming robot: $PAGES pages"
    ROBOT_WARM_FAIL="$(warm_pages "$ROBOT_BASE" "$ROBOT_WIKI_HOST" "$PAGE_LIST")"
    ROBOT_BYTES="$(response_size "$ROBOT_BASE$FIRST_PAGE" "$ROBOT_WIKI_HOST")"
    log "robot: $ROBOT_WARM_FAIL of $PAGES pages not 200; $FIRST_PAGE is $ROBOT_BYTES bytes"
fi

# --- 6b. the static-file limit: Caddy serving robot's own HTML -----------------
# Each page as robot served it, saved under its decoded URL path, served by Caddy's
# file_server with robot's content type: the same bytes with no work per request.
HAVE_CADDY=0
CADDY_BIN="${CADDY_BIN:-$(command -v caddy || true)}"
if ((HAVE_ROBOT)) && [[ -n $CADDY_BIN && -x $CADDY_BIN ]]; then
    CADDY_DIR="$WORK/caddy"
    rm -rf "$CADDY_DIR" && mkdir -p "$CADDY_DIR/site"
    python3 - "$ROBOT_BASE" "$ROBOT_WIKI_HOST" "$PAGE_LIST" "$CADDY_DIR/site" <<'PY'
import http.client, os, sys, urllib.parse
base, host, pages, out = sys.argv[1:]
u = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(u.hostname, u.port)
for path in open(pages).read().split():
    conn.request("GET", path, headers={"Host": host})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit(f"{path}: {r.status}")
    file = os.path.join(out, urllib.parse.unquote(path).lstrip("/"))
    os.makedirs(os.path.dirname(file), exist_ok=True)
    open(file, "wb").write(body)
PY
    CADDY_PORT="${CADDY_PORT:-$(free_port)}"
    CADDY_BASE="http://127.0.0.1:$CADDY_PORT"
    cat >"$CADDY_DIR/Caddyfile" <<CADDYFILE
{
	admin off
	auto_https off
}
:$CADDY_PORT {
	bind 127.0.0.1
	root * $CADDY_DIR/site
	header Content-Type "text/html; charset=utf-8"
	file_server
}
CADDYFILE
    log "starting Caddy file_server on 127.0.0.1:$CADDY_PORT ($("$CADDY_BIN" version | cut -d' ' -f1))"
    "$CADDY_BIN" run --config "$CADDY_DIR/Caddyfile" --adapter caddyfile >"$CADDY_DIR/server.log" 2>&1 &
    SERVER_PIDS+=($!)
    wait_http "${SERVER_PIDS[-1]}" "$CADDY_BASE$FIRST_PAGE" "$ROBOT_WIKI_HOST" 30 strict \
        || { tail -n 30 "$CADDY_DIR/server.log" >&2; die "Caddy did not come up (log: $CADDY_DIR/server.log)"; }
    HAVE_CADDY=1
else
    warn "caddy not found (or no robot): skipping the static-file comparison"
fi

# --- 7. page-view load ---------------------------------------------------------
# run_wrk OUT THREADS CONNS SECONDS BASE HOST PATHS_FILE
# --timeout 10s: wrk's default 2 s would drop Otterwiki's slow tail from the
# latency distribution and count it as errors instead.
run_wrk() {
    local out="$1" threads="$2" conns="$3" secs="$4" base="$5" host="$6" paths="$7"
    wrk -t"$threads" -c"$conns" -d"${secs}s" --latency --timeout 10s \
        -H "Host: $host" -s "$BENCH_DIR/paths.lua" "$base" -- "$paths" >"$out" 2>&1 \
        || warn "wrk exited non-zero; see $out"
    local errs
    errs="$(wrk_errors "$out")"
    ((errs == 0)) || warn "$(basename "$out"): $errs error responses/socket errors"
    log "$(basename "$out" .txt): $(wrk_rps "$out") req/s, p50 $(wrk_pct "$out" 50) ms, p99 $(wrk_pct "$out" 99) ms"
}

# Otterwiki queues beyond a few connections, so it gets -c8; robot gets -c64.
# Sides alternate within each round so slow drift of a shared machine hits both.
OW_RPS=() OW_P50=() OW_P99=() ROBOT_RPS=() ROBOT_P50=() ROBOT_P99=() CADDY_RPS=()
for run in $(seq 1 "$RUNS"); do
    out="$WORK/wrk/pageview-otterwiki-$run.txt"
    run_wrk "$out" 2 8 "$DURATION" "$OW_BASE" "$OW_HOST" "$PAGE_LIST"
    OW_RPS+=("$(wrk_rps "$out")") OW_P50+=("$(wrk_pct "$out" 50)") OW_P99+=("$(wrk_pct "$out" 99)")
    if ((HAVE_ROBOT)); then
        out="$WORK/wrk/pageview-robot-$run.txt"
        run_wrk "$out" 2 64 "$DURATION" "$ROBOT_BASE" "$ROBOT_WIKI_HOST" "$PAGE_LIST"
        ROBOT_RPS+=("$(wrk_rps "$out")") ROBOT_P50+=("$(wrk_pct "$out" 50)") ROBOT_P99+=("$(wrk_pct "$out" 99)")
    fi
    if ((HAVE_CADDY)); then
        out="$WORK/wrk/pageview-caddy-$run.txt"
        run_wrk "$out" 2 64 "$DURATION" "$CADDY_BASE" "$ROBOT_WIKI_HOST" "$PAGE_LIST"
        CADDY_RPS+=("$(wrk_rps "$out")")
    fi
done

# --- 8. search latency, one client at a time ------------------------------------
# -c1: this is latency per query, not throughput; both sides cycle through the
# same $SEARCH_WORDS words.
# search_side NAME BASE HOST PATHS_FILE -> sets SP50 SP99
search_side() {
    local name="$1" base="$2" host="$3" paths="$4" code out="$WORK/wrk/search-$1.txt"
    SP50=NA SP99=NA
    code="$(curl -s -o /dev/null -m 60 -w '%{http_code}' -H "Host: $host" "$base$(head -n1 "$paths")" || true)"
    if [[ $code != 200 ]]; then
        warn "$name search $(head -n1 "$paths") -> HTTP $code; skipping its search figures"
        return 0
    fi
    run_wrk "$out" 1 1 "$SEARCH_DURATION" "$base" "$host" "$paths"
    SP50="$(wrk_pct "$out" 50)" SP99="$(wrk_pct "$out" 99)"
}
search_side otterwiki "$OW_BASE" "$OW_HOST" "$WORK/search-otterwiki.txt"
OW_S50="$SP50" OW_S99="$SP99"
ROBOT_S50=NA ROBOT_S99=NA
if ((HAVE_ROBOT)); then
    search_side robot "$ROBOT_BASE" "$ROBOT_WIKI_HOST" "$WORK/search-robot.txt"
    ROBOT_S50="$SP50" ROBOT_S99="$SP99"
fi

# --- 9. summary ------------------------------------------------------------
join() { local IFS=,; echo "${*:-NA}"; }
ow_rps="$(median "${OW_RPS[@]}")"
robot_rps="$(median "${ROBOT_RPS[@]:-NA}")"
caddy_rps="$(median "${CADDY_RPS[@]:-NA}")"
robot_rev="NA"
if ((HAVE_ROBOT)); then
    # The commit the binary was (presumably) built from; +dirty if the work
    # tree has uncommitted changes, since then the figures match no commit.
    if robot_rev="$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null)"; then
        git -C "$REPO_DIR" diff --quiet HEAD 2>/dev/null || robot_rev="$robot_rev+dirty"
    else
        robot_rev=unknown
    fi
fi
stamp="$(date -u +%Y-%m-%dT%H%M%SZ)"
RESULT="$BENCH_DIR/results/pageview-$stamp.txt"

{
    echo "# bench/pageview.sh $stamp — medians of $RUNS run(s); latencies in ms"
    echo "pageview otterwiki_rps=$ow_rps otterwiki_p50_ms=$(median "${OW_P50[@]}") otterwiki_p99_ms=$(median "${OW_P99[@]}") robot_rps=$robot_rps robot_p50_ms=$(median "${ROBOT_P50[@]:-NA}") robot_p99_ms=$(median "${ROBOT_P99[@]:-NA}") ratio=$(ratio "$robot_rps" "$ow_rps")"
    echo "static caddy_rps=$caddy_rps robot_rps=$robot_rps ratio=$(ratio "$robot_rps" "$caddy_rps")"
    echo "search robot_p50_ms=$ROBOT_S50 robot_p99_ms=$ROBOT_S99 otterwiki_p50_ms=$OW_S50 otterwiki_p99_ms=$OW_S99"
    echo "pages count=$PAGES otterwiki_not200=$OW_WARM_FAIL robot_not200=$ROBOT_WARM_FAIL otterwiki_bytes=$OW_BYTES robot_bytes=$ROBOT_BYTES"
    echo "runs otterwiki_rps=$(join "${OW_RPS[@]}") robot_rps=$(join "${ROBOT_RPS[@]:-}") caddy_rps=$(join "${CADDY_RPS[@]:-}")"
    echo "setup otterwiki=$OW_VERSION robot=$robot_rev duration_s=$DURATION search_duration_s=$SEARCH_DURATION conns_otterwiki=8 conns_robot=64 cores=$(nproc)"
} | tee "$RESULT"
log "wrote $RESULT (raw wrk output in $WORK/wrk/)"
