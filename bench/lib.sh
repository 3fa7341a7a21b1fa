# Shared helpers for the bench/ scripts. Source it; it defines functions and
# a few paths, and runs nothing by itself.
#
#   BENCH_DIR  this directory (bench/)
#   REPO_DIR   the repository root (bench/..)
#   WORK       scratch space, gitignored (bench/.work)

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
WORK="$BENCH_DIR/.work"

# Log to stderr so stdout stays reserved for the summary block.
log()  { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { printf '[bench %s] WARNING: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()  { printf '[bench %s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

# --- installs (idempotent: each checks first, so reruns cost nothing) --------

# wrk comes from Debian. Try the install without `apt-get update` first because
# the update is slow and usually unnecessary on a machine that already has lists.
ensure_wrk() {
    command -v wrk >/dev/null && return 0
    log "installing wrk via apt-get"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >&2; then
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >&2
    fi
    command -v wrk >/dev/null || die "wrk still missing after apt-get install"
}

# Pick the Otterwiki version: the 2.26 series if the index has it (the version
# our BENCHMARKS.md anchors were measured with), else the newest 2.x.
# Prints a pip requirement specifier.
otterwiki_requirement() {
    local versions
    versions="$("$1" -m pip index versions otterwiki 2>/dev/null \
        | sed -n 's/^Available versions: //p' | tr -d ' ' | tr ',' '\n')" || true
    if grep -q '^2\.26\.' <<<"$versions"; then
        echo 'otterwiki==2.26.*'
    else
        local newest
        newest="$(grep '^2\.' <<<"$versions" | sort -V | tail -n1)"
        [[ -n $newest ]] || die "no otterwiki 2.x found on the package index"
        warn "otterwiki 2.26.x not on the index; using newest 2.x: $newest"
        echo "otterwiki==$newest"
    fi
}

# Python venv with otterwiki + gunicorn at $1. Reused when both import.
ensure_otterwiki_venv() {
    local venv="$1"
    if [[ -x $venv/bin/python ]] \
        && "$venv/bin/python" -c 'import otterwiki, gunicorn' 2>/dev/null \
        && [[ -x $venv/bin/gunicorn ]]; then
        return 0
    fi
    log "creating venv $venv with otterwiki + gunicorn"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip >&2 || true
    local req
    req="$(otterwiki_requirement "$venv/bin/python")"
    "$venv/bin/python" -m pip install -q "$req" gunicorn >&2
}

otterwiki_version() {
    "$1/bin/python" -c 'import importlib.metadata as m; print(m.version("otterwiki"))'
}

# --- servers --------------------------------------------------------------

# A free TCP port on loopback (bind to 0, read the port back, release it).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http PID URL HOST TIMEOUT_S [strict]
# Polls until the server answers. With "strict", it must answer 2xx (curl -f);
# otherwise any HTTP status counts as "up". Fails early if PID died, so a
# server that crashed at startup is reported at once rather than after the timeout.
wait_http() {
    local pid="$1" url="$2" host="$3" timeout="$4" strict="${5:-}" code
    local deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if [[ $strict == strict ]]; then
            curl -sf -o /dev/null -m 5 -H "Host: $host" "$url" && return 0
        else
            code="$(curl -s -o /dev/null -m 5 -w '%{http_code}' -H "Host: $host" "$url" || true)"
            [[ $code != 000 && -n $code ]] && return 0
        fi
        sleep 0.5
    done
    return 1
}

# --- URL lists ---------------------------------------------------------------

# Page paths from the corpus file names, one per line, sorted:
# "retrieval note 0000.md" -> "/Retrieval%20Note%200000" (title-case each word,
# %20 for spaces) — the URL both Otterwiki and robot serve that page at.
page_paths_from_corpus() {
    python3 - "$1" <<'PY'
import os, sys, urllib.parse
for name in sorted(os.listdir(sys.argv[1])):
    if name.endswith(".md"):
        title = " ".join(w[:1].upper() + w[1:] for w in name[:-3].split(" "))
        print("/" + urllib.parse.quote(title))
PY
}

# N query words from gen_corpus.py's WORDS list (every other word, so the set
# spreads over the whole vocabulary rather than its first line).
search_words() {
    python3 - "$1" "$2" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("gen_corpus", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
words = list(mod.WORDS[::2]) + list(mod.WORDS[1::2])
print("\n".join(words[: int(sys.argv[2])]))
PY
}

# warm_pages BASE_URL HOST PATHS_FILE -> prints the number of non-200 pages.
# Fetches every page once: a server's first render of a page can be much
# slower than later ones (caches, lazy init), and it doubles as a check that
# every page exists on that side.
warm_pages() {
    local base="$1" host="$2" file="$3" path code fails=0
    while IFS= read -r path; do
        code="$(curl -s -o /dev/null -m 60 -w '%{http_code}' -H "Host: $host" "$base$path" || true)"
        if [[ $code != 200 ]]; then
            ((fails < 5)) && warn "GET $host$path -> $code"
            fails=$((fails + 1))
        fi
    done <"$file"
    echo "$fails"
}

# Body size in bytes of one response.
response_size() {
    curl -s -o /dev/null -m 60 -w '%{size_download}' -H "Host: $2" "$1"
}

# --- wrk output parsing ------------------------------------------------------

# Requests/sec from a saved wrk output, or NA.
wrk_rps() {
    awk '/^Requests\/sec:/ { print $2; found=1 } END { if (!found) print "NA" }' "$1"
}

# wrk_pct FILE PCT -> that percentile from the "Latency Distribution" block
# (needs --latency), converted to milliseconds; NA if absent. wrk prints
# durations with a unit suffix chosen per value (us, ms, s, m, h), so one run
# can mix "850.12us" and "1.20s" — convert each.
wrk_pct() {
    awk -v want="$2%" '
        /Latency Distribution/ { in_dist = 1; next }
        in_dist && $1 == want {
            v = $2; n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
            if (u == "us") n /= 1000
            else if (u == "s") n *= 1000
            else if (u == "m") n *= 60000
            else if (u == "h") n *= 3600000
            printf "%.2f\n", n; found = 1; exit
        }
        END { if (!found) print "NA" }' "$1"
}

# Errors wrk saw: non-2xx/3xx responses plus socket errors, as one count.
wrk_errors() {
    awk '
        /Non-2xx or 3xx responses:/ { e += $NF }
        /Socket errors:/ { for (i = 3; i <= NF; i += 2) { x = $i; gsub(/,/, "", x); e += x } }
        END { print e + 0 }' "$1"
}

# --- arithmetic on lists that may contain NA ----------------------------------

median() {
    python3 -c '
import statistics, sys
v = [float(x) for x in sys.argv[1:] if x != "NA"]
print(f"{statistics.median(v):.2f}" if v else "NA")' "$@"
}

# ratio A B -> A/B with 2 decimals, NA if either is NA or B is 0.
ratio() {
    python3 -c '
import sys
a, b = sys.argv[1:3]
print("NA" if "NA" in (a, b) or float(b) == 0 else f"{float(a) / float(b):.2f}")' "$1" "$2"
}
