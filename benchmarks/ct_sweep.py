"""Curvature Tuning: which beta does each score choose, and what does the choice cost? (docs/ct.md)

For every dataset row x model x beta, one record: the ct-probe ground truth (a logistic-regression probe on
the frozen steered model, fitted to convergence, test accuracy), the CT paper's Adam probe (ct-probe-adam,
mean of 3 seeds) beside it, every transferability score on the very same training features (the probe's
own frozen outputs, so scores and probe see the same numbers), the out-of-fold accuracy of the ct-probe
classifier on the training subset (5 folds: what CT's own grid search measures, without a test set), and
what each of these cost in seconds.

    nice -n 10 python benchmarks/ct_sweep.py                 # the sweep (resumable: records are appended)
    python benchmarks/ct_sweep.py --report                   # the tables (Markdown) and the chart

Records go to benchmarks/results/ct_sweep.jsonl (one JSON object per line); the probe runs are cached in
the lead_hf cache (finetune/), so a rerun after an interruption trains nothing twice.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import _lab  # noqa: F401 - the checkout on sys.path, the benchmark zoo registered

HERE = Path(__file__).resolve().parent
RECORDS = HERE / "results" / "ct_sweep.jsonl"
BETAS = (0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
MODELS = ("zoo:lenet.captum_cifar10", "zoo:open_nsfw.yahoo", "zoo:inception_v3.tf_fid", "zoo:svhn_cnn.ccexam",
          "zoo:mobilenetv2_100.in1k", "zoo:cifar10_cnn.keras")
"""Cheapest first; all plain-ReLU networks but MobileNetV2 (ReLU6, steered as CT(x) - CT(x - 6))."""
# the rows of protocol ft-v3 (benchmarks/run_ground_truth.py ROWS), so that full fine-tuning compares
ROWS = {
    "lfw_faces": {"dataset": "embedded:lfw_faces", "train_split": "all", "test_split": "all", "train_per_class": 60,
                  "test_per_class": 40},
    "clipart": {"dataset": "embedded:clipart", "train_split": "train", "test_split": "test", "train_per_class": 75,
                "test_per_class": None},
    "digits": {"dataset": "embedded:digits", "train_split": "all", "test_split": "all"},
    "mnist": {"dataset": "embedded:mnist"},
    "fashion_mnist": {"dataset": "embedded:fashion_mnist"},
}
SCORES = ("lead", "logme", "leep", "nce", "nleep", "hscore", "hscore_reg", "transrate", "gbc", "sfda", "ped")
CV_FOLDS = 5


def read_records(path: Path = RECORDS) -> list[dict]:
    """The sweep's records, one per (row, model, beta): a later line replaces an earlier one (a rerun)."""
    from ct_report import latest_records

    return latest_records(path)


