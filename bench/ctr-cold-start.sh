#!/usr/bin/env bash
# Cold start through containerd: time to the end of `ctr run --rm` for a
# hello program, as a Wasm compat image under io.containerd.wasmpod.v1 (warm
# compile cache) and as the same kind of program run natively by runc
# (io.containerd.runc.v2) from a busybox image built here. One containerd,
# one run, the commands interleaved. Needs root. Usage: make bench  (or RUNS=30 bench/ctr-cold-start.sh)
# CONTAINERD=1.7 uses containerd 1.7 (tests/containerd/build.sh: containerd,
# ctr and its runc shim) instead of Debian's 1.6, and adds a third command:
# the same module as a Wasm-layer image (wasmpod push --wasm-layer), which
# only containerd 1.7.7+ can run. PHASES=1 (needs perf) splits each run's
# time into ctr and containerd before the first shim exec, the shim
# processes' lifetimes, and ctr and containerd after the last one.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-30}
CONTAINERD=${CONTAINERD:-1.6}
case "$CONTAINERD" in
  1.6) ;;
  1.7) PATH="$(tests/containerd/build.sh):$PATH" ;;
  *) echo "CONTAINERD must be 1.6 or 1.7" >&2; exit 2 ;;
esac
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}
WASMPOD=$TARGET/release/wasmpod
SHIM=${SHIM:-$TARGET/release/containerd-shim-wasmpod-v1}
[ -x "$WASMPOD" ] && [ -x "$SHIM" ] || { echo "build first: cargo build --release -p wasmpod -p wasmpod-shim" >&2; exit 1; }
command -v busybox >/dev/null || { echo "install busybox-static (scripts/setup.sh bench)" >&2; exit 1; }

work=$(mktemp -d /tmp/wpbench.XXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -9 -f -- "-address $work/c.sock" 2>/dev/null || true
  grep "$work" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=bench/lib.sh
. bench/lib.sh
start_registry "$work"
pids+=("$REGISTRY_PID")
port=$REGISTRY_PORT

# The Wasm image: examples/hello as a compat image.
clang --target=wasm32-wasi -O2 -o "$work/hello.wasm" examples/hello/hello.c
WASMPOD_HOME="$work/push" "$WASMPOD" push -q --compat "$work/hello.wasm" "127.0.0.1:$port/bench/hello-wasm:v1" >/dev/null
WASMPOD_HOME="$work/push" "$WASMPOD" push -q --wasm-layer "$work/hello.wasm" "127.0.0.1:$port/bench/hello-layer:v1" >/dev/null

# The native image: a static busybox echoing the same greeting.
umoci init --layout "$work/layout" >/dev/null
umoci new --image "$work/layout:v1" >/dev/null
umoci unpack --rootless --image "$work/layout:v1" "$work/bundle" >/dev/null 2>&1
mkdir -p "$work/bundle/rootfs/bin"
cp "$(command -v busybox)" "$work/bundle/rootfs/bin/busybox"
umoci repack --image "$work/layout:v1" "$work/bundle" >/dev/null
umoci config --image "$work/layout:v1" --config.entrypoint /bin/busybox --config.cmd echo --config.cmd "Hello from native, world!" >/dev/null
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:v1" "docker://127.0.0.1:$port/bench/hello-native:v1"

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
$ctr images pull -q --plain-http "127.0.0.1:$port/bench/hello-wasm:v1" >/dev/null
$ctr images pull -q --plain-http "127.0.0.1:$port/bench/hello-native:v1" >/dev/null
layer=()
if [ "$CONTAINERD" = 1.7 ]; then
  $ctr images pull -q --plain-http "127.0.0.1:$port/bench/hello-layer:v1" >/dev/null
  $ctr run --rm --runtime io.containerd.wasmpod.v1 "127.0.0.1:$port/bench/hello-layer:v1" warm | grep -q "Hello from WebAssembly"
  layer=(-n wasmpod-layer "$ctr run --rm --runtime io.containerd.wasmpod.v1 127.0.0.1:$port/bench/hello-layer:v1 l\$RANDOM\$RANDOM")
fi
# Warm the compile cache, and check both print their greeting.
$ctr run --rm --runtime io.containerd.wasmpod.v1 "127.0.0.1:$port/bench/hello-wasm:v1" warm | grep -q "Hello from WebAssembly"
$ctr run --rm --runtime io.containerd.runc.v2 "127.0.0.1:$port/bench/hello-native:v1" warm | grep -q "Hello from native"

# Interleaved, not one block per command: on a shared machine the load
# drifts over a minute, and blocks would hand the drift to one side.
# PHASES=1 also records, with perf, where each run's time goes: before the
# first shim exec, inside the shim processes' lifetimes, after the last one.
cmds=(wasmpod "$ctr run --rm --runtime io.containerd.wasmpod.v1 127.0.0.1:$port/bench/hello-wasm:v1 {id}"
      runc "$ctr run --rm --runtime io.containerd.runc.v2 127.0.0.1:$port/bench/hello-native:v1 {id}")
if [ "$CONTAINERD" = 1.7 ]; then
  cmds+=(wasmpod-layer "$ctr run --rm --runtime io.containerd.wasmpod.v1 127.0.0.1:$port/bench/hello-layer:v1 {id}")
fi
names=("${cmds[0]}" "${cmds[2]}"); [ "${#cmds[@]}" -gt 4 ] && names+=("${cmds[4]}")
runner=(python3 bench/interleave.py --runs "$RUNS" --warmup 2 --json "$work/cold.json" -- "${cmds[@]}")
if [ "${PHASES:-0}" = 1 ]; then
  command -v perf >/dev/null || { echo "PHASES=1 needs perf (linux-perf)" >&2; exit 1; }
  perf record -q -m 1024 -o "$work/perf.data" -a \
    -e sched:sched_process_exec,sched:sched_process_exit,sched:sched_process_fork \
    -e sched:sched_switch,sched:sched_wakeup,sched:sched_wakeup_new -- "${runner[@]}"
  # A lost event would leave a thread's interval open or missing.
  lost=$(perf report -i "$work/perf.data" --stats 2>/dev/null | awk '/LOST/ { for (i = 1; i < NF; i++) if ($i == "events:" && $(i + 1) + 0 > 0) { print $(i + 1); exit } }')
  [ -z "$lost" ] || { echo "perf lost $lost events; rerun on a quieter machine" >&2; exit 1; }
  perf script -i "$work/perf.data" -F comm,pid,tid,time,event,trace > "$work/sched.txt" 2>/dev/null
else
  "${runner[@]}"
fi

python3 - "$work/cold.json" "$RUNS" "$CONTAINERD" <<'PY'
import json, statistics, sys
res = json.load(open(sys.argv[1]))
b = statistics.median(res["runc"])
print(f"| ctr run --rm hello ({sys.argv[2]} runs each, interleaved) | wasmpod shim median | runc median | speed-up (runc/wasmpod) |")
print("|---|---|---|---|")
for name, image in (("wasmpod", "compat image"), ("wasmpod-layer", "Wasm-layer image")):
    if name in res:
        a = statistics.median(res[name])
        print(f"| containerd {sys.argv[3]}, {image}, warm compile cache | {a:.0f} ms | {b:.0f} ms | {b/a:.2f}x |")
PY
if [ "${PHASES:-0}" = 1 ]; then
  python3 bench/ctr-phases.py "$work/sched.txt" "${names[@]}"
fi
