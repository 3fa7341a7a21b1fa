#!/usr/bin/env bash
# Builds robot and serves it on its embedded defaults: data in ./data, listening on
# 127.0.0.1:8080, the root site at http://localhost:8080 and each wiki at
# http://{slug}.localhost:8080. Extra arguments go to `robot serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The embedding model for semantic search (idempotent: verified and skipped when installed).
# Without it robot still serves everything else and says semantic search is off.
if ! scripts/fetch-model.sh >/dev/null; then
    echo "run.sh: could not install the embedding model; starting without semantic search" >&2
fi
cargo build --release --locked
exec ./target/release/robot serve "$@"
