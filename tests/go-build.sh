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
  # One build at a time per cache; a build that finished while this one
  # waited is used as it is.
  mkdir -p "$(dirname "$out")"
  exec 9>"$(dirname "$out")/.lock"
  flock 9
  if _complete "$out"; then echo "$out/bin"; return 0; fi
  # The Go toolchain scripts/setup.sh fetched when the machine's was too
  # old (its newest), unless the go on PATH is newer still.
  local fetched have
  fetched="$( (ls -d "$HOME"/.cache/wasmpod/go-*/bin 2>/dev/null || true) | sort -V | tail -n 1)"
  if [ -n "$fetched" ] && [ -x "$fetched/go" ]; then
    have="$(go env GOVERSION 2>/dev/null || echo go0)"
    if [ "$(printf '%s\n' "${have#go}" "$("$fetched/go" env GOVERSION | sed 's/^go//')" | sort -V | tail -n 1)" != "${have#go}" ]; then
      PATH="$fetched:$PATH"
    fi
  fi
  command -v go >/dev/null || { echo "build.sh: Go is not installed (scripts/setup.sh test installs it)" >&2; return 1; }
  tmp="$(mktemp -d "$(dirname "$out")/.build.XXXXXX")"
  # shellcheck disable=SC2064 # expand $tmp now
  trap "rm -rf '$tmp'" EXIT
  export CGO_ENABLED=0 GOFLAGS="-mod=readonly -trimpath" GOTOOLCHAIN=local
  "$build" "$tmp"
  _complete "$tmp" || { echo "build.sh: build incomplete" >&2; return 1; }
  rm -rf "$out"
  mv -T "$tmp" "$out"
  trap - EXIT
  echo "$out/bin"
}
