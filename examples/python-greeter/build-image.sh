#!/usr/bin/env bash
# Builds the Python greeter into an image archive without a registry: a Debian 12 root made with
# debootstrap (minbase + python3-autobahn, python3-cbor2), the component at /app, imported into podman (or
# docker) and saved as an archive. debootstrap needs a Debian mirror: the public one by default, or set
# MIRROR to your own (http://mirror.internal/debian, or file:///srv/debian for a copy on disk) on an
# air-gapped machine. The root is cached (build/examples/cache), so a rebuild after editing greeter.py
# takes seconds.
#
# Usage: examples/python-greeter/build-image.sh [ARCHIVE]   (default build/examples/python-greeter.tar)
# Env:   TAG=localhost/python-greeter:1  ENGINE=podman|docker  MIRROR=http://deb.debian.org/debian  SUITE=bookworm
#        BASE_ROOTFS=FILE.tar: a root that already has the packages (skips debootstrap)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/build/examples/python-greeter.tar}
tag=${TAG:-localhost/python-greeter:1}
engine=${ENGINE:-podman}
mirror=${MIRROR:-http://deb.debian.org/debian}
suite=${SUITE:-bookworm}
# python3-ply is named because debootstrap's resolver does not follow the virtual package python3-ply-lex-3.10.
packages=python3-autobahn,python3-cbor2,python3-ply
cache=$repo/build/examples/cache
base=${BASE_ROOTFS:-$cache/python-$suite-$(echo "$mirror $packages" | sha256sum | cut -c1-12).tar}
mkdir -p "$cache" "$(dirname "$out")"
work=$(mktemp -d /var/tmp/python-greeter.XXXXXX)
trap 'rm -rf "$work"' EXIT

if [ ! -f "$base" ]; then
  echo "build-image: debootstrap $suite with $packages from $mirror (a minute or two, once)"
  debootstrap --variant=minbase --include="$packages" "$suite" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; exit 1; }
  # Nothing the container uses: package caches and lists, docs, translations, the Twisted backend.
  rm -rf "$work/root"/var/cache/apt/archives/*.deb "$work/root"/var/lib/apt/lists/* "$work/root"/usr/share/{doc,man,locale,info} \
    "$work/root"/usr/lib/python3/dist-packages/twisted
  tar --numeric-owner -C "$work/root" -cf "$base.part" .
  mv "$base.part" "$base"
  rm -rf "$work/root"
fi

echo "build-image: adding greeter.py to the cached root"
cp "$base" "$work/rootfs.tar"
mkdir -p "$work/add/app"
cp "$here/greeter.py" "$work/add/app/"
tar --owner=0 --group=0 --numeric-owner --mode=a+rX,go-w -C "$work/add" -rf "$work/rootfs.tar" app
echo "build-image: $engine import as $tag"
"$engine" import $([ "$engine" = podman ] && echo --quiet) \
  --change 'CMD ["/usr/bin/python3", "-u", "/app/greeter.py"]' \
  --change 'USER 65534:65534' --change 'WORKDIR /app' \
  "$work/rootfs.tar" "$tag" >/dev/null
rm -f "$out"
if [ "$engine" = podman ]; then podman save --quiet --format docker-archive -o "$out" "$tag"; else docker save -o "$out" "$tag"; fi
echo "build-image: $out ($(du -h "$out" | cut -f1)), image $tag"
