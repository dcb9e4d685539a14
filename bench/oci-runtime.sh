#!/usr/bin/env bash
# wasmpod-oci against runc as the low-level runtime of Podman 4.3 (with
# conmon) and of Docker 20.10 (through containerd-shim-runc-v2), in one run:
#   1. `podman run --rm` of a hello program: examples/hello as a Wasm module
#      in a one-file image under wasmpod-oci (compile cache warm), and a
#      static busybox (`busybox echo`) in a one-file image under runc;
#   2. the same through `docker run --rm --runtime NAME` on a dockerd of its
#      own, with both runtimes registered with --add-runtime;
#   3. memory per idle container under Podman: IDLE detached containers of
#      each (a Wasm guest in sleep(600), busybox `sleep 600`), PSS summed
#      over the container processes, and over them and their conmons.
# Runs are interleaved (bench/interleave.py: wasmpod, runc, wasmpod, ...),
# so a drift in the machine's load reaches both alike. Prints Markdown
# tables of medians and ratios. Everything lives in one temp folder, removed
# at exit. Needs root.
# Usage: make bench  (or RUNS=30 IDLE=10 bench/oci-runtime.sh)
# PHASES=1 (needs perf) also splits each run at the calls of the runtime
# (bench/oci-phases.py): the engine before `create`, create, start, the
# engine after start, and the time in and outside the runtime's calls.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

RUNS=${RUNS:-30}
IDLE=${IDLE:-10}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}
OCI=${WASMPOD_OCI:-$TARGET/release/wasmpod-oci}
RUNC=$(command -v runc || true)
[ -x "$OCI" ] || { echo "build first: cargo build --release -p wasmpod-oci-runtime" >&2; exit 1; }
[ -n "$RUNC" ] || { echo "install runc (scripts/setup.sh)" >&2; exit 1; }
[ -x /usr/bin/docker ] || { echo "install docker.io, whose client is /usr/bin/docker (scripts/setup.sh)" >&2; exit 1; }
for tool in podman conmon dockerd busybox clang python3; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (scripts/setup.sh bench)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }

# Short: dockerd's socket paths must fit in 108 bytes.
work=$(mktemp -d /tmp/wpoci.XXXX)
cgparent=/wasmpod-bench-oci-$$
cleanup() {
  set +e
  if [ -n "${CONTAINERS_CONF:-}" ]; then
    timeout 120 podman rm --all --force --time 0 >/dev/null 2>&1
  fi
  if [ -n "${DOCKERD_PID:-}" ]; then
    mapfile -t ids < <(timeout 30 "${DOCKER[@]}" ps --all --quiet 2>/dev/null)
    [ "${#ids[@]}" -gt 0 ] && timeout 60 "${DOCKER[@]}" rm --force "${ids[@]}" >/dev/null 2>&1
    stop_dockerd "$work/d"
  fi
  [ -n "${PERF_PID:-}" ] && kill -INT "$PERF_PID" 2>/dev/null
  # What a failed run left (conmon, wasmpod-oci processes, podman cleanup
  # commands), found by the temp folder in their command lines.
  for p in $(pids_naming "$work/"); do kill -9 "$p" 2>/dev/null; done
  unmount_under "$work"
  remove_cgroups "$cgparent" libpod_parent/conmon libpod_parent
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
# shellcheck source=bench/lib.sh
. bench/lib.sh
trap cleanup EXIT

# The compile cache of wasmpod-oci, and nothing else of wasmpod, in here:
# conmon and containerd pass their environment on to the runtime.
export WASMPOD_HOME=$work/home

# Guests: examples/hello, and a module that sleeps (poll_oneoff).
clang --target=wasm32-wasi -O2 -o "$work/hello.wasm" examples/hello/hello.c
cat > "$work/sleep.c" <<'C'
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) { sleep(argc > 1 ? atoi(argv[1]) : 600); return 0; }
C
clang --target=wasm32-wasi -O2 -o "$work/sleep.wasm" "$work/sleep.c"

