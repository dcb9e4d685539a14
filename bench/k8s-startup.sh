#!/usr/bin/env bash
# Pod startup through the whole Kubernetes path on the e2e cluster
# (tests/k8s/cluster.sh): from `kubectl create` to Running as a watch sees it,
# for 1 pod and for 30 pods at once, Wasm pods (runtimeClassName wasmpod)
# against runc pods of the same program (tests/guests/probe.c built
# natively, static); then node memory with 50 idle pods of each. Needs root.
# Usage: make bench  (or ROUNDS=5 bench/k8s-startup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}
cargo build -q --release -p wasmpod -p wasmpod-shim
work=$(mktemp -d)
trap 'tests/k8s/cluster.sh down >/dev/null || true; rm -rf "$work"' EXIT
WASMPOD_BIN_DIR="$CARGO_TARGET_DIR/release" tests/k8s/cluster.sh up
eval "$(tests/k8s/cluster.sh env)"

# One program, two builds, each in an ordinary image made with umoci.
clang --target=wasm32-wasi -O2 -o "$work/probe.wasm" tests/guests/probe.c
clang -static -O2 -o "$work/probe" tests/guests/probe.c
image() { # NAME FILE
  umoci init --layout "$work/$1" >/dev/null
  umoci new --image "$work/$1:v1" >/dev/null
  umoci unpack --rootless --image "$work/$1:v1" "$work/$1-bundle" >/dev/null
  install -m 0755 "$2" "$work/$1-bundle/rootfs/$(basename "$2")"
  umoci repack --image "$work/$1:v1" "$work/$1-bundle" >/dev/null
  skopeo copy --quiet --dest-tls-verify=false "oci:$work/$1:v1" "docker://$WASMPOD_K8S_REGISTRY/bench/$1:v1"
}
image wasm "$work/probe.wasm"
image native "$work/probe"
python3 bench/k8s_startup.py --registry "$WASMPOD_K8S_REGISTRY" --rounds "${ROUNDS:-5}"
