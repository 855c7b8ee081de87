#!/usr/bin/env python
"""LEAD ablations on the selection-fidelity benchmark, with a guard against overfitting it.

Two kinds of rows, each reporting the weighted Kendall tau with the fine-tuned accuracies per dataset:
- "candidate" rows: complete LEAD variants (which kernel evolves the logits, how eta is scaled, what
  evolves and how it becomes probabilities), each with a few values of t;
- one-option rows: ONE option changed from LEAD's current default (lead_hf.score_options("lead")).
Options are chosen on the CHOOSE datasets only (declared before looking at any number) and then confirmed
on the CONFIRM datasets, which played no part in the choice. Every ground truth given is scored from the
same LEAD values; the CHOOSE and CONFIRM means average over the datasets AND the ground truths. The rule
(docs/benchmark.md section 5): change a default only when the alternative is better on CHOOSE and not worse
on CONFIRM. The low-data rows give every score (LEAD and the baselines) only M samples per class.

    python benchmarks/lead_ablation.py                 # needs the ground truth and the zoo (docs/benchmark.md)
    python benchmarks/lead_ablation.py --ground-truth benchmarks/ground_truth_v2 --zoo benchmarks/zoo_v2.txt
    python benchmarks/lead_ablation.py --choose digits fashion_mnist --confirm mnist lfw_faces --only candidate

Writes benchmarks/results/lead_ablation.{md,csv,json} (--name changes the stem).
"""
from __future__ import annotations

import _lab  # noqa: F401 - the checkout on sys.path, the benchmark zoo registered

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
GROUND_TRUTHS = (HERE / "ground_truth", HERE / "ground_truth_2seeds")

# the variant LEAD had before issue 9, spelled out so that it stays reachable whatever the defaults become
V1 = {"evolution": "class_mean", "eta_normalization": "class_mean", "evolved_state": "probabilities",
      "svm_probability": "softmax", "softmax_before_ce": True}
MAPPINGS = {  # what evolves, and how it becomes the probabilities the cross-entropy reads
    "softmax, CE of softmax(F_t)": {"evolved_state": "probabilities", "svm_probability": "softmax",
                                    "softmax_before_ce": True},
    "softmax, CE of F_t": {"evolved_state": "probabilities", "svm_probability": "softmax",
                           "softmax_before_ce": False},
    "temperature, CE of F_t": {"evolved_state": "probabilities", "svm_probability": "temperature",
                               "softmax_before_ce": False},
    "decisions, temperature": {"evolved_state": "decisions", "svm_probability": "temperature",
                               "softmax_before_ce": False},
}
KERNELS = {  # (evolution, eta_normalization) -> values of t; with lambda_max, t counts gradient steps
    ("class_mean", "class_mean"): (0.3, 1.0, 3.0),
    ("class_mean", "lambda_max"): (10.0, 30.0, 100.0, 300.0),
    ("class_block", "lambda_max"): (1.0, 3.0, 10.0, 30.0),
    ("full_kernel", "lambda_max"): (1.0, 3.0, 10.0, 30.0, 100.0),
}


# the NTK's expectation over the head's init (ntk="analytic", docs/lead.md): every kernel above with the
# paper's mapping, beside the same rows of the empirical NTK of one seeded head
ANALYTIC_MAPPINGS = ("softmax, CE of softmax(F_t)",)


def candidate_grid() -> list[tuple[str, str, dict]]:
    rows = [("candidate", f"{m} | probe only (t=0)", {**V1, **opts, "t": 0.0}) for m, opts in MAPPINGS.items()]
    for (evolution, norm), ts in KERNELS.items():
        for m, opts in MAPPINGS.items():
            rows += [("candidate", f"{m} | {evolution}, eta={norm} | t={t:g}",
                      {**opts, "evolution": evolution, "eta_normalization": norm, "t": t}) for t in ts]
    for (evolution, norm), ts in KERNELS.items():
        for m in ANALYTIC_MAPPINGS:
            rows += [("candidate", f"analytic NTK | {m} | {evolution}, eta={norm} | t={t:g}",
                      {**MAPPINGS[m], "evolution": evolution, "eta_normalization": norm, "t": t, "ntk": "analytic"})
                     for t in ts]
    return rows


