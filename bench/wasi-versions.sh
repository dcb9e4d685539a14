#!/usr/bin/env bash
# WASI 0.3 against 0.2 (and preview 1), in one run, interleaved:
#   - HTTP: the 0.2 hello service (examples/http-service/http-hello.wat),
#     its 0.3 twin (http-hello-p3.wat, the same program) and the 0.3
#     conformance fixture http-service.wasm (Rust, "hey\n"), each under
#     `wasmpod up` (the pod's port) and under `wasmtime serve`
#     (wasmtime-cli 48.0.8; -S cli -S p3 -W component-model-async for 0.3,
#     whose guests import wasi:cli too; 0.3 both with its default instance
#     reuse and with a fresh instance per request), loaded with wrk in
#     alternating rounds;
#   - cold start through containerd: `ctr run --rm` of a 0.3 command and
#     its 0.2 twin (tests/guests/p3-exit.wat, p2-exit.wat), and of a 0.3
#     command (the fixture wall-clock.wasm), a 0.2 command (the probe
#     component, `exit 0`)
#     and a preview 1 module (the probe, `exit 0`), as compat images under
#     the wasmpod shim with a warm compile cache.
# Needs root (containerd), the release binaries, and the test guests built
# (cargo test --no-run). Usage: make bench  (or ROUNDS=3 RUNS=30 bench/wasi-versions.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
# As deployed: with RUST_BACKTRACE set, every server captures a backtrace
# for each error it creates (wasmtime makes one per WASI 0.3 request).
unset RUST_BACKTRACE RUST_LIB_BACKTRACE

ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-30}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-32}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}
WASMPOD=$TARGET/release/wasmpod
SHIM=$TARGET/release/containerd-shim-wasmpod-v1
WASMTIME=${WASMTIME:-wasmtime}
P3=${P3:-../shared/conformance/wasi-testsuite-p3}
[ -x "$WASMPOD" ] && [ -x "$SHIM" ] || { echo "build first: cargo build --release -p wasmpod -p wasmpod-shim" >&2; exit 1; }
"$WASMTIME" --version | grep -q '^wasmtime 48\.' || { echo "need wasmtime 48 (scripts/setup.sh bench)" >&2; exit 1; }
[ -f "$P3/http-service.wasm" ] || { echo "no WASI 0.3 fixtures in $P3" >&2; exit 1; }
guests=$(ls -td "$TARGET"/debug/build/wasmpod-test-guests-*/out 2>/dev/null | head -1)
[ -f "$guests/probe.component.wasm" ] || { echo "build the test guests first: cargo test --no-run" >&2; exit 1; }
command -v wrk >/dev/null || { echo "install wrk (scripts/setup.sh bench)" >&2; exit 1; }

work=$(mktemp -d /tmp/wpbench.XXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -9 -f -- "-address $work/c.sock" 2>/dev/null || true
  wait 2>/dev/null || true
  grep "$work" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 300); do curl -fs "http://127.0.0.1:$1/" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no server on $1" >&2; return 1; }

# --- HTTP -------------------------------------------------------------------
# Three guests: the 0.2 hello (examples/http-service/http-hello.wat), its
# 0.3 twin (http-hello-p3.wat: the same program, the same answer), and the
# conformance fixture (a Rust 0.3 service, "hey\n").
p2_component=$PWD/examples/http-service/http-hello.wat
p3_component=$PWD/examples/http-service/http-hello-p3.wat
fixture=$(cd "$P3" && pwd)/http-service.wasm
pod() { # name component [annotations]
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s, annotations: {%s}}\nspec:\n  containers:\n  - name: http\n    image: file://%s\n    ports: [{containerPort: 8080}]\n---\n' "$1" "${3:-}" "$2"
}
# The "reused" pods reuse instances as wasmtime serve does for 0.3 by
# default (128 requests, 16 at once).
reuse='wasmpod.dev/max-instance-reuse-count: "128", wasmpod.dev/max-instance-concurrent-reuse-count: "16"'
{ pod p2 "$p2_component"; pod p3 "$p3_component"; pod fixture "$fixture"
  pod p3-reused "$p3_component" "$reuse"; pod fixture-reused "$fixture" "$reuse"; } > "$work/app.yaml"
