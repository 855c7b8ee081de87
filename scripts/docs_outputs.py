#!/usr/bin/env python
"""Re-run the commands whose output the README and docs show, and write their output back into the pages.

A page holds such an output between two markers; the block is rewritten whole (the command, its output
and a dated line saying how it was made):

    <!-- output: NAME -->
    ```text
    $ lead-hf rank ...
    ...
    ```
    <!-- /output -->

    python scripts/docs_outputs.py                    # every output (the demo extracts for minutes)
    python scripts/docs_outputs.py hub-search --check # re-run and compare the scores with the page, write nothing

Each command runs from an empty folder with its own caches (a fresh cache for the demo: its time is a
user's first run), so what a page shows is what a newcomer gets. ``--check`` compares the table cells that
do not depend on the machine's speed (rank, model, every score); ``tests/test_docs_outputs.py`` runs it
for the cheap outputs.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MINILM = ("zoo:all-minilm-l6-v2 zoo:all-minilm-l6-v2-layers4 zoo:all-minilm-l6-v2-layers2 "
          "zoo:all-minilm-l6-v2.random")


@dataclass
class Output:
    page: str
    command: str
    """What the page shows after ``$`` (and what runs; ``lead-hf`` is this checkout's)."""
    note: str
    """Why it runs as it does, before the date on the dated line."""
    cheap: bool = False
    """Run by the tests (a minute at most)."""
    hub: bool = False
    """Needs the local test Hub with its tiny models (HF_ENDPOINT is set to it)."""
    warm: str | None = None
    """An output whose command runs first, in the same folder and caches (its features are then cached)."""
    env: dict[str, str] = field(default_factory=dict)


OUTPUTS = {
    "demo": Output("README.md", "lead-hf rank", "the offline demo on a fresh cache, from an empty folder"),
    "demo-bootstrap": Output("docs/cli.md", "lead-hf rank --bootstrap 20",
                             "the demo again, its features cached", warm="demo"),
    "hub-search": Output("docs/cli.md", "lead-hf rank --hub-search tiny --hub-limit 3 --dataset embedded:digits "
                         "--max-per-class 20 --scores lead logme",
                         "on the local test Hub (python -m tests.support.hub_server --tiny-models), HF_HUB_OFFLINE=0",
                         cheap=True, hub=True),
    "text-rotten-tomatoes": Output("docs/cli.md", f"lead-hf rank {MINILM} --dataset embedded:rotten_tomatoes "
                                   f"--ground-truth {ROOT / 'benchmarks/ground_truth_text/rotten_tomatoes.csv'}",
                                   "features extracted afresh"),
    "text-tweets": Output("docs/text.md", f"lead-hf rank {MINILM} --dataset embedded:tweets_sentiment "
                          "--scores lead logme nleep", "features extracted afresh"),
    "ct": Output("docs/ct.md", "lead-hf rank zoo:mobilenetv2_100.in1k --ct-betas 0.7 0.9 1 --dataset embedded:digits "
                 "--max-per-class 20", "Curvature Tuning, features extracted afresh"),
}


def run(name: str, folder: Path, env: dict[str, str]) -> tuple[str, float]:
    """(stdout, seconds) of one output's command, run in ``folder``."""
    out = OUTPUTS[name]
    argv = [sys.executable, "-m", "lead_hf", *shlex.split(out.command)[1:]]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=folder, env={**env, **out.env}, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{name}: `{out.command}` exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout.rstrip("\n"), seconds


def block(name: str, stdout: str, seconds: float) -> str:
    out = OUTPUTS[name]
    shown = out.command.replace(str(ROOT) + "/", "")
    lines = "\n".join(line.replace(str(ROOT) + "/", "") for line in stdout.strip("\n").splitlines())
    when = _dt.date.today().isoformat()
    return (f"```text\n$ {shown}\n{lines}\n```\n\n(`python scripts/docs_outputs.py {name}`, {when}: {out.note}; "
            f"{seconds:.0f} s on {os.cpu_count()} shared CPU cores)\n")


MARKED = re.compile(r"(<!-- output: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /output -->)", re.S)


def current(name: str) -> str:
    text = (ROOT / OUTPUTS[name].page).read_text()
    found = next((m for m in MARKED.finditer(text) if m.group("name") == name), None)
    if found is None:
        raise ValueError(f"{OUTPUTS[name].page} has no <!-- output: {name} --> block")
    return found.group("body")


def write(name: str, new_block: str) -> None:
    page = ROOT / OUTPUTS[name].page
    text = page.read_text()
    replaced = MARKED.sub(lambda m: m.group(1) + new_block + m.group(4) if m.group("name") == name else m.group(0),
                          text)
    page.write_text(replaced)


def table_cells(text: str) -> list[tuple[str, ...]]:
    """The cells of every ranking table row that do not depend on the machine's speed: rank, model and the
    score columns (before the cost columns)."""
    rows, header = [], None
    for line in text.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[:2] == ["rank", "model"]:
            header = cells
            continue
        if header and re.fullmatch(r"\d+|-", cells[0]) and len(cells) >= 3:
            stop = next((i for i, h in enumerate(header) if h in ("params M", "P(best lead)", "status")), len(header))
            rows.append(tuple(cells[:stop]))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"outputs to re-run (default: all of {', '.join(OUTPUTS)})")
    parser.add_argument("--check", action="store_true", help="compare the scores with the pages, write nothing")
    parser.add_argument("--cheap", action="store_true", help="only the outputs the tests re-run")
    args = parser.parse_args(argv)
    names = args.names or [n for n, o in OUTPUTS.items() if o.cheap or not args.cheap]
    unknown = sorted(set(names) - set(OUTPUTS))
    if unknown:
        parser.error(f"unknown outputs {unknown}; known: {', '.join(OUTPUTS)}")
    failures = 0
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lead-hf-docs-")))
        env = {**os.environ, "LEAD_HF_CACHE": str(folder / "cache"), "HF_DATASETS_CACHE": str(folder / "hf-datasets"),
               "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "HF_HUB_OFFLINE": "1",
               "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        if any(OUTPUTS[n].hub for n in names):
            sys.path.insert(0, str(ROOT))
            from tests.support.hub_server import LocalHub
            from tests.support.tiny_repos import add_tiny_model_repos

            hub = stack.enter_context(LocalHub())
            add_tiny_model_repos(hub)
        done: set[str] = set()
        for name in names:
            out = OUTPUTS[name]
            if out.warm and out.warm not in done:
                run(out.warm, folder, env)
            env_here = {**env, **({"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
                                   "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(folder / "hf")} if out.hub else {})}
            stdout, seconds = run(name, folder, env_here)
            done.add(name)
            if args.check:
                want, got = table_cells(current(name)), table_cells(stdout)
                status = "same" if want == got else f"DIFFERENT:\n  page: {want}\n  now:  {got}"
                failures += want != got
                print(f"{name}: {status}")
            else:
                write(name, block(name, stdout, seconds))
                print(f"{name}: written into {out.page} ({seconds:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
