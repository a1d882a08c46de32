#!/usr/bin/env bash
# Vendor the web UI's third-party front-end code from the npm registry, at pinned versions, with licences.
#
# Air-gapped users get every asset from Hydro itself (no CDN), so the files are committed under
# control_plane/ui/static/vendor/. Idempotent: running it again rewrites the same bytes; the SHA-256 of
# the vendored file is checked against the pin, so a changed package on the registry is refused.
set -euo pipefail

HTMX_VERSION="2.0.11"
HTMX_SHA256="d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"  # of dist/htmx.min.js

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/control_plane/ui/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir -p "$vendor"
(cd "$work" && npm pack --silent "htmx.org@${HTMX_VERSION}" >/dev/null)
tar -xzf "$work/htmx.org-${HTMX_VERSION}.tgz" -C "$work"
echo "$HTMX_SHA256  $work/package/dist/htmx.min.js" | sha256sum --check --quiet
install -m 0644 "$work/package/dist/htmx.min.js" "$vendor/htmx.min.js"
install -m 0644 "$work/package/LICENSE" "$vendor/htmx.LICENSE"
printf 'htmx.org %s (npm registry), BSD Zero Clause licence: htmx.LICENSE\n' "$HTMX_VERSION" >"$vendor/README"
echo "vendored htmx.org $HTMX_VERSION into $vendor"
