#!/usr/bin/env python
"""The ground-truth sweep: fine-tune every benchmark-zoo model on every downstream dataset.

Resumable (every run is cached by ``lead_hf.finetune``; a restarted sweep skips finished runs) and writes
``benchmarks/ground_truth/<dataset>.csv`` (model, dataset, accuracy, best_lr, protocol, command) after
every model, so partial results can be committed while it runs. Meant to run in the background:

    python scripts/build_benchmark_zoo.py
    nohup nice -n 15 python benchmarks/run_ground_truth.py > benchmarks/ground_truth/sweep.log 2>&1 &
"""
from __future__ import annotations

import argparse
import csv
import io
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATASETS = ("embedded:digits", "embedded:fashion_mnist", "embedded:mnist", "embedded:lfw_faces")


def write_csv(path: Path, rows: list[dict]) -> None:
    from lead_hf.io import write_text_atomic

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["model", "dataset", "accuracy", "best_lr", "protocol", "command"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def main(argv=None) -> int:
    from lead_hf.benchmark import read_zoo
    from lead_hf.finetune import FinetuneOptions, finetune

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zoo", default=str(HERE / "zoo.txt"))
    parser.add_argument("--zoo-dir", default=None)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--out", default=str(HERE / "ground_truth"))
    parser.add_argument("--num-threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0,
                        help="another seed (subsets, head, augmentation) measures the ground truth's own noise")
    args = parser.parse_args(argv)
    models = read_zoo(args.zoo, args.zoo_dir)
    opts = FinetuneOptions(num_threads=args.num_threads, seed=args.seed)
    start = time.time()
    for dataset in args.datasets:
        rows = []
        name = dataset.split(":", 1)[-1]
        for spec in models:
            res = finetune(spec, dataset, opts, log=lambda m: print(m, flush=True))
            shown = spec.replace(str(Path(spec.split("@")[-1]).parent), "{ZOO_DIR}") if "@" in spec else spec
            command = (f"lead-hf finetune {shlex.quote(shown)} --dataset {dataset} --num-threads {args.num_threads}"
                       + (f" --seed {args.seed}" if args.seed else ""))
            rows.append({"model": res.model, "dataset": dataset, "accuracy": f"{res.accuracy:.4f}",
                         "best_lr": res.best_learning_rate, "protocol": opts.protocol_string(), "command": command})
            write_csv(Path(args.out) / f"{name}.csv", rows)
            print(f"[{time.time() - start:.0f}s] {dataset} {res.model}: {res.accuracy:.4f} "
                  f"(trained {res.trained})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
