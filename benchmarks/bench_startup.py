#!/usr/bin/env python
"""Start-up cost of the CLI: ``lead-hf --help``, ``lead-hf rank --help`` and a bad-option error, side by side
with a bare ``python -c pass`` in one run (wall-clock median and peak RSS of each command over repeats,
interleaved so that load on the machine touches every command alike), and which ML frameworks each one
imported (none may: options live in modules that import no framework).

    python benchmarks/bench_startup.py --repeats 7 --out benchmarks/results/startup.md
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

FRAMEWORKS = ("torch", "transformers", "timm", "datasets", "accelerate")
PROBE = ("import sys, runpy; sys.argv = {argv!r}\n"
         "try:\n    runpy.run_module('lead_hf', run_name='__main__')\nexcept SystemExit:\n    pass\n"
         "print('IMPORTED', ','.join(m for m in {fw!r} if m in sys.modules), file=sys.stderr)")
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "lead-hf --help": [sys.executable, "-m", "lead_hf", "--help"],
    "lead-hf rank --help": [sys.executable, "-m", "lead_hf", "rank", "--help"],
    "lead-hf rank --seed -1 (error)": [sys.executable, "-m", "lead_hf", "rank", "--seed", "-1"],
    "lead-hf benchmark --help": [sys.executable, "-m", "lead_hf", "benchmark", "--help"],
}


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one run of ``cmd``."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    return seconds, usage.ru_maxrss / 1024


def imported(cmd: list[str]) -> str:
    """The ML frameworks the command imported (run once more, in-process, through runpy)."""
    if cmd[1:3] != ["-m", "lead_hf"]:
        return "-"
    argv = ["lead-hf", *cmd[3:]]
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, fw=FRAMEWORKS)], capture_output=True,
                         text=True)
    line = next((ln for ln in out.stderr.splitlines() if ln.startswith("IMPORTED")), "IMPORTED ?")
    return line.split(" ", 1)[1] or "none"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=None, help="write the Markdown table to this file too")
    args = parser.parse_args(argv)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for name, cmd in COMMANDS.items():  # warm the file cache once
        timed(cmd)
    for _ in range(args.repeats):
        for name, cmd in COMMANDS.items():
            runs[name].append(timed(cmd))
    base = statistics.median(s for s, _ in runs["python -c pass"])
    lines = [f"Start-up of the CLI ({_dt.date.today().isoformat()}, `python benchmarks/bench_startup.py --repeats "
             f"{args.repeats}`; median of {args.repeats} interleaved runs on this machine, "
             f"{os.cpu_count()} CPUs)", "",
             "| command | median wall s | x python -c pass | peak RSS MB | ML frameworks imported |",
             "|---|---:|---:|---:|---|"]
    for name, cmd in COMMANDS.items():
        wall = statistics.median(s for s, _ in runs[name])
        rss = statistics.median(m for _, m in runs[name])
        lines.append(f"| `{name}` | {wall:.3f} | {wall / base:.1f} | {rss:.0f} | {imported(cmd)} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        Path(args.out).write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
