#!/usr/bin/env bash
# The quick start's example: `wasmpod up` on examples/http-service/app.yaml,
# a wasi:http service (two replicas behind a Service on 127.0.0.1:8080) and
# a Job. Interactive: runs until Ctrl-C; curl http://127.0.0.1:8080/ meanwhile.
# With CI=true (or DEMO_SECONDS=N) it curls the Service itself, then stops.
set -euo pipefail
cd "$(dirname "$0")/.."
WASMPOD=${WASMPOD:-${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}/release/wasmpod}
app=examples/http-service/app.yaml

"$WASMPOD" run --verbose -e GREETING_NAME=wasmpod "${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}/examples-wasm/hello.wasm" -- from the quick start

if [ "${CI:-}" != true ] && [ -z "${DEMO_SECONDS:-}" ]; then
  echo
  echo "Starting the service. In another terminal:  curl http://127.0.0.1:8080/"
  echo "Ctrl-C stops it (gracefully; twice to force)."
  echo
  exec "$WASMPOD" up -f "$app"
fi

# Unattended: serve, answer a few requests through the Service, stop.
log=$(mktemp)
"$WASMPOD" up -f "$app" >"$log" 2>&1 &
up=$!
trap 'kill -INT $up 2>/dev/null || true; rm -f "$log"' EXIT
ok=0
for _ in $(seq 100); do
  if body=$(curl -fsS --max-time 2 http://127.0.0.1:8080/ 2>/dev/null); then ok=1; break; fi
  sleep 0.1
done
[ "$ok" = 1 ] || { cat "$log"; echo "demo: the Service did not answer" >&2; exit 1; }
for _ in 1 2 3; do printf 'curl http://127.0.0.1:8080/ -> %s\n' "$(curl -fsS --max-time 2 http://127.0.0.1:8080/)"; done
sleep "${DEMO_SECONDS:-1}"
kill -INT "$up"
code=0; wait "$up" || code=$?
cat "$log"
trap 'rm -f "$log"' EXIT
grep -q 'job/report: Complete' "$log" || { echo "demo: the Job did not complete" >&2; exit 1; }
[ "$code" = 130 ] || { echo "demo: wasmpod up exited $code, expected 130 after Ctrl-C" >&2; exit 1; }
echo "demo: ok"
