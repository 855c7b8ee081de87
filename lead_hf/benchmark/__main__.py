"""``python -m lead_hf.benchmark FIDELITY_JSON [--per-dataset]``: the Markdown tables of a fidelity.json, as
the README and docs/benchmark.md show them."""
import argparse
import json
import sys
from pathlib import Path

from .fidelity import fidelity_table, per_dataset_table

parser = argparse.ArgumentParser(prog="python -m lead_hf.benchmark",
                                 description="Print the Markdown table of a fidelity.json (as the README shows it).")
parser.add_argument("fidelity_json", type=Path, help="e.g. benchmarks/results/benchmark_v2_fidelity.json")
parser.add_argument("--per-dataset", action="store_true",
                    help="print the per-dataset table instead (weighted tau / top-1 regret of every score)")
args = parser.parse_args()
path = args.fidelity_json
if not path.is_file():
    parser.error(f"{path}: no such file (lead-hf benchmark writes <name>_fidelity.json next to its table)")
doc = json.loads(path.read_text())
print((per_dataset_table if args.per_dataset else fidelity_table)(doc), end="")
sys.exit(0)
