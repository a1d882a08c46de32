#!/usr/bin/env bash
# Downloads into .cache/wheelhouse the wheels that the example models pip-install on top of the runtime
# base image, for the image's platform (CPython 3.11, manylinux, this machine's arch), so that model image
# builds need no network: `pip install --no-index --find-links $HYDRO_WHEELHOUSE -r requirements.txt`.
#
# Idempotent: skips the download when the stamp file records the same requirements and every wheel it
# listed is still there. Progress goes to stderr; the wheelhouse's absolute path is printed on stdout
# (it is what HYDRO_WHEELHOUSE points to).
#
# env: HYDRO_WHEELHOUSE (default .cache/wheelhouse), PYTHON (default python3),
#      HYDRO_RUNTIME_BASE_IMAGE (if that image exists, the fresh wheelhouse is test-installed in it).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHEELHOUSE=${HYDRO_WHEELHOUSE:-$REPO_ROOT/.cache/wheelhouse}
IMAGE=${HYDRO_RUNTIME_BASE_IMAGE:-hydro/runtime-base:py3.11}
PY=${PYTHON:-python3}
ARCH=$(uname -m)
# numpy is pinned to the runtime base image's version so the resolver cannot pick another one.
REQUIREMENTS=(scikit-learn==1.9.1 numpy==2.4.6)
PLATFORM_ARGS=(--only-binary=:all: --platform "manylinux2014_$ARCH" --platform "manylinux_2_28_$ARCH"
    --python-version 3.11 --implementation cp --abi cp311)
STAMP=$WHEELHOUSE/.hydro-wheelhouse.stamp
WANT_STAMP="requirements: ${REQUIREMENTS[*]} | platform: cp311 manylinux $ARCH"

log() { printf '[wheelhouse] %s\n' "$*" >&2; }
die() { printf '[wheelhouse] ERROR: %s\n' "$*" >&2; exit 1; }

up_to_date() {
    [[ -f $STAMP ]] || return 1
    [[ $(head -n 1 "$STAMP") == "$WANT_STAMP" ]] || return 1
    local whl
    while read -r whl; do
        [[ -f $WHEELHOUSE/$whl ]] || return 1
    done < <(tail -n +2 "$STAMP")
}

mkdir -p "$WHEELHOUSE"
WHEELHOUSE=$(cd "$WHEELHOUSE" && pwd)

if up_to_date; then
    log "up to date: ${REQUIREMENTS[*]} ($(tail -n +2 "$STAMP" | wc -l) wheels)"
else
    log "pip download ${REQUIREMENTS[*]} and dependencies (cp311, manylinux $ARCH) -> $WHEELHOUSE"
    rm -f "$STAMP"
    "$PY" -m pip download --quiet --disable-pip-version-check --no-cache-dir "${PLATFORM_ARGS[@]}" \
        -d "$WHEELHOUSE" "${REQUIREMENTS[@]}" \
        2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2) >&2

    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
        log "check: pip install --no-index from the wheelhouse in $IMAGE (no network)"
        docker run --rm --network none -v "$WHEELHOUSE:/wheels:ro" "$IMAGE" sh -c \
            "pip install --quiet --no-index --find-links /wheels ${REQUIREMENTS[*]} &&
             python3 -c 'import sklearn, scipy, numpy; print(\"sklearn\", sklearn.__version__, \"scipy\", scipy.__version__, \"numpy\", numpy.__version__)'" >&2 ||
            die "the wheelhouse does not install offline in $IMAGE"
    else
        log "check skipped: $IMAGE not built yet"
    fi

    { echo "$WANT_STAMP"; (cd "$WHEELHOUSE" && ls -1 -- *.whl); } >"$STAMP.tmp"
    mv "$STAMP.tmp" "$STAMP"
fi

(cd "$WHEELHOUSE" && ls -1 -- *.whl) | sed 's/^/[wheelhouse]   /' >&2
echo "$WHEELHOUSE"
