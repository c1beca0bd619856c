#!/usr/bin/env bash
# Builds the Node.js greeter into an image archive with no registry and no network, so it works on an
# air-gapped operator machine: the image holds this machine's `node` binary, the shared libraries it links
# against (from ldd) and the component bundled with autobahn-js (esbuild, from the checkout's node_modules).
# Nothing else: no shell, no package manager.
#
# Usage: examples/node-greeter/build-image.sh [ARCHIVE]     (default build/examples/node-greeter.tar)
# Env:   TAG=localhost/node-greeter:1   ENGINE=podman|docker
# The archive is in docker-archive format: `bulwark app add NAME --image-archive ARCHIVE`, `podman load`
# and `docker load` all take it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/build/examples/node-greeter.tar}
tag=${TAG:-localhost/node-greeter:1}
engine=${ENGINE:-podman}
node_bin=$(readlink -f "$(command -v node)")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

echo "build-image: bundling greeter.cjs with autobahn-js"
mkdir -p "$root/app" "$root/usr/bin" "$root/etc" "$root/tmp" "$root/run/wamp"
# --tsconfig-raw='{}': the checkout's tsconfig is strict, and autobahn-js must run as the sloppy CommonJS it is.
"$repo/node_modules/.bin/esbuild" "$here/greeter.cjs" --bundle --platform=node --format=cjs --tsconfig-raw='{}' \
  --external:bufferutil --external:utf-8-validate --log-level=warning --outfile="$root/app/greeter.cjs"

echo "build-image: node $("$node_bin" --version) from $node_bin and the libraries it links against"
cp "$node_bin" "$root/usr/bin/node"
for lib in $(ldd "$node_bin" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
printf 'root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

# A reproducible tar: sorted, mtime 0, owned by root, nothing group/world-writable.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=go-w,a+rX -C "$root" -cf "$work/rootfs.tar" .
echo "build-image: $engine import as $tag"
"$engine" import $([ "$engine" = podman ] && echo --quiet) \
  --change 'CMD ["/usr/bin/node", "--no-deprecation", "/app/greeter.cjs"]' \
  --change 'USER 65534:65534' --change 'WORKDIR /app' \
  "$work/rootfs.tar" "$tag" >/dev/null
mkdir -p "$(dirname "$out")"
rm -f "$out"
if [ "$engine" = podman ]; then podman save --quiet --format docker-archive -o "$out" "$tag"; else docker save -o "$out" "$tag"; fi
echo "build-image: $out ($(du -h "$out" | cut -f1)), image $tag"
