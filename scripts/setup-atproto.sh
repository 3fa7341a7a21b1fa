#!/usr/bin/env bash
# Installs the ATProto test harness (tests/atproto-harness/): Node 22 (scripts/setup-node.sh),
# the harness's npm packages from its package-lock.json (@atproto/dev-env: in-memory PLC
# directory + real PDS with its OAuth authorization server; playwright-core), and Debian's
# chromium for the optional browser approval.
# Idempotent: npm ci runs only when node_modules is missing or older than package-lock.json;
# chromium is installed only when /usr/bin/chromium is missing (ATP_SKIP_CHROMIUM=1: never).
#
# Last line of output: NODE22_DIR=<absolute dir> (node is $NODE22_DIR/bin/node).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
harness="$root/tests/atproto-harness"

fail() {
    echo "setup-atproto: $*" >&2
    exit 1
}

node_out="$("$root/scripts/setup-node.sh")" || fail "scripts/setup-node.sh failed"
node_dir="$(printf '%s\n' "$node_out" | sed -n 's/^NODE22_DIR=//p' | tail -n 1)"
[[ -n "$node_dir" && -x "$node_dir/bin/node" ]] || fail "scripts/setup-node.sh printed no usable NODE22_DIR"

# npm ci only when needed. node_modules/.package-lock.json is npm's record of the last install.
marker="$harness/node_modules/.package-lock.json"
if [[ ! -f "$marker" || "$harness/package-lock.json" -nt "$marker" || "$harness/package.json" -nt "$marker" ]]; then
    echo "setup-atproto: npm ci in tests/atproto-harness (compiles better-sqlite3; about 1-2 minutes)" >&2
    start=$SECONDS
    (
        cd "$harness"
        # Node 22 first on PATH, so npm and node-gyp run under it; npm_config_nodedir overrides
        # the user-level nodedir=/usr (Node 20 headers), so better-sqlite3 gets Node 22's ABI.
        export PATH="$node_dir/bin:$PATH"
        export npm_config_nodedir="$node_dir"
        npm ci --no-audit --no-fund --loglevel=error >&2
    ) || fail "npm ci in $harness failed (see the npm output above)"
    [[ -f "$marker" ]] || fail "npm ci finished but $marker is missing"
    touch "$marker"
    echo "setup-atproto: npm ci done in $((SECONDS - start)) s" >&2
fi

# Check that the native module loads under Node 22 (it fails if built against Node 20 headers).
(cd "$harness" && "$node_dir/bin/node" -e "new (require('better-sqlite3'))(':memory:').close()") ||
    fail "better-sqlite3 does not load under Node 22; repair: (cd tests/atproto-harness && PATH=$node_dir/bin:\$PATH npm rebuild better-sqlite3 --nodedir=$node_dir)"

# Chromium is only for approve-browser.mjs (the real consent UI through playwright-core).
# ATP_SKIP_CHROMIUM=1 skips it (for example without root).
if [[ "${ATP_SKIP_CHROMIUM:-}" != 1 && ! -x /usr/bin/chromium ]]; then
    echo "setup-atproto: installing chromium" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq chromium >&2; then
        apt-get update -qq >&2 || fail "apt-get update failed"
        apt-get install -y -qq chromium >&2 || fail "apt-get install -y chromium failed"
    fi
    [[ -x /usr/bin/chromium ]] || fail "chromium installed but /usr/bin/chromium is missing"
fi

echo "NODE22_DIR=$node_dir"
