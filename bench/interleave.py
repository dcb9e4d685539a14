"""Times shell commands round-robin: one run of each per round, so a
machine's drifting load falls on every command alike. Each command's `{id}`
becomes a fresh id per run (ctr needs unique container ids).

Usage: interleave.py --runs N [--warmup W] [--timeout S] --json FILE -- NAME CMD [NAME CMD ...]
Writes {NAME: [milliseconds, ...]} to FILE; a failing run, or one taking
longer than --timeout seconds (default 300), stops everything.
"""
import argparse
import json
import subprocess
import sys
import time
import uuid


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--json", required=True)
    p.add_argument("pairs", nargs="+")
    a = p.parse_args()
    if len(a.pairs) % 2:
        sys.exit("interleave.py: commands come as NAME CMD pairs")
    cmds = list(zip(a.pairs[0::2], a.pairs[1::2]))
    times = {name: [] for name, _ in cmds}
    for round_ in range(a.warmup + a.runs):
        for name, cmd in cmds:
            line = cmd.replace("{id}", "b" + uuid.uuid4().hex[:12])
            t = time.perf_counter()
            try:
                r = subprocess.run(line, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   timeout=a.timeout)
            except subprocess.TimeoutExpired:
                sys.exit(f"interleave.py: {name} took longer than {a.timeout:g} s")
            ms = (time.perf_counter() - t) * 1000
            if r.returncode != 0:
                sys.exit(f"interleave.py: {name} failed ({r.returncode}): {r.stderr.decode(errors='replace').strip()}")
            if round_ >= a.warmup:
                times[name].append(ms)
    with open(a.json, "w") as f:
        json.dump(times, f)


if __name__ == "__main__":
    main()
