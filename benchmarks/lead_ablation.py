#!/usr/bin/env python
"""LEAD ablations on the selection-fidelity benchmark, with a guard against overfitting it.

Each row changes ONE option of LEAD from its current default (lead_hf.score_options("lead")) and reports
the weighted Kendall tau with the fine-tuned accuracies per dataset. Options are chosen on the CHOOSE
datasets only (declared before looking at any number) and then confirmed on the CONFIRM datasets, which
played no part in the choice. The low-data rows give every score (LEAD and the baselines) only M
samples per class of the training split.

    python benchmarks/lead_ablation.py                  # needs the ground truth and the zoo (see docs/benchmark.md)
    python benchmarks/lead_ablation.py --choose digits fashion_mnist --confirm mnist lfw_faces

Writes benchmarks/results/lead_ablation.{md,csv,json}.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CHOOSE = ("digits", "fashion_mnist")
CONFIRM = ("mnist", "lfw_faces")


def ablation_grid() -> list[tuple[str, str, dict]]:
    """(group, label, LEAD options) rows; every row differs from the default in one option."""
    rows = [("default", "default", {})]
    rows += [("eta_normalization", v, {"eta_normalization": v})
             for v in ("class_mean", "class_max", "unit_features", "none")]
    rows += [("t", f"t={v:g}", {"t": v}) for v in (0.1, 0.3, 1.0, 3.0, 10.0)]
    rows += [("class_aware", f"class_aware={v}", {"class_aware": v}) for v in (True, False)]
    rows += [("samples_per_class", f"S={v}", {"samples_per_class": v}) for v in (8, 16, 64)]
    rows += [("svm_probability", v, {"svm_probability": v}) for v in ("softmax", "sigmoid", "clip")]
    rows += [("svm_loss x svm_fit", f"{a} / {b}", {"svm_loss": a, "svm_fit": b})
             for a in ("least_squares", "squared_hinge") for b in ("out_of_fold", "in_sample")]
    rows += [("softmax_before_ce", f"softmax_before_ce={v}", {"softmax_before_ce": v}) for v in (False, True)]
    from lead_hf import score_options
    if "svm_alpha" in score_options("lead"):  # the LS-SVM's regularisation, where this LEAD version has it
        rows += [("svm_alpha", f"svm_alpha={v}", {"svm_alpha": v}) for v in ("gcv", 0.001, 0.01, 0.1, 1.0)]
    return rows


def subsample(entry, per_class: int, seed: int = 0):
    """The entry restricted to at most ``per_class`` samples per class (the stratified selection of
    lead_hf.data, so 10 and 20 are drawn the same way as the extraction subsets)."""
    from lead_hf.data import stratified_indices

    idx = stratified_indices(entry.labels, per_class, seed)
    return dataclasses.replace(entry, features=entry.features[idx], labels=entry.labels[idx],
                               logits=None if entry.logits is None else entry.logits[idx])


def evaluate(entries, methods, options, device="auto"):
    """dataset -> method -> agreement, plus the mean seconds per model of each method."""
    from lead_hf.benchmark import agreement_tables, score_entries

    rows = []
    for es in entries.values():
        rows += score_entries(es, methods, options, device, log=lambda m: None)
    per_dataset, summary = agreement_tables(rows, min_models=3)
    return per_dataset, summary


def main(argv=None) -> int:
    from lead_hf import available_scores
    from lead_hf.benchmark import BenchmarkOptions, collect_entries, dataset_key, read_ground_truth
    from lead_hf.io import write_json_atomic, write_text_atomic

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--choose", nargs="+", default=list(CHOOSE))
    parser.add_argument("--confirm", nargs="+", default=list(CONFIRM))
    parser.add_argument("--ground-truth", default=str(HERE / "ground_truth"))
    parser.add_argument("--zoo", default=str(HERE / "zoo.txt"))
    parser.add_argument("--zoo-dir", default=None)
    parser.add_argument("--low-data", nargs="+", type=int, default=[10, 20, 50])
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--name", default="lead_ablation", help="stem of the output files")
    parser.add_argument("--skip", nargs="*", default=[],
                        help="skip LEAD settings whose label contains one of these strings (e.g. squared_hinge: "
                             "its Newton solver costs about a minute per model at D > N on this CPU)")
    parser.add_argument("--only", nargs="*", default=[],
                        help="run only the LEAD settings whose label contains one of these strings")
    parser.add_argument("--no-low-data", action="store_true", help="skip the low-data rows")
    parser.add_argument("--low-data-scores", nargs="*", default=[],
                        help="scores of the low-data rows (default: every available score)")
    parser.add_argument("--low-data-lead", default="",
                        help="LEAD options for the low-data rows as OPTION=VALUE,... (default: LEAD's defaults)")
    parser.add_argument("--num-threads", type=int, default=1,
                        help="torch threads (1: multi-threaded eigh is 100x slower on a busy shared CPU)")
    args = parser.parse_args(argv)
    if args.num_threads:
        import torch
        torch.set_num_threads(args.num_threads)

    truth = read_ground_truth(args.ground_truth)
    names = [d for d in (*args.choose, *args.confirm) if len(truth.get(d, {})) >= 3]
    missing = [d for d in (*args.choose, *args.confirm) if d not in names]
    if not any(d in names for d in args.choose):
        raise SystemExit(f"no CHOOSE dataset has ground truth yet ({args.choose}); run the sweep first")
    base = BenchmarkOptions(zoo=args.zoo, zoo_dir=args.zoo_dir, ground_truth=args.ground_truth,
                            datasets=tuple(f"embedded:{d}" for d in names))
    t0 = time.time()
    entries = collect_entries(base, log=print)
    print(f"features ready ({time.time() - t0:.0f}s)", flush=True)

    def means(per_dataset, method):
        ch = [per_dataset[f"embedded:{d}"][method]["weighted_tau"] for d in args.choose
              if f"embedded:{d}" in per_dataset and method in per_dataset[f"embedded:{d}"]]
        co = [per_dataset[f"embedded:{d}"][method]["weighted_tau"] for d in args.confirm
              if f"embedded:{d}" in per_dataset and method in per_dataset[f"embedded:{d}"]]
        return (float(np.mean(ch)) if ch else float("nan"), float(np.mean(co)) if co else float("nan"))

    table = []
    grid = [row for row in ablation_grid()
            if not any(k in row[1] for k in args.skip) and (not args.only or row[0] == "default"
                                                             or any(k in row[1] for k in args.only))]
    for group, label, opts in grid:
        start = time.time()
        per_dataset, summary = evaluate(entries, ["lead"], {"lead": opts})
        ch, co = means(per_dataset, "lead")
        table.append({"group": group, "setting": label, "options": opts, "score": "lead",
                      **{dataset_key(d): per_dataset[d]["lead"]["weighted_tau"] for d in per_dataset},
                      "choose": ch, "confirm": co, "seconds": summary["lead"]["seconds"]})
        print(f"{group:20s} {label:32s} choose {ch:+.3f} confirm {co:+.3f} ({time.time() - start:.0f}s)",
              flush=True)

    # low-data regime: every score with M samples per class (50 > the fine-tuning subset: extracted anew)
    methods = list(args.low_data_scores) or available_scores()
    lead_low = dict(kv.split("=", 1) for kv in args.low_data_lead.split(",") if kv)
    for m in ([] if args.no_low_data else args.low_data):
        if m <= (base.max_per_class or 10**9):
            sub = {d: [subsample(e, m) for e in es] for d, es in entries.items()}
        else:
            sub = collect_entries(dataclasses.replace(base, max_per_class=m), log=lambda s: None)
        per_dataset, summary = evaluate(sub, methods, {"lead": lead_low} if lead_low else {})
        for method in methods:
            if method not in summary:
                continue
            ch, co = means(per_dataset, method)
            table.append({"group": "low data", "setting": f"{m} per class", "options": {"max_per_class": m},
                          "score": method, **{dataset_key(d): per_dataset[d][method]["weighted_tau"]
                                              for d in per_dataset if method in per_dataset[d]},
                          "choose": ch, "confirm": co, "seconds": summary[method]["seconds"]})
        print(f"low data {m}/class: " + ", ".join(f"{k} {v['weighted_tau']:+.3f}" for k, v in summary.items()),
              flush=True)

    chosen = choose(table)
    out = Path(args.out)
    write_json_atomic(out / f"{args.name}.json", {"choose": args.choose, "confirm": args.confirm,
                                                   "missing_datasets": missing, "rows": table, "chosen": chosen})
    write_text_atomic(out / f"{args.name}.md", render(table, chosen, args.choose, args.confirm, names, missing))
    buf = io.StringIO()
    cols = ["group", "setting", "score", *names, "choose", "confirm", "seconds"]
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(table)
    write_text_atomic(out / f"{args.name}.csv", buf.getvalue())
    print((out / f"{args.name}.md").read_text())
    return 0


def choose(table) -> dict[str, str]:
    """Per option group, the setting with the best mean weighted tau on the CHOOSE datasets (ties: the
    current default's value is kept, the earlier row otherwise)."""
    out = {}
    for group in dict.fromkeys(r["group"] for r in table
                               if r["score"] == "lead" and r["group"] not in ("default", "low data")):
        rows = [r for r in table if r["group"] == group and r["score"] == "lead"]
        default = next(r for r in table if r["group"] == "default")
        best = max(rows, key=lambda r: (round(r["choose"], 6), r["choose"] == default["choose"]))
        out[group] = best["setting"]
    return out


def render(table, chosen, choose_ds, confirm_ds, names, missing) -> str:
    head = ["option", "setting", "score", *names, "mean CHOOSE", "mean CONFIRM", "s / model"]
    lines = [f"CHOOSE datasets: {', '.join(choose_ds)}; CONFIRM datasets: {', '.join(confirm_ds)}"
             + (f" (no ground truth yet: {', '.join(missing)})" if missing else ""), "",
             "Weighted Kendall tau with the fine-tuned accuracies (10 models). * = best on CHOOSE in its group.", "",
             "| " + " | ".join(head) + " |", "|---|---|---|" + "---:|" * (len(head) - 3)]
    for r in table:
        mark = " *" if chosen.get(r["group"]) == r["setting"] and r["score"] == "lead" else ""
        cells = [r["group"], r["setting"] + mark, r["score"], *(f"{r[d]:+.3f}" if d in r else "-" for d in names),
                 f"{r['choose']:+.3f}", f"{r['confirm']:+.3f}", f"{r['seconds']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