# issue 25 item 8: the candidates and the rule declared in docs/lead.md before any v3 number was read
V3_REGRET_TIE = 0.05  # accuracy points: a smaller difference in mean CHOOSE regret is a tie
V3_WTAU_SLACK = 0.02  # on CONFIRM, the winner's mean weighted tau may trail the default's by at most this
PAPER_MAPPING = "softmax, CE of softmax(F_t)"
# the default the v3 decision was held against (v2's), spelled out: the decision it made replaced it
V2_DEFAULT = {**V1, "t": 0.3, "ntk": "empirical"}


def v3_decision_grid() -> list[tuple[str, str, dict]]:
    """The 20 rows of the v3 decision: the default of that time (v2's, pinned), its analytic-NTK twin,
    eta = 1/lambda_max with class-mean rates (t = 10, 30, 100 steps) and the whole-spectrum variants
    (t = 1, 3, 10), each with the empirical and the analytic NTK, all with the paper's mapping."""
    rows = [("default", "default", dict(V2_DEFAULT)),
            ("v3", f"analytic NTK | {PAPER_MAPPING} | class_mean, eta=class_mean | t=0.3",
             {**V2_DEFAULT, "ntk": "analytic"})]
    kernels = {("class_mean", "lambda_max"): (10.0, 30.0, 100.0), ("class_block", "lambda_max"): (1.0, 3.0, 10.0),
               ("full_kernel", "lambda_max"): (1.0, 3.0, 10.0)}
    for (evolution, norm), ts in kernels.items():
        for ntk in ("empirical", "analytic"):
            prefix = "analytic NTK | " if ntk == "analytic" else ""
            rows += [("v3", f"{prefix}{PAPER_MAPPING} | {evolution}, eta={norm} | t={t:g}",
                      {**MAPPINGS[PAPER_MAPPING], "evolution": evolution, "eta_normalization": norm, "t": t,
                       "ntk": ntk}) for t in ts]
    return rows


def decide_v3(table: list[dict]) -> dict:
    """The declared rule on the rows of ``v3_decision_grid``: the CHOOSE winner is the lowest mean CHOOSE
    regret (differences under V3_REGRET_TIE points tie, broken by the higher mean CHOOSE weighted tau); it
    replaces the default only if it is not the default and, on CONFIRM, its mean regret is not above the
    default's and its mean weighted tau not below the default's by more than V3_WTAU_SLACK."""
    rows = [r for r in table if r["group"] in ("default", "v3") and r["score"] == "lead"]
    default = next(r for r in rows if r["group"] == "default")
    best_regret = min(r["choose_regret"] for r in rows)
    tied = [r for r in rows if r["choose_regret"] - best_regret < V3_REGRET_TIE]
    winner = max(tied, key=lambda r: (r["choose"], r["group"] == "default"))
    out = {"winner": winner["setting"], "winner_options": winner["options"],
           "tied_on_regret": [r["setting"] for r in tied],
           "default": {k: default[k] for k in ("choose", "confirm", "choose_regret", "confirm_regret")},
           "winner_values": {k: winner[k] for k in ("choose", "confirm", "choose_regret", "confirm_regret")}}
    if winner is default:
        out.update(adopted=False, reason="the default is the CHOOSE winner: it stays")
    elif winner["confirm_regret"] > default["confirm_regret"]:
        out.update(adopted=False, reason=f"CONFIRM regret {winner['confirm_regret']:.2f} is above the default's "
                                         f"{default['confirm_regret']:.2f}: the default stays")
    elif winner["confirm"] < default["confirm"] - V3_WTAU_SLACK:
        out.update(adopted=False, reason=f"CONFIRM weighted tau {winner['confirm']:+.3f} trails the default's "
                                         f"{default['confirm']:+.3f} by more than {V3_WTAU_SLACK}: the default stays")
    else:
        out.update(adopted=True, reason="best on CHOOSE and not worse on CONFIRM: it becomes the default")
    return out


