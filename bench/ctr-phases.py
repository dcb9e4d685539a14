"""Splits `ctr run --rm` runs into phases from `perf script` output of
sched_process_exec/exit events (bench/ctr-cold-start.sh PHASES=1):

- before: from ctr's exec to the first shim exec (ctr start-up, container
  and snapshot create, containerd's task create up to starting the shim);
- shim processes: from the first shim exec to the exit of the last shim
  binary executed in the run (for wasmpod `delete`, which containerd runs
  once the server is gone; the server is forked, not executed, so it has
  no exec event and ends before `delete` starts). containerd's and ctr's
  handling of Create, Start, Wait, Delete and Shutdown happens inside;
- after: from there to ctr's exit (bundle, container and snapshot removal).

The i-th ctr run belongs to the i-th NAME of its round, in the order
bench/interleave.py runs them (warm-up rounds included).
Usage: ctr-phases.py SCHED_TXT NAME [NAME ...]
"""
import re
import statistics
import sys

LINE = re.compile(r"\s*(\S+)\s+(\d+)\s+([\d.]+):\s+sched:(\S+):\s*(.*)")


def main():
    runs, cur = [], None
    for line in open(sys.argv[1]):
        m = LINE.match(line)
        if not m:
            continue
        _comm, pid, t, ev, rest = m.groups()
        pid, t = int(pid), float(t) * 1000
        if ev == "sched_process_exec":
            name = re.search(r"filename=(\S+)", rest).group(1)
            if name.endswith("/ctr"):
                names = sys.argv[2:]
                cur = {"start": t, "pid": pid, "shims": [], "exits": {}, "kind": names[len(runs) % len(names)]}
                runs.append(cur)
            elif cur and "containerd-shim" in name:
                cur["shims"].append(pid)
                cur.setdefault("first", t)
        elif ev == "sched_process_exit" and cur and "group_dead=true" in rest:
            if pid == cur["pid"]:
                cur["end"] = t
            cur["exits"][pid] = t
    done = [r for r in runs if "end" in r and r["shims"] and r["shims"][-1] in r["exits"]]
    if not done:
        sys.exit("ctr-phases.py: no complete runs in the trace")
    kinds = {}
    for r in done:
        kinds.setdefault(r["kind"], []).append(r)
    print()
    print("| phase (median ms) | " + " | ".join(kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    rows = {
        "whole run": lambda r: r["end"] - r["start"],
        "ctr and containerd before the first shim exec": lambda r: r["first"] - r["start"],
        "first shim exec to last shim process exit": lambda r: r["exits"][r["shims"][-1]] - r["first"],
        "ctr and containerd after the last shim process": lambda r: r["end"] - r["exits"][r["shims"][-1]],
        "outside any shim process (before + after)": lambda r: r["first"] - r["start"] + r["end"] - r["exits"][r["shims"][-1]],
    }
    for label, f in rows.items():
        print(f"| {label} | " + " | ".join(f"{statistics.median(f(r) for r in rs):.1f}" for rs in kinds.values()) + " |")
    if "runc" in kinds and "wasmpod" in kinds:
        runc = statistics.median(r["end"] - r["start"] for r in kinds["runc"])
        outside = statistics.median(rows["outside any shim process (before + after)"](r) for r in kinds["wasmpod"])
        print(f"\n3x runc leaves {runc / 3:.1f} ms per wasmpod run; ctr and containerd outside the shim processes take {outside:.1f} ms of it.")


if __name__ == "__main__":
    main()
