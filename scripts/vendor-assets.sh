#!/usr/bin/env bash
# Fetch the third-party browser assets that robot serves from
# assets/static/vendor/: KaTeX (math) and mermaid (diagrams).
#
# Idempotent: every run rebuilds assets/static/vendor/{katex,mermaid} from the
# pinned npm tarballs (checked against their pinned sha512 integrity), so the
# result is byte-for-byte the same however often it runs. Only `npm pack`
# talks to the network (the npm registry); nothing else is downloaded.
#
# To upgrade: change a version below, set its integrity to the value printed by
# `npm view <pkg>@<version> dist.integrity`, rerun, and commit the result.
set -euo pipefail

KATEX_VERSION="0.19.1"
KATEX_INTEGRITY="sha512-jG8uKntjSEcm2EpQOh0XturpPuuC9r3Sq5HLHdsFdWZT27E672SF19QEi+of0/YeOy15lDgRhKvr5614uRrEfA=="
MERMAID_VERSION="12.3.0"
MERMAID_INTEGRITY="sha512-4113TdXeLAsMruJ79OpFL5O8+LTFXhQqZ260rF3tgUmiNAtRm4Uume04I+65PRN6yZ69J4f8rVYWW8zRk65UYw=="

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/assets/static/vendor"

for tool in npm node tar; do
  command -v "$tool" >/dev/null || { echo "vendor-assets: '$tool' is required" >&2; exit 1; }
done

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# fetch NAME VERSION INTEGRITY -> unpacks into $TMP/NAME/package
fetch() {
  local name="$1" version="$2" integrity="$3" tgz actual
  mkdir -p "$TMP/$name"
  echo "vendor-assets: fetching $name@$version" >&2
  tgz="$(cd "$TMP/$name" && npm pack --silent "$name@$version" 2>/dev/null | tail -n1)"
  [ -f "$TMP/$name/$tgz" ] || { echo "vendor-assets: npm pack $name@$version failed" >&2; exit 1; }
  actual="sha512-$(node -e 'const c=require("crypto"),f=require("fs");
    process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' \
    "$TMP/$name/$tgz")"
  if [ "$actual" != "$integrity" ]; then
    echo "vendor-assets: integrity mismatch for $name@$version" >&2
    echo "  expected $integrity" >&2
    echo "  got      $actual" >&2
    exit 1
  fi
  tar -xzf "$TMP/$name/$tgz" -C "$TMP/$name"
}

fetch katex "$KATEX_VERSION" "$KATEX_INTEGRITY"
fetch mermaid "$MERMAID_VERSION" "$MERMAID_INTEGRITY"

# Stage the new tree next to the old one, then swap, so an interrupted run
# never leaves a half-populated vendor/ behind.
STAGE="$TMP/vendor"
K="$TMP/katex/package"
M="$TMP/mermaid/package"
mkdir -p "$STAGE/katex/contrib" "$STAGE/katex/fonts" "$STAGE/mermaid"

# KaTeX: copied unmodified. katex.min.css refers to fonts/ relatively; it also
# lists .woff/.ttf fallbacks, which browsers skip because woff2 comes first.
cp "$K/dist/katex.min.js" "$K/dist/katex.min.css" "$STAGE/katex/"
cp "$K/dist/contrib/auto-render.min.js" "$STAGE/katex/contrib/"
cp "$K"/dist/fonts/*.woff2 "$STAGE/katex/fonts/"
cp "$K/LICENSE" "$STAGE/katex/LICENSE"

# mermaid: the self-contained IIFE build (defines window.mermaid).
cp "$M/dist/mermaid.min.js" "$STAGE/mermaid/"
cp "$M/LICENSE" "$STAGE/mermaid/LICENSE"

license_of() { node -p 'require(process.argv[1]).license' "$1/package.json"; }
KATEX_LICENSE="$(license_of "$K")"
MERMAID_LICENSE="$(license_of "$M")"

cat > "$STAGE/README.md" <<README
# Vendored browser assets

These files are third-party code, copied unmodified from their npm packages by
\`scripts/vendor-assets.sh\`. Do not edit them by hand: change the pinned
versions in that script and rerun it instead.

| package | version | license | files |
| --- | --- | --- | --- |
| [KaTeX](https://katex.org/) (\`katex\`) | $KATEX_VERSION | $KATEX_LICENSE (\`katex/LICENSE\`) | \`katex/katex.min.js\`, \`katex/katex.min.css\`, \`katex/contrib/auto-render.min.js\`, \`katex/fonts/*.woff2\` |
| [mermaid](https://mermaid.js.org/) (\`mermaid\`) | $MERMAID_VERSION | $MERMAID_LICENSE (\`mermaid/LICENSE\`) | \`mermaid/mermaid.min.js\` |

Tarball integrity (checked by the script):

- katex@$KATEX_VERSION: \`$KATEX_INTEGRITY\`
- mermaid@$MERMAID_VERSION: \`$MERMAID_INTEGRITY\`

To reproduce: \`bash scripts/vendor-assets.sh\` (needs \`npm\`, \`node\` and
\`tar\`, and access to the npm registry). The script is idempotent.

\`robot.js\` loads these files only on pages that contain math
(\`[data-math-style]\`) or diagrams (\`pre.mermaid\`).
README

mkdir -p "$VENDOR"
for d in katex mermaid; do
  rm -rf "$VENDOR/$d.old"
  [ -e "$VENDOR/$d" ] && mv "$VENDOR/$d" "$VENDOR/$d.old"
  mv "$STAGE/$d" "$VENDOR/$d"
  rm -rf "$VENDOR/$d.old"
done
mv "$STAGE/README.md" "$VENDOR/README.md"

echo "vendor-assets: done ($(du -sh "$VENDOR" | cut -f1) in $VENDOR)" >&2