def finished_rows(records, zoo: list[str], names) -> tuple[list[str], dict[str, list[str]]]:
    """The rows of ``names`` whose ground truth (``records``) has every zoo member that may be scored on the
    row's dataset, and for the others the members still missing (a row without any record lacks them all)."""
    from lead_hf.models import excluded_datasets
    from lead_hf.results.ground_truth import by_dataset, dataset_key

    grouped = by_dataset(records)
    done, missing = [], {}
    for name in names:
        have = grouped.get(name, {})
        datasets = {dataset_key(gt.dataset) for gt in have.values() if gt.dataset}
        lacking = [m for m in zoo if m not in have and not datasets & set(excluded_datasets(m))]
        if not have:
            lacking = list(zoo)
        (missing.__setitem__(name, lacking) if lacking else done.append(name))
    return done, missing


def one_option_grid() -> list[tuple[str, str, dict]]:
    """(group, label, LEAD options) rows; every row differs from the current default in one option."""
    from lead_hf import score_options

    rows = [("t", f"t={v:g}", {"t": v}) for v in (1.0, 3.0, 10.0, 30.0, 100.0)]
    rows += [("eta_normalization", v, {"eta_normalization": v})
             for v in ("class_mean", "class_max", "lambda_max", "unit_features", "none")]
    rows += [("evolution", v, {"evolution": v}) for v in ("class_mean", "class_block", "full_kernel")]
    rows += [("class_aware", f"class_aware={v}", {"class_aware": v}) for v in (True, False)]
    rows += [("samples_per_class", f"S={v}", {"samples_per_class": v}) for v in (8, 16, 64)]
    rows += [("head_widths", f"head={'x'.join(map(str, v))}", {"head_widths": v})
             for v in ((1024, 2048), (256, 512), (2048,))]
    rows += [("svm_probability", v, {"svm_probability": v}) for v in ("softmax", "temperature", "sigmoid", "clip")]
    rows += [("evolved_state", v, {"evolved_state": v}) for v in ("probabilities", "decisions")]
    rows += [("softmax_before_ce", f"softmax_before_ce={v}", {"softmax_before_ce": v}) for v in (False, True)]
    rows += [("svm_loss x svm_fit", f"{a} / {b}", {"svm_loss": a, "svm_fit": b})
             for a in ("least_squares", "squared_hinge") for b in ("out_of_fold", "in_sample", "leave_one_out")]
    if "svm_alpha" in score_options("lead"):
        rows += [("svm_alpha", f"svm_alpha={v}", {"svm_alpha": v}) for v in ("gcv", 0.001, 0.01, 0.1, 1.0)]
    valid = []
    for group, label, opts in rows:  # drop rows that are not a valid variant of the current default
        try:
            from lead_hf.scores.lead import LeadOptions
            LeadOptions(**{**score_options("lead"), **opts})
        except ValueError:
            continue
        valid.append((group, label, opts))
    return valid


def ablation_grid(which=("candidate", "one-option")) -> list[tuple[str, str, dict]]:
    rows = [("default", "default", {})]
    if "candidate" in which:
        rows += candidate_grid()
    if "one-option" in which:
        rows += one_option_grid()
    return rows


def subsample(entry, per_class: int, seed: int = 0):
    """The entry restricted to at most ``per_class`` samples per class (the stratified selection of
    lead_hf.data, so 10 and 20 are drawn the same way as the extraction subsets)."""
    from lead_hf.data import stratified_indices

    idx = stratified_indices(entry.labels, per_class, seed)
    return dataclasses.replace(entry, features=entry.features[idx], labels=entry.labels[idx],
                               logits=None if entry.logits is None else entry.logits[idx])


