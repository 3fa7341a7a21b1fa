#!/usr/bin/env bash
# Installs the official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
# tests/conformance/package-lock.json) with Node 22 (scripts/setup-node.sh), for
# tests/conformance.rs. Idempotent: npm ci runs only when node_modules is missing or older
# than the lock file.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/conformance"

node_out="$("$root/scripts/setup-node.sh")" || { echo "setup-conformance: setup-node.sh failed" >&2; exit 1; }
node_dir="$(printf '%s\n' "$node_out" | sed -n 's/^NODE22_DIR=//p' | tail -n 1)"
[[ -x "$node_dir/bin/node" ]] || { echo "setup-conformance: no Node 22" >&2; exit 1; }

marker="$dir/node_modules/.package-lock.json"
if [[ ! -f "$marker" || "$dir/package-lock.json" -nt "$marker" || "$dir/package.json" -nt "$marker" ]]; then
    echo "setup-conformance: npm ci in tests/conformance" >&2
    (cd "$dir" && PATH="$node_dir/bin:$PATH" npm ci --no-audit --no-fund --loglevel=error >&2)
    touch "$marker"
fi
