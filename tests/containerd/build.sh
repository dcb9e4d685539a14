#!/usr/bin/env bash
# Builds containerd 1.7 (containerd, ctr, containerd-shim-runc-v2) from
# upstream sources through the Go module proxy, once per pinned version, into
#   ${WASMPOD_CONTAINERD_CACHE:-~/.cache/wasmpod/containerd}/<version>-<hash>/bin
# and prints that bin directory. Debian ships containerd 1.6, which cannot
# run images with Wasm layers (they need containerd >= 1.7.7); the tests of
# that path use this build. A finished build is reused: the directory is
# filled in a temporary sibling and renamed into place only when complete.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(awk '{ if ($1 == "require") { $1 = ""; $0 = $0 } } $1 == "github.com/containerd/containerd" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
[ -n "$version" ] || { echo "build.sh: no containerd version in $here/go.mod" >&2; exit 1; }
cache="${WASMPOD_CONTAINERD_CACHE:-$HOME/.cache/wasmpod/containerd}"
# Keyed by what decides the binaries: the module versions and the flags.
out="$cache/$version-$( (cd "$here" && sha256sum go.mod go.sum; grep -E '^\s*(local b ldflags|go build)' build.sh) | sha256sum | cut -c1-12)"

build() { # DIR
  echo "build.sh: building containerd $version into $out (takes a few minutes the first time)" >&2
  cd "$here"
  # No cgo: the btrfs, devmapper and zfs snapshotters (which need C headers)
  # are left out; the tests use overlayfs.
  local b ldflags="-s -w -X github.com/containerd/containerd/version.Version=$version"
  for b in containerd ctr containerd-shim-runc-v2; do
    echo "build.sh: $b" >&2
    go build -tags no_btrfs,no_devmapper,no_zfs -ldflags "$ldflags" -o "$1/bin/$b" "github.com/containerd/containerd/cmd/$b"
  done
}

# shellcheck source=tests/go-build.sh
. "$here/../go-build.sh"
go_build_cached "$out" build containerd ctr containerd-shim-runc-v2
