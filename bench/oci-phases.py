"""Splits `podman run --rm` or `docker run --rm` runs into phases at the
calls of the low-level runtime, from `perf script` output of
sched_process_fork/exec/exit events (bench/oci-runtime.sh PHASES=1).

A run lasts from the exec of the client (TOP: /usr/bin/podman, or
/usr/bin/docker) to its exit. Each exec of a RUNTIME binary in that window
is one call of the runtime (create, start, delete, ...), lasting until that
process exits; an exec of the runtime while the first call (create) still
runs is create's own child (wasmpod-oci's `init`, the container's process),
not a call. runc's own re-execs (/proc/self/exe, /dev/fd/N) have other
file names and belong to the call that made them. Phases:

- before create: the client and engine (podman and conmon; docker,
  dockerd, containerd and its shim) up to the runtime's first exec;
- create, and start: those two calls;
- between create and start: the engine, from create's exit to start's exec;
- after start: from start's exit to the client's exit (the guest's run,
  which is about a millisecond for both, its exit reaching the engine,
  `delete`, unmounting and removing the container);
- in runtime calls: every call's lifetime, overlaps counted once;
- outside runtime calls: the rest of the run.

With --mark NAME=PATH, a second table gives when, from the client's exec,
the k-th process executing PATH in the run started and ended (median),
beside the runtime's calls: a timeline of the engine's own processes.
With --seed PID, only processes forked (during the trace) from PID or its
descendants count: the benchmark's own, not those of others on the machine.

A run's kind is the RUNTIME it called; the first --warmup runs of each kind
are left out. Usage:
oci-phases.py [--warmup N] [--seed PID]... [--mark NAME=PATH]...
              SCHED_TXT TOP NAME=RUNTIME [NAME=RUNTIME ...]
"""
import argparse
import re
import statistics
import sys

LINE = re.compile(r"\s*(\S+)\s+(\d+)(?:/(\d+))?\s+([\d.]+):\s+sched:(\S+):\s*(.*)")


def union(intervals):
    total, end = 0.0, None
    for a, b in sorted(intervals):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def read_events(path, seeds):
    """(ms, "exec"|"exit", pid, filename) in time order, of the seeds'
    descendants when seeds are given."""
    raw = []
    for line in open(path):
        m = LINE.match(line)
        if m:
            _comm, tgid, _tid, t, ev, rest = m.groups()
            raw.append((float(t) * 1000, ev, int(tgid), rest))
    raw.sort(key=lambda e: e[0])
    ours = set(seeds)
    events = []
    for t, ev, pid, rest in raw:
        if ev == "sched_process_fork":
            if pid in ours:
                ours.add(int(re.search(r"child_pid=(\d+)", rest).group(1)))
            continue
        if seeds and pid not in ours:
            continue
        if ev == "sched_process_exec":
            events.append((t, "exec", pid, re.search(r"filename=(\S+)", rest).group(1)))
        elif ev == "sched_process_exit" and "group_dead=true" in rest:
            events.append((t, "exit", pid, None))
    return events


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--seed", type=int, action="append", default=[])
    p.add_argument("--mark", action="append", default=[])
    p.add_argument("sched")
    p.add_argument("top")
    p.add_argument("runtimes", nargs="+")
    a = p.parse_args()
    kinds = dict(arg.split("=", 1) for arg in a.runtimes)
    by_path = {path: name for name, path in kinds.items()}
    marks = {path: name for name, path in (m.split("=", 1) for m in a.mark)}

    runs, cur = [], None
    for t, ev, pid, path in read_events(a.sched, a.seed):
        if ev == "exec" and path == a.top and cur is None:
            cur = {"start": t, "pid": pid, "calls": {}, "order": [], "kind": None,
                   "marked": {}, "counts": {}, "points": []}
            continue
        if cur is None:
            continue
        rel = t - cur["start"]
        if ev == "exec" and path in by_path:
            first = cur["order"][0] if cur["order"] else None
            if first is not None and "end" not in cur["calls"][first]:
                continue  # create's own child: the container's process
            cur["kind"] = by_path[path]
            cur["calls"][pid] = {"start": t}
            cur["order"].append(pid)
            cur["marked"][pid] = f"runtime call {len(cur['order'])}"
            cur["points"].append((f"runtime call {len(cur['order'])} exec", rel))
        elif ev == "exec" and path in marks:
            name = marks[path]
            k = cur["counts"][name] = cur["counts"].get(name, 0) + 1
            cur["marked"][pid] = f"{name} #{k}"
            cur["points"].append((f"{name} #{k} exec", rel))
        elif ev == "exit" and pid == cur["pid"]:
            cur["end"] = t
            cur["points"].append(("client exits: end of the run", rel))
            runs.append(cur)
            cur = None
            continue
        elif ev == "exit" and pid in cur["marked"]:
            label = cur["marked"].pop(pid)
            cur["points"].append((f"{label} exit", rel))
            if pid in cur["calls"]:
                cur["calls"][pid]["end"] = t

    done, points = {}, {}
    for r in runs:
        calls = [r["calls"][p] for p in r["order"]]
        if r["kind"] is None or len(calls) < 2 or any("end" not in c for c in calls[:2]):
            continue
        create, start = calls[0], calls[1]
        inside = union((c["start"], min(c.get("end", r["end"]), r["end"])) for c in calls)
        whole = r["end"] - r["start"]
        done.setdefault(r["kind"], []).append({
            "whole run": whole,
            "before create (client and engine)": create["start"] - r["start"],
            "create": create["end"] - create["start"],
            "between create and start (engine)": start["start"] - create["end"],
            "start": start["end"] - start["start"],
            "after start (guest, exit, delete, removal)": r["end"] - start["end"],
            "in runtime calls": inside,
            "outside runtime calls": whole - inside,
            "runtime calls per run": len(calls),
        })
        points.setdefault(r["kind"], []).append(dict(r["points"]))
    done = {k: v[a.warmup:] for k, v in done.items() if v[a.warmup:]}
    points = {k: v[a.warmup:] for k, v in points.items() if v[a.warmup:]}
    if not done:
        sys.exit("oci-phases.py: no complete runs in the trace")
    names = [n for n in kinds if n in done]
    print()
    print("| phase (median ms) | " + " | ".join(f"{n} ({len(done[n])} runs)" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for label in done[names[0]][0]:
        cells = []
        for n in names:
            v = statistics.median(r[label] for r in done[n])
            cells.append(f"{v:.0f}" if label == "runtime calls per run" else f"{v:.1f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    if len(names) == 2:
        x, y = names
        budget = statistics.median(r["whole run"] for r in done[y]) / 3
        outside = statistics.median(r["outside runtime calls"] for r in done[x])
        print(f"\n3x {y} leaves {budget:.1f} ms per {x} run; outside the runtime's calls "
              f"the engine takes {outside:.1f} ms of it.")
    if marks:
        # Milestones every run of a kind has, ordered by when they happen.
        medians = {}
        for n in names:
            common = set.intersection(*(set(r) for r in points[n]))
            medians[n] = {label: statistics.median(r[label] for r in points[n]) for label in common}
        labels = sorted(set().union(*medians.values()),
                        key=lambda label: min(m.get(label, 1e12) for m in medians.values()))
        print()
        print("| from the client's exec (median ms) | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for label in labels:
            cells = [f"{medians[n][label]:.1f}" if label in medians[n] else "-" for n in names]
            print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
