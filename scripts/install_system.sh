#!/usr/bin/env bash
# Installs the Debian packages Hydro's tests and local runs need: the Docker engine (docker.io),
# the CNCF Distribution registry (docker-registry), debootstrap (for the offline runtime base image) and
# Debian's chromium (the browser the web UI's Playwright tests drive through `executable_path`).
# Idempotent: does nothing (not even `apt-get update`) when every package is already installed.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
PACKAGES=(docker.io docker-registry debootstrap chromium)

log() { printf '[install_system] %s\n' "$*"; }

if [[ $(id -u) -ne 0 ]]; then
    log "must run as root (apt-get install)" >&2
    exit 1
fi

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    if is_installed "$pkg"; then
        log "$pkg already installed"
    else
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    log "nothing to install"
    exit 0
fi

# Other repositories configured in /etc/apt (e.g. a cloud-sdk source) may be unreachable here; a failed
# update of those is not fatal. If the full update fails, update from Debian's own sources alone.
log "apt-get update (missing: ${missing[*]})"
if ! apt-get update -qq; then
    log "apt-get update reported errors (another repository?); updating from Debian's sources only"
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
        apt-get update -qq \
            -o Dir::Etc::sourcelist=/etc/apt/sources.list.d/debian.sources \
            -o Dir::Etc::sourceparts=- || log "Debian-only update failed too; trying the cached lists"
    fi
fi

log "apt-get install -y ${missing[*]}"
apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold "${missing[@]}"

for pkg in "${missing[@]}"; do
    is_installed "$pkg" || { log "$pkg failed to install" >&2; exit 1; }
done
log "installed: ${missing[*]}"