# One-file images. The Wasm ones say wasi/wasm for Podman (which warns and
# runs them) and linux/amd64 for Docker 20.10 (which refuses wasi).
img=(python3 "$repo/bench/image-archive.py")
"${img[@]}" "$work/hello-wasm.tar" localhost/bench/hello-wasm:1 --os wasi --arch wasm \
  --entrypoint /hello.wasm "$work/hello.wasm:/hello.wasm"
"${img[@]}" "$work/hello-wasm-linux.tar" localhost/bench/hello-wasm-linux:1 \
  --entrypoint /hello.wasm "$work/hello.wasm:/hello.wasm"
"${img[@]}" "$work/sleep-wasm.tar" localhost/bench/sleep-wasm:1 --os wasi --arch wasm \
  --entrypoint /sleep.wasm --cmd 600 "$work/sleep.wasm:/sleep.wasm"
"${img[@]}" "$work/busybox.tar" localhost/bench/busybox:1 \
  --entrypoint /bin/busybox --cmd echo --cmd "Hello from native, world!" "$(command -v busybox):/bin/busybox"

# Medians and the speed-up of the interleaved runs in JSON $1, as a table
# row labelled $2.
table() {
  python3 - "$1" "$2" "$RUNS" <<'PY'
import json, statistics, sys
res = json.load(open(sys.argv[1]))
a, b = statistics.median(res["wasmpod"]), statistics.median(res["runc"])
print(f"| {sys.argv[2]} ({sys.argv[3]} runs each, interleaved) | wasmpod-oci median | runc median | speed-up (runc/wasmpod-oci) |")
print("|---|---|---|---|")
print(f"| hello, warm compile cache | {a:.0f} ms | {b:.0f} ms | {b/a:.2f}x |")
PY
}

# interleaved NAME JSON CMD_WASMPOD CMD_RUNC [SEED_PID...]: RUNS runs of
# each, after 2 warm-ups. With PHASES=1, perf records every fork, exec and
# exit on the machine meanwhile, and bench/oci-phases.py splits the runs
# of this script's descendants (and of each SEED_PID's: dockerd and its
# containerd) at the runtime's calls.
interleaved() {
  local name=$1 json=$2 wasmpod=$3 runc=$4 seeds=(--seed "$$") p; shift 4
  for p in "$@"; do seeds+=(--seed "$p"); done
  if [ "${PHASES:-0}" = 1 ]; then
    perf record -q -o "$work/$name.perf" -a \
      -e sched:sched_process_fork,sched:sched_process_exec,sched:sched_process_exit 2>/dev/null &
    PERF_PID=$!
    sleep 1
  fi
  python3 "$repo/bench/interleave.py" --runs "$RUNS" --warmup 2 --timeout 120 \
    --json "$json" -- wasmpod "$wasmpod" runc "$runc"
  table "$json" "$name run --rm"
  if [ "${PHASES:-0}" = 1 ]; then
    kill -INT "$PERF_PID"
    wait "$PERF_PID" || true
    PERF_PID=""
    perf script -i "$work/$name.perf" -F comm,pid,time,event,trace > "$work/$name.sched" 2>/dev/null
    python3 "$repo/bench/oci-phases.py" --warmup 2 "${seeds[@]}" "${marks[@]}" \
      "$work/$name.sched" "/usr/bin/$name" "wasmpod-oci=$OCI" "runc=$RUNC"
  fi
}

## 1. Podman.
podman_config "$work/p" "wasmpod=$OCI" "runc=$RUNC"
# Podman runs the runtime in its own working directory: keep it in here.
cd "$work/p"
for t in hello-wasm sleep-wasm busybox; do podman load --quiet --input "$work/$t.tar" >/dev/null; done
podman --runtime wasmpod run --rm localhost/bench/hello-wasm:1 2>/dev/null | grep -q "Hello from WebAssembly"
podman --runtime runc run --rm localhost/bench/busybox:1 | grep -q "Hello from native"
[ -d "$WASMPOD_HOME/cache" ] || { echo "wasmpod-oci did not use WASMPOD_HOME=$WASMPOD_HOME" >&2; exit 1; }
# The engine's own processes, for the timeline of PHASES=1: podman runs
# `conmon --version`, then conmon for the container, and conmon runs
# `podman container cleanup` (its --exit-command) when the container exits.
marks=(--mark conmon=/usr/bin/conmon --mark podman=/usr/bin/podman)
interleaved podman "$work/podman.json" \
  "podman --runtime wasmpod run --rm localhost/bench/hello-wasm:1" \
  "podman --runtime runc run --rm localhost/bench/busybox:1"

