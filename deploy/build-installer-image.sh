#!/bin/sh
# Builds the installer image without Docker: umoci makes an empty image,
# the built wasmpod, containerd-shim-wasmpod-v1, /bin/sh and nsenter (with
# the shared libraries ldd lists for them) go into its rootfs, and skopeo
# pushes it. `wasmpod push` only packs Wasm modules, so it cannot build
# this image of native binaries.
#
#   deploy/build-installer-image.sh REF [TARGET_DIR]
#   e.g. deploy/build-installer-image.sh localhost:5000/wasmpod-installer:0.1.0
set -eu
ref=${1:?usage: $0 REF [TARGET_DIR]}
target=${2:-${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}/release}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umoci init --layout "$work/oci"
umoci new --image "$work/oci:latest"
umoci unpack --image "$work/oci:latest" "$work/bundle"
root="$work/bundle/rootfs"
mkdir -p "$root/usr/local/bin" "$root/bin" "$root/tmp"
cp "$target/wasmpod" "$target/containerd-shim-wasmpod-v1" "$root/usr/local/bin/"
cp "$(command -v nsenter)" "$root/usr/local/bin/nsenter"
cp /bin/sh "$root/bin/sh"
cp /bin/sleep "$root/bin/sleep"
for bin in "$root/usr/local/bin/"* "$root/bin/"*; do
  ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
done
umoci repack --image "$work/oci:latest" "$work/bundle"
umoci config --image "$work/oci:latest" \
  --config.env PATH=/usr/local/bin:/bin \
  --config.entrypoint /usr/local/bin/wasmpod --config.cmd node --config.cmd status
skopeo copy ${INSECURE:+--dest-tls-verify=false} "oci:$work/oci:latest" "docker://$ref"
echo "pushed $ref"
