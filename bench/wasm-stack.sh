#!/usr/bin/env bash
# What the default wasm stack (8 MiB, Go's) costs against wasmtime's own
# default (512 KiB), in one run, interleaved:
#   - start-up of a cached `wasmpod run` of the hello example and of a
#     Go-built module (hyperfine, each stack size in turn);
#   - a `wasmpod up` of a Deployment of REPLICAS wasi:http pods, loaded with
#     wrk: requests per second, and the process's RSS afterwards divided by
#     the pods (memory per pod), each stack size in alternating rounds.
# Usage: make bench  (or RUNS=30 ROUNDS=3 REPLICAS=20 bench/wasm-stack.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-30}
ROUNDS=${ROUNDS:-3}
REPLICAS=${REPLICAS:-20}
DURATION=${DURATION:-5s}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}
WASMPOD=${WASMPOD:-$TARGET/release/wasmpod}
[ -x "$WASMPOD" ] || { echo "build wasmpod first: make release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "install wrk (scripts/setup.sh bench)" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export WASMPOD_HOME="$work/home"

clang --target=wasm32-wasi -O2 -o "$work/hello.wasm" examples/hello/hello.c
(cd tests/guests/go && GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false -o "$work/go.wasm" .)
"$WASMPOD" run "$work/hello.wasm" >/dev/null
"$WASMPOD" run "$work/go.wasm" exit 0

for stack in 512Ki 8Mi; do
  for guest in hello go; do
    args=("$work/$guest.wasm"); [ "$guest" = go ] && args+=(exit 0)
    hyperfine -N --runs "$RUNS" --warmup 3 --style none --output null \
      --export-json "$work/start-$guest-$stack.json" \
      "$WASMPOD run --max-wasm-stack $stack ${args[*]}" >/dev/null
  done
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
serve_round() { # stack round
  local stack=$1 round=$2 port
  port=$(free_port)
  cat > "$work/app.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello}
spec:
  replicas: $REPLICAS
  selector: {matchLabels: {app: hello}}
  template:
    metadata:
      labels: {app: hello}
      annotations: {wasmpod.dev/max-wasm-stack: $stack}
    spec:
      containers:
      - name: http
        image: file://$PWD/examples/http-service/http-hello.wat
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: hello}
spec:
  selector: {app: hello}
  ports: [{port: $port, targetPort: 8080}]
YAML
  "$WASMPOD" up -f "$work/app.yaml" >"$work/up.log" 2>&1 & local pid=$!
  pids+=("$pid")
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
  wrk -t2 -c32 -d"$DURATION" --latency "http://127.0.0.1:$port/" > "$work/wrk-$stack-$round.txt"
  awk '/^VmRSS/ {print $2}' "/proc/$pid/status" > "$work/rss-$stack-$round.txt"
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
}
for round in $(seq "$ROUNDS"); do
  serve_round 512Ki "$round"
  serve_round 8Mi "$round"
done

python3 - "$work" "$RUNS" "$ROUNDS" "$REPLICAS" "$DURATION" <<'PY'
import json, re, statistics, sys
work, runs, rounds, replicas, dur = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def start(guest, stack):
    t = json.load(open(f"{work}/start-{guest}-{stack}.json"))["results"][0]["times"]
    return statistics.median(t) * 1000
def rps(stack, r):
    return float(re.search(r"Requests/sec:\s+([\d.]+)", open(f"{work}/wrk-{stack}-{r}.txt").read()).group(1))
def rss(stack, r):
    return int(open(f"{work}/rss-{stack}-{r}.txt").read()) / 1024
print(f"| cached `wasmpod run` ({runs} runs each) | 512Ki median | 8Mi median | ratio (8Mi/512Ki) |")
print("|---|---|---|---|")
for guest, label in [("hello", "hello (C)"), ("go", "Go-built module, `exit 0`")]:
    a, b = start(guest, "512Ki"), start(guest, "8Mi")
    print(f"| {label} | {a:.2f} ms | {b:.2f} ms | {b/a:.2f}x |")
print()
print(f"| `wasmpod up`, {replicas} wasi:http pods, wrk -c32 -d{dur}, median of {rounds} rounds | 512Ki | 8Mi | ratio (8Mi/512Ki) |")
print("|---|---|---|---|")
for label, f in [("requests per second", rps), ("RSS after the load, MiB", rss)]:
    a = statistics.median(f("512Ki", r) for r in range(1, rounds + 1))
    b = statistics.median(f("8Mi", r) for r in range(1, rounds + 1))
    print(f"| {label} | {a:.0f} | {b:.0f} | {b/a:.2f}x |")
a = statistics.median(rss("512Ki", r) for r in range(1, rounds + 1)) / replicas
b = statistics.median(rss("8Mi", r) for r in range(1, rounds + 1)) / replicas
print(f"| RSS per pod, MiB | {a:.2f} | {b:.2f} | {b/a:.2f}x |")
PY
