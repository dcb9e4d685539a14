#!/usr/bin/env bash
# Pull time of a ~10 MiB Wasm module from a local docker-registry: `wasmpod
# pull` (into an empty store) against `skopeo copy` (into an empty OCI
# layout), in one run, with hyperfine. Prints medians and the ratio
# (wasmpod / skopeo; below 1.0 means wasmpod is faster).
# Usage: make bench  (or RUNS=20 bench/pull.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-20}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}
WASMPOD=${WASMPOD:-$TARGET/release/wasmpod}
work=$(mktemp -d)
registry_pid=""
cleanup() { [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# shellcheck source=bench/lib.sh
. bench/lib.sh
start_registry "$work"
registry_pid=$REGISTRY_PID
port=$REGISTRY_PORT

# A valid module with a 10 MiB data segment of incompressible bytes.
python3 - "$work/big.wasm" <<'PY'
import os, sys
data = os.urandom(10 << 20)
def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7f; n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n: return bytes(out)
def section(i, body): return bytes([i]) + leb(len(body)) + body
mod = b"\0asm\x01\0\0\0"
mod += section(1, b"\x01\x60\x00\x00")                  # type: () -> ()
mod += section(3, b"\x01\x00")                          # func 0
mod += section(5, b"\x01\x00" + leb(256))               # memory 256 pages
mod += section(7, b"\x01\x06_start\x00\x00")            # export _start
mod += section(10, b"\x01\x02\x00\x0b")                 # empty body
seg = b"\x00\x41\x00\x0b" + leb(len(data)) + data       # active, offset 0
mod += section(11, b"\x01" + seg)
open(sys.argv[1], "wb").write(mod)
PY
ref="127.0.0.1:$port/bench/big:v1"
WASMPOD_HOME="$work/push-home" "$WASMPOD" push -q "$work/big.wasm" "$ref" >/dev/null

hyperfine -N --runs "$RUNS" --warmup 2 --style none --output null \
  --prepare "rm -rf $work/home $work/layout" \
  --export-json "$work/pull.json" \
  -n wasmpod "env WASMPOD_HOME=$work/home $WASMPOD pull -q $ref" \
  -n skopeo "skopeo copy -q --src-tls-verify=false docker://$ref oci:$work/layout:v1" >/dev/null

python3 - "$work/pull.json" "$RUNS" <<'PY'
import json, statistics, sys
res = {r["command"]: r["times"] for r in json.load(open(sys.argv[1]))["results"]}
a, b = statistics.median(res["wasmpod"]) * 1000, statistics.median(res["skopeo"]) * 1000
print(f"| pull 10 MiB module ({sys.argv[2]} runs each) | wasmpod median | skopeo median | ratio (wasmpod/skopeo) |")
print("|---|---|---|---|")
print(f"| local docker-registry, empty store | {a:.1f} ms | {b:.1f} ms | {a/b:.2f}x |")
PY
