#!/usr/bin/env bash
# Installs what building and testing wasmpod needs on a fresh Debian machine,
# and nothing that is already there. Safe to run again.
#
#   scripts/setup.sh          # build + test prerequisites
#   scripts/setup.sh bench    # plus hyperfine and the wasmtime CLI (48.0.8)
set -euo pipefail

want_bench=${1:-}
say() { printf 'setup: %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Guests: clang + wasi-libc. Registry tests: the CNCF distribution registry,
# skopeo and umoci as independent clients, htpasswd and openssl for auth.
# Shim tests: containerd (1.6 on Debian 12) with ctr, runc beside it, CNI
# plugins for CRI pods, protoc for the CRI client bindings, and static libc
# for the test pod image's native pause program.
apt_packages=(clang lld libc6-dev wasi-libc libclang-rt-dev-wasm32
  docker-registry skopeo umoci apache2-utils openssl bsdutils ca-certificates
  containerd runc containernetworking-plugins protobuf-compiler procps iproute2)
if [ "$want_bench" = bench ]; then apt_packages+=(hyperfine curl python3 busybox-static wrk); fi

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian packages start a registry on :5000 and a system containerd
# where an init system runs; tests start their own on loopback ports and
# temp sockets, so stop the registry (containerd is left alone).
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
  $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

if ! command -v cargo >/dev/null; then
  say "cargo is missing: install Rust 1.95 or newer (https://rustup.rs), then run this again"
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    say "adding rustup component $component"
    rustup component add "$component"
  fi
done

if [ "$want_bench" = bench ]; then
  if ! wasmtime --version 2>/dev/null | grep -q '^wasmtime 48\.0\.8'; then
    say "installing wasmtime-cli 48.0.8 from crates.io (a long release build)"
    cargo install --locked wasmtime-cli@48.0.8 \
      --target-dir "${HOME}/.cache/wasmpod/wasmtime-cli-target"
  fi
fi
say "ok"
