#!/usr/bin/env python
"""The ground-truth sweep: fine-tune every benchmark-zoo model on every downstream dataset.

Resumable: every run (model, dataset, learning rate, seed) is one JSON written atomically by
``lead_hf.finetune``; a restarted sweep skips the runs that exist. With ``--protocol ft-v2`` the run
records go to ``benchmarks/ground_truth_v2/runs/`` inside the repository, so that finished blocks are
committed and a later session (or another machine) resumes from them. After every (model, dataset) the
dataset's CSV is rewritten (atomically) with what is finished, keeping the earlier rows of models this
sweep cannot run (weights not built on this machine): mean accuracy over the seeds, its standard
deviation, every seed's accuracy, the learning rate chosen and the exact protocol, so partial results can
be committed while it runs. Members derived from a dataset are never fine-tuned on it.

    python -m benchmarks.zoo.build
    nohup nice -n 15 python benchmarks/run_ground_truth.py --protocol ft-v2 > benchmarks/ground_truth_v2/sweep.log 2>&1 &
    python benchmarks/run_ground_truth.py --protocol ft-v1 --seed 1 --out benchmarks/ground_truth_seed1
    python benchmarks/run_ground_truth.py --protocol ft-v2 --shard 0/2 &   # and 1/2: parallel workers
    python benchmarks/run_ground_truth.py --protocol ft-v2 --collect       # CSVs of the finished pairs

Protocol ft-v3 (docs/benchmark_v3.md) sweeps "rows" (``ROWS["ft-v3"]``) instead of datasets: each row names a
dataset and its settings (splits, images per class, seeds) and has its own CSV, ``<row>.csv``, with a
``row`` column; ``--datasets`` takes row names or dataset specs (every row of that dataset). Its records
go to ``benchmarks/ground_truth_v3/runs/``; the ft-v2 records copied there are reused (same training recipe,
same run keys: ``repeat_seeds`` is not part of a run's key), so v2 pairs train their extra seeds only.

    python benchmarks/run_ground_truth.py --protocol ft-v3 --claim --num-threads 1 &   # as many as cores
    python benchmarks/run_ground_truth.py --protocol ft-v3 --collect       # one CSV per row

``--claim`` shares the pairs among any number of workers without a fixed split: a worker takes the next
(row, model) pair nobody holds, holding a lock file (``<runs>/claims/``) while it runs it, and passes over
the pairs another live worker holds. A fixed ``--shard`` split left one worker an hour of expensive pairs
while the other had finished; a killed worker's locks go with it.
"""
from __future__ import annotations

import _lab  # noqa: F401 - the checkout on sys.path, the benchmark zoo registered

