#!/usr/bin/env bash
# Two builds of wasmpod, A and B, serving the same HTTP guests under
# `wasmpod up`, loaded with wrk in interleaved rounds: the 0.2 hello
# (examples/http-service/http-hello.wat), its WASI 0.3 twin
# (http-hello-p3.wat) and the 0.3 conformance fixture http-service.wasm,
# each with a fresh instance per request (the default). For an engine
# upgrade or any change to the serving path: build B from the change,
# then
#   A=path/to/wasmpod B=path/to/other/wasmpod ROUNDS=5 bench/ab-builds.sh
# Prints each round's RPS, then the medians and the B/A ratios, and the
# 0.3/0.2 ratio of each build.
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE RUST_LIB_BACKTRACE
: "${A:?set A to a wasmpod binary}" "${B:?set B to another wasmpod binary}"
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
P3=${P3:-../shared/conformance/wasi-testsuite-p3}
[ -f "$P3/http-service.wasm" ] || { echo "no WASI 0.3 fixtures in $P3" >&2; exit 1; }
command -v wrk >/dev/null || { echo "install wrk (scripts/setup.sh bench)" >&2; exit 1; }
for bin in "$A" "$B"; do [ -x "$bin" ] || { echo "not a program: $bin" >&2; exit 1; }; done

work=$(mktemp -d /tmp/wpab.XXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
pod() { # name component
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  containers:\n  - name: http\n    image: file://%s\n    ports: [{containerPort: 8080}]\n---\n' "$1" "$2"
}
{ pod p2 "$PWD/examples/http-service/http-hello.wat"
  pod p3 "$PWD/examples/http-service/http-hello-p3.wat"
  pod fixture "$(cd "$P3" && pwd)/http-service.wasm"; } > "$work/app.yaml"
declare -A port
for v in A B; do
  WASMPOD_HOME="$work/home-$v" "${!v}" up -f "$work/app.yaml" >"$work/$v.log" 2>&1 & pids+=($!)
done
for v in A B; do
  for _ in $(seq 300); do [ "$(grep -c 'served at' "$work/$v.log")" = 3 ] && break; sleep 0.1; done
  for n in p2 p3 fixture; do
    port[$v-$n]=$(sed -n "s|.* $n/http: Started.*served at http://127.0.0.1:\([0-9]*\)/.*|\1|p" "$work/$v.log")
    [ -n "${port[$v-$n]}" ] || { cat "$work/$v.log" >&2; exit 1; }
  done
done
names=(A-p3 B-p3 A-p2 B-p2 A-fixture B-fixture)
# Both builds give the same answers before any timing.
for n in p2 p3 fixture; do
  diff <(curl -fs "http://127.0.0.1:${port[A-$n]}/") <(curl -fs "http://127.0.0.1:${port[B-$n]}/")
done
for round in $(seq "$ROUNDS"); do
  for n in "${names[@]}"; do
    rps=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:${port[$n]}/" | awk '/Requests\/sec/ {print $2}')
    echo "round $round $n $rps"
  done
done | tee "$work/rounds"
median() { awk -v n="$1" '$3 == n {print $4}' "$work/rounds" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
declare -A med
echo "median RPS of $ROUNDS rounds (wrk -t2 -c$CONNECTIONS -d$DURATION):"
for n in "${names[@]}"; do med[$n]=$(median "$n"); printf '  %-10s %s\n' "$n" "${med[$n]}"; done
for n in p2 p3 fixture; do
  awk -v n="$n" -v a="${med[A-$n]}" -v b="${med[B-$n]}" 'BEGIN {printf "  B/A %-8s %.2fx\n", n, b / a}'
done
for v in A B; do
  awk -v v="$v" -v p3="${med[$v-p3]}" -v p2="${med[$v-p2]}" 'BEGIN {printf "  %s 0.3/0.2   %.2fx\n", v, p3 / p2}'
done