def smallest_class(entries) -> int:
    """The fewest samples of any class in any entry."""
    return min(int(np.bincount(np.asarray(e.labels)).min()) for es in entries.values() for e in es)


def own_subsets(records) -> bool:
    """Whether the ground truth fixes the training subset (ft-v2 rows name their train split and its size,
    which lead_hf.benchmark then extracts whatever max_per_class says)."""
    return any(r.train_split for r in records)


def score_rows(entries, methods, options, device="auto"):
    from lead_hf.benchmark.job import score_entries

    rows = []
    for es in entries.values():
        rows += score_entries(es, methods, options, device)
    return rows


def paired_vs_default(default_rows, rows, truth: dict, datasets) -> dict | None:
    """{"ci95": [lo, hi], "p_better"} of (this setting's mean weighted tau over ``datasets``) minus the
    default's, both read on the same bootstrap draws of models (first ground truth only)."""
    from lead_hf.benchmark.fidelity import paired_difference_ci
    from lead_hf.results.ground_truth import dataset_key

    mapped = [{**r, "score": name, "accuracy": truth[dataset_key(r["dataset"])][r["model"]]}
              for name, rs in (("default", default_rows), ("setting", rows)) for r in rs
              if dataset_key(r["dataset"]) in datasets and r["model"] in truth.get(dataset_key(r["dataset"]), {})]
    return paired_difference_ci(mapped, "default", min_models=3).get("setting")


def agreement_per_truth(rows, truths: dict[str, dict]):
    """{truth label: (per_dataset, summary)}: the same score values against each ground truth."""
    from lead_hf.benchmark.fidelity import agreement_tables
    from lead_hf.results.ground_truth import dataset_key

    out = {}
    for label, truth in truths.items():
        mapped = [{**r, "accuracy": truth[dataset_key(r["dataset"])][r["model"]]} for r in rows
                  if r["model"] in truth.get(dataset_key(r["dataset"]), {})]
        out[label] = agreement_tables(mapped, min_models=3)
    return out


def table_row(group, label, opts, method, tables, choose, confirm) -> dict:
    from lead_hf.results.ground_truth import dataset_key

    row = {"group": group, "setting": label, "options": opts, "score": method}
    halves = {"choose": [], "confirm": []}
    regrets = {"choose": [], "confirm": []}
    for truth, (per_dataset, summary) in tables.items():
        for d, per in per_dataset.items():
            if method in per:
                key = dataset_key(d)
                row[f"{key}@{truth}"] = per[method]["weighted_tau"]
                row[f"{key}@{truth}:regret"] = per[method]["top1_regret"]
                for half, names in (("choose", choose), ("confirm", confirm)):
                    if key in names:
                        halves[half].append(per[method]["weighted_tau"])
                        regrets[half].append(per[method]["top1_regret"])
        ch = [row.get(f"{d}@{truth}") for d in choose]
        co = [row.get(f"{d}@{truth}") for d in confirm]
        row[f"choose@{truth}"] = float(np.mean([v for v in ch if v is not None])) if any(
            v is not None for v in ch) else float("nan")
        row[f"confirm@{truth}"] = float(np.mean([v for v in co if v is not None])) if any(
            v is not None for v in co) else float("nan")
        row["seconds"] = summary[method]["seconds"] if method in summary else float("nan")
    row["choose"] = float(np.mean(halves["choose"])) if halves["choose"] else float("nan")
    row["confirm"] = float(np.mean(halves["confirm"])) if halves["confirm"] else float("nan")
    # top-1 regret (accuracy points lost by fine-tuning the model ranked first), same means
    for half in ("choose", "confirm"):
        row[f"{half}_regret"] = float(np.mean(regrets[half])) if regrets[half] else float("nan")
    return row


