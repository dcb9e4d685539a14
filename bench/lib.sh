# shellcheck shell=bash
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
  # shellcheck disable=SC2034 # for the caller
  REGISTRY_PID=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "docker-registry did not start: $(cat "$dir/registry.log")" >&2
  return 1
}

# podman_config DIR NAME=PATH...: a Podman of its own under DIR (root, run
# root, tmp dir, events log), the way crates/testkit/src/podman.rs sets one
# up: cgroupfs, events in a file, no network, overlay storage, and the
# ulimits this machine's root can grant (it lacks CAP_SYS_RESOURCE, so
# Podman's default of 1048576 fails in runc). Each NAME=PATH is a runtime
# for `podman --runtime NAME`, listed in runtime_supports_json as runc is.
# conmon, which runs the runtime's `create`, gets PATH and, when set,
# WASMPOD_HOME (where wasmpod-oci keeps its compile cache). Exports CONTAINERS_CONF, CONTAINERS_STORAGE_CONF and
# CONTAINERS_REGISTRIES_CONF, so every later `podman` uses it.
podman_config() {
  local d=$1; shift
  local nproc runtimes="" json='"crun", "runc"' r env="\"PATH=$PATH\""
  nproc=$(ulimit -Hu)
  if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
  for r in "$@"; do
    runtimes+="\"${r%%=*}\" = [\"${r#*=}\"]"$'\n'
    json+=", \"${r%%=*}\""
  done
  if [ -n "${WASMPOD_HOME:-}" ]; then env+=", \"WASMPOD_HOME=$WASMPOD_HOME\""; fi
  mkdir -p "$d/conf" "$d/root" "$d/runroot" "$d/tmp" "$d/cni"
  cat > "$d/conf/containers.conf" <<TOML
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=$nproc:$nproc"]
netns = "none"
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$d/events.log"
tmp_dir = "$d/tmp"
volume_path = "$d/root/volumes"
runtime_supports_json = [$json]
conmon_env_vars = [$env]

[engine.runtimes]
$runtimes
[network]
network_backend = "cni"
network_config_dir = "$d/cni"
TOML
  printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/root"\nrunroot = "%s/runroot"\n' "$d" "$d" > "$d/conf/storage.conf"
  printf 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n' > "$d/conf/registries.conf"
  export CONTAINERS_CONF=$d/conf/containers.conf
  export CONTAINERS_STORAGE_CONF=$d/conf/storage.conf
  export CONTAINERS_REGISTRIES_CONF=$d/conf/registries.conf
}

# start_dockerd DIR CGROUP_PARENT NAME=PATH...: Debian's dockerd 20.10 on a
# socket, data root and exec root under DIR, with no bridge, iptables or
# proxy (as crates/testkit/src/docker.rs runs it), containers under
# CGROUP_PARENT, and each NAME=PATH registered with --add-runtime. Waits
# until it answers; sets DOCKERD_PID and DOCKER (Debian's client,
# /usr/bin/docker, on that socket: "${DOCKER[@]}" ps). DIR must be short:
# socket paths fit in 108 bytes.
start_dockerd() {
  local d=$1 parent=$2 r; shift 2
  local args=(--host="unix://$d/docker.sock" --data-root="$d/root" --exec-root="$d/exec"
    --pidfile="$d/docker.pid" --config-file="$d/daemon.json"
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false
    --userland-proxy=false --storage-driver=overlay2
    --exec-opt=native.cgroupdriver=cgroupfs --cgroup-parent="$parent")
  for r in "$@"; do args+=(--add-runtime="$r"); done
  mkdir -p "$d/client"
  # The key dockerd 20.10 makes goes here, not in /etc/docker/key.json.
  printf '{"deprecated-key-path": "%s/key.json"}\n' "$d" > "$d/daemon.json"
  (cd "$d" && exec dockerd "${args[@]}" </dev/null >"$d/dockerd.log" 2>&1) &
  DOCKERD_PID=$!
  DOCKER=(env "DOCKER_CONFIG=$d/client" /usr/bin/docker --host="unix://$d/docker.sock")
  for _ in $(seq 600); do
    "${DOCKER[@]}" version >/dev/null 2>&1 && return 0
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "dockerd did not start: $(tail -20 "$d/dockerd.log")" >&2
  return 1
}

# stop_dockerd DIR: stops the dockerd start_dockerd started on DIR (SIGTERM,
# which stops its containerd too; SIGKILL after 30 s), then kills by pid
# whatever still names DIR/exec in its command line (its containerd and
# shims, after a SIGKILL).
stop_dockerd() {
  local d=$1 p
  [ -n "${DOCKERD_PID:-}" ] || return 0
  kill "$DOCKERD_PID" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$DOCKERD_PID" 2>/dev/null || true
  for p in $(pids_naming "$d/exec"); do kill -9 "$p" 2>/dev/null || true; done
  DOCKERD_PID=""
}

# pids_naming TEXT: the processes whose command line contains TEXT (a path
# of the caller's temp folder, so no one else's).
pids_naming() {
  pgrep -f -- "$1" || true
}

# unmount_under DIR: lazily unmounts every mount point under DIR, deepest
# first, a few passes over (Podman stacks its storage's private bind mount).
unmount_under() {
  local pass points p
  for pass in 1 2 3 4 5; do
    mapfile -t points < <(awk -v d="$1/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r)
    [ "${#points[@]}" -gt 0 ] || return 0
    for p in "${points[@]}"; do umount -l "$p" 2>/dev/null || true; done
  done
  echo "still mounted under $1 after $pass passes" >&2
}

# remove_cgroups PATH...: removes each (empty) cgroup folder PATH, relative
# to every hierarchy under /sys/fs/cgroup, children first.
remove_cgroups() {
  local rel h
  for rel in "$@"; do
    for h in /sys/fs/cgroup/*/; do
      [ -d "$h${rel#/}" ] && find "$h${rel#/}" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
  done
  return 0
}

# rollup_kib FIELD PID...: the sum of FIELD (Pss, Pss_Anon, Pss_File, Rss,
# ...) of /proc/PID/smaps_rollup over the processes, in KiB.
rollup_kib() {
  local field=$1 p sum=0 v; shift
  for p in "$@"; do
    v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/smaps_rollup")
    sum=$((sum + v))
  done
  echo "$sum"
}
