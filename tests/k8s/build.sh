#!/usr/bin/env bash
# Builds the e2e cluster's binaries from upstream sources through the Go
# module proxy (never prebuilt downloads), once per pinned version, into
#   ${WASMPOD_K8S_CACHE:-~/.cache/wasmpod/k8s}/<kubernetes version>/bin
# Prints that bin directory. A finished build is reused: the directory is
# filled in a temporary sibling and renamed into place only when complete.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
[ -n "$version" ] || { echo "build.sh: no k8s.io/kubernetes version in $here/go.mod" >&2; exit 1; }
cache="${WASMPOD_K8S_CACHE:-$HOME/.cache/wasmpod/k8s}"
# Keyed by content only (relative names), so every checkout shares one build.
out="$cache/$version-$( (cd "$here" && sha256sum go.mod go.sum etcd/main.go) | sha256sum | cut -c1-12)"

build() { # DIR
  # Plain `go build` of the upstream commands. Version metadata the upstream
  # Makefile stamps through -ldflags, so `kubectl version` and the node report it.
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$version"
  echo "build.sh: building Kubernetes $version and etcd into $out (the first build takes a while)" >&2
  cd "$here"
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    echo "build.sh: $b" >&2
    go build -ldflags "$ldflags" -o "$1/bin/$b" "k8s.io/kubernetes/cmd/$b"
  done
  echo "build.sh: etcd" >&2
  go build -ldflags "-s -w" -o "$1/bin/etcd" ./etcd
}

# shellcheck source=tests/go-build.sh
. "$here/../go-build.sh"
go_build_cached "$out" build kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd
