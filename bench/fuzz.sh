#!/usr/bin/env bash
# Fuzzes every parser of user input (the targets in fuzz/fuzz_targets/) for a set time
# each, and reports executions and findings. Works on the stable toolchain: cargo-fuzz
# comes from crates.io, and RUSTC_BOOTSTRAP=1 lets stable rustc take the -Z flags it
# passes. Exits non-zero if any target found a crash, timeout or out-of-memory input.
#
#   bench/fuzz.sh                           # every target, FUZZ_SECONDS=60 each
#   bench/fuzz.sh render nesting            # only these targets
#   FUZZ_SECONDS=600 bench/fuzz.sh names    # longer
#   FUZZ_SANITIZER=none bench/fuzz.sh       # without AddressSanitizer (faster; default: address)
#
# Findings are written by libFuzzer to fuzz/artifacts/<target>/; reproduce one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/crash-…
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_DIR"

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
# AddressSanitizer (cargo-fuzz's default) works on stable through RUSTC_BOOTSTRAP. `none`
# builds and runs faster, and still finds every panic, arithmetic overflow and
# hang; the C dependencies (SQLite, libgit2, Oniguruma) are not instrumented either way.
# Each sanitizer has its own build: switching costs a full rebuild.
FUZZ_SANITIZER="${FUZZ_SANITIZER:-address}"
# A single input taking longer than this is a finding (a 1 MB page renders in well
# under a second even in this instrumented build).
FUZZ_TIMEOUT="${FUZZ_TIMEOUT:-10}"
export RUSTC_BOOTSTRAP=1

ensure_cargo_fuzz() {
    cargo fuzz --version >/dev/null 2>&1 && return 0
    log "installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked >&2
    cargo fuzz --version >/dev/null 2>&1 || die "cargo fuzz still missing after cargo install"
}

# Per target: the longest input, the dictionary, extra seed directories.
max_len() {
    case "$1" in
        render | nesting | sanitize) echo 1048576 ;; # a page may hold 1 MB
        front_matter) echo 131072 ;;      # twice the front matter's 64 KB cap
        search_query | redirect) echo 4096 ;;
        authorize) echo 8192 ;;
        *) echo 65536 ;;
    esac
}
dict_of() {
    case "$1" in
        render | nesting | sanitize | front_matter | names) echo fuzz/dicts/markdown.dict ;;
        dcr) echo fuzz/dicts/dcr.dict ;;
        authorize) echo fuzz/dicts/authorize.dict ;;
        redirect) echo fuzz/dicts/url.dict ;;
    esac
}
extra_seeds() {
    case "$1" in
        render | nesting | sanitize | names) echo tests/fixtures/markdown ;;
    esac
}

# Finding artifacts (not slow-unit-*, which are only reported), one name a line.
findings_in() {
    [[ -d $1 ]] || return 0
    find "$1" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \
        -o -name 'leak-*' \) -printf '%f\n' | sort
}

all_targets() {
    find fuzz/fuzz_targets -maxdepth 1 -name '*.rs' -printf '%f\n' | sed 's/\.rs$//' | sort
}

ensure_cargo_fuzz
if (($#)); then
    targets=("$@")
else
    mapfile -t targets < <(all_targets)
fi
for t in "${targets[@]}"; do
    [[ -f fuzz/fuzz_targets/$t.rs ]] || die "no fuzz target $t (have: $(all_targets | xargs))"
done

mkdir -p "$WORK/fuzz" "$BENCH_DIR/results"
log "building ${#targets[@]} fuzz targets (sanitizer: $FUZZ_SANITIZER; the first build takes a while)"
for t in "${targets[@]}"; do
    cargo fuzz build -s "$FUZZ_SANITIZER" "$t" >&2 || die "cargo fuzz build $t failed"
done

rows=()
found_total=0
new_findings=()
for t in "${targets[@]}"; do
    corpus="fuzz/corpus/$t"
    artifacts="fuzz/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    before="$(findings_in "$artifacts")"
    dirs=("$corpus")
    [[ -d fuzz/seeds/$t ]] && dirs+=("fuzz/seeds/$t")
    for d in $(extra_seeds "$t"); do dirs+=("$d"); done
    args=(-max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$t")" -timeout="$FUZZ_TIMEOUT"
        -rss_limit_mb=2048 -print_final_stats=1)
    dict="$(dict_of "$t")"
    [[ -n $dict ]] && args+=(-dict="$dict")
    logf="$WORK/fuzz/$t.log"
    log "fuzzing $t for ${FUZZ_SECONDS}s (log: $logf)"
    start=$(date +%s.%N)
    set +e
    cargo fuzz run -s "$FUZZ_SANITIZER" "$t" "${dirs[@]}" -- "${args[@]}" >"$logf" 2>&1
    rc=$?
    set -e
    # libFuzzer's own count of the time spent fuzzing ("Done N runs in S second(s)"); the
    # wall time also holds the rebuild cargo fuzz does when src/ changed since the build.
    secs="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$logf" | tail -n1 || true)"
    [[ -n $secs ]] || secs="$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$start" "$(date +%s.%N)")"
    execs="$(awk -F': *' '/^stat::number_of_executed_units:/ { print $2 }' "$logf" | tail -n1 || true)"
    if [[ -z $execs ]]; then
        # No final stats (killed): the last status line, "#123456 ...".
        execs="$(grep -aoE '^#[0-9]+' "$logf" | tail -n1 | tr -d '#' || true)"
    fi
    eps="$(awk -F': *' '/^stat::average_exec_per_sec:/ { print $2 }' "$logf" | tail -n1 || true)"
    [[ -n $eps ]] || eps="$(python3 -c "import sys; print(int(sys.argv[1] or 0) // max(int(sys.argv[2]), 1))" "${execs:-0}" "$secs")"
    mapfile -t added < <(comm -13 <(printf '%s\n' "$before" | sed '/^$/d') <(findings_in "$artifacts") || true)
    n=${#added[@]}
    status=ok
    if ((n)); then
        status=FOUND
        for a in "${added[@]}"; do new_findings+=("$artifacts/$a"); done
    elif ((rc != 0)); then
        status="error(rc=$rc)"
        found_total=$((found_total + 1))
    fi
    found_total=$((found_total + n))
    rows+=("$(printf '%-14s %8s %12s %9s %9s  %s' "$t" "$secs" "${execs:-NA}" "$eps" "$n" "$status")")
    log "$t: ${execs:-NA} executions, $eps exec/s, $n findings ($status)"
done

out="$BENCH_DIR/results/fuzz-$(date -u +%Y-%m-%dT%H%MZ).txt"
rev="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD 2>/dev/null || rev="$rev+dirty"
{
    echo "# fuzz, $(nproc) cores, robot=$rev, $(cargo fuzz --version), $(rustc --version)"
    echo "# sanitizer=$FUZZ_SANITIZER seconds_each=$FUZZ_SECONDS timeout_s=$FUZZ_TIMEOUT"
    printf '%-14s %8s %12s %9s %9s  %s\n' target seconds executions exec/s findings status
    printf '%s\n' "${rows[@]}"
    if ((${#new_findings[@]})); then
        echo "# findings (reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run -s $FUZZ_SANITIZER <target> <file>):"
        printf '%s\n' "${new_findings[@]}"
    fi
} | tee "$out"
log "written to $out; logs in $WORK/fuzz/"
((found_total == 0)) || die "$found_total finding(s) or failed run(s)"
