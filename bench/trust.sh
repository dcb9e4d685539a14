#!/usr/bin/env bash
# What a trust policy adds to a cached `wasmpod run IMAGE`: the same signed
# image, already pulled and compiled, run with no policy and with a policy
# that requires a signature (its verification cached, as after the first
# run), interleaved round by round (bench/interleave.py). Prints a Markdown
# table of medians and the difference; the target in #18 is under 2 ms.
# The key is an unencrypted P-256 key made with openssl, so cosign is not
# needed here. Usage: RUNS=200 bench/trust.sh (after `make release`)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

RUNS=${RUNS:-200}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}
WASMPOD=${WASMPOD:-$TARGET/release/wasmpod}
work=$(mktemp -d)
trap 'kill "${REGISTRY_PID:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
[ -x "$WASMPOD" ] || { echo "build wasmpod first: make release" >&2; exit 1; }

start_registry "$work"
image="127.0.0.1:$REGISTRY_PORT/bench/hello:v1"
clang --target=wasm32-wasi -O2 -o "$work/hello.wasm" examples/hello/hello.c
openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out "$work/key.pem"
openssl ec -in "$work/key.pem" -pubout -out "$work/key.pub" 2>/dev/null
WASMPOD_HOME="$work/push" "$WASMPOD" push -q --sign-key "$work/key.pem" "$work/hello.wasm" "$image" >/dev/null

# Two state folders with the image pulled and compiled; one has a policy.
for side in none policy; do
  mkdir -p "$work/$side"
  if [ "$side" = policy ]; then
    printf '[default]\naction = "require-signature"\nkeys = ["%s"]\n' "$work/key.pub" > "$work/$side/policy.toml"
  fi
  WASMPOD_HOME="$work/$side" "$WASMPOD" run "$image" >/dev/null
done
verbose=$(WASMPOD_HOME="$work/policy" "$WASMPOD" run --verbose "$image" 2>&1 >/dev/null)
grep -q '(cached)' <<<"$verbose" || { echo "the signature check was not cached: $verbose" >&2; exit 1; }

python3 bench/interleave.py --runs "$RUNS" --warmup 5 --json "$work/times.json" -- \
  none "WASMPOD_HOME=$work/none $WASMPOD run $image" \
  policy "WASMPOD_HOME=$work/policy $WASMPOD run $image"

python3 - "$work/times.json" "$RUNS" <<'PY'
import json, statistics, sys
t = json.load(open(sys.argv[1]))
none, policy = statistics.median(t["none"]), statistics.median(t["policy"])
print(f"| cached `wasmpod run IMAGE` ({sys.argv[2]} runs each, interleaved) | median |")
print("|---|---|")
print(f"| no policy | {none:.2f} ms |")
print(f"| policy requiring a signature, verification cached | {policy:.2f} ms |")
print(f"| added by the policy | {policy - none:+.2f} ms |")
PY
