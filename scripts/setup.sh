#!/usr/bin/env bash
# Installs what robot needs to build, run and test on a fresh Debian 12 machine.
# Idempotent: each step checks first and does nothing when already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
have git || need_apt+=(git)
have python3 || need_apt+=(python3)
have curl || need_apt+=(curl)
have cc || need_apt+=(build-essential)
have pkg-config || need_apt+=(pkg-config)
have npm || need_apt+=(npm)
# Caddy (the production reverse proxy) and systemd-analyze, for tests/ops.rs.
have caddy || need_apt+=(caddy)
have systemd-analyze || need_apt+=(systemd)
if ((${#need_apt[@]})); then
    echo "setup: installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}"
fi

if ! have cargo; then
    echo "setup: cargo is missing. Install the Rust toolchain (rustup) first: https://rustup.rs" >&2
    exit 1
fi

# Python tools for tests, in a venv: OpenAPI validation and the official MCP Python SDK
# (its OAuth client drives the full authorization flow in tests/mcp-python).
PY_TOOLS=("openapi-spec-validator==0.7.*" "mcp==1.30.0")
if [[ ! -x .tools/py/bin/python ]] || [[ "$(cat .tools/py/.robot-reqs 2>/dev/null)" != "${PY_TOOLS[*]}" ]]; then
    echo "setup: installing Python test tools into .tools/py"
    python3 -m venv .tools/py
    .tools/py/bin/pip install -q "${PY_TOOLS[@]}"
    echo "${PY_TOOLS[*]}" >.tools/py/.robot-reqs
fi
