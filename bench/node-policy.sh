#!/usr/bin/env bash
# What the node's trust policy adds to `ctr run --rm` under the wasmpod
# shim: two containerds on this machine, alike but for the policy their
# shim reads (WASMPOD_NODE_POLICY): one names no file (no policy), the
# other a policy requiring a signature, whose verification is cached after
# the warm-up run (as for every container of an image after its first).
# The same signed compat image (examples/hello) is pulled into both and
# compiled once in each; the runs are interleaved round by round
# (bench/interleave.py). The key is an unencrypted P-256 key made with
# openssl; `wasmpod push --sign-key` signs. Needs root.
# Usage: RUNS=60 bench/node-policy.sh (after cargo build --release -p wasmpod -p wasmpod-shim)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

RUNS=${RUNS:-60}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}
WASMPOD=$TARGET/release/wasmpod
SHIM=$TARGET/release/containerd-shim-wasmpod-v1
[ -x "$WASMPOD" ] && [ -x "$SHIM" ] || { echo "build first: cargo build --release -p wasmpod -p wasmpod-shim" >&2; exit 1; }

work=$(mktemp -d /tmp/wpbench.XXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -9 -f -- "-address $work/" 2>/dev/null || true
  grep "$work" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

start_registry "$work"
pids+=("$REGISTRY_PID")
image="127.0.0.1:$REGISTRY_PORT/bench/signed:v1"
clang --target=wasm32-wasi -O2 -o "$work/hello.wasm" examples/hello/hello.c
openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out "$work/key.pem"
openssl ec -in "$work/key.pem" -pubout -out "$work/key.pub" 2>/dev/null
WASMPOD_HOME="$work/push" "$WASMPOD" push -q --compat --sign-key "$work/key.pem" "$work/hello.wasm" "$image" >/dev/null
printf '[default]\naction = "require-signature"\nkeys = ["%s"]\n' "$work/key.pub" > "$work/policy.toml"

mkdir -p "$work/bin"
ln -s "$SHIM" "$work/bin/containerd-shim-wasmpod-v1"
# start_containerd NAME POLICY [RUST_LOG]: a containerd under $work/NAME
# whose shim reads POLICY.
start_containerd() {
  local d=$work/$1
  mkdir -p "$d"
  cat > "$d/config.toml" <<TOML
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/c.sock"
[ttrpc]
  address = "$d/c-ttrpc.sock"
TOML
  PATH="$work/bin:$PATH" WASMPOD_HOME="$d/home" WASMPOD_NODE_POLICY="$2" RUST_LOG="${3:-info}" \
    containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do ctr -a "$d/c.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
  ctr -a "$d/c.sock" -n bench images pull -q --plain-http "$image" >/dev/null
  # The warm-up: compiles the module, and verifies and caches the signature.
  ctr -a "$d/c.sock" -n bench run --rm --runtime io.containerd.wasmpod.v1 "$image" warm | grep -q "Hello from WebAssembly"
}
start_containerd none "$work/no-such-policy.toml"
start_containerd policy "$work/policy.toml"
[ -n "$(ls -A "$work/policy/home/trust/verified")" ] || { echo "the signature was not verified and cached" >&2; exit 1; }

python3 bench/interleave.py --runs "$RUNS" --warmup 2 --json "$work/times.json" -- \
  none "ctr -a $work/none/c.sock -n bench run --rm --runtime io.containerd.wasmpod.v1 $image {id}" \
  policy "ctr -a $work/policy/c.sock -n bench run --rm --runtime io.containerd.wasmpod.v1 $image {id}"

# The check's own time, as the shim logs it (debug level, so on a third
# containerd kept out of the comparison above).
start_containerd logged "$work/policy.toml" debug
for i in $(seq 20); do
  ctr -a "$work/logged/c.sock" -n bench run --rm --runtime io.containerd.wasmpod.v1 "$image" "l$i" >/dev/null
done

python3 - "$work/times.json" "$RUNS" "$work/logged/containerd.log" <<'PY'
import json, re, statistics, sys
t = json.load(open(sys.argv[1]))
none, policy = statistics.median(t["none"]), statistics.median(t["policy"])
inside = [int(m) for m in re.findall(r"admitted by the node policy.*?micros=(\d+)", open(sys.argv[3]).read())]
print(f"| `ctr run --rm` of a signed compat image ({sys.argv[2]} runs each, interleaved) | median |")
print("|---|---|")
print(f"| no node policy | {none:.1f} ms |")
print(f"| node policy requiring a signature, verification cached | {policy:.1f} ms |")
print(f"| added by the policy | {policy - none:+.1f} ms |")
if inside:
    print(f"| the check inside the shim (cached; median of {len(inside)}) | {statistics.median(inside) / 1000:.2f} ms |")
else:
    sys.exit("the shim logged no admission")
PY