WASMPOD_HOME="$work/home" "$WASMPOD" up -f "$work/app.yaml" >"$work/wasmpod.log" 2>&1 & pids+=($!)
# wasmtime serve reuses a WASI 0.3 instance for up to 128 requests (16 at
# once) by default; wasmpod makes a fresh one per request, as both do for
# 0.2. The same isolation in wasmtime: --max-instance-reuse-count 1.
declare -A port
serve() { # name reuse(default|fresh) component
  local p; p=$(free_port); port[$1]=$p
  local flags=()
  [ "$3" != "$p2_component" ] && flags=(-S cli -S p3 -W component-model-async)
  [ "$2" = fresh ] && flags+=(--max-instance-reuse-count 1)
  "$WASMTIME" serve "${flags[@]}" --addr "127.0.0.1:$p" "$3" 2>"$work/$1.log" >/dev/null & pids+=($!)
}
serve wasmtime-p2 default "$p2_component"
serve wasmtime-p3 default "$p3_component"
serve wasmtime-p3-fresh fresh "$p3_component"
serve wasmtime-fixture default "$fixture"
serve wasmtime-fixture-fresh fresh "$fixture"
for _ in $(seq 300); do [ "$(grep -c 'served at' "$work/wasmpod.log")" = 5 ] && break; sleep 0.1; done
for n in p2 p3 fixture p3-reused fixture-reused; do
  port[wasmpod-$n]=$(sed -n "s|.* $n/http: Started.*served at http://127.0.0.1:\([0-9]*\)/.*|\1|p" "$work/wasmpod.log")
  [ -n "${port[wasmpod-$n]}" ] || { cat "$work/wasmpod.log"; exit 1; }
done
names=(wasmpod-p3 wasmpod-p2 wasmtime-p3 wasmtime-p3-fresh wasmtime-p2 wasmpod-fixture wasmtime-fixture wasmtime-fixture-fresh
       wasmpod-p3-reused wasmpod-fixture-reused)
