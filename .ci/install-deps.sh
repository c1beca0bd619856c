#!/usr/bin/env bash
# Installs what `make test` / `make lab` need on a fresh Debian 12 machine (as root). Idempotent and quick
# when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^\s*$/d' test/deps/apt.txt)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The lab's offline package bundle needs this machine's package lists.
lists_empty=$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' | head -1)
if [ ${#missing[@]} -gt 0 ] || [ -z "$lists_empty" ]; then
  echo "deps: apt-get update"
  apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# npm writes node_modules/.package-lock.json last: without it (or older than the lock) packages are missing
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install` with the committed lock (not `npm ci`): the registry lacks some platform builds of the
  # optional native accelerators (cbor-extract, msgpackr-extract), which makes npm ci's strict sync check
  # fail although nothing we need is missing (the pure-JS paths are what Bulwark uses).
  echo "deps: npm install (from package-lock.json)"
  npm install --no-audit --no-fund --loglevel=error
  touch node_modules/.package-lock.json
fi
