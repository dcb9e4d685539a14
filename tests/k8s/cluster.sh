#!/usr/bin/env bash
# A single-node Kubernetes cluster on this machine, from upstream sources,
# for the e2e suite and for trying wasmpod on a real kubelet.
#
#   tests/k8s/cluster.sh up     build (once) and start everything; wait for Ready
#   tests/k8s/cluster.sh env    print the exports that reach it (KUBECONFIG, ...)
#   tests/k8s/cluster.sh down   stop everything it started, unmount, clean up
#
# What runs, all bound to 127.0.0.1 or to the cluster's own bridge:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, a
#   containerd of its own (root, state and socket under the state dir; CNI
#   bridge + host-local; runc, and runtime handler `wasmpod` installed with
#   `wasmpod node install`), the kubelet, kube-proxy (iptables mode) and a
#   docker-registry the node pulls from over plain HTTP.
#
# Nothing touches the host's own containerd or /etc. Host-wide state it does
# change: the bridge below, the kubelet's and kube-proxy's KUBE-* iptables
# chains, cgroups under /wasmpod-k8s, and the sysctls the kubelet and the CNI
# bridge set (see SYSCTLS); `down` restores all of them. A run's logs are
# kept in $STATE.logs after `down`.
#
# Environment:
#   WASMPOD_K8S_STATE   state dir (default /tmp/wasmpod-k8s)
#   WASMPOD_BIN_DIR     where the built wasmpod and containerd-shim-wasmpod-v1
#                       are (default $CARGO_TARGET_DIR/debug)
#   WASMPOD_K8S_CACHE   the build cache (see build.sh)
#   WASMPOD_K8S_CONTAINERD
#                       `debian` (default): Debian's containerd 1.6;
#                       `1.7`: containerd 1.7 built by tests/containerd/build.sh
#                       (which also runs images with Wasm layers)
#   WASMPOD_K8S_EVENTED_PLEG=1
#                       with containerd 1.7: the kubelet's alpha EventedPLEG
#                       feature gate, so container state changes reach it as
#                       CRI events rather than at its relist every second
#                       (docs/benchmarks.md has what that does to start-up)
set -Eeuo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
STATE="${WASMPOD_K8S_STATE:-/tmp/wasmpod-k8s}"
CONTAINERD="${WASMPOD_K8S_CONTAINERD:-debian}"
NODE=wasmpod-e2e
BRIDGE=wpk8s0
NODE_IP=10.252.0.1
POD_CIDR=10.252.0.0/24
SERVICE_CIDR=10.253.0.0/24
SERVICE_IP=10.253.0.1
ETCD_PORT=23379
REGISTRY=127.0.0.1:25000
CGROUP_ROOT=wasmpod-k8s
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward)

