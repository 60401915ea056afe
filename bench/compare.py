#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Before/after comparison of two xlb-bench binaries in one time window: runs them alternately
# (base, new; then new, base; ...) N times each, reads each run's table, and prints per row the
# median of the best ns of each binary, the median and range of the per-pair new/base ratios, and
# the issue-11 1M-connection target ratios of each binary per run.
# Usage: compare.py BASE_BIN NEW_BIN N [--cpu C] [--json FILE] [-- xlb-bench options...]
# (--json: every run's rows, {"base": [{row: [best, median]}...], "new": [...]}, for a closer look.)
import json
import statistics
import subprocess
import sys
import tempfile

TARGETS = [  # (row, counterpart, target)
    ("NAT forward hit (nat), 1M live NAT connections / nat",
     "IPv4 TCP established, 1M live flows / dsr", 1.15),
    ("NAT reply hit (nat), 1M live NAT connections / nat",
     "IPv4 TCP established, 1M live flows / dsr", 1.15),
    ("fullnat new connection with port allocation, 1M live NAT connections / fullnat",
     "IPv4 TCP SYN (new flow each packet), maglev, 1M live flows / dsr", 1.30),
    ("NAT forward hit (nat) / nat", "IPv4 TCP established / dsr", 1.15),
    ("NAT reply hit (nat) / nat", "IPv4 TCP established / dsr", 1.15),
    ("non-VIP pass with NAT configured, 65,536 source ports, 1M live NAT connections / pass",
     "non-VIP IPv4 TCP, 65,536 source ports, no NAT filter / pass", 1.10),
]


def parse(path):
    rows = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4:
            continue
        try:
            best, median = float(cells[2]), float(cells[3])
        except ValueError:
            continue
        rows.setdefault(f"{cells[0]} / {cells[1]}", (best, median))
    return rows


def run(binary, cpu, extra):
    with tempfile.NamedTemporaryFile(suffix=".md") as out:
        cmd = ([] if cpu is None else ["taskset", "-c", str(cpu)]) + [binary, "--out", out.name] + extra
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return parse(out.name)


def main():
    args = sys.argv[1:]
    extra = []
    if "--" in args:
        extra = args[args.index("--") + 1:]
        args = args[:args.index("--")]
    dump = None
    if "--json" in args:
        i = args.index("--json")
        dump = args[i + 1]
        del args[i:i + 2]
    cpu = None
    if "--cpu" in args:
        i = args.index("--cpu")
        cpu = int(args[i + 1])
        del args[i:i + 2]
    base, new, n = args[0], args[1], int(args[2])
    runs = {"base": [], "new": []}
    for i in range(n):
        order = ["base", "new"] if i % 2 == 0 else ["new", "base"]
        for which in order:
            runs[which].append(run(base if which == "base" else new, cpu, extra))
            print(f"# run {i + 1}/{n} {which} done", file=sys.stderr, flush=True)
    if dump:
        with open(dump, "w") as f:
            json.dump(runs, f, indent=1)
    print("| Path / mode | base ns (median best) | new ns (median best) | new/base median | range |")
    print("|---|---:|---:|---:|---|")
    for row in runs["new"][0]:
        pairs = [(b[row][0], a[row][0]) for b, a in zip(runs["base"], runs["new"])
                 if row in b and row in a and b[row][0] > 0]
        if not pairs:
            continue
        ratios = [a / b for b, a in pairs]
        print(f"| {row} | {statistics.median(p[0] for p in pairs):.0f} | "
              f"{statistics.median(p[1] for p in pairs):.0f} | {statistics.median(ratios):.3f} | "
              f"{min(ratios):.2f}-{max(ratios):.2f} |")
    print()
    print("| Target row / counterpart (same run) | target | base: ratio per run (best) | new: ratio per run (best) | new median |")
    print("|---|---:|---|---|---:|")
    for row, ref, target in TARGETS:
        cols = []
        for which in ("base", "new"):
            rs = [r[row][0] / r[ref][0] for r in runs[which] if row in r and ref in r]
            cols.append(rs)
        if not cols[1]:
            continue
        fmt = lambda rs: ", ".join(f"{x:.2f}" for x in rs)
        print(f"| {row} / {ref} | <= {target:.2f} | {fmt(cols[0])} | {fmt(cols[1])} | "
              f"{statistics.median(cols[1]):.3f} |")


if __name__ == "__main__":
    main()