import argparse
import contextlib
import csv
import io
import re
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Per protocol: the datasets in sweep order, each with the FinetuneOptions fields it needs beyond the
# protocol's (the splits: digits and lfw_faces have no official test split; lfw_faces has 100 images per
# class in all, so it cannot give 100 training images per class and gets 60 / 40).
DATASETS = {
    "ft-v1": {"embedded:digits": {}, "embedded:fashion_mnist": {}, "embedded:mnist": {}, "embedded:lfw_faces": {}},
    "ft-v2": {
        "embedded:lfw_faces": {"train_split": "all", "test_split": "all", "train_per_class": 60,
                               "test_per_class": 40},
        "embedded:fashion_mnist": {},
        "embedded:mnist": {},
        "embedded:digits": {"train_split": "all", "test_split": "all"},
    },
}
# ft-v3: rows (name -> dataset + FinetuneOptions fields beyond the protocol's), in sweep order: the
# cheapest way to finished rows of both halves of the LEAD ablation first (docs/lead.md). The
# protocol's own repeat seeds are 1-5 (6 seeds); the low-data rows run 8 (their accuracies are noisier), and
# fashion_mnist_10pc 10: its seed halves agreed at 0.79 with 8, under the headline's 0.8 (issue 25 item 5;
# docs/benchmark_v3.md, decided on the ground truth alone, before any score was read on that row).
_EIGHT_SEEDS = {"repeat_seeds": (1, 2, 3, 4, 5, 6, 7)}
_TEN_SEEDS = {"repeat_seeds": (1, 2, 3, 4, 5, 6, 7, 8, 9)}
_CLIPART = {"dataset": "embedded:clipart", "train_split": "train", "test_split": "test", "test_per_class": None}
ROWS = {
    "ft-v3": {
        "clipart": {**_CLIPART, "train_per_class": 75},
        "clipart_10pc": {**_CLIPART, "train_per_class": 10, **_EIGHT_SEEDS},
        "fashion_mnist": {"dataset": "embedded:fashion_mnist", **DATASETS["ft-v2"]["embedded:fashion_mnist"]},
        "lfw_faces": {"dataset": "embedded:lfw_faces", **DATASETS["ft-v2"]["embedded:lfw_faces"]},
        "digits": {"dataset": "embedded:digits", **DATASETS["ft-v2"]["embedded:digits"]},
        "mnist": {"dataset": "embedded:mnist", **DATASETS["ft-v2"]["embedded:mnist"]},
        "clipart_25pc": {**_CLIPART, "train_per_class": 25, **_EIGHT_SEEDS},
        "fashion_mnist_10pc": {"dataset": "embedded:fashion_mnist", "train_per_class": 10, "test_per_class": 100,
                               **_TEN_SEEDS},
        "fashion_mnist_25pc": {"dataset": "embedded:fashion_mnist", "train_per_class": 25, "test_per_class": 100,
                               **_EIGHT_SEEDS},
    },
}
DEFAULTS = {"ft-v1": {"zoo": "zoo.txt", "out": "ground_truth", "runs": None},
            "ft-v2": {"zoo": "zoo_v2.txt", "out": "ground_truth_v2", "runs": "ground_truth_v2/runs"},
            "ft-v3": {"zoo": "zoo_v3.txt", "out": "ground_truth_v3", "runs": "ground_truth_v3/runs"}}
COLUMNS = ["model", "dataset", "accuracy", "accuracy_std", "seed_accuracies", "best_lr", "lr_grid", "image_size",
           "train_split", "train_per_class", "test_split", "test_per_class", "subset_seed", "protocol", "command", "revision", "devices"]
# revision: the sha256 of the weights fine-tuned (a derived member rebuilt on another CPU differs in the last
# bits, so its features must come from the same file); devices: where its runs were trained.
ROW_COLUMNS = COLUMNS + ["row"]
"""The columns of a row's CSV (ft-v3): ``row`` names the row, since two rows may share a dataset."""


def sweep_rows(protocol: str) -> list[tuple[str, str, dict]]:
    """(CSV name, dataset, FinetuneOptions fields) in sweep order: ft-v3's rows, or one per dataset of the
    earlier protocols (named by the dataset's key)."""
    if protocol in ROWS:
        return [(row, fields["dataset"], {k: v for k, v in fields.items() if k != "dataset"})
                for row, fields in ROWS[protocol].items()]
    return [(dataset.split(":", 1)[-1], dataset, fields) for dataset, fields in DATASETS[protocol].items()]


def write_csv(path: Path, rows: list[dict], columns: list[str] = COLUMNS) -> None:
    from lead_hf.utils.io import write_text_atomic

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def read_rows(path: Path) -> dict[str, dict]:
    """The rows a CSV of an earlier sweep holds, by model (empty when there is none)."""
    if not path.is_file():
        return {}
    with open(path, newline="") as fh:
        return {row["model"]: row for row in csv.DictReader(fh)}


def merged_rows(previous: dict[str, dict], fresh: dict[str, dict], order: list[str]) -> list[dict]:
    """This sweep's rows replace the earlier ones model by model; a model this sweep could not run (its
    weights are not built here, it failed) keeps its earlier row, so a restart never loses a result.
    Rows come in zoo order, then any earlier model no longer in the zoo."""
    rows = {**previous, **fresh}
    return [rows[m] for m in order if m in rows] + [r for m, r in rows.items() if m not in order]


