"""`lead-hf benchmark`: how well each transferability score's ranking agrees with real fine-tuning.

For every downstream dataset and every model with a ground-truth accuracy, the features (and source
logits) of the downstream training split are taken from the extraction cache, with the preprocessing
fine-tuning used (``lead_hf.finetune.resized_ref``), and every available score is computed and timed.
Per dataset and averaged over datasets: weighted Kendall tau (``scipy.stats.weightedtau`` defaults, the
literature's measure), Kendall tau, Pearson and top-1 relative regret. Writes ``benchmark.json``,
``benchmark.csv`` (one row per score x model x dataset), ``benchmark.md`` and ``benchmark.png``.

Precomputed features instead of models (e.g. to reproduce the literature's comparison on the published
zoos): ``--features DIR`` with ``DIR/<dataset>/<model>.npz`` (or ``.safetensors``) holding ``features``,
``labels`` and optionally ``logits``, plus ``--ground-truth FILE.csv`` either long (model,dataset,accuracy)
or wide (model,<dataset>,<dataset>,...; the format of /work/shared/data/reference/).

    >>> from lead_hf.benchmark import BenchmarkOptions, run_benchmark
    >>> bench = run_benchmark(BenchmarkOptions(datasets=("embedded:digits",)))
    >>> bench.summary["lead"]["weighted_tau"]
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .cli import Command

MEASURES = ("weighted_tau", "kendall_tau", "pearson", "top1_regret")
DEFAULT_DATASETS = ("embedded:lfw_faces", "embedded:digits", "embedded:fashion_mnist", "embedded:mnist")


@dataclass
class BenchmarkOptions:
    zoo: str = "benchmarks/zoo.txt"
    """Model list (one spec per line, {ZOO_DIR} replaced by --zoo-dir); ignored with --models or --features."""
    zoo_dir: str | None = None
    """Folder of the derived checkpoints (scripts/build_benchmark_zoo.py); default <lead_hf cache>/benchmark_zoo."""
    models: tuple[str, ...] = ()
    """Model specs to benchmark instead of the zoo file."""
    datasets: tuple[str, ...] = DEFAULT_DATASETS
    """Downstream datasets (with --features: the sub-folder names)."""
    ground_truth: str = "benchmarks/ground_truth"
    """Fine-tuned accuracies: a folder of <dataset>.csv files (model,dataset,accuracy) or one CSV, long
    (model,dataset,accuracy) or wide (model,<dataset>,...)."""
    features: str | None = None
    """Precomputed features: DIR/<dataset>/<model>.npz|.safetensors with features, labels[, logits]."""
    scores: tuple[str, ...] = ("all",)
    """Scores to compare ('all': every registered score)."""
    score_options: tuple[str, ...] = ()
    """Options of the scores as METHOD.OPTION=VALUE, e.g. lead.t=2."""
    split: str = "train"
    """Downstream split the scores see (the training split, as in the literature)."""
    max_per_class: int | None = 30
    """Stratified subset of that split the scores see (None: all of it)."""
    image_size: int = 32
    """Input size of the extracted features; must be fine-tuning's (FinetuneOptions.image_size)."""
    seed: int = 0
    """Seed of the subset selection."""
    min_models: int = 3
    """A dataset needs at least this many models with both features and ground truth."""
    device: str = "auto"
    """Device of the scores (auto: CUDA when available)."""
    num_threads: int = 0
    """torch CPU threads for the scores (0: torch's default). On a busy shared CPU use 1: multi-threaded
    LAPACK (eigh) slows down by 100x when its threads are descheduled."""
    cache_dir: str | None = None
    """Extraction cache root (default: $LEAD_HF_CACHE or ~/.cache/lead_hf)."""
    output_dir: str = "benchmarks/results"
    """Where benchmark.{json,csv,md,png} are written."""
    name: str = "benchmark"
    """Stem of the output files."""
    chart: bool = True
    """Write the PNG chart."""

    def __post_init__(self):
        if self.min_models < 2:
            raise ValueError(f"min_models must be >= 2 (rank agreement needs two models), got {self.min_models}")
        if self.image_size < 16:
            raise ValueError(f"image_size must be >= 16, got {self.image_size}")
        if self.num_threads < 0:
            raise ValueError(f"num_threads must be >= 0, got {self.num_threads}")
        if not self.datasets:
            raise ValueError("no dataset given: pass --datasets embedded:digits ...")


@dataclass
class Entry:
    """Inputs of the scores for one (dataset, model)."""

    model: str
    dataset: str
    features: np.ndarray
    labels: np.ndarray
    logits: np.ndarray | None
    accuracy: float