def main(argv=None) -> int:
    from lead_hf import available_scores
    from lead_hf.benchmark import BenchmarkOptions
    from lead_hf.benchmark.job import collect_entries
    from lead_hf.results.ground_truth import accuracy_table, by_dataset, read_ground_truth
    from lead_hf.utils.io import write_json_atomic, write_text_atomic

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--choose", nargs="+", default=list(CHOOSE))
    parser.add_argument("--confirm", nargs="+", default=list(CONFIRM))
    parser.add_argument("--ground-truth", nargs="+", default=[str(p) for p in GROUND_TRUTHS],
                        help="one or more ground-truth folders (or CSVs); the first defines the models scored")
    parser.add_argument("--zoo", default=str(HERE / "zoo.txt"))
    parser.add_argument("--zoo-dir", default=None)
    parser.add_argument("--dataset-prefix", default="embedded:",
                        help="prefix that turns a CHOOSE/CONFIRM name into a dataset spec")
    parser.add_argument("--low-data", nargs="+", type=int, default=[10, 20, 50])
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--name", default="lead_ablation", help="stem of the output files")
    parser.add_argument("--grid", nargs="+", default=["candidate", "one-option"],
                        choices=["candidate", "one-option"], help="which kinds of rows to run")
    parser.add_argument("--skip", nargs="*", default=[],
                        help="skip LEAD settings whose label contains one of these strings (e.g. squared_hinge: "
                             "its Newton solver costs about a minute per model at D > N on this CPU)")
    parser.add_argument("--only", nargs="*", default=[],
                        help="run only the LEAD settings whose label or group contains one of these strings")
    parser.add_argument("--exact", action="store_true",
                        help="--only names whole labels (a label like '... | t=10' also contains '... | t=1')")
    parser.add_argument("--no-low-data", action="store_true", help="skip the low-data rows")
    parser.add_argument("--low-data-scores", nargs="*", default=[],
                        help="scores of the low-data rows (default: every available score)")
    parser.add_argument("--low-data-lead", nargs="*", default=[],
                        help="extra LEAD variants for the low-data rows, each OPTION=VALUE,... (LEAD's "
                             "defaults always run)")
    parser.add_argument("--v3-decision", action="store_true",
                        help="issue 25 item 8: only the 20 declared rows (docs/lead.md), only the rows whose ground "
                             "truth is finished for every member, and the declared rule's verdict")
    parser.add_argument("--num-threads", type=int, default=1,
                        help="torch threads (1: multi-threaded eigh is 100x slower on a busy shared CPU)")
    args = parser.parse_args(argv)
    if args.num_threads:
        import torch
        torch.set_num_threads(args.num_threads)

    truths = {Path(p).name: accuracy_table(read_ground_truth(p)) for p in args.ground_truth}
    first = truths[Path(args.ground_truth[0]).name]
    names = [d for d in (*args.choose, *args.confirm) if len(first.get(d, {})) >= 3]
    missing = [d for d in (*args.choose, *args.confirm) if d not in names]
    if args.v3_decision:  # the declared rule counts only rows finished for every member
        from lead_hf.benchmark.job import read_zoo
        names, unfinished = finished_rows(read_ground_truth(args.ground_truth[0]), read_zoo(args.zoo),
                                          (*args.choose, *args.confirm))
        missing = [f"{d} ({len(m)} members unfinished)" for d, m in unfinished.items()]
        args.choose = [d for d in args.choose if d in names]
        args.confirm = [d for d in args.confirm if d in names]
        if len(args.choose) < 2 or len(args.confirm) < 2:
            raise SystemExit(f"the declared rule needs two finished rows in each half; finished: CHOOSE "
                             f"{args.choose}, CONFIRM {args.confirm}; unfinished: {missing}")
    if not any(d in names for d in args.choose):
        raise SystemExit(f"no CHOOSE dataset has ground truth yet ({args.choose}); run the sweep first")
    # a row named in a ground truth that records its dataset is asked for by that name (clipart_10pc is a
    # row of embedded:clipart, not a dataset); the v1 files name none, so the prefix makes the spec
    recorded = {key for key, rs in by_dataset(read_ground_truth(args.ground_truth[0])).items()
                if any(r.dataset for r in rs.values())}
    base = BenchmarkOptions(zoo=args.zoo, zoo_dir=args.zoo_dir, ground_truth=args.ground_truth[0],
                            datasets=tuple(d if d in recorded else f"{args.dataset_prefix}{d}" for d in names))
    t0 = time.time()
    entries = collect_entries(base, log=print)
    print(f"features ready ({time.time() - t0:.0f}s)", flush=True)

    table = []
    grid = [row for row in (v3_decision_grid() if args.v3_decision else ablation_grid(args.grid))
            if not any(k in row[1] for k in args.skip)
            and (not args.only or row[0] == "default"
                 or any(k == row[1] if args.exact else (k in row[1] or k in row[0]) for k in args.only))]
    default_rows = None
    for group, label, opts in grid:
        start = time.time()
        rows = score_rows(entries, ["lead"], {"lead": opts})
        tables = agreement_per_truth(rows, truths)
        row = table_row(group, label, opts, "lead", tables, args.choose, args.confirm)
        if group == "default":
            default_rows = rows
        elif default_rows is not None:
            for half, half_datasets in (("choose", args.choose), ("confirm", args.confirm)):
                row[f"{half}_vs_default"] = paired_vs_default(default_rows, rows, first, half_datasets)
        table.append(row)
        print(f"{group:18s} {label:62s} choose {row['choose']:+.3f} confirm {row['confirm']:+.3f} "
              f"({time.time() - start:.0f}s)", flush=True)

    # low-data regime: every score with M samples per class (50 > the fine-tuning subset: extracted anew)
    methods = list(args.low_data_scores) or available_scores()
    lead_variants = {"lead": {}}
    for i, spec in enumerate(args.low_data_lead):
        lead_variants[f"lead[{spec}]"] = dict(kv.split("=", 1) for kv in spec.split(",") if kv)
    smallest = smallest_class(entries)
    fixed_subsets = own_subsets(read_ground_truth(args.ground_truth[0]))
    for m in ([] if args.no_low_data else args.low_data):
        # the entries hold the fine-tuning subset: max_per_class (v1) or the ground truth's own train_per_class
        # (v2: 100, lfw_faces 60), so M is drawn from them whenever every class has M; above that only a
        # ground truth without its own subset can be extracted anew, and any other M is not run
        if m <= smallest:
            sub = {d: [subsample(e, m) for e in es] for d, es in entries.items()}
        elif m > (base.max_per_class or 10**9) and not fixed_subsets:
            sub = collect_entries(dataclasses.replace(base, max_per_class=m), log=lambda s: None)
        else:
            print(f"low data {m}/class: skipped (above the {smallest} per class the scores see "
                  "in the fine-tuning subset)", flush=True)
            continue
        rows = score_rows(sub, [x for x in methods if x != "lead"], {})
        for name, opts in lead_variants.items():
            rows += [{**r, "score": name} for r in score_rows(sub, ["lead"], {"lead": opts})]
        tables = agreement_per_truth(rows, truths)
        for method in [x for x in methods if x != "lead"] + list(lead_variants):
            if any(method in summary for _, summary in tables.values()):
                table.append(table_row("low data", f"{m} per class", {"max_per_class": m}, method, tables,
                                       args.choose, args.confirm))
        print(f"low data {m}/class: " + ", ".join(f"{r['score']} {r['choose']:+.3f}/{r['confirm']:+.3f}"
                                                  for r in table if r["setting"] == f"{m} per class"), flush=True)

    chosen = choose(table)
    decision = decide_v3(table) if args.v3_decision else None
    out = Path(args.out)
    write_json_atomic(out / f"{args.name}.json", {
        "choose": args.choose, "confirm": args.confirm, "ground_truths": args.ground_truth, "zoo": args.zoo,
        "missing_datasets": missing, "rows": table, "chosen": chosen, "decision": decision})
    md = render(table, chosen, args, names, missing, list(truths))
    if decision:
        md += (f"\nDecision (the rule declared in docs/lead.md): CHOOSE winner `{decision['winner']}` "
               f"(tied on regret: {len(decision['tied_on_regret'])}); {decision['reason']}.\n")
    write_text_atomic(out / f"{args.name}.md", md)
    buf = io.StringIO()
    cols = ["group", "setting", "score", *(f"{d}@{t}" for t in truths for d in names),
            *(f"{h}@{t}" for t in truths for h in ("choose", "confirm")), "choose", "confirm",
            "choose_regret", "confirm_regret", "seconds"]
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
    default = next(r for r in table if r["group"] == "default")
    for group in dict.fromkeys(r["group"] for r in table
                               if r["score"] == "lead" and r["group"] not in ("default", "low data")):
        rows = [r for r in table if r["group"] == group and r["score"] == "lead"]
        best = max(rows, key=lambda r: (round(r["choose"], 6), r["choose"] == default["choose"]))
        out[group] = best["setting"]
    return out


