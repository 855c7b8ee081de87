#!/usr/bin/env python
"""The text ground truth: fine-tune the text zoo on embedded:rotten_tomatoes with protocol ft-text-v1.

Every run (model, learning rate, seed) is one JSON record under ``benchmarks/ground_truth_text/runs/``
(written atomically by ``lead_hf.finetune``), so a restart skips finished runs and the records are
committed with the CSV. After every model the CSV (``benchmarks/ground_truth_text/rotten_tomatoes.csv``,
the columns of ``benchmarks/run_ground_truth.py``) is rewritten with what is finished.

    python benchmarks/run_ground_truth_text.py --num-threads 1
    python benchmarks/run_ground_truth_text.py --repeat-seeds 1,2      # more seeds at the selected rates
"""
from __future__ import annotations

import _lab  # noqa: F401 - the checkout on sys.path, the benchmark zoo registered

import argparse
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = ("zoo:all-minilm-l6-v2", "zoo:all-minilm-l6-v2-layers4", "zoo:all-minilm-l6-v2-layers2",
          "zoo:all-minilm-l6-v2.random")
DATASET = "embedded:rotten_tomatoes"


def main(argv=None) -> int:
    sys.path.insert(0, str(HERE))
    from run_ground_truth import COLUMNS, write_csv  # noqa: F401 - one CSV layout for every ground truth

    from lead_hf.finetune import text as finetune_text
    from lead_hf.finetune import FinetuneOptions, finetune

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(HERE / "ground_truth_text"))
    parser.add_argument("--num-threads", type=int, default=1)
    parser.add_argument("--repeat-seeds", default="", help="extra training seeds, e.g. 1,2")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args(argv)
    repeats = tuple(int(s) for s in args.repeat_seeds.split(",") if s.strip())
    out = Path(args.out)
    opts = FinetuneOptions.preset("ft-text-v1", dataset=DATASET, repeat_seeds=repeats, num_threads=args.num_threads,
                                  cache_dir=str(out / "runs"))
    flags = " --protocol-name ft-text-v1" + "".join(
        f" --{k.replace('_', '-')} {','.join(f'{x:g}' for x in v) if isinstance(v, tuple) else v}"
        for k, v in (("train_per_class", opts.train_per_class), ("test_per_class", opts.test_per_class),
                     ("epochs", opts.epochs), ("batch_size", opts.batch_size),
                     ("learning_rates", opts.learning_rates), ("weight_decay", opts.weight_decay),
                     ("subset_seed", opts.subset_seed)) if v is not None)
    if repeats:
        flags += " --repeat-seeds " + ",".join(str(s) for s in repeats)
    rows = []
    for spec in [m.strip() for m in args.models.split(",") if m.strip()]:
        start = time.time()
        res = finetune(spec, options=opts, log=lambda m: print(m, flush=True))
        length = res.protocol.get("max_length")
        grid = sorted({r["lr"] for r in res.runs})
        rows.append({
            "model": res.model, "dataset": DATASET, "accuracy": f"{res.accuracy:.4f}",
            "accuracy_std": "" if res.accuracy_std is None else f"{res.accuracy_std:.4f}",
            "seed_accuracies": ";".join(f"{a:.4f}" for a in res.seed_accuracies),
            "best_lr": f"{res.best_learning_rate:g}", "lr_grid": ";".join(f"{lr:g}" for lr in grid), "image_size": "",
            "train_split": opts.train_split, "train_per_class": opts.train_per_class, "test_split": opts.test_split,
            "test_per_class": opts.test_per_class, "subset_seed": opts.resolved_subset_seed,
            "protocol": finetune_text.protocol_string(opts, length),
            "command": f"lead-hf finetune {shlex.quote(spec)} --dataset {DATASET}{flags}",
            "revision": res.runs[0].get("revision", "") if res.runs else "",
            "devices": ";".join(sorted({str(r.get("device", "")) for r in res.runs}))})
        write_csv(out / "rotten_tomatoes.csv", rows)
        print(f"{res.model}: accuracy {res.accuracy:.4f} (lr {res.best_learning_rate:g}, {res.trained} run(s) trained, "
              f"{time.time() - start:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
