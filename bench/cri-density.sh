#!/usr/bin/env bash
# Through CRI, wasmpod (runtime handler wasmpod) against runc (runtime
# handler runc) in one run, on one containerd with CRI and CNI: the start
# of one pod (RunPodSandbox to StartContainer returned, START_RUNS runs of
# each, alternating), then PSS and RSS per idle pod with 1, 10 and 50 pods.
# Needs root.
# Usage: make bench  (or PODS=1,10 START_RUNS=10 bench/cri-density.sh; SHIM=PATH measures
# another shim binary, e.g. the shipped one from `make dist`)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}
command -v busybox >/dev/null || { echo "install busybox-static (scripts/setup.sh bench)" >&2; exit 1; }
cargo build -q --release -p wasmpod-shim --bin containerd-shim-wasmpod-v1 --example cri-density
"$CARGO_TARGET_DIR/release/examples/cri-density" \
  --shim "${SHIM:-$CARGO_TARGET_DIR/release/containerd-shim-wasmpod-v1}" \
  --busybox "$(command -v busybox)" --pods "${PODS:-1,10,50}" --start-runs "${START_RUNS:-20}"
