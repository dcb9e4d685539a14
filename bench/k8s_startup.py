"""Pod startup latency and idle memory on the e2e cluster; see k8s-startup.sh.

Each round creates N pods in one `kubectl create` and times, per pod, from
just before that call to the first watch event with the pod Running. Pods
are deleted (and gone) between rounds. The first round of each kind is a
warm-up (image pull, compile cache) and is not counted.
"""

import argparse
import json
import statistics
import subprocess
import threading
import time

NS = "bench"


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
    start = time.monotonic()
    kubectl("create", "-f", "-", stdin=pods_yaml(kind, image, n, prefix))
    ok = done.wait(180)
    watch.kill()
    watch.wait()
    if not ok:
        raise SystemExit(f"{prefix}: only {len(running)} of {n} pods Running within 180 s")
    latencies = [(t - start) * 1000 for t in running.values()]
    kubectl("-n", NS, "delete", "pods", "-l", f"bench={prefix}", "--wait=true", "--timeout=120s")
    return latencies


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
    print(f"pod startup, kubectl create -> Running (watch), {a.rounds} rounds, medians and p99 in ms")
    print(f"{'pods':>5} {'runtime':>8} {'median':>8} {'p99':>8}")
    for n in (1, 30):
        results = {}
        for r in range(a.rounds):
            for kind, image in images.items():  # interleaved: same machine state
                results.setdefault(kind, []).extend(round_(kind, image, n, f"{n}-{r}"))
        for kind in images:
            xs = results[kind]
            print(f"{n:>5} {kind:>8} {statistics.median(xs):>8.0f} {p99(xs):>8.0f}")
        ratio = statistics.median(results["native"]) / statistics.median(results["wasm"])
        print(f"{n:>5} ratio runc/wasmpod (median) {ratio:.2f}x")
    for kind, image in images.items():
        mib = idle_memory(kind, image, a.idle_pods)
        print(f"node memory with {a.idle_pods} idle {kind} pods: +{mib:.0f} MiB ({mib / a.idle_pods:.1f} MiB per pod)")


if __name__ == "__main__":
    main()