say() { printf 'cluster: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
trap 'say "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

# A pid file holds "PID START-TIME BOOT-ID": a pid is only signalled while it
# is still the process that was started (not a reused pid after a reboot or
# after the installer restarted containerd).
started_at() { awk '{ print $22 }' "/proc/$1/stat" 2>/dev/null; }
boot_id() { cat /proc/sys/kernel/random/boot_id; }
ours() { # PIDFILE -> prints the pid if it is still ours
  local pid start boot
  read -r pid start boot <"$1" 2>/dev/null || return 1
  [ "$boot" = "$(boot_id)" ] && [ -n "$start" ] && [ "$(started_at "$pid")" = "$start" ] && echo "$pid"
}

# ---- down -----------------------------------------------------------------

stop_pid() { # NAME: SIGTERM, up to 10 s, then SIGKILL
  local f="$STATE/pids/$1" pid
  [ -f "$f" ] || return 0
  if pid="$(ours "$f")"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

cgroup_dirs() { # every v1 controller's (and the unified) copy of our root
  local c
  for c in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
    [ -d "$c$CGROUP_ROOT" ] && echo "$c$CGROUP_ROOT"
  done
  return 0
}

kill_pods() { # every process in the pods' cgroups
  local d f pid
  for d in $(cgroup_dirs); do
    # A cgroup may vanish between find and read (runc deletes it).
    while read -r f; do
      { while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done < "$f"; } 2>/dev/null || true
    done < <(find "$d" -name cgroup.procs 2>/dev/null)
  done
}

down() {
  [ -d "$STATE" ] || { say "nothing to stop ($STATE does not exist)"; return 0; }
  # Let the kubelet tear the pods down through CRI (CNI DEL frees their
  # veths and addresses), bounded; whatever is left is killed below.
  if [ -x "$STATE/bin/kubectl" ] && [ -f "$STATE/pids/kubelet" ] && ours "$STATE/pids/kubelet" >/dev/null; then
    local k=("$STATE/bin/kubectl" --kubeconfig "$STATE/pki/admin.kubeconfig" --request-timeout=5s)
    "${k[@]}" delete deploy,ds,rs,job,sts --all -A --wait=false >/dev/null 2>&1 || true
    "${k[@]}" delete pods --all -A --grace-period=1 --wait=false >/dev/null 2>&1 || true
    for _ in $(seq 60); do
      [ -z "$("${k[@]}" get pods -A -o name 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  stop_pid kube-proxy
  stop_pid kubelet
  kill_pods
  stop_pid containerd
  # `wasmpod node install --restart` (the installer DaemonSet) may have
  # restarted containerd under a new pid.
  if pkill -TERM -f "(^|/)containerd --config $STATE/containerd/config.toml" 2>/dev/null; then
    for _ in $(seq 100); do pgrep -f "(^|/)containerd --config $STATE/containerd/config.toml" >/dev/null || break; sleep 0.1; done
    pkill -KILL -f "(^|/)containerd --config $STATE/containerd/config.toml" 2>/dev/null || true
  fi
  # Shims outlive containerd by design; these are ours (their -address).
  pkill -KILL -f "containerd-shim.*-address $STATE/" 2>/dev/null || true
  sleep 0.2
  kill_pods
  stop_pid kube-scheduler
  stop_pid kube-controller-manager
  stop_pid kube-apiserver
  stop_pid etcd
  stop_pid registry
  # Mounts: the kubelet's volumes, containerd's rootfs and shm mounts.
  local m
  for m in $(awk -v p="$STATE/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  # (Pod network namespaces are mounted under containerd's state dir,
  # netns_mounts_under_state_dir, so the loop above unmounted them.)
  if [ -x "$STATE/bin/kube-proxy" ]; then
    timeout 30 "$STATE/bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  iptables_leftovers
  # The kubelet's container log links and libcni's result cache live in
  # fixed host paths; remove the ones that are ours.
  find /var/log/containers -maxdepth 1 -type l -lname "$STATE/*" -delete 2>/dev/null || true
  rm -f /var/lib/cni/results/wasmpod-k8s-* 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
  local d
  for d in $(cgroup_dirs); do
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  if [ -f "$STATE/sysctl.before" ]; then
    while read -r key value; do sysctl -qw "$key=$value" 2>/dev/null || true; done < "$STATE/sysctl.before"
  fi
  if [ -d "$STATE/logs" ]; then
    rm -rf "$STATE.logs"
    mv "$STATE/logs" "$STATE.logs"
  fi
  rm -rf "$STATE"
  say "down (logs kept in $STATE.logs)"
}

# What `kube-proxy --cleanup` leaves: the kubelet's chains and the canaries.
iptables_leftovers() {
  local ipt table chain
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for table in filter nat mangle; do
      # Jumps into KUBE-* chains from the built-in chains, then the chains.
      "$ipt" -w -t "$table" -S 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-' |
        while read -r _ rule; do eval "\"\$ipt\" -w -t \"\$table\" -D $rule" 2>/dev/null || true; done || true
      for chain in $("$ipt" -w -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ { print $2 }'); do
        "$ipt" -w -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt" -w -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ { print $2 }'); do
        "$ipt" -w -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

# ---- up -------------------------------------------------------------------

need() { command -v "$1" >/dev/null || die "$1 is missing: run scripts/setup.sh (Debian package $2)"; }

start() { # NAME COMMAND...: detached, logging to logs/NAME.log
  local name="$1"; shift
  setsid "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
  local pid=$! start=""
  for _ in 1 2 3 4 5; do start="$(started_at "$pid")" && [ -n "$start" ] && break; sleep 0.01; done
  echo "$pid $start $(boot_id)" >"$STATE/pids/$name"
}

alive() { ours "$STATE/pids/$1" >/dev/null || die "$1 exited; its log ($STATE.logs/$1.log after down) ends with:
$(tail -n 30 "$STATE/logs/$1.log")"; }

wait_for() { # SECONDS WHAT PROCESS COMMAND...
  local secs="$1" what="$2" proc="$3"; shift 3
  local deadline=$((SECONDS + secs)) out=""
  until out="$("$@" 2>&1)"; do
    alive "$proc"
    [ "$SECONDS" -lt "$deadline" ] || die "$what: not ready after ${secs}s (last check: ${out:0:300}); $proc's log ends with:
$(tail -n 30 "$STATE/logs/$proc.log")"
    sleep 0.2
  done
}

cert() { # NAME SUBJECT [SAN]: an EC key and a certificate signed by the CA
  local name="$1" subj="$2" san="${3:-}" pki="$STATE/pki"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
}

kubeconfig() { # NAME: a kubeconfig for the client certificate NAME
  local pki="$STATE/pki"
  cat >"$pki/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: wasmpod-e2e
  cluster:
    server: https://$NODE_IP:6443
    certificate-authority: $pki/ca.crt
users:
- name: $1
  user:
    client-certificate: $pki/$1.crt
    client-key: $pki/$1.key
contexts:
- name: wasmpod-e2e
  context: {cluster: wasmpod-e2e, user: $1}
current-context: wasmpod-e2e
EOF
}

pki() {
  local pki="$STATE/pki"
  mkdir -p "$pki"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=wasmpod-e2e-ca" -days 30 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$pki/ca.crt" 2>/dev/null
  cert apiserver "/CN=kube-apiserver" \
    "IP:$NODE_IP,IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin "/O=system:masters/CN=wasmpod-e2e-admin"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  cert kube-controller-manager "/CN=system:kube-controller-manager"
  cert kube-scheduler "/CN=system:kube-scheduler"
  cert kube-proxy "/CN=system:kube-proxy"
  cert kubelet "/O=system:nodes/CN=system:node:$NODE"
  cert kubelet-serving "/CN=$NODE" "IP:$NODE_IP,DNS:$NODE"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/sa.key" 2>/dev/null
  openssl ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  for c in admin kube-controller-manager kube-scheduler kube-proxy kubelet; do kubeconfig "$c"; done
}

cgroup_root() { # the kubelet's --cgroup-root, in every controller
  local c
  for c in /sys/fs/cgroup/*/; do
    [ "$c" = /sys/fs/cgroup/unified/ ] && continue
    mkdir -p "$c$CGROUP_ROOT"
    if [ -f "${c}cpuset.cpus" ]; then
      cat "${c}cpuset.cpus" >"$c$CGROUP_ROOT/cpuset.cpus"
      cat "${c}cpuset.mems" >"$c$CGROUP_ROOT/cpuset.mems"
    fi
  done
}

pause_image() { # the sandbox image: a static pause program, pushed to our registry
  local work="$STATE/pause-image"
  mkdir -p "$work"
  clang -static -O2 -o "$work/pause" "$repo/tests/native/pause.c"
  umoci init --layout "$work/oci" >/dev/null
  umoci new --image "$work/oci:1" >/dev/null
  umoci unpack --rootless --image "$work/oci:1" "$work/bundle" >/dev/null
  install -m 0755 "$work/pause" "$work/bundle/rootfs/pause"
  umoci repack --image "$work/oci:1" "$work/bundle" >/dev/null
  umoci config --image "$work/oci:1" --config.entrypoint /pause >/dev/null
  skopeo copy --quiet --dest-tls-verify=false "oci:$work/oci:1" "docker://$REGISTRY/wasmpod-e2e/pause:1" >/dev/null
  rm -rf "$work"
}

containerd_config() {
  local c="$STATE/containerd" cri='plugins."io.containerd.grpc.v1.cri"'
  mkdir -p "$c" "$STATE/cni/conf" "$STATE/cni/state"
  cat >"$c/config.toml" <<EOF
# The e2e node's containerd: everything under $STATE.
version = 2
root = "$c/root"
state = "$c/state"

[grpc]
  address = "$c/containerd.sock"

[ttrpc]
  address = "$c/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"

[$cri]
  sandbox_image = "$REGISTRY/wasmpod-e2e/pause:1"
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  restrict_oom_score_adj = true
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true

[$cri.containerd]
  default_runtime_name = "runc"

[$cri.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[$cri.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "$STATE/runc"

[$cri.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "$STATE/cni/conf"
  max_conf_num = 1

[$cri.registry.mirrors."$REGISTRY"]
  endpoint = ["http://$REGISTRY"]
EOF
  cat >"$STATE/cni/conf/10-wasmpod-k8s.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "wasmpod-k8s",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/state",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP", "rangeStart": "10.252.0.10"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

kubelet_config() {
  cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $STATE/pki/kubelet-serving.crt
tlsPrivateKeyFile: $STATE/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$STATE/containerd/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
failSwapOn: false
podLogsDir: $STATE/pod-logs
volumePluginDir: $STATE/volume-plugins
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
# A shared CI disk may be fuller than the defaults allow; pods must not be
# evicted for the host's disk.
evictionHard: {memory.available: 100Mi, nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 150
$([ "${WASMPOD_K8S_EVENTED_PLEG:-}" = 1 ] && echo "featureGates: {EventedPLEG: true}")
EOF
  cat >"$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $STATE/pki/kube-proxy.kubeconfig}
hostnameOverride: $NODE
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$NODE_IP/32"]
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

k() { "$STATE/bin/kubectl" --kubeconfig "$STATE/pki/admin.kubeconfig" --request-timeout=10s "$@"; }

up() {
  need openssl openssl; need curl curl; need umoci umoci; need skopeo skopeo; need clang clang
  need containerd containerd; need runc runc; need docker-registry docker-registry
  [ -x /usr/lib/cni/bridge ] || die "CNI plugins are missing: run scripts/setup.sh (Debian package containernetworking-plugins)"
  local wbin="${WASMPOD_BIN_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}/debug}"
  for b in wasmpod containerd-shim-wasmpod-v1; do
    [ -x "$wbin/$b" ] || die "$wbin/$b is missing: run \`cargo build -p wasmpod -p wasmpod-shim\` (or set WASMPOD_BIN_DIR)"
  done
  [ -d /sys/fs/cgroup/memory ] || die "this cluster needs a cgroup v1 or hybrid host (the kubelet's cgroup root is made per v1 controller)"
  if [ -d "$STATE" ]; then say "$STATE exists: stopping the previous cluster first"; down; fi
  if ip link show "$BRIDGE" >/dev/null 2>&1; then die "bridge $BRIDGE exists but $STATE does not: another cluster? (ip link del $BRIDGE)"; fi
  local kbin ctd_path=""
  kbin="$("$here/build.sh")"
  case "$CONTAINERD" in
    debian) ;;
    1.7) ctd_path="$("$repo/tests/containerd/build.sh"):" ;;
    *) die "WASMPOD_K8S_CONTAINERD must be debian or 1.7, not $CONTAINERD" ;;
  esac
  if [ "${WASMPOD_K8S_EVENTED_PLEG:-}" = 1 ] && [ "$CONTAINERD" != 1.7 ]; then
    die "WASMPOD_K8S_EVENTED_PLEG=1 needs WASMPOD_K8S_CONTAINERD=1.7 (containerd 1.6 sends no CRI container events)"
  fi
  local t0=$SECONDS
  mkdir -p "$STATE"/{bin,logs,pids,node-bin,pod-logs,kubelet,etcd,registry}
  for s in "${SYSCTLS[@]}"; do echo "$s $(sysctl -n "$s")"; done >"$STATE/sysctl.before"
  ln -s "$kbin"/* "$STATE/bin/"

  ip link add "$BRIDGE" type bridge
  ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  cgroup_root
  pki

  cat >"$STATE/registry.yml" <<EOF
version: 0.1
storage: {filesystem: {rootdirectory: $STATE/registry}, delete: {enabled: true}}
http: {addr: $REGISTRY}
log: {level: error}
EOF
  start registry docker-registry serve "$STATE/registry.yml"
  start etcd "$STATE/bin/etcd" --name "$NODE" --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "$NODE=http://127.0.0.1:$((ETCD_PORT + 1))" --listen-metrics-urls "" \
    --unsafe-no-fsync --log-level warn
  local pki="$STATE/pki"
  start kube-apiserver "$STATE/bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port 6443 \
    --service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --kubelet-preferred-address-types InternalIP \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --profiling=false --v=1
  wait_for 20 etcd etcd curl -fsm 2 "http://127.0.0.1:$ETCD_PORT/health"
  wait_for 20 registry registry curl -fsm 2 "http://$REGISTRY/v2/"
  pause_image &
  local pause_pid=$!
  wait_for 60 kube-apiserver kube-apiserver k get --raw /readyz
  start kube-controller-manager "$STATE/bin/kube-controller-manager" \
    --kubeconfig "$pki/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$pki/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "$pki/kube-controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --allocate-node-cidrs=false --profiling=false --v=1
  start kube-scheduler "$STATE/bin/kube-scheduler" \
    --kubeconfig "$pki/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$pki/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$pki/kube-scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1

  wait "$pause_pid" || die "building the pause image failed"
  containerd_config
  # The runtime handler goes in the way an admin puts it in.
  # The node's trust policy lives under $STATE/host (containerd's
  # WASMPOD_NODE_POLICY names it, and a named policy must exist): one that
  # lets every image run, until a scenario installs another.
  mkdir -p "$STATE/host"
  printf '[default]\naction = "allow-unsigned"\n' >"$STATE/permissive-policy.toml"
  "$wbin/wasmpod" node install --containerd-config "$STATE/containerd/config.toml" \
    --bin-dir "$STATE/node-bin" --host-root "$STATE/host" --policy "$STATE/permissive-policy.toml" \
    >"$STATE/logs/node-install.log" 2>&1 ||
    die "wasmpod node install failed: $(cat "$STATE/logs/node-install.log")"
  start containerd env PATH="$STATE/node-bin:$ctd_path/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    WASMPOD_HOME="$STATE/wasmpod-home" \
    WASMPOD_NODE_POLICY="$STATE/host/etc/wasmpod/policy.toml" \
    containerd --config "$STATE/containerd/config.toml"
  wait_for 20 containerd containerd env PATH="$ctd_path$PATH" ctr -a "$STATE/containerd/containerd.sock" --timeout 5s version

  kubelet_config
  start kubelet "$STATE/bin/kubelet" --config "$STATE/kubelet.yaml" \
    --kubeconfig "$pki/kubelet.kubeconfig" --root-dir "$STATE/kubelet" \
    --hostname-override "$NODE" --node-ip "$NODE_IP" --v=1
  start kube-proxy "$STATE/bin/kube-proxy" --config "$STATE/kube-proxy.yaml" --v=1
  wait_for 60 "node $NODE" kubelet k get node "$NODE"
  wait_for 60 "node $NODE Ready" kubelet k wait --for=condition=Ready "node/$NODE" --timeout=1s
  # The installer DaemonSet labels prepared nodes; here `up` installed the
  # handler itself, so it labels the node the same way.
  k label node "$NODE" wasmpod.dev/ready=true --overwrite >/dev/null
  wait_for 30 "service account default" kube-controller-manager k get serviceaccount default
  for p in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy registry; do alive "$p"; done
  say "up in $((SECONDS - t0))s: $(k get node "$NODE" --no-headers | awk '{print $1, $2, $5}')"
}

env_() {
  cat <<EOF
export KUBECONFIG=$STATE/pki/admin.kubeconfig
export PATH=$STATE/bin:\$PATH
export WASMPOD_K8S_REGISTRY=$REGISTRY
export WASMPOD_K8S_NODE=$NODE
export WASMPOD_K8S_STATE=$STATE
EOF
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it starts a kubelet and containerd)"
case "${1:-}" in
  up) up ;;
  down) down ;;
  env) env_ ;;
  *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac
