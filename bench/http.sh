#!/usr/bin/env bash
# HTTP serving: the same wasi:http hello component (examples/http-service/http-hello.wat)
# served by `wasmpod up` (a Pod and a Service) and by `wasmtime serve`
# (wasmtime-cli 48.0.8), driven by the same load generator (wrk, Debian) in
# one run, alternating ROUNDS times. wasmpod is measured at the pod's own
# port and through the Service (one more TCP hop, which wasmtime has no
# equivalent of). Prints RPS and p50/p99 latency medians and the ratios.
# Usage: make bench  (or ROUNDS=5 DURATION=10s CONNECTIONS=32 bench/http.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}
WASMPOD=${WASMPOD:-$TARGET/release/wasmpod}
WASMTIME=${WASMTIME:-wasmtime}
"$WASMTIME" --version | grep -q '^wasmtime 48\.' || { echo "need wasmtime 48 (scripts/setup.sh bench)" >&2; exit 1; }
[ -x "$WASMPOD" ] || { echo "build wasmpod first: make release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "install wrk (scripts/setup.sh bench)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 300); do curl -fs "http://127.0.0.1:$1/" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no server on $1" >&2; return 1; }

component=$PWD/examples/http-service/http-hello.wat
ps=$(free_port); p2=$(free_port)
cat > "$work/app.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: hello, labels: {app: hello}}
spec:
  containers:
  - name: http
    image: file://$component
    ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: hello}
spec:
  selector: {app: hello}
  ports: [{port: $ps, targetPort: 8080}]
YAML
WASMPOD_HOME="$work/home" "$WASMPOD" up -f "$work/app.yaml" >"$work/wasmpod.log" 2>&1 & pids+=($!)
"$WASMTIME" serve --addr "127.0.0.1:$p2" "$component" 2>"$work/wasmtime.log" >/dev/null & pids+=($!)
wait_http "$ps"; wait_http "$p2"
# The pod's own port, from its Started event.
p1=$(sed -n 's|.*served at http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$work/wasmpod.log" | head -1)
[ -n "$p1" ] || { cat "$work/wasmpod.log"; exit 1; }
# Same answer from all before timing anything.
diff <(curl -fs "http://127.0.0.1:$p1/") <(curl -fs "http://127.0.0.1:$p2/")
diff <(curl -fs "http://127.0.0.1:$ps/") <(curl -fs "http://127.0.0.1:$p2/")

load() { # name port
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$2/" > "$work/$1.$round.txt"
}
for round in $(seq "$ROUNDS"); do
  load wasmpod "$p1"
  load service "$ps"
  load wasmtime "$p2"
done

python3 - "$work" "$ROUNDS" "$CONNECTIONS" "$DURATION" <<'PY'
import glob, re, statistics, sys
work, rounds, conns, dur = sys.argv[1:]
def unit(v, u):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
def parse(name):
    rps, p50, p99 = [], [], []
    for f in sorted(glob.glob(f"{work}/{name}.*.txt")):
        t = open(f).read()
        if re.search(r"Non-2xx", t):
            sys.exit(f"{name}: non-2xx responses:\n{t}")
        rps.append(float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)))
        p50.append(unit(*re.search(r"50%\s+([\d.]+)(us|ms|s)", t).groups()))
        p99.append(unit(*re.search(r"99%\s+([\d.]+)(us|ms|s)", t).groups()))
    return statistics.median(rps), statistics.median(p50), statistics.median(p99)
a, s, b = parse("wasmpod"), parse("service"), parse("wasmtime")
print(f"| wrk -t2 -c{conns} -d{dur}, median of {rounds} rounds | RPS | p50 | p99 |")
print("|---|---|---|---|")
print(f"| wasmpod up, pod port | {a[0]:.0f} | {a[1]:.2f} ms | {a[2]:.2f} ms |")
print(f"| wasmpod up, through the Service | {s[0]:.0f} | {s[1]:.2f} ms | {s[2]:.2f} ms |")
print(f"| wasmtime serve | {b[0]:.0f} | {b[1]:.2f} ms | {b[2]:.2f} ms |")
print(f"| ratio, pod port (wasmpod / wasmtime) | {a[0]/b[0]:.2f}x | {a[1]/b[1]:.2f}x | {a[2]/b[2]:.2f}x |")
print(f"| ratio, Service (wasmpod / wasmtime) | {s[0]/b[0]:.2f}x | {s[1]/b[1]:.2f}x | {s[2]/b[2]:.2f}x |")
PY
