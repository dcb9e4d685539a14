# Shared by the bench scripts; source it, do not run it.

# start_registry DIR: starts Debian's docker-registry on a free loopback port
# with storage under DIR, waits until it answers, and sets REGISTRY_PORT and
# REGISTRY_PID (the caller stops it).
start_registry() {
  local dir=$1
  REGISTRY_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s/storage}}\nhttp: {addr: 127.0.0.1:%s}\n' \
    "$dir" "$REGISTRY_PORT" > "$dir/registry.yml"
  docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
  REGISTRY_PID=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "docker-registry did not start: $(cat "$dir/registry.log")" >&2
  return 1
}
