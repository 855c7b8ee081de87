"""Curvature Tuning under full fine-tuning: does the probe's gain survive when every weight trains? (docs/ct.md)

Fine-tunes ``MODEL@ct=BETA`` with protocol ft-v2 (the benchmark's: SGD, 64 px, a learning-rate grid widened
until its best is inside, 3 seeds) on one row of benchmarks/ct_sweep.py, for beta = 1 and the betas given
(the probe's best, from the sweep). The steered network trains with its CT activations in place.

    nice -n 10 python benchmarks/ct_finetune.py --row clipart --model zoo:svhn_cnn.ccexam --betas 1 0.7

Run records are kept in benchmarks/ground_truth_ct/runs/ (not in git: every beta = 1 run is one of ft-v3's, whose
records, committed in benchmarks/ground_truth_v3/runs/, are copied there first and found by their key, so that
beta = 1 trains nothing that ft-v3 has trained); results are appended to benchmarks/results/ct_finetune.jsonl
and shown by ``python benchmarks/ct_sweep.py --report``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import _lab  # noqa: F401 - the checkout on sys.path, the benchmark zoo registered
from ct_sweep import ROWS

HERE = Path(__file__).resolve().parent
RUNS = HERE / "ground_truth_ct" / "runs"
V3_RUNS = HERE / "ground_truth_v3" / "runs"
OUT = HERE / "results" / "ct_finetune.jsonl"
FT_ROWS = ROWS
"""The sweep's rows: ft-v2's datasets, and ft-v3's clipart row (75 training images per class, the whole test
split), run with ft-v2's seeds 0-2."""


def seed_unsteered(model: str, dataset: str, runs: Path, source: Path = V3_RUNS) -> int:
    """Copies ft-v3's run records of the unsteered ``model`` on ``dataset`` into ``runs`` (those not there yet);
    the finetune job finds a run by its key, so a copied record that ft-v2 does not ask for is never read.
    Returns how many were copied."""
    copied = 0
    (runs / "finetune").mkdir(parents=True, exist_ok=True)
    for path in sorted((source / "finetune").glob("*.json")):
        target = runs / "finetune" / path.name
        if target.exists():
            continue
        record = json.loads(path.read_text())
        if record.get("model") == model and record.get("dataset") == dataset:
            target.write_bytes(path.read_bytes())
            copied += 1
    return copied


def main(argv=None) -> int:
    import torch

    from lead_hf.finetune import FinetuneOptions, finetune
    from lead_hf.utils.steering import ct_spec

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--row", required=True, choices=list(FT_ROWS))
    parser.add_argument("--model", required=True)
    parser.add_argument("--betas", nargs="+", type=float, default=[1.0])
    parser.add_argument("--num-threads", type=int, default=1)
    parser.add_argument("--runs", type=Path, default=RUNS, help="the folder of the run records")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.num_threads)
    row = FT_ROWS[args.row]
    opts = FinetuneOptions.preset("ft-v2", **row, cache_dir=str(args.runs), num_threads=args.num_threads)
    if 1.0 in args.betas:
        print(f"{seed_unsteered(args.model, opts.dataset, args.runs)} run records of ft-v3 copied", flush=True)
    for beta in args.betas:
        spec = ct_spec(args.model, beta)
        start = time.time()
        res = finetune(spec, options=opts, log=lambda m: print(m, flush=True))
        record = {"row": args.row, "dataset": opts.dataset, "model": args.model, "beta": beta, "spec": spec,
                  "accuracy": res.accuracy, "seed_accuracies": res.seed_accuracies, "accuracy_std": res.accuracy_std,
                  "best_lr": res.best_learning_rate, "lr_grid": sorted({r["lr"] for r in res.runs}),
                  "run_seconds": round(sum(r["seconds"] for r in res.runs), 1), "trained": res.trained,
                  "wall_seconds": round(time.time() - start, 1), "protocol": opts.protocol_string()}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"{args.row} {spec}: {res.accuracy:.4f} +- {res.accuracy_std or 0:.4f} (lr {res.best_learning_rate:g}, "
              f"{res.trained} trained)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