## 2. Docker.
cd "$work"
start_dockerd "$work/d" "$cgparent" "wasmpod=$OCI" "runc-test=$RUNC"
for t in hello-wasm-linux busybox; do "${DOCKER[@]}" load --quiet --input "$work/$t.tar" >/dev/null; done
"${DOCKER[@]}" run --rm --runtime wasmpod localhost/bench/hello-wasm-linux:1 | grep -q "Hello from WebAssembly"
"${DOCKER[@]}" run --rm --runtime runc-test localhost/bench/busybox:1 | grep -q "Hello from native"
# containerd runs a shim per container (`start`, which forks the server),
# and the shim runs the runtime.
marks=(--mark shim=/usr/bin/containerd-shim-runc-v2)
echo
# shellcheck disable=SC2046 # pids, one word each
interleaved docker "$work/docker.json" \
  "${DOCKER[*]} run --rm --runtime wasmpod localhost/bench/hello-wasm-linux:1" \
  "${DOCKER[*]} run --rm --runtime runc-test localhost/bench/busybox:1" \
  $(pids_naming "$work/d")
stop_dockerd "$work/d"

## 3. Idle containers under Podman, one runtime after the other (PSS shares
## a page among the processes that map it: both at once would split
## conmon's pages between the two sides).
cd "$work/p"
idle() { # NAME RUNTIME IMAGE ARGS...: prints KiB summed over the containers
  local name=$1 runtime=$2 image=$3; shift 3
  local i c pid conmon names=() pids=() conmons=() f
  for i in $(seq "$IDLE"); do
    names+=("$name$i")
    # Podman warns that a wasi/wasm image is not linux/amd64, and runs it.
    podman --runtime "$runtime" run -d --name "$name$i" "$image" "$@" \
      2> >(grep -v 'does not match the expected platform' >&2) >/dev/null
  done
  for c in "${names[@]}"; do
    read -r pid conmon < <(podman inspect --format '{{.State.Pid}} {{.State.ConmonPid}}' "$c")
    [ "$pid" -gt 0 ] || { echo "$c is not running" >&2; exit 1; }
    pids+=("$pid"); conmons+=("$conmon")
  done
  # Past start-up: what an idle container keeps.
  sleep 3
  for f in Pss Pss_Anon Pss_File Rss; do printf '%s ' "$(rollup_kib "$f" "${pids[@]}")"; done
  rollup_kib Pss "${conmons[@]}"
  podman rm --force --time 0 "${names[@]}" >/dev/null
}
wasmpod=$(idle w wasmpod localhost/bench/sleep-wasm:1)
runc=$(idle r runc localhost/bench/busybox:1 sleep 600)
echo
python3 - "$IDLE" "$wasmpod" "$runc" <<'PY'
import sys
n = int(sys.argv[1])
w, r = ([int(v) / n / 1024 for v in a.split()] for a in sys.argv[2:])
print(f"| {n} idle containers under Podman, per container | wasmpod-oci | runc | ratio (wasmpod-oci/runc) |")
print("|---|---|---|---|")
rows = [("PSS, container process", 0), ("of which anonymous", 1), ("of which file-backed (binaries, libraries)", 2)]
for label, i in rows:
    print(f"| {label} | {w[i]:.2f} MiB | {r[i]:.2f} MiB | {w[i]/r[i]:.2f}x |")
print(f"| PSS, conmon | {w[4]:.2f} MiB | {r[4]:.2f} MiB | {w[4]/r[4]:.2f}x |")
print(f"| PSS, container process and its conmon | {w[0] + w[4]:.2f} MiB | {r[0] + r[4]:.2f} MiB | {(w[0] + w[4])/(r[0] + r[4]):.2f}x |")
print(f"| RSS, container process | {w[3]:.2f} MiB | {r[3]:.2f} MiB | {w[3]/r[3]:.2f}x |")
PY
