#!/usr/bin/env bash
# Render cost on adversarial pages: every hostile shape (deep quotes, lists, divs,
# emphasis, brackets, wide tables, front matter bombs, ...) at 10 KB, 100 KB and 1 MB,
# through the same `wiki::markdown::render` every surface uses, on a thread with the
# blocking pool's 2 MiB stack. Prints the median of five runs per case, the growth
# from 100 KB to 1 MB (about 10x is linear), and each 1 MB figure over ordinary prose's
# in the same run. Target: under 200 ms for any 1 MB page.
#
#   bench/render.sh              # every case
#   bench/render.sh quotes       # only the cases whose name contains "quotes"
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_DIR"
log "building examples/render_bench (release)"
cargo build --release --locked --example render_bench >&2
mkdir -p "$BENCH_DIR/results"
out="$BENCH_DIR/results/render-$(date -u +%Y-%m-%dT%H%MZ).txt"
{
    echo "# render cost, $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    target/release/examples/render_bench "$@"
} | tee "$out"
log "written to $out"
