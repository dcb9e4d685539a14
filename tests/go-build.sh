# Shared by tests/k8s/build.sh and tests/containerd/build.sh; source it.
# A build of upstream Go commands, cached in a directory keyed by version
# and content, filled in a temporary sibling and renamed into place only
# when complete, so an interrupted build is never mistaken for a finished
# one and every checkout shares one build.
#
#   go_build_cached OUT BUILD_FUNCTION BIN...
#
# prints OUT/bin. Unless OUT/bin already holds every BIN, it calls
# BUILD_FUNCTION with a temporary directory whose bin/ it must fill.

go_build_cached() {
  local out="$1" build="$2"; shift 2
  local bins=("$@") tmp
  _complete() { local b; for b in "${bins[@]}"; do [ -x "$1/bin/$b" ] || return 1; done; }
  if _complete "$out"; then echo "$out/bin"; return 0; fi
  command -v go >/dev/null || { echo "build.sh: Go is not installed (scripts/setup.sh test installs it)" >&2; return 1; }
  mkdir -p "$(dirname "$out")"
  tmp="$(mktemp -d "$(dirname "$out")/.build.XXXXXX")"
  # shellcheck disable=SC2064 # expand $tmp now
  trap "rm -rf '$tmp'" EXIT
  export CGO_ENABLED=0 GOFLAGS="-mod=readonly -trimpath" GOTOOLCHAIN=local
  "$build" "$tmp"
  _complete "$tmp" || { echo "build.sh: build incomplete" >&2; return 1; }
  # Another build may have finished meanwhile (and may be in use).
  if ! _complete "$out"; then
    rm -rf "$out"
    mv -T "$tmp" "$out"
  fi
  rm -rf "$tmp"
  trap - EXIT
  echo "$out/bin"
}
