#!/usr/bin/env bash
# Installs what building and testing wasmpod needs on a fresh Debian machine,
# and nothing that is already there. Safe to run again.
#
#   scripts/setup.sh          # build prerequisites (enough for `make demo`)
#   scripts/setup.sh test     # plus the e2e cluster's Kubernetes binaries
#                             # and containerd 1.7, built from source
#                             # (tests/k8s/build.sh, tests/containerd/build.sh)
#   scripts/setup.sh bench    # plus those, hyperfine, wrk, perf and the wasmtime CLI
set -euo pipefail

mode=${1:-}
want_bench=""
want_k8s=""
case "$mode" in
  "") ;;
  test) want_k8s=1 ;;
  bench) want_k8s=1; want_bench=bench ;;
  *) echo "usage: $0 [test|bench]" >&2; exit 2 ;;
esac
say() { printf 'setup: %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Guests: clang + wasi-libc. Registry tests: the CNCF distribution registry,
# skopeo and umoci as independent clients, htpasswd and openssl for auth.
# Shim tests: containerd (1.6 on Debian 12) with ctr, runc beside it, CNI
# plugins for CRI pods, protoc for the CRI client bindings, and static libc
# for the test pod image's native pause program. The e2e cluster: iptables
# and conntrack for kube-proxy, busybox-static for its native pod, curl, and
# binutils (strip) for the installer image it builds. The callers of an
# OCI runtime (testkit's Podman and Dockerd): Podman 4.3 with conmon, and
# Docker Engine 20.10 (docker.io, with its client in /usr/bin/docker); both
# run as root on overlay storage, so no uidmap, slirp4netns or
# fuse-overlayfs.
apt_packages=(clang lld libc6-dev wasi-libc libclang-rt-dev-wasm32
  docker-registry skopeo umoci apache2-utils openssl bsdutils ca-certificates
  containerd runc containernetworking-plugins protobuf-compiler procps iproute2
  busybox-static iptables conntrack curl python3 binutils podman conmon docker.io)
if [ "$want_bench" = bench ]; then apt_packages+=(hyperfine wrk linux-perf); fi

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian packages start a registry on :5000, a system dockerd (which
# adds a docker0 bridge and iptables rules) and a system containerd where
# an init system runs; tests start their own on loopback ports and temp
# sockets, so stop the registry and dockerd (containerd is left alone).
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
  $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
if command -v systemctl >/dev/null && systemctl is-active --quiet docker.service docker.socket 2>/dev/null; then
  $SUDO systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true
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
# Go builds the Go test guest (GOOS=wasip1) in every tier, and containerd
# 1.7.35 and Kubernetes v1.33 from source (Go 1.25) in the cluster tier. A
# missing Go comes from Debian (1.19 on Debian 12). A Go older than 1.25
# fetches the Go 1.25 toolchain as what it is on the module proxy, the
# module golang.org/toolchain, with its own `go mod download` (what
# GOTOOLCHAIN does in Go 1.21 and later), into ~/.cache/wasmpod/go, which
# the Makefile puts first on the PATH.
GO_TOOLCHAIN=go1.25.14
go_home="${HOME}/.cache/wasmpod/go"
if [ -x "$go_home/bin/go" ]; then export PATH="$go_home/bin:$PATH"; fi
go_minor() { go version | awk '{ split(substr($3, 3), v, "."); print (v[1] > 1 ? 999 : v[2]) }'; }
if ! command -v go >/dev/null; then
  say "installing Go from Debian"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends golang-go >/dev/null
fi
if [ "$(go_minor)" -lt 25 ]; then
  say "fetching the $GO_TOOLCHAIN toolchain through the Go module proxy"
  arch=$(go env GOARCH)
  dir=$(cd "$(mktemp -d)" && GOTOOLCHAIN=local GOFLAGS= GO111MODULE=on \
    go mod download -json "golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-$arch" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] && [ -f "$dir/bin/go" ] || { say "cannot fetch $GO_TOOLCHAIN through the module proxy"; exit 1; }
  mkdir -p "$(dirname "$go_home")"
  rm -rf "$go_home.tmp"
  cp -r "$dir" "$go_home.tmp"
  chmod -R u+w "$go_home.tmp"
  # Module zips carry no file modes: the toolchain's programs are made
  # executable again, as the go command does when it switches toolchains.
  chmod +x "$go_home.tmp"/bin/* "$go_home.tmp"/pkg/tool/*/*
  rm -rf "$go_home"
  mv "$go_home.tmp" "$go_home"
  export PATH="$go_home/bin:$PATH"
  go version >/dev/null
fi
export GOTOOLCHAIN=local
# oras, the CNCF ORAS client, is an independent client in the image
# tests (it pulls what wasmpod pushes, and pushes what wasmpod runs).
ORAS_VERSION=v1.3.6
tools_bin="${HOME}/.cache/wasmpod/bin"
if ! "$tools_bin/oras" version 2>/dev/null | grep -q "^Version: *${ORAS_VERSION#v}$"; then
  say "installing oras $ORAS_VERSION with go install"
  mkdir -p "$tools_bin"
  GOBIN="$tools_bin" go install "oras.land/oras/cmd/oras@$ORAS_VERSION"
fi
# cosign signs images in the signing tests with keys they generate (no
# transparency log, no keyless signing), and verifies what
# `wasmpod push --sign-key` signs. A long build: about 3,000 Go packages.
COSIGN_VERSION=v3.1.3
if ! "$tools_bin/cosign" version 2>/dev/null | grep -q "^GitVersion: *${COSIGN_VERSION}$"; then
  say "installing cosign $COSIGN_VERSION with go install"
  mkdir -p "$tools_bin"
  GOBIN="$tools_bin" go install "github.com/sigstore/cosign/v3/cmd/cosign@$COSIGN_VERSION"
fi
if [ -n "$want_k8s" ]; then
  tests/k8s/build.sh >/dev/null
  tests/containerd/build.sh >/dev/null
fi
say "ok"
