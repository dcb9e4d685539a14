"""Pod startup latency and idle memory on the e2e cluster; see k8s-startup.sh.

Each round creates N pods in one `kubectl create` and times, per pod, from
just before that call to the first watch event with the pod Running. Pods
are deleted (and gone) between rounds. The first round of each kind is a
warm-up (image pull, compile cache) and is not counted.
"""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import threading
import time

NS = "bench"
CONTAINERD_LOG = os.path.join(os.environ.get("WASMPOD_K8S_STATE", "/tmp/wasmpod-k8s"), "logs", "containerd.log")


def log_size():
    try:
        return os.path.getsize(CONTAINERD_LOG)
    except OSError:
        return 0


def cri_times(offset, prefix):
    """Per pod, from containerd's CRI log lines written since `offset`:
    RunPodSandbox called -> StartContainer returned, in ms. The part of
    the startup the runtime handler (and CNI, and containerd) accounts
    for; the rest is the kubelet and the API server."""
    def ts(line):
        m = re.search(r'time="([^"]+)"', line)
        t = m.group(1).replace("Z", "")
        head, _, frac = t.partition(".")
        return datetime.datetime.fromisoformat(head).timestamp() + float("0." + (frac or "0"))
    began, sandbox_of, pod_of_container, done = {}, {}, {}, {}
    with open(CONTAINERD_LOG, errors="replace") as f:
        f.seek(offset)
        for line in f:
            m = re.search(r"RunPodSandbox for &PodSandboxMetadata\{Name:(" + re.escape(prefix) + r"-\d+),", line)
            if m:
                r = re.search(r'returns sandbox id \\"(\w+)', line)
                if r:
                    sandbox_of[r.group(1)] = m.group(1)
                else:
                    began[m.group(1)] = ts(line)
                continue
            m = re.search(r'CreateContainer within sandbox \\"(\w+)\\".*returns container id \\"(\w+)', line)
            if m and m.group(1) in sandbox_of:
                pod_of_container[m.group(2)] = sandbox_of[m.group(1)]
                continue
            m = re.search(r'StartContainer for \\"(\w+)\\" returns successfully', line)
            if m and m.group(1) in pod_of_container:
                done[pod_of_container[m.group(1)]] = ts(line)
    return [(done[p] - began[p]) * 1000 for p in done if p in began]


def kubectl(*args, stdin=None, check=True):
    r = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
    return r


def pods_yaml(kind, image, n, prefix):
    items = []
    for i in range(n):
        spec = {
            "containers": [{
                "name": "main",
                "image": image,
                "command": ["/probe.wasm" if kind == "wasm" else "/probe", "sleep", "3600"],
            }],
            "terminationGracePeriodSeconds": 1,
        }
        if kind == "wasm":
            spec["runtimeClassName"] = "wasmpod"
        items.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{prefix}-{i}", "namespace": NS, "labels": {"bench": prefix}},
            "spec": spec,
        })
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def round_(kind, image, n, tag):
    prefix = f"{kind}-{tag}"
    running = {}
    done = threading.Event()
    watch = subprocess.Popen(
        ["kubectl", "-n", NS, "get", "pods", "-l", f"bench={prefix}", "--watch", "--output-watch-events",
         "-o", "jsonpath={.object.metadata.name} {.object.status.phase}{\"\\n\"}"],
        stdout=subprocess.PIPE, text=True)

    def read():
        for line in watch.stdout:
            parts = line.split()
            if len(parts) == 2 and parts[1] == "Running" and parts[0] not in running:
                running[parts[0]] = time.monotonic()
                if len(running) == n:
                    done.set()
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.5)  # the watch is established
    offset = log_size()
    start = time.monotonic()
    kubectl("create", "-f", "-", stdin=pods_yaml(kind, image, n, prefix))
    ok = done.wait(180)
    watch.kill()
    watch.wait()
    if not ok:
        raise SystemExit(f"{prefix}: only {len(running)} of {n} pods Running within 180 s")
    latencies = [(t - start) * 1000 for t in running.values()]
    cri = cri_times(offset, prefix)
    kubectl("-n", NS, "delete", "pods", "-l", f"bench={prefix}", "--wait=true", "--timeout=120s")
    return latencies, cri


def used_mib():
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":")
            info[k] = int(v.split()[0])
    return (info["MemTotal"] - info["MemAvailable"]) / 1024


def idle_memory(kind, image, n):
    prefix = f"{kind}-idle"
    time.sleep(5)
    before = used_mib()
    kubectl("create", "-f", "-", stdin=pods_yaml(kind, image, n, prefix))
    kubectl("-n", NS, "wait", "--for=condition=Ready", "pod", "-l", f"bench={prefix}", "--timeout=300s")
    time.sleep(10)
    after = used_mib()
    kubectl("-n", NS, "delete", "pods", "-l", f"bench={prefix}", "--wait=true", "--timeout=300s")
    return after - before


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.99 * (len(xs) - 1)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--idle-pods", type=int, default=50)
    a = ap.parse_args()
    kubectl("apply", "-f", "deploy/runtimeclass.yaml")
    kubectl("create", "namespace", NS, check=False)
    images = {"wasm": f"{a.registry}/bench/wasm:v1", "native": f"{a.registry}/bench/native:v1"}
    for kind, image in images.items():
        round_(kind, image, 1, "warmup")
    print(f"pod startup, {a.rounds} rounds, medians and p99 in ms: kubectl create -> Running (watch),")
    print("and the CRI part of it (RunPodSandbox called -> StartContainer returned, containerd's log)")
    print(f"{'pods':>5} {'runtime':>8} {'median':>8} {'p99':>8} {'CRI med':>8} {'CRI p99':>8}")
    for n in (1, 30):
        results, cri = {}, {}
        for r in range(a.rounds):
            for kind, image in images.items():  # interleaved: same machine state
                lat, c = round_(kind, image, n, f"{kind}{n}r{r}")
                results.setdefault(kind, []).extend(lat)
                cri.setdefault(kind, []).extend(c)
        for kind in images:
            xs, cs = results[kind], cri[kind] or [float("nan")]
            print(f"{n:>5} {kind:>8} {statistics.median(xs):>8.0f} {p99(xs):>8.0f} {statistics.median(cs):>8.0f} {p99(cs):>8.0f}")
        ratio = statistics.median(results["native"]) / statistics.median(results["wasm"])
        cri_ratio = statistics.median(cri["native"] or [0]) / statistics.median(cri["wasm"] or [1])
        print(f"{n:>5} ratio runc/wasmpod (median): {ratio:.2f}x end to end, {cri_ratio:.2f}x CRI")
    for kind, image in images.items():
        mib = idle_memory(kind, image, a.idle_pods)
        print(f"node memory with {a.idle_pods} idle {kind} pods: +{mib:.0f} MiB ({mib / a.idle_pods:.1f} MiB per pod)")


if __name__ == "__main__":
    main()
