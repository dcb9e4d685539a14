#!/usr/bin/env bash
# Start-up time of `wasmpod run` against `wasmtime run` (wasmtime-cli 48.0.8)
# on the same hello module, in one run, with hyperfine:
#   - first run: nothing cached, both compile with Cranelift;
#   - cached run: wasmpod's compile cache warm, wasmtime's own cache warm.
# Prints a Markdown table of medians and ratios (wasmpod / wasmtime; below
# 1.0 means wasmpod is faster). Usage: make bench  (or RUNS=50 bench/run-startup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-40}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}
WASMPOD=${WASMPOD:-$TARGET/release/wasmpod}
WASMTIME=${WASMTIME:-wasmtime}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$WASMTIME" --version | grep -q '^wasmtime 48\.' || { echo "need wasmtime 48 (scripts/setup.sh bench)" >&2; exit 1; }
[ -x "$WASMPOD" ] || { echo "build wasmpod first: make release" >&2; exit 1; }

clang --target=wasm32-wasi -O2 -o "$work/hello.wasm" examples/hello/hello.c
export WASMPOD_HOME="$work/home"
printf '[cache]\ndirectory = "%s"\n' "$work/wasmtime-cache" > "$work/wasmtime-cache.toml"

# Both print the same greeting; make sure before timing anything.
diff <("$WASMPOD" run "$work/hello.wasm") <("$WASMTIME" run -C cache=n "$work/hello.wasm")

bench() { # name, prepare-or-empty, command...
  local name=$1 prepare=$2; shift 2
  local args=(-N --runs "$RUNS" --warmup 3 --style none --export-json "$work/$name.json" --output null)
  if [ -n "$prepare" ]; then args+=(--prepare "$prepare"); fi
  hyperfine "${args[@]}" "$*" >/dev/null
}

bench wasmpod-first "rm -rf $work/home/cache" "$WASMPOD" run "$work/hello.wasm"
bench wasmtime-first "" "$WASMTIME" run -C cache=n "$work/hello.wasm"
"$WASMPOD" run "$work/hello.wasm" >/dev/null
"$WASMTIME" run -C cache=y -C "cache-config=$work/wasmtime-cache.toml" "$work/hello.wasm" >/dev/null
bench wasmpod-cached "" "$WASMPOD" run "$work/hello.wasm"
bench wasmtime-cached "" "$WASMTIME" run -C cache=y -C "cache-config=$work/wasmtime-cache.toml" "$work/hello.wasm"

python3 - "$work" "$RUNS" <<'PY'
import json, statistics, sys
work, runs = sys.argv[1], sys.argv[2]
def times(name):
    return json.load(open(f"{work}/{name}.json"))["results"][0]["times"]
def med(name):
    return statistics.median(times(name)) * 1000
def p90(name):
    t = sorted(times(name)); return t[int(0.9 * (len(t) - 1))] * 1000
print(f"| hello module ({runs} runs each) | wasmpod median | wasmtime median | ratio (wasmpod/wasmtime) | wasmpod p90 | wasmtime p90 |")
print("|---|---|---|---|---|---|")
for label, key in [("first run (compiles)", "first"), ("cached run", "cached")]:
    a, b = med(f"wasmpod-{key}"), med(f"wasmtime-{key}")
    print(f"| {label} | {a:.2f} ms | {b:.2f} ms | {a/b:.2f}x | {p90(f'wasmpod-{key}'):.2f} ms | {p90(f'wasmtime-{key}'):.2f} ms |")
PY