def row_of(res, opts, spec: str, dataset: str, extra_flags: str) -> dict:
    grid = sorted({r["lr"] for r in res.runs})
    return {"model": res.model, "dataset": dataset, "accuracy": f"{res.accuracy:.4f}",
            "accuracy_std": "" if res.accuracy_std is None else f"{res.accuracy_std:.4f}",
            "seed_accuracies": ";".join(f"{a:.4f}" for a in res.seed_accuracies), "best_lr": f"{res.best_learning_rate:g}",
            "lr_grid": ";".join(f"{lr:g}" for lr in grid), "image_size": res.image_size,
            "train_split": opts.train_split, "train_per_class": opts.train_per_class, "test_split": opts.test_split,
            "test_per_class": opts.test_per_class, "subset_seed": opts.resolved_subset_seed,
            "protocol": opts.protocol_string(),
            "command": f"lead-hf finetune {shlex.quote(spec)} --dataset {dataset}{extra_flags}",
            "revision": res.runs[0].get("revision", "") if res.runs else "",
            "devices": ";".join(sorted({str(r.get("device", "")) for r in res.runs}))}


class Claimed(Exception):
    """Another live worker holds this pair (``--claim``)."""


@contextlib.contextmanager
def claimed(folder: Path | None, row: str, spec: str):
    """Hold the pair's lock file under ``folder`` while the block runs (None: no claiming); Claimed at once
    when another process holds it. The lock goes with the process, so a killed worker leaves none behind."""
    if folder is None:
        yield
        return
    from lead_hf.utils.io import file_lock

    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{row}--{spec}")
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(file_lock(folder / f"{name}.lock", timeout=0))
        except TimeoutError:
            raise Claimed(f"{row} {spec}") from None
        yield


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N) with 0 <= I < N; anything else is refused before any work."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise SystemExit(f"--shard {text!r}: expected I/N with integers, e.g. 0/4") from None
    if not 0 <= index < count:
        raise SystemExit(f"--shard {text!r}: need 0 <= I < N")
    return index, count


def _flags(fields: dict) -> str:
    out = ""
    for key, value in fields.items():
        if isinstance(value, tuple):
            value = ",".join(str(v) for v in value)
        out += f" --{key.replace('_', '-')} {value}"
    return out