@dataclass
class BenchmarkResult:
    per_dataset: dict[str, dict[str, dict[str, float]]]
    """dataset -> score -> measure -> value."""
    summary: dict[str, dict[str, float]]
    """score -> mean of each measure over datasets, plus 'seconds' (mean wall time per model) and
    'datasets' (how many datasets it was computed on)."""
    values: list[dict[str, Any]] = field(default_factory=list)
    """One row per (dataset, model, score): value, seconds, accuracy."""
    options: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ inputs

def default_zoo_dir() -> Path:
    from .extract.cache import default_cache_root
    return default_cache_root() / "benchmark_zoo"


def read_zoo(path, zoo_dir=None) -> list[str]:
    """Model specs from a zoo file (one per line, # comments), ``{ZOO_DIR}`` replaced by ``zoo_dir``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"zoo file {str(path)!r} does not exist; pass --zoo FILE or --models SPEC ...")
    folder = str(Path(zoo_dir).expanduser()) if zoo_dir else str(default_zoo_dir())
    specs = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            specs.append(line.replace("{ZOO_DIR}", folder))
    if not specs:
        raise ValueError(f"zoo file {str(path)!r} lists no model")
    return specs


def dataset_key(name: str) -> str:
    """The name used in ground-truth files and feature folders: 'embedded:digits' -> 'digits',
    '/data/flowers/' -> 'flowers', 'org/name' -> 'name'."""
    return name.split(":", 1)[-1].rstrip("/").rsplit("/", 1)[-1]


def read_ground_truth(path) -> dict[str, dict[str, float]]:
    """dataset key -> model -> accuracy, from a folder of CSVs or one CSV (long or wide format)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise FileNotFoundError(f"ground-truth folder {str(path)!r} has no .csv file; run "
                                    "benchmarks/run_ground_truth.py or pass --ground-truth FILE.csv")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"ground truth {str(path)!r} does not exist (a CSV file or a folder of them)")
    out: dict[str, dict[str, float]] = {}
    for f in files:
        lines = [ln for ln in f.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        reader = csv.DictReader(lines)
        cols = {c.strip().lower(): c for c in reader.fieldnames or []}
        if "model" not in cols:
            raise ValueError(f"ground-truth file {str(f)!r} needs a 'model' column, found {reader.fieldnames}")
        long = "accuracy" in cols
        for row in reader:
            model = row[cols["model"]].strip()
            if long:
                ds = dataset_key(row[cols["dataset"]]) if "dataset" in cols else f.stem
                items = [(ds, row[cols["accuracy"]])]
            else:
                items = [(dataset_key(c), row[c]) for c in reader.fieldnames if c != cols["model"]]
            for ds, raw in items:
                if raw is None or not str(raw).strip():
                    continue  # a blank cell: no ground truth for this pair
                try:
                    value = float(raw)
                except ValueError:
                    raise ValueError(f"ground-truth file {str(f)!r}: accuracy {raw!r} of model {model!r} on "
                                     f"{ds!r} is not a number") from None
                if not math.isfinite(value):
                    raise ValueError(f"ground-truth file {str(f)!r}: accuracy of {model!r} on {ds!r} is {raw}")
                out.setdefault(ds, {})[model] = value
    return out


def _load_feature_file(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    else:
        from safetensors.numpy import load_file
        arrays = load_file(str(path))
    if "features" not in arrays or "labels" not in arrays:
        raise ValueError(f"feature file {str(path)!r} must hold arrays 'features' [N, D] and 'labels' [N] "
                         f"(and optionally 'logits'); it has {sorted(arrays)}")
    return arrays


def precomputed_entries(folder, dataset: str, truth: dict[str, float]) -> list[Entry]:
    """Entries from DIR/<dataset>/<model>.npz|.safetensors for the models that have ground truth."""
    sub = Path(folder) / dataset_key(dataset)
    if not sub.is_dir():
        raise FileNotFoundError(f"no feature folder {str(sub)!r} for dataset {dataset!r}; expected "
                                "<features>/<dataset>/<model>.npz")
    entries = []
    for f in sorted(p for p in sub.iterdir() if p.suffix in (".npz", ".safetensors")):
        if f.stem not in truth:
            continue
        arrays = _load_feature_file(f)
        entries.append(Entry(f.stem, dataset, arrays["features"], arrays["labels"], arrays.get("logits"),
                             truth[f.stem]))
    return entries


def extracted_entries(models: list[str], dataset: str, truth: dict[str, float], opts: BenchmarkOptions,
                      log: Callable[[str], None]) -> list[Entry]:
    """Entries from the extraction cache at fine-tuning's preprocessing, for the models with ground truth."""
    from .extract import ExtractOptions, extract
    from .finetune import resized_ref

    ex = ExtractOptions(split=opts.split, max_per_class=opts.max_per_class, seed=opts.seed,
                        cache_dir=opts.cache_dir, num_workers=0, progress=False)
    entries = []
    for spec in models:
        ref = resized_ref(spec, opts.image_size)
        if ref.name not in truth:
            log(f"  {ref.name}: no ground truth on {dataset}, skipped")
            continue
        out = extract(ref, dataset, ex)
        entries.append(Entry(ref.name, dataset, out.features, out.labels, out.logits, truth[ref.name]))
    return entries


# ---------------------------------------------------------------------------------- scoring

def parse_score_options(items, methods) -> dict[str, dict[str, str]]:
    from .rank import parse_score_options as parse
    return parse(items, methods)


def score_entries(entries: list[Entry], methods: list[str], score_opts: dict[str, dict], device: str,
                  log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every score on every entry: rows (dataset, model, score, value, seconds, accuracy)."""
    from .scores import compute_score, get_score_spec

    dev = None if device == "auto" else device
    rows = []
    for e in entries:
        for method in methods:
            if get_score_spec(method).needs_source_logits and e.logits is None:
                continue  # only this case is skipped: a score that cannot run without source logits
            start = time.perf_counter()
            res = compute_score(method, e.features, e.labels, source_logits=e.logits, device=dev,
                                **score_opts.get(method, {}))
            rows.append({"dataset": e.dataset, "model": e.model, "score": method, "value": float(res.value),
                         "seconds": time.perf_counter() - start, "accuracy": e.accuracy})
    return rows


def agreement_tables(rows: list[dict[str, Any]], min_models: int = 2):
    """(per_dataset, summary) from score rows; a score is averaged over the datasets it ran on."""
    from .agreement import agreement

    per_dataset: dict[str, dict[str, dict[str, float]]] = {}
    by_pair: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        by_pair.setdefault((r["dataset"], r["score"]), []).append(r)
    for (ds, method), rs in by_pair.items():
        if len(rs) < min_models:
            continue
        per_dataset.setdefault(ds, {})[method] = agreement([r["value"] for r in rs], [r["accuracy"] for r in rs])
    summary: dict[str, dict[str, float]] = {}
    methods = sorted({r["score"] for r in rows})
    for method in methods:
        got = [per_dataset[ds][method] for ds in per_dataset if method in per_dataset[ds]]
        if not got:
            continue
        summary[method] = {m: float(np.mean([g[m] for g in got])) for m in MEASURES}
        summary[method]["min_weighted_tau"] = float(min(g["weighted_tau"] for g in got))
        summary[method]["seconds"] = float(np.mean([r["seconds"] for r in rows if r["score"] == method]))
        summary[method]["datasets"] = len(got)
    return per_dataset, summary


# ---------------------------------------------------------------------------------- outputs

def markdown(result: BenchmarkResult, title: str = "Selection fidelity") -> str:
    datasets = list(result.per_dataset)
    methods = sorted(result.summary, key=lambda m: -result.summary[m]["weighted_tau"])
    head = ["score", *(dataset_key(d) for d in datasets), "mean wtau", "min wtau", "mean tau", "mean pearson",
            "mean regret", "s / model"]
    lines = [f"### {title}", "",
             "Weighted Kendall tau per dataset (scipy.stats.weightedtau defaults), then means over datasets; "
             "regret = top-1 relative regret (0 = the top-scored model is the best fine-tuned one).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for m in methods:
        s = result.summary[m]
        cells = [m] + [f"{result.per_dataset[d][m]['weighted_tau']:.3f}" if m in result.per_dataset[d] else "-"
                       for d in datasets]
        cells += [f"{s['weighted_tau']:.3f}", f"{s['min_weighted_tau']:.3f}", f"{s['kendall_tau']:.3f}",
                  f"{s['pearson']:.3f}", f"{s['top1_regret']:.3f}", f"{s['seconds']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(result: BenchmarkResult, path) -> Path:
    from .io import write_text_atomic

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["dataset", "model", "score", "value", "seconds", "accuracy"],
                       lineterminator="\n")
    w.writeheader()
    for r in result.values:
        w.writerow({**r, "value": f"{r['value']:.6g}", "seconds": f"{r['seconds']:.4f}"})
    return write_text_atomic(path, buf.getvalue())


def write_chart(result: BenchmarkResult, path, title: str = "Weighted Kendall tau with fine-tuned accuracy") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_path

    datasets = list(result.per_dataset)
    methods = sorted(result.summary, key=lambda m: -result.summary[m]["weighted_tau"])
    fig, ax = plt.subplots(figsize=(max(7.0, 0.8 * len(methods) + 2), 4.2))
    width = 0.8 / (len(datasets) + 1)
    x = np.arange(len(methods))
    for i, ds in enumerate(datasets):
        vals = [result.per_dataset[ds].get(m, {}).get("weighted_tau", np.nan) for m in methods]
        ax.bar(x + i * width, vals, width, label=dataset_key(ds), alpha=0.75)
    means = [result.summary[m]["weighted_tau"] for m in methods]
    ax.bar(x + len(datasets) * width, means, width, label="mean", color="black")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x + 0.4 - width / 2, methods, rotation=30, ha="right")
    ax.set_ylabel("weighted Kendall tau")
    ax.set_ylim(-1.05, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=min(5, len(datasets) + 1), loc="lower left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path)


# ------------------------------------------------------------------------------------- run

def collect_entries(opts: BenchmarkOptions, log=print) -> dict[str, list[Entry]]:
    """dataset -> entries (features + labels + logits + accuracy) for every dataset with enough models."""
    truth = read_ground_truth(opts.ground_truth)
    models = None
    if opts.features is None:
        models = list(opts.models) or read_zoo(opts.zoo, opts.zoo_dir)
    out = {}
    for ds in opts.datasets:
        gt = truth.get(dataset_key(ds))
        if not gt:
            raise ValueError(f"no ground truth for dataset {ds!r} in {opts.ground_truth!r} (it has: "
                             f"{', '.join(sorted(truth)) or 'nothing'}); drop it from --datasets or fine-tune first")
        log(f"{ds}: {len(gt)} models with ground truth")
        entries = precomputed_entries(opts.features, ds, gt) if opts.features is not None \
            else extracted_entries(models, ds, gt, opts, log)
        if len(entries) < opts.min_models:
            raise ValueError(f"dataset {ds!r} has {len(entries)} models with both features and ground truth; "
                             f"at least {opts.min_models} are needed (check the model names in the CSV)")
        out[ds] = entries
    return out


def run_benchmark(opts: BenchmarkOptions, log=print, entries: dict[str, list[Entry]] | None = None) -> BenchmarkResult:
    from .rank import resolve_methods

    if opts.num_threads:
        import torch
        torch.set_num_threads(opts.num_threads)
    methods = resolve_methods(opts.scores)
    score_opts = parse_score_options(opts.score_options, methods)
    entries = entries if entries is not None else collect_entries(opts, log)
    rows = []
    for ds, es in entries.items():
        log(f"scoring {len(es)} models on {ds}")
        rows += score_entries(es, methods, score_opts, opts.device, log)
    per_dataset, summary = agreement_tables(rows, opts.min_models)
    return BenchmarkResult(per_dataset, summary, rows, dataclasses.asdict(opts))


def write_outputs(result: BenchmarkResult, folder, name: str = "benchmark", chart: bool = True,
                  title: str = "Selection fidelity") -> list[Path]:
    from .io import write_json_atomic, write_text_atomic
    from .provenance import git_commit, package_versions

    folder = Path(folder)
    doc = {"schema": "lead-hf/benchmark/v1", **dataclasses.asdict(result), "versions": package_versions(),
           "git_commit": git_commit(), "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    paths = [write_json_atomic(folder / f"{name}.json", doc), write_csv(result, folder / f"{name}.csv"),
             write_text_atomic(folder / f"{name}.md", markdown(result, title))]
    if chart:
        paths.append(write_chart(result, folder / f"{name}.png"))
    return paths


def run(opts: BenchmarkOptions) -> int:
    result = run_benchmark(opts)
    paths = write_outputs(result, opts.output_dir, opts.name, opts.chart)
    print(markdown(result))
    print("written: " + ", ".join(str(p) for p in paths))
    return 0


COMMAND = Command(
    name="benchmark",
    options=BenchmarkOptions,
    run=run,
    description=__doc__.strip().split("\n\n    >>>")[0] + "\n\nExamples:\n  lead-hf benchmark\n"
                "  lead-hf benchmark --features feats/ --ground-truth acc.csv --datasets cifar10,dtd",
)