def paired_cell(diff: dict | None) -> str:
    if not diff:
        return "-"
    lo, hi = diff["ci95"]
    return f"[{lo:+.2f}, {hi:+.2f}] {diff['p_better']:.2f}"


def fmt_points(v) -> str:
    return "-" if v is None or v != v else f"{v:.2f}"


def render(table, chosen, args, names, missing, truths) -> str:
    head = ["option", "setting", "score", *names,
            *(f"{h} {t}" for t in truths for h in ("CHOOSE", "CONFIRM")), "mean CHOOSE", "mean CONFIRM",
            "CHOOSE - default [95% CI] P(>)", "CONFIRM - default [95% CI] P(>)", "regret CHOOSE",
            "regret CONFIRM", "s / model"]
    lines = [f"CHOOSE datasets: {', '.join(args.choose)}; CONFIRM datasets: {', '.join(args.confirm)}"
             + (f" (no ground truth yet: {', '.join(missing)})" if missing else ""),
             f"Ground truths: {', '.join(args.ground_truth)}; zoo: {args.zoo}", "",
             "Weighted Kendall tau with the fine-tuned accuracies. Per dataset: the mean over the ground truths. "
             "mean CHOOSE / CONFIRM: over the datasets and the ground truths. * = best on CHOOSE in its group. "
             "X - default: the setting's mean weighted tau minus the default's on the same bootstrap draws of "
             "models (1000, first ground truth), its 95% interval and the share of draws where it is higher. "
             "regret: top-1 regret, the accuracy points lost by fine-tuning the model ranked first instead of the "
             "best, averaged like the means (lower is better).",
             "", "| " + " | ".join(head) + " |", "|---|---|---|" + "---:|" * (len(head) - 3)]
    fmt = lambda v: "-" if v is None or v != v else f"{v:+.3f}"  # noqa: E731
    for r in table:
        mark = " *" if chosen.get(r["group"]) == r["setting"] and r["score"] == "lead" else ""
        per_ds = []
        for d in names:
            vals = [r[f"{d}@{t}"] for t in truths if f"{d}@{t}" in r]
            per_ds.append(fmt(float(np.mean(vals))) if vals else "-")
        cells = [r["group"], r["setting"] + mark, r["score"], *per_ds,
                 *(fmt(r.get(f"{h}@{t}")) for t in truths for h in ("choose", "confirm")),
                 fmt(r["choose"]), fmt(r["confirm"]),
                 *(paired_cell(r.get(f"{h}_vs_default")) for h in ("choose", "confirm")),
                 *(fmt_points(r.get(f"{h}_regret")) for h in ("choose", "confirm")), f"{r['seconds']:.3f}"]
        # candidate labels hold " | " between their parts: escaped, so that they stay one cell
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