def main(argv=None) -> int:
    from lead_hf.benchmark.job import read_zoo
    from lead_hf.finetune import PROTOCOLS, FinetuneOptions, finetune
    from lead_hf.models import excluded_datasets

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", default="ft-v2", choices=sorted({*DATASETS, *ROWS}))
    parser.add_argument("--zoo", default=None, help="model list (default: benchmarks/zoo_v2.txt for ft-v2, "
                                                    "zoo_v3.txt for ft-v3)")
    parser.add_argument("--datasets", nargs="+", default=None,
                        help="default: every dataset of the protocol (ft-v3: row names, or datasets for all "
                             "their rows)")
    parser.add_argument("--models", nargs="+", default=None, help="only these specs of the zoo file")
    parser.add_argument("--out", default=None, help="folder of the <dataset>.csv files")
    parser.add_argument("--runs-dir", default=None,
                        help="where run records are kept (default for ft-v2: benchmarks/ground_truth_v2/runs; "
                             "for ft-v1: the lead_hf cache)")
    parser.add_argument("--num-threads", type=int, default=1)
    parser.add_argument("--shard", default=None, metavar="I/N",
                        help="run only every N-th (dataset, model) pair starting at I (0-based), for N parallel "
                             "workers sharing --runs-dir; shards write run records only: run once more "
                             "without --shard (everything cached) to write the CSVs")
    parser.add_argument("--claim", action="store_true",
                        help="share the pairs with the other --claim workers on the same --runs-dir: take the "
                             "next pair no live worker holds (a lock file per pair under <runs>/claims/)")
    parser.add_argument("--collect", action="store_true",
                        help="train nothing: write the CSVs from the finished run records (after parallel --shard "
                             "workers, or while one still runs); a pair with a missing run is left out")
    parser.add_argument("--seed", type=int, default=None,
                        help="ft-v1 only: another seed (subsets, head, augmentation) measures the ground truth's noise")
    args = parser.parse_args(argv)
    shard = parse_shard(args.shard) if args.shard else None
    defaults = DEFAULTS[args.protocol]
    models = zoo_order = read_zoo(args.zoo or HERE / defaults["zoo"])
    if args.models:
        models = [m for m in models if m in set(args.models)]
    rows = sweep_rows(args.protocol)
    if args.datasets:  # in the order given; ft-v3 also by row name
        def names(r):
            return (r[0], r[1]) if args.protocol in ROWS else (r[1],)
        known = [row for row, _, _ in rows] if args.protocol in ROWS else list(DATASETS[args.protocol])
        unknown = [d for d in args.datasets if not any(d in names(r) for r in rows)]
        if unknown:
            raise SystemExit(f"datasets {unknown} have no {args.protocol} settings; known: {known}")
        rows = [r for d in args.datasets for r in rows if d in names(r)]
    out = Path(args.out) if args.out else HERE / defaults["out"]
    runs = args.runs_dir or (str(HERE / defaults["runs"]) if defaults["runs"] else None)
    base = {"num_threads": args.num_threads, "cache_dir": runs}
    if args.seed is not None:
        base["seed"] = args.seed
    if args.collect and (shard or args.claim):
        raise SystemExit("--collect writes the CSVs of every worker's records: run it without --shard or --claim")
    if shard and args.claim:
        raise SystemExit("--shard and --claim both split the pairs among workers: give one")
    if args.claim and not runs:
        raise SystemExit("--claim needs a runs folder that the workers share (--runs-dir)")
    claims = Path(runs) / "claims" if args.claim else None
    if args.collect:
        base["cached_only"] = True
    start = time.time()
    pair = -1
    progress: dict[str, tuple[int, int]] = {}  # row -> (pairs finished, pairs to run), for --collect's summary
    for row, dataset, fields in rows:
        name = dataset.split(":", 1)[-1]
        opts = FinetuneOptions.preset(args.protocol, dataset=dataset, **base, **fields)
        extra = {**PROTOCOLS[args.protocol], **fields, "protocol_name": args.protocol}
        if args.seed:
            extra["seed"] = args.seed
        flags = _flags(extra) + f" --num-threads {args.num_threads}"
        csv_path = out / f"{row}.csv"
        columns = ROW_COLUMNS if args.protocol in ROWS else COLUMNS
        label = f"{dataset} [{row}]" if args.protocol in ROWS else dataset
        previous, fresh = read_rows(csv_path), {}
        first_pair = pair + 1
        for spec in models:
            if name in excluded_datasets(spec):
                print(f"[{time.time() - start:.0f}s] {label} {spec}: skipped (derived from this dataset)", flush=True)
                continue
            pair += 1
            if shard and pair % shard[1] != shard[0]:
                continue
            try:
                with claimed(claims, row, spec):
                    res = finetune(spec, options=opts, log=lambda m: print(m, flush=True))
            except Claimed:
                print(f"[{time.time() - start:.0f}s] {label} {spec}: another worker is running it", flush=True)
                continue
            except (ValueError, FloatingPointError) as err:  # weights not built, diverged at every rate, ...
                print(f"[{time.time() - start:.0f}s] {label} {spec}: not run ({err})", flush=True)
                continue
            except LookupError as err:  # --collect: a run of this pair is not finished yet
                print(f"[{time.time() - start:.0f}s] {label} {spec}: not finished ({err})", flush=True)
                continue
            fresh[spec] = row_of(res, opts, spec, dataset, flags)
            if args.protocol in ROWS:
                fresh[spec]["row"] = row
            if not (shard or args.claim):  # parallel workers would race on the CSV: --collect writes it
                write_csv(csv_path, merged_rows(previous, fresh, zoo_order), columns)
            spread = f" +- {res.accuracy_std:.4f}" if res.accuracy_std is not None else ""
            print(f"[{time.time() - start:.0f}s] {label} {res.model}: {res.accuracy:.4f}{spread} "
                  f"(lr {res.best_learning_rate:g}, trained {res.trained})", flush=True)
        progress[row] = (len(fresh), pair + 1 - first_pair)
    if args.collect:
        print("finished (model, row) pairs: " + ", ".join(f"{row} {done} of {of}" for row, (done, of) in
                                                          progress.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
