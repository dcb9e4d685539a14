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

Inside the shim processes' window, it splits the time by what the shim's
side is doing, from sched_switch, sched_wakeup and sched_process_fork
events: when at least one thread of the runtime's processes (every shim
binary executed in the run, and every process and thread they fork: the
server, and for runc, runc and the container) is on a CPU; when at least
one is on a CPU, waiting for one (the machine has two, shared with
containerd and ctr), or asleep in the kernel uninterruptibly (its own
I/O); and the rest of the window, when every one of them is asleep
waiting for something else: containerd's and ctr's handling of the calls,
or another process's event.

The i-th ctr run belongs to the i-th NAME of its round, in the order
bench/interleave.py runs them (warm-up rounds included).
Usage: ctr-phases.py SCHED_TXT NAME [NAME ...]
(SCHED_TXT: `perf script -F comm,pid,tid,time,event,trace`)
"""
import re
import statistics
import sys

# Commands may hold spaces ("opt cgu.06").
LINE = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+([\d.]+):\s+sched:(\S+):\s*(.*)")


class Threads:
    """When the runtime's threads were busy: running, runnable, or asleep
    uninterruptibly (state D), as intervals of milliseconds."""

    def __init__(self):
        self.family = set()  # thread ids of the runtime's processes
        self.since = {}  # tid -> when its current busy stretch began
        self.busy = []  # (begin, end)
        self.on_cpu_since = {}  # tid -> when it was last switched in
        self.on_cpu = []  # (begin, end)

    def join(self, tid, t, busy=False):
        """Adds a thread; `busy` when it is on a CPU already (the thread
        that executed a shim binary)."""
        self.family.add(tid)
        if busy:
            self.since.setdefault(tid, t)
            self.on_cpu_since.setdefault(tid, t)

    def wake(self, tid, t):
        if tid in self.family:
            self.since.setdefault(tid, t)

    def sleep(self, tid, t, state):
        if tid in self.on_cpu_since:
            self.on_cpu.append((self.on_cpu_since.pop(tid), t))
        # R (preempted) stays runnable; D is the thread's own I/O.
        if tid in self.since and not state.startswith(("R", "D")):
            self.busy.append((self.since.pop(tid), t))

    def running(self, tid, t):
        if tid in self.family:
            self.since.setdefault(tid, t)
            self.on_cpu_since[tid] = t

    def leave(self, tid, t):
        if tid in self.since:
            self.busy.append((self.since.pop(tid), t))
        if tid in self.on_cpu_since:
            self.on_cpu.append((self.on_cpu_since.pop(tid), t))
        self.family.discard(tid)

    def busy_within(self, begin, end, intervals=None):
        intervals = self.busy if intervals is None else intervals
        spans = sorted((max(a, begin), min(b, end)) for a, b in intervals if b > begin and a < end)
        total, reach = 0.0, begin
        for a, b in spans:
            if b > reach:
                total += b - max(a, reach)
                reach = b
        return total


def unexpected(line):
    sys.exit(
        "ctr-phases.py: a trace line without the key=value fields it needs "
        "(a libtraceevent plugin may be reformatting it): " + line.strip()
    )


def main():
    runs, cur = [], None
    threads = Threads()
    for line in open(sys.argv[1]):
        m = LINE.match(line)
        if not m:
            continue
        _comm, pid, tid, t, ev, rest = m.groups()
        pid, tid, t = int(pid), int(tid), float(t) * 1000
        if ev == "sched_switch":
            f = dict(kv.split("=", 1) for kv in re.findall(r"(\w+=\S+)", rest))
            if not {"prev_pid", "prev_state", "next_pid"} <= f.keys():
                unexpected(line)
            threads.sleep(int(f["prev_pid"]), t, f["prev_state"])
            threads.running(int(f["next_pid"]), t)
        elif ev in ("sched_wakeup", "sched_wakeup_new"):
            woken = re.search(r" pid=(\d+)", " " + rest) or unexpected(line)
            threads.wake(int(woken.group(1)), t)
        elif ev == "sched_process_fork":
            child = int((re.search(r"child_pid=(\d+)", rest) or unexpected(line)).group(1))
            if tid in threads.family:
                threads.join(child, t)
        elif ev == "sched_process_exec":
            name = re.search(r"filename=(\S+)", rest).group(1)
            if name.endswith("/ctr"):
                names = sys.argv[2:]
                cur = {"start": t, "pid": pid, "shims": [], "exits": {}, "kind": names[len(runs) % len(names)]}
                runs.append(cur)
            elif cur and "containerd-shim" in name:
                cur["shims"].append(pid)
                cur.setdefault("first", t)
                threads.join(tid, t, busy=True)
        elif ev == "sched_process_exit":
            threads.leave(tid, t)
            if cur and "group_dead=true" in rest:
                if pid == cur["pid"]:
                    cur["end"] = t
                cur["exits"][pid] = t
    done = [r for r in runs if "end" in r and r["shims"] and r["shims"][-1] in r["exits"]]
    for r in done:
        r["own"] = threads.busy_within(r["first"], r["exits"][r["shims"][-1]])
        r["on_cpu"] = threads.busy_within(r["first"], r["exits"][r["shims"][-1]], threads.on_cpu)
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
        "of it, a runtime thread on a CPU": lambda r: r["on_cpu"],
        "of it, a runtime thread on a CPU, waiting for one, or in its own I/O": lambda r: r["own"],
        "of it, the runtime's processes all waiting": lambda r: r["exits"][r["shims"][-1]] - r["first"] - r["own"],
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
