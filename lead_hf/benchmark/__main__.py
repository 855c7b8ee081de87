"""``python -m lead_hf.benchmark FIDELITY_JSON``: the Markdown table of a fidelity.json, as the README shows it."""
import argparse
import json
import sys
from pathlib import Path

from .fidelity import fidelity_table

parser = argparse.ArgumentParser(prog="python -m lead_hf.benchmark",
                                 description="Print the Markdown table of a fidelity.json (as the README shows it).")
parser.add_argument("fidelity_json", type=Path, help="e.g. benchmarks/results/benchmark_v2_fidelity.json")
path = parser.parse_args().fidelity_json
if not path.is_file():
    parser.error(f"{path}: no such file (lead-hf benchmark writes <name>_fidelity.json next to its table)")
print(fidelity_table(json.loads(path.read_text())), end="")
sys.exit(0)
