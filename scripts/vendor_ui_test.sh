#!/usr/bin/env bash
# Vendors axe-core (the accessibility rules the web UI's browser tests inject with Playwright) from the npm
# registry at a pinned version, with its licences, into tests/ui/vendor/. The files are committed, so
# `make test` needs no network for them; run this script again only to change the version.
# Idempotent: does nothing when the vendored axe.min.js already has the pinned digest.
set -euo pipefail

AXE_VERSION=4.14.1
AXE_SHA256=29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c  # package/axe.min.js
DEST="$(cd "$(dirname "$0")/.." && pwd)/tests/ui/vendor"

log() { printf '[vendor_ui_test] %s\n' "$*"; }

if [[ -f $DEST/axe.min.js ]] && echo "$AXE_SHA256  $DEST/axe.min.js" | sha256sum --check --status; then
    log "axe-core $AXE_VERSION already vendored in $DEST"
    exit 0
fi

command -v npm >/dev/null || { log "npm is not installed (apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "npm pack axe-core@$AXE_VERSION"
(cd "$work" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null)
tar -xzf "$work/axe-core-$AXE_VERSION.tgz" -C "$work"
echo "$AXE_SHA256  $work/package/axe.min.js" | sha256sum --check --status \
    || { log "axe-core $AXE_VERSION's axe.min.js does not have the pinned digest" >&2; exit 1; }
mkdir -p "$DEST"
cp "$work/package/axe.min.js" "$DEST/axe.min.js"
cp "$work/package/LICENSE" "$DEST/axe-core.LICENSE"
cp "$work/package/LICENSE-3RD-PARTY.txt" "$DEST/axe-core.LICENSE-3RD-PARTY.txt"
echo "axe-core $AXE_VERSION (npm registry, MPL-2.0; see axe-core.LICENSE)" > "$DEST/VERSION"
log "vendored axe-core $AXE_VERSION into $DEST"
