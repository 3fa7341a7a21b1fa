#!/usr/bin/env bash
# Push benchmark: a 200-commit branch over the 500-page corpus pushed through robot's
# smart-HTTP endpoint (git receive-pack, the pre-receive checks, then the search index
# catching up) and through `git http-backend` run as CGI, side by side in one run.
# Prints the median push time of each and their ratio (target: robot <= 1.2x).
#   RUNS (default 5): pushes per side, alternating; each run pushes a branch of its own
#   (fresh objects) that continues the previous run's, so both servers' main moves
#   forward through the same commits.
#   COMMITS (default 200).  ROBOT_BIN: the robot binary.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
WORK="$BENCH_DIR/.work/push"
ROBOT_BIN="${ROBOT_BIN:-$REPO_DIR/target/release/robot}"
RUNS="${RUNS:-5}"
COMMITS="${COMMITS:-200}"
[[ -x $ROBOT_BIN ]] || die "build robot first: cargo build --release"
rm -rf "$WORK" && mkdir -p "$WORK"

# 1. robot with the corpus imported as a public wiki; its token pushes.
python3 "$REPO_DIR/tests/fixtures/gen_corpus.py" "$WORK/corpus" --pages 500 >/dev/null
PORT=$(free_port)
export ROBOT_DATA_DIR="$WORK/data" ROBOT_LISTEN=127.0.0.1:$PORT ROBOT_DOMAIN=localhost:$PORT \
    ROBOT_LOG=warn ROBOT_MAX_PAGES=1000 ROBOT_SEMANTIC=false \
    ROBOT_WRITES_PER_MINUTE=100000000 ROBOT_WRITE_BURST=100000000
"$ROBOT_BIN" user add --did did:plc:bench --handle bench.test >/dev/null 2>&1
"$ROBOT_BIN" wiki create bench --owner did:plc:bench --title Bench --public >/dev/null 2>&1
"$ROBOT_BIN" wiki import bench "$WORK/corpus" >/dev/null 2>&1
TOKEN="$("$ROBOT_BIN" wiki token bench 2>/dev/null)"
ROBOT_REPO="$WORK/data/wikis/bench/repo.git"
BASE=$(git -C "$ROBOT_REPO" rev-parse main)

# 2. The very same repository, copied, behind git http-backend (pushes allowed).
mkdir -p "$WORK/cgi"
git clone -q --bare "$ROBOT_REPO" "$WORK/cgi/repo.git"
git -C "$WORK/cgi/repo.git" config http.receivepack true

# 3. One branch of $COMMITS single-page edits per run, made with git fast-import.
git clone -q "$ROBOT_REPO" "$WORK/work"
python3 - "$WORK/work" "$BASE" "$RUNS" "$COMMITS" <<'PY' | git -C "$WORK/work" fast-import --quiet
import os, random, subprocess, sys
work, base, runs, commits = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
files = subprocess.run(["git", "-C", work, "ls-files", "*.md"], capture_output=True, text=True).stdout.split("\n")
files = [f for f in files if f]
out = sys.stdout.buffer
r = random.Random(1)
t = 1800000000
texts = {}
for run in range(1, runs + 1):
    for i in range(commits):
        f = r.choice(files)
        if f not in texts:
            texts[f] = open(os.path.join(work, f), "rb").read()
        texts[f] += b"\nEdit %d of run %d: %s\n" % (i, run, os.urandom(8).hex().encode())
        out.write(b"commit refs/heads/b%d\n" % run)
        out.write(b"committer Bench <bench@example.org> %d +0000\n" % (t + run * commits + i))
        msg = b"edit %d" % i
        out.write(b"data %d\n" % len(msg) + msg + b"\n")
        if i == 0:
            start = base.encode() if run == 1 else b"refs/heads/b%d" % (run - 1)
            out.write(b"from " + start + b"\n")
        data = texts[f]
        out.write(b"M 100644 inline " + f.encode() + b"\n")
        out.write(b"data %d\n" % len(data) + data + b"\n")
PY

"$ROBOT_BIN" serve >"$WORK/robot.log" 2>&1 &
ROBOT_PID=$!
CGI_PORT=$(free_port)
python3 "$BENCH_DIR/git_cgi.py" "$CGI_PORT" "$WORK/cgi" &
CGI_PID=$!
trap 'kill $ROBOT_PID $CGI_PID 2>/dev/null || true' EXIT
wait_http "$ROBOT_PID" "http://127.0.0.1:$PORT/health" "localhost:$PORT" 60 strict \
    || { tail -n 20 "$WORK/robot.log" >&2; die "robot did not start"; }
sleep 0.5

ROBOT_URL="http://x:$TOKEN@bench.localhost:$PORT/repo.git"
CGI_URL="http://127.0.0.1:$CGI_PORT/repo.git"
# push URL REPO BRANCH: pushes BRANCH to main, prints milliseconds.
push() {
    local s e
    s=$(date +%s.%N)
    # A large post buffer: the CGI baseline reads Content-Length bodies only.
    git -C "$WORK/work" -c "http.curloptResolve=bench.localhost:$PORT:127.0.0.1" \
        -c http.postBuffer=524288000 push -q "$1" "$3:refs/heads/main" 2>>"$WORK/push.log" \
        || { tail -n 20 "$WORK/push.log" >&2; die "push to $1 failed"; }
    e=$(date +%s.%N)
    [[ $(git -C "$2" rev-parse main) == $(git -C "$WORK/work" rev-parse "$3") ]] \
        || die "the push to $2 did not land"
    python3 -c "print(f'{($e-$s)*1000:.1f}')"
}
R=() C=()
for run in $(seq "$RUNS"); do
    if (( run % 2 )); then
        R+=("$(push "$ROBOT_URL" "$ROBOT_REPO" "b$run")")
        C+=("$(push "$CGI_URL" "$WORK/cgi/repo.git" "b$run")")
    else
        C+=("$(push "$CGI_URL" "$WORK/cgi/repo.git" "b$run")")
        R+=("$(push "$ROBOT_URL" "$ROBOT_REPO" "b$run")")
    fi
done
git -C "$ROBOT_REPO" fsck --no-progress >/dev/null 2>&1 || die "robot's repository fails git fsck"
python3 - "${R[*]}" "${C[*]}" "$COMMITS" <<'PY'
import statistics, sys
r = [float(x) for x in sys.argv[1].split()]
c = [float(x) for x in sys.argv[2].split()]
mr, mc = statistics.median(r), statistics.median(c)
print(f"push robot_ms={mr:.1f} http_backend_ms={mc:.1f} ratio={mr/mc:.3f} runs={len(r)} commits={sys.argv[3]} pages=500")
print(f"runs robot_ms={','.join(f'{x:.0f}' for x in r)} http_backend_ms={','.join(f'{x:.0f}' for x in c)}")
PY