def cv_probe(features, labels, opts, folds: int = CV_FOLDS) -> float:
    """Out-of-fold accuracy of the ct-probe classifier on the training subset: stratified folds (seed 0),
    each scored by a probe fitted to the others. It is what CT's own grid search measures (a probe per
    beta, judged on held-out training data), with folds instead of one validation split."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from lead_hf.finetune.probe import fit_logistic

    x, labels = np.asarray(features), np.asarray(labels)
    correct = 0
    for train, held in StratifiedKFold(folds, shuffle=True, random_state=0).split(x, labels):
        fit = fit_logistic(x[train], labels[train], x[held], labels[held], c=opts.learning_rates[0])
        correct += round(fit["accuracy"] * len(held))
    return correct / len(labels)


def one_record(row: str, model: str, beta: float, data, opts, adam_opts) -> dict:
    from lead_hf.finetune import finetune
    from lead_hf.finetune.probe import frozen_outputs
    from lead_hf.models.preprocessing import resized_ref
    from lead_hf.scores import compute_score
    from lead_hf.scores.selection import missing_input
    from lead_hf.utils.steering import ct_spec

    spec = ct_spec(model, beta)
    ref = resized_ref(spec, opts.image_size)
    outputs = frozen_outputs(ref, data)  # finetune() below finds them again: one forward pass per model
    feats, logits = outputs["train"]
    labels = data[0][1]
    source = logits.numpy() if logits.shape[1] else None
    scores, seconds, details = {}, {}, {}
    for method in SCORES:
        if missing_input(method, feats, source):
            continue
        try:
            r = compute_score(method, feats.numpy(), labels, source_logits=source)
        except Exception as err:  # noqa: BLE001 - a score that fails here has no value: recorded, not fatal
            details.setdefault("score_errors", {})[method] = f"{type(err).__name__}: {err}"
            continue
        scores[method], seconds[method] = r.value, round(r.seconds, 4)
        if method == "lead":
            details["lead_probe_accuracy"] = r.details.get("probe_accuracy")
    start = time.time()
    scores["probe_cv"] = cv_probe(feats, labels, opts)
    seconds["probe_cv"] = round(time.time() - start, 3)
    res = finetune(spec, options=opts, log=lambda m: None)
    adam = finetune(spec, options=adam_opts, log=lambda m: None)
    return {"row": row, "dataset": opts.dataset, "model": model, "beta": beta, "spec": spec,
            "accuracy": res.accuracy, "converged": all(r.get("converged", True) for r in res.runs),
            "adam_accuracy": adam.accuracy, "adam_seed_accuracies": adam.seed_accuracies,
            "scores": scores, "seconds": seconds, "features_seconds": outputs["seconds"],
            "probe_seconds": round(sum(r["seconds"] for r in res.runs), 3),
            "adam_probe_seconds": round(sum(r["seconds"] for r in adam.runs), 3), "num_train": len(labels),
            "num_test": len(data[1][1]), "feature_dim": int(feats.shape[1]), "protocol": opts.protocol_string(),
            "adam_protocol": adam_opts.protocol_string(), **details}


def sweep(args) -> int:
    import torch

    from lead_hf.finetune import FinetuneOptions
    from lead_hf.finetune.loop import load_data

    torch.set_num_threads(args.num_threads)
    from threadpoolctl import threadpool_limits
    threadpool_limits(args.num_threads)  # numpy/scipy's BLAS too: the logistic probes are 5x faster on 1 busy thread
    done = {(r["row"], r["model"], r["beta"]) for r in read_records(args.out)}
    start = time.time()
    for row in args.rows:
        opts = FinetuneOptions.preset("ct-probe", **ROWS[row], num_threads=args.num_threads)
        adam_opts = FinetuneOptions.preset("ct-probe-adam", **ROWS[row], num_threads=args.num_threads)
        data = None
        for model in args.models:
            for beta in args.betas:
                if (row, model, beta) in done:
                    continue
                data = data or load_data(opts)
                try:
                    record = one_record(row, model, beta, data, opts, adam_opts)
                except (ValueError, LookupError) as err:  # weights not built, nothing to steer, ...
                    print(f"[{time.time() - start:.0f}s] {row} {model} beta={beta}: not run ({err})", flush=True)
                    break
                args.out.parent.mkdir(parents=True, exist_ok=True)
                with args.out.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                print(f"[{time.time() - start:.0f}s] {row} {model} beta={beta}: acc {record['accuracy']:.4f} "
                      f"lead {record['scores'].get('lead', float('nan')):.4f} cv {record['scores']['probe_cv']:.4f} "
                      f"(features {record['features_seconds']:.0f}s)", flush=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--betas", nargs="+", type=float, default=list(BETAS))
    parser.add_argument("--out", type=Path, default=RECORDS)
    parser.add_argument("--num-threads", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="write the tables and the chart from the records")
    args = parser.parse_args(argv)
    if args.report:
        from ct_report import read_finetune, report
        planned = [(row, model) for row in args.rows for model in args.models]
        return report(read_records(args.out), planned=planned, finetuned=read_finetune())
    return sweep(args)


if __name__ == "__main__":
    sys.exit(main())
