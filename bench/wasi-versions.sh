#!/usr/bin/env bash
# WASI 0.3 against 0.2 (and preview 1), in one run, interleaved:
#   - HTTP: a 0.3 hello service (the conformance fixture http-service.wasm,
#     "hey\n") and the 0.2 one (examples/http-service/http-hello.wat), each
#     under `wasmpod up` (the pod's port) and under `wasmtime serve`
#     (wasmtime-cli 48.0.8; -S cli -S p3 -W component-model-async for 0.3,
#     whose guests import wasi:cli too), loaded
#     with wrk in alternating rounds;
#   - cold start through containerd: `ctr run --rm` of a 0.3 command (the
#     fixture wall-clock.wasm), a 0.2 command (the probe component, `exit 0`)
#     and a preview 1 module (the probe, `exit 0`), as compat images under
#     the wasmpod shim with a warm compile cache.
# Needs root (containerd), the release binaries, and the test guests built
# (cargo test --no-run). Usage: make bench  (or ROUNDS=3 RUNS=30 bench/wasi-versions.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

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
p2_component=$PWD/examples/http-service/http-hello.wat
p3_component=$(cd "$P3" && pwd)/http-service.wasm
cat > "$work/app.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: p2}
spec:
  containers:
  - name: http
    image: file://$p2_component
    ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: p3}
spec:
  containers:
  - name: http
    image: file://$p3_component
    ports: [{containerPort: 8080}]
YAML
WASMPOD_HOME="$work/home" "$WASMPOD" up -f "$work/app.yaml" >"$work/wasmpod.log" 2>&1 & pids+=($!)
t2=$(free_port); t3=$(free_port); t1=$(free_port)
"$WASMTIME" serve --addr "127.0.0.1:$t2" "$p2_component" 2>"$work/wasmtime-p2.log" >/dev/null & pids+=($!)
"$WASMTIME" serve -S cli -S p3 -W component-model-async --addr "127.0.0.1:$t3" "$p3_component" 2>"$work/wasmtime-p3.log" >/dev/null & pids+=($!)
# wasmtime serve reuses a WASI 0.3 instance for up to 128 requests (16 at
# once) by default; wasmpod makes a fresh one per request, as both do for
# 0.2. The same isolation in wasmtime: one request per instance.
"$WASMTIME" serve -S cli -S p3 -W component-model-async --max-instance-reuse-count 1 \
  --addr "127.0.0.1:$t1" "$p3_component" 2>"$work/wasmtime-p3-fresh.log" >/dev/null & pids+=($!)
for _ in $(seq 300); do [ "$(grep -c 'served at' "$work/wasmpod.log")" = 2 ] && break; sleep 0.1; done
w2=$(sed -n 's|.*p2/http: Started.*served at http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$work/wasmpod.log")
w3=$(sed -n 's|.*p3/http: Started.*served at http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$work/wasmpod.log")
[ -n "$w2" ] && [ -n "$w3" ] || { cat "$work/wasmpod.log"; exit 1; }
wait_http "$w2"; wait_http "$w3"; wait_http "$t2"; wait_http "$t3"; wait_http "$t1"
# The same answers from both servers of each version before timing.
diff <(curl -fs "http://127.0.0.1:$w2/") <(curl -fs "http://127.0.0.1:$t2/")
diff <(curl -fs "http://127.0.0.1:$w3/") <(curl -fs "http://127.0.0.1:$t3/")
load() { wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$2/" > "$work/$1.$round.txt"; }
for round in $(seq "$ROUNDS"); do
  load wasmpod-p2 "$w2"; load wasmpod-p3 "$w3"; load wasmtime-p2 "$t2"; load wasmtime-p3 "$t3"
  load wasmtime-p3-fresh "$t1"
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
for v in p1 p2 p3; do $ctr images pull -q --plain-http "127.0.0.1:$port/bench/$v:v1" >/dev/null; done
# Warm the compile cache; each must exit 0.
$run "127.0.0.1:$port/bench/p1:v1" w1 /probe.wasm exit 0 >/dev/null
$run "127.0.0.1:$port/bench/p2:v1" w2 /probe.wasm exit 0 >/dev/null
$run "127.0.0.1:$port/bench/p3:v1" w3 /wall-clock.wasm >/dev/null
python3 bench/interleave.py --runs "$RUNS" --warmup 2 --json "$work/cold.json" -- \
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
m = {n: med(n) for n in ["wasmpod-p2", "wasmpod-p3", "wasmtime-p2", "wasmtime-p3", "wasmtime-p3-fresh"]}
for n, label in [("wasmpod-p3", "wasmpod up, WASI 0.3"), ("wasmpod-p2", "wasmpod up, WASI 0.2"),
                 ("wasmtime-p3", "wasmtime serve, WASI 0.3 (instances reused)"),
                 ("wasmtime-p3-fresh", "wasmtime serve, WASI 0.3, a fresh instance per request"),
                 ("wasmtime-p2", "wasmtime serve, WASI 0.2")]:
    print(f"| {label} | {m[n][0]:.0f} | {m[n][1]:.2f} ms |")
print(f"| ratio, wasmpod 0.3 / wasmpod 0.2 | {m['wasmpod-p3'][0]/m['wasmpod-p2'][0]:.2f}x | {m['wasmpod-p3'][1]/m['wasmpod-p2'][1]:.2f}x |")
print(f"| ratio, wasmpod 0.3 / wasmtime serve 0.3 (reused) | {m['wasmpod-p3'][0]/m['wasmtime-p3'][0]:.2f}x | {m['wasmpod-p3'][1]/m['wasmtime-p3'][1]:.2f}x |")
print(f"| ratio, wasmpod 0.3 / wasmtime serve 0.3 (fresh) | {m['wasmpod-p3'][0]/m['wasmtime-p3-fresh'][0]:.2f}x | {m['wasmpod-p3'][1]/m['wasmtime-p3-fresh'][1]:.2f}x |")
print()
res = json.load(open(f"{work}/cold.json"))
print(f"| ctr run --rm ({runs} runs each, interleaved), warm compile cache | median | ratio to 0.2 |")
print("|---|---|---|")
p2 = statistics.median(res["p2"])
for n, label in [("p3", "WASI 0.3 command (wall-clock)"), ("p2", "WASI 0.2 command (probe component)"), ("p1", "preview 1 module (probe)")]:
    a = statistics.median(res[n])
    print(f"| {label} | {a:.0f} ms | {a/p2:.2f}x |")
PY
