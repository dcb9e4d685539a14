#!/usr/bin/env bash
# The first run of a module nothing has compiled before: `wasmpod run` with
# an empty compile cache against `wasmtime run -C cache=n` (wasmtime-cli
# 48.0.8), interleaved round by round (bench/interleave.py), for
#   - hello (examples/hello, clang -O2, wasi-libc);
#   - a 10 MiB module of many small functions (bench/gen-module.py), where
#     compiling, and storing 16 MB of code, take time;
#   - a burst of 20 different 256 KiB modules run back to back, one
#     command per side, so that a cache write left running by one run
#     would show in the runs after it.
# A plain `wasmpod run` of a module (no --timeout, no --cpus) compiles
# without epoch checks, as `wasmtime run` does; `wasmtime run -W
# timeout=3600s` (wasmtime with epoch checks, which every other wasmpod
# path compiles with) is timed too.
# Prints a Markdown table of medians and ratios (wasmpod / wasmtime; below
# 1.0 means wasmpod is faster). WASMPOD_BEFORE=PATH adds another wasmpod
# binary (an older build) to every round.
# Usage: make bench  (or RUNS=20 BIG_RUNS=5 BURST_RUNS=5 bench/first-run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-20}
BIG_RUNS=${BIG_RUNS:-5}
BURST_RUNS=${BURST_RUNS:-5}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}
WASMPOD=${WASMPOD:-$TARGET/release/wasmpod}
WASMPOD_BEFORE=${WASMPOD_BEFORE:-}
WASMTIME=${WASMTIME:-wasmtime}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$WASMTIME" --version | grep -q '^wasmtime 48\.' || { echo "need wasmtime 48 (scripts/setup.sh bench)" >&2; exit 1; }
[ -x "$WASMPOD" ] || { echo "build wasmpod first: make release" >&2; exit 1; }

clang --target=wasm32-wasi -O2 -o "$work/hello.wasm" examples/hello/hello.c
python3 bench/gen-module.py $((10 << 20)) 1 "$work/big.wasm"
burst=()
for i in $(seq 20); do
  python3 bench/gen-module.py $((256 << 10)) $((100 + i)) "$work/burst-$i.wasm"
  burst+=("$work/burst-$i.wasm")
done

# Both print the same greeting; make sure before timing anything.
diff <(WASMPOD_HOME="$work/check" "$WASMPOD" run "$work/hello.wasm") <("$WASMTIME" run -C cache=n "$work/hello.wasm")

# Commands for one side: NAME PREFIX. Every wasmpod run (or burst) gets a
# state folder nobody has used ({id} is fresh per run), so its cache is
# empty without timing a removal; the folders go after each table row.
cmds=()
sides() { # label wasm...
  local label=$1; shift
  local each="" pod
  for pod in wasmpod ${WASMPOD_BEFORE:+before}; do
    local bin=$WASMPOD home="$work/homes/$pod-{id}"
    [ "$pod" = before ] && bin=$WASMPOD_BEFORE
    each="true"
    for m in "$@"; do each+=" && WASMPOD_HOME=$home $bin run $m"; done
    cmds+=("$label-$pod" "$each")
  done
  each="true"
  for m in "$@"; do each+=" && $WASMTIME run -C cache=n $m"; done
  cmds+=("$label-wasmtime" "$each")
  each="true"
  for m in "$@"; do each+=" && $WASMTIME run -C cache=n -W timeout=3600s $m"; done
  cmds+=("$label-wasmtime_epoch" "$each")
}

cmds=(); sides hello "$work/hello.wasm"
python3 bench/interleave.py --runs "$RUNS" --warmup 2 --json "$work/hello.json" -- "${cmds[@]}"
rm -rf "$work/homes"
cmds=(); sides big "$work/big.wasm"
python3 bench/interleave.py --runs "$BIG_RUNS" --warmup 1 --json "$work/big.json" -- "${cmds[@]}"
rm -rf "$work/homes"
cmds=(); sides burst "${burst[@]}"
python3 bench/interleave.py --runs "$BURST_RUNS" --warmup 1 --json "$work/burst.json" -- "${cmds[@]}"
rm -rf "$work/homes"

python3 - "$work" "$RUNS" "$BIG_RUNS" "$BURST_RUNS" <<'PY'
import json, statistics, sys
work, runs, big_runs, burst_runs = sys.argv[1:]
rows = [("hello", f"first run of hello ({runs} runs)"),
        ("big", f"first run of a 10 MiB module ({big_runs} runs)"),
        ("burst", f"20 first runs of 20 256 KiB modules, back to back ({burst_runs} bursts)")]
res = {k: json.load(open(f"{work}/{k}.json")) for k, _ in rows}
before = any(name.endswith("-before") for name in res["hello"])
head = "| first run, interleaved | wasmpod median |"
if before:
    head += " wasmpod before median |"
head += " wasmtime `-C cache=n` | ratio | wasmtime `-C cache=n -W timeout=3600s` | ratio |"
print(head)
print("|---" * (head.count("|") - 1) + "|")
def fmt(ms):
    return f"{ms:.0f} ms" if ms >= 1000 else f"{ms:.1f} ms"
for key, label in rows:
    med = {n.split("-", 1)[1]: statistics.median(t) for n, t in res[key].items()}
    line = f"| {label} | {fmt(med['wasmpod'])} |"
    if before:
        line += f" {fmt(med['before'])} |"
    for peer in ["wasmtime", "wasmtime_epoch"]:
        line += f" {fmt(med[peer])} | {med['wasmpod'] / med[peer]:.2f}x |"
    print(line)
PY