for n in "${names[@]}"; do wait_http "${port[$n]}"; done
# The same answers from every server of one guest before timing.
hello=$(curl -fs "http://127.0.0.1:${port[wasmpod-p2]}/")
for n in wasmpod-p3 wasmpod-p3-reused wasmtime-p3 wasmtime-p3-fresh wasmtime-p2; do
  [ "$(curl -fs "http://127.0.0.1:${port[$n]}/")" = "$hello" ] || { echo "$n answers differently" >&2; exit 1; }
done
diff <(curl -fs "http://127.0.0.1:${port[wasmpod-fixture]}/") <(curl -fs "http://127.0.0.1:${port[wasmtime-fixture]}/")
diff <(curl -fs "http://127.0.0.1:${port[wasmpod-fixture-reused]}/") <(curl -fs "http://127.0.0.1:${port[wasmtime-fixture]}/")
load() { wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:${port[$1]}/" > "$work/$1.$round.txt"; }
for round in $(seq "$ROUNDS"); do
  for n in "${names[@]}"; do load "$n"; done
done
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

# --- cold start through containerd -----------------------------------------
. bench/lib.sh
start_registry "$work"
pids+=("$REGISTRY_PID")
port=$REGISTRY_PORT
push() { WASMPOD_HOME="$work/push" "$WASMPOD" push -q --compat --path "/$2" "$1" "127.0.0.1:$port/bench/$3:v1" >/dev/null; }
push "$guests/probe.wasm" probe.wasm p1
push "$guests/probe.component.wasm" probe.wasm p2
push "$P3/wall-clock.wasm" wall-clock.wasm p3
push "$guests/p3-exit.wat.wasm" exit.wasm p3-exit
push "$guests/p2-exit.wat.wasm" exit.wasm p2-exit
mkdir -p "$work/bin"
ln -s "$SHIM" "$work/bin/containerd-shim-wasmpod-v1"
cat > "$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/c.sock"
[ttrpc]
  address = "$work/c-ttrpc.sock"
TOML
PATH="$work/bin:$PATH" WASMPOD_HOME="$work/home" containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do ctr -a "$work/c.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
ctr="ctr -a $work/c.sock -n bench"
run="$ctr run --rm --runtime io.containerd.wasmpod.v1"
for v in p1 p2 p3 p3-exit p2-exit; do $ctr images pull -q --plain-http "127.0.0.1:$port/bench/$v:v1" >/dev/null; done
# Warm the compile cache; each must exit 0.
$run "127.0.0.1:$port/bench/p1:v1" w1 /probe.wasm exit 0 >/dev/null
$run "127.0.0.1:$port/bench/p2:v1" w2 /probe.wasm exit 0 >/dev/null
$run "127.0.0.1:$port/bench/p3:v1" w3 /wall-clock.wasm >/dev/null
$run "127.0.0.1:$port/bench/p3-exit:v1" w4 /exit.wasm >/dev/null
$run "127.0.0.1:$port/bench/p2-exit:v1" w5 /exit.wasm >/dev/null
python3 bench/interleave.py --runs "$RUNS" --warmup 2 --json "$work/cold.json" -- \
  p3-exit "$run 127.0.0.1:$port/bench/p3-exit:v1 {id} /exit.wasm" \
  p2-exit "$run 127.0.0.1:$port/bench/p2-exit:v1 {id} /exit.wasm" \
  p3 "$run 127.0.0.1:$port/bench/p3:v1 {id} /wall-clock.wasm" \
  p2 "$run 127.0.0.1:$port/bench/p2:v1 {id} /probe.wasm exit 0" \
  p1 "$run 127.0.0.1:$port/bench/p1:v1 {id} /probe.wasm exit 0"

python3 - "$work" "$ROUNDS" "$CONNECTIONS" "$DURATION" "$RUNS" <<'PY'
import json, re, statistics, sys
work, rounds, conns, dur, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
def parse(name, r):
    t = open(f"{work}/{name}.{r}.txt").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    p99 = ms(*re.search(r"99%\s+([\d.]+)(us|ms|s)", t).groups())
    return rps, p99
def med(name):
    rows = [parse(name, r) for r in range(1, rounds + 1)]
    return statistics.median(x[0] for x in rows), statistics.median(x[1] for x in rows)
print(f"| wrk -t2 -c{conns} -d{dur}, median of {rounds} rounds | RPS | p99 |")
print("|---|---|---|")
names = ["wasmpod-p3", "wasmpod-p2", "wasmtime-p3", "wasmtime-p3-fresh", "wasmtime-p2",
         "wasmpod-fixture", "wasmtime-fixture", "wasmtime-fixture-fresh",
         "wasmpod-p3-reused", "wasmpod-fixture-reused"]
m = {n: med(n) for n in names}
for n, label in [("wasmpod-p3", "wasmpod up, WASI 0.3 hello"), ("wasmpod-p2", "wasmpod up, WASI 0.2 hello"),
                 ("wasmpod-p3-reused", "wasmpod up, WASI 0.3 hello, instances reused (128, 16 at once)"),
                 ("wasmtime-p3", "wasmtime serve, WASI 0.3 hello (instances reused)"),
                 ("wasmtime-p3-fresh", "wasmtime serve, WASI 0.3 hello, a fresh instance per request"),
                 ("wasmtime-p2", "wasmtime serve, WASI 0.2 hello"),
                 ("wasmpod-fixture", "wasmpod up, WASI 0.3 fixture (Rust)"),
                 ("wasmpod-fixture-reused", "wasmpod up, WASI 0.3 fixture, instances reused (128, 16 at once)"),
                 ("wasmtime-fixture", "wasmtime serve, WASI 0.3 fixture (instances reused)"),
                 ("wasmtime-fixture-fresh", "wasmtime serve, WASI 0.3 fixture, a fresh instance per request")]:
    print(f"| {label} | {m[n][0]:.0f} | {m[n][1]:.2f} ms |")
def ratio(label, a, b):
    print(f"| ratio, {label} | {m[a][0]/m[b][0]:.2f}x | {m[a][1]/m[b][1]:.2f}x |")
ratio("wasmpod 0.3 hello / wasmpod 0.2 hello", "wasmpod-p3", "wasmpod-p2")
ratio("wasmpod 0.3 hello / wasmtime serve 0.3 hello (fresh)", "wasmpod-p3", "wasmtime-p3-fresh")
ratio("wasmpod 0.3 hello reused / wasmpod 0.2 hello", "wasmpod-p3-reused", "wasmpod-p2")
ratio("wasmpod 0.3 hello reused / wasmtime serve 0.3 hello (reused)", "wasmpod-p3-reused", "wasmtime-p3")
ratio("wasmpod 0.2 hello / wasmtime serve 0.2 hello", "wasmpod-p2", "wasmtime-p2")
ratio("wasmpod fixture / wasmtime serve fixture (fresh)", "wasmpod-fixture", "wasmtime-fixture-fresh")
ratio("wasmpod fixture reused / wasmtime serve fixture (reused)", "wasmpod-fixture-reused", "wasmtime-fixture")
print()
res = json.load(open(f"{work}/cold.json"))
print(f"| ctr run --rm ({runs} runs each, interleaved), warm compile cache | median | ratio to its 0.2 row |")
print("|---|---|---|")
for n, label, base in [("p3-exit", "WASI 0.3 command (p3-exit.wat)", "p2-exit"),
                       ("p2-exit", "WASI 0.2 command (p2-exit.wat, its twin)", "p2-exit"),
                       ("p3", "WASI 0.3 command (wall-clock fixture)", "p2"),
                       ("p2", "WASI 0.2 command (probe component)", "p2"),
                       ("p1", "preview 1 module (probe)", "p2")]:
    a = statistics.median(res[n])
    print(f"| {label} | {a:.1f} ms | {a/statistics.median(res[base]):.2f}x |")
PY
