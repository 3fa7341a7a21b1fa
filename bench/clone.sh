#!/usr/bin/env bash
# Clone benchmark: the same bare repository (500 pages, 2,000 commits) cloned through
# robot's smart-HTTP endpoint and through `git http-backend` run as CGI, side by side in
# one run. Prints the median clone time of each and their ratio (target: robot <= 1.1x).
#   RUNS (default 7): clones per side, alternating.  ROBOT_BIN: the robot binary.
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
WORK="$BENCH_DIR/.work/clone"
ROBOT_BIN="${ROBOT_BIN:-$REPO_DIR/target/release/robot}"
RUNS="${RUNS:-7}"
PAGES=500
COMMITS=2000
[[ -x $ROBOT_BIN ]] || { echo "build robot first: cargo build --release" >&2; exit 1; }
rm -rf "$WORK" && mkdir -p "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 1. A history of 2,000 commits over the corpus, made with git fast-import.
python3 "$REPO_DIR/tests/fixtures/gen_corpus.py" "$WORK/corpus" --pages $PAGES
python3 - "$WORK/corpus" "$COMMITS" >"$WORK/stream" <<'PY'
import os, sys, random
corpus, commits = sys.argv[1], int(sys.argv[2])
files = sorted(os.listdir(corpus))
r = random.Random(1)
out = sys.stdout.buffer
def blob(data):
    out.write(b"data %d\n" % len(data) + data + b"\n")
t = 1700000000
for i in range(commits):
    out.write(b"commit refs/heads/main\n")
    out.write(b"committer Bench <bench@example.org> %d +0000\n" % (t + i))
    msg = b"commit %d" % i
    out.write(b"data %d\n" % len(msg) + msg + b"\n")
    batch = files if i == 0 else [r.choice(files)]
    for f in batch:
        data = open(os.path.join(corpus, f), "rb").read()
        if i:
            data += b"\nEdit %d: " % i + os.urandom(8).hex().encode() + b"\n"
        out.write(b"M 100644 inline " + f.encode() + b"\n")
        blob(data)
PY
git init -q --bare "$WORK/source.git"
git -C "$WORK/source.git" fast-import --quiet <"$WORK/stream"
git -C "$WORK/source.git" gc -q

# 2. robot serving it as a public wiki.
PORT=$(free_port)
export ROBOT_DATA_DIR="$WORK/data" ROBOT_LISTEN=127.0.0.1:$PORT ROBOT_DOMAIN=localhost:$PORT ROBOT_LOG=warn ROBOT_MAX_PAGES=1000
"$ROBOT_BIN" init >/dev/null
"$ROBOT_BIN" user add --did did:plc:bench --handle bench.test >/dev/null
"$ROBOT_BIN" wiki create bench --owner bench.test --public >/dev/null
ROBOT_REPO="$WORK/data/wikis/bench/repo.git"
git -C "$ROBOT_REPO" fetch -q "$WORK/source.git" +main:refs/heads/main
git -C "$ROBOT_REPO" gc -q
"$ROBOT_BIN" serve >"$WORK/robot.log" 2>&1 &
ROBOT_PID=$!
# 3. git http-backend over the very same repository.
CGI_PORT=$(free_port)
python3 "$BENCH_DIR/git_cgi.py" "$CGI_PORT" "$WORK/data/wikis/bench" &
CGI_PID=$!
trap 'kill $ROBOT_PID $CGI_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf -H "Host: localhost:$PORT" "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
sleep 0.5

clone() { # url dir
    rm -rf "$2"
    local s e
    s=$(date +%s.%N)
    git -c "http.curloptResolve=bench.localhost:$PORT:127.0.0.1" clone -q "$1" "$2"
    e=$(date +%s.%N)
    python3 -c "print(f'{($e-$s)*1000:.1f}')"
}
ROBOT_URL="http://bench.localhost:$PORT/repo.git"
CGI_URL="http://127.0.0.1:$CGI_PORT/repo.git"
clone "$ROBOT_URL" "$WORK/warm1" >/dev/null; clone "$CGI_URL" "$WORK/warm2" >/dev/null
[[ $(git -C "$WORK/warm1" rev-list --count HEAD) == "$COMMITS" ]] || { echo "robot clone is incomplete" >&2; exit 1; }
R=() C=()
for i in $(seq "$RUNS"); do
    R+=("$(clone "$ROBOT_URL" "$WORK/r")")
    C+=("$(clone "$CGI_URL" "$WORK/c")")
done
python3 - "${R[*]}" "${C[*]}" "$(du -sh "$ROBOT_REPO" | cut -f1)" <<'PY'
import statistics, sys
r = [float(x) for x in sys.argv[1].split()]
c = [float(x) for x in sys.argv[2].split()]
mr, mc = statistics.median(r), statistics.median(c)
print(f"clone robot_ms={mr:.1f} http_backend_ms={mc:.1f} ratio={mr/mc:.3f} runs={len(r)} repo={sys.argv[3]} pages=500 commits=2000")
print(f"runs robot_ms={','.join(f'{x:.0f}' for x in r)} http_backend_ms={','.join(f'{x:.0f}' for x in c)}")
PY
