"""Fine-tuned accuracies, the ground truth a score is judged against: one reader for ``rank --ground-truth``
and ``benchmark --ground-truth``, returning one shape (a list of :class:`GroundTruth` records).

Accepted files:

- CSV, long: ``model,dataset,accuracy`` (``acc`` also names the accuracy; without a ``dataset`` column the
  rows name no dataset) plus, optionally, the columns benchmarks/run_ground_truth.py writes
  (``seed_accuracies`` as ``a;b;c``, ``image_size``, ``train_split``, ``train_per_class``, ``subset_seed``,
  ``protocol``, ``revision``, ``row``);
- CSV, wide: ``model,<dataset>,<dataset>,...`` (a blank cell: no ground truth for that pair), the format of
  the literature's tables;
- a folder of such CSV files (benchmarks/ground_truth: ``<dataset>.csv``);
- the JSON ``lead-hf finetune --output`` writes (``{"results": [{"model", "dataset", "accuracy", ...}]}``),
  a bare list of such records, or a ``{model: accuracy}`` mapping.

:func:`for_dataset` picks the accuracies of one dataset (``rank``); :func:`by_dataset` groups the records
by dataset (``benchmark``; rows that name no dataset take their file's stem), :func:`accuracy_table` too,
keeping the accuracies only. Imports nothing heavy.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path


@dataclass
class GroundTruth:
    """One (model, dataset) record: the accuracy, each seed's when known, and the protocol fields the scores
    must follow to see exactly the images fine-tuning trained on."""

    accuracy: float
    seed_accuracies: list[float] | None = None
    protocol: str = ""
    image_size: int | None = None
    train_split: str | None = None
    train_per_class: int | None = None
    subset_seed: int | None = None
    model: str = ""
    dataset: str | None = None
    """The dataset as the file names it (None: the file does not say)."""
    source: str = ""
    """The file the record was read from."""
    row: str | None = None
    """The benchmark row it belongs to, when the file names one (``clipart_10pc``: a dataset at one setting,
    so two rows may share a dataset); records are grouped by it before their dataset."""
    revision: str | None = None
    """The weights fine-tuned (``sha256:...`` for files), when the file records it: features from other
    weights (a derived member rebuilt on another machine) do not belong to this accuracy."""


def dataset_key(name: str) -> str:
    """The name used in ground-truth files and feature folders: 'embedded:digits' -> 'digits',
    '/data/flowers/' -> 'flowers', 'org/name' -> 'name'."""
    return name.split(":", 1)[-1].rstrip("/").rsplit("/", 1)[-1]


def read_ground_truth(path) -> list[GroundTruth]:
    """Every record of a ground-truth file or folder (see the module docstring for the formats)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise FileNotFoundError(f"ground-truth folder {str(path)!r} has no .csv file; run "
                                    "benchmarks/run_ground_truth.py or pass --ground-truth FILE.csv")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"ground truth {str(path)!r} does not exist (a CSV file, a folder of them, or the "
                                "JSON written by `lead-hf finetune --output`)")
    out: list[GroundTruth] = []
    for f in files:
        text = f.read_text()
        if f.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
            out += _json_records(f, text)
        else:
            out += _csv_records(f, text)
    return out


def for_dataset(records: list[GroundTruth], dataset: str | None, where: str = "the ground truth") -> dict[str, float]:
    """model -> accuracy on ``dataset``: the records of that dataset and those that name none. A file that
    names datasets, none of them ``dataset``, is refused (it is the ground truth of another task)."""
    named = sorted({r.dataset for r in records if r.dataset})
    if dataset is not None and named:
        records = [r for r in records if r.dataset is None or dataset_key(r.dataset) == dataset_key(dataset)]
        if not records:
            raise ValueError(f"{where} holds fine-tuned accuracies on {', '.join(named)}, not on {dataset!r}; "
                             "fine-tune on the dataset you rank (lead-hf finetune ... --dataset DATASET)")
    rows = sorted({r.row for r in records if r.row})
    if len(rows) > 1:
        raise ValueError(f"{where} holds {len(rows)} rows of fine-tuned accuracies for this dataset ({', '.join(rows)}: "
                         "the same data at different settings); pass the CSV of the one row you rank")
    return {r.model: r.accuracy for r in records}


def record_key(r: GroundTruth) -> str:
    """The name a record is grouped under: its row, else its dataset's key, else its file's stem."""
    return r.row or (dataset_key(r.dataset) if r.dataset else Path(r.source).stem)


def by_dataset(records: list[GroundTruth]) -> dict[str, dict[str, GroundTruth]]:
    """key -> model -> record, the key being :func:`record_key` (the row, the dataset's key or the file's
    stem)."""
    out: dict[str, dict[str, GroundTruth]] = {}
    for r in records:
        key = record_key(r)
        out.setdefault(key, {})[r.model] = r
    return out


def accuracy_table(records: list[GroundTruth]) -> dict[str, dict[str, float]]:
    """dataset key -> model -> accuracy (:func:`by_dataset` without the protocol fields)."""
    return {ds: {m: r.accuracy for m, r in rows.items()} for ds, rows in by_dataset(records).items()}


# ------------------------------------------------------------------------------------------- formats

def _number(raw, f, model, ds) -> float:
    on = f" on {ds!r}" if ds else ""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"ground-truth file {str(f)!r}: accuracy {raw!r} of model {model!r}{on} is not a "
                         "number") from None
    if not math.isfinite(value):
        raise ValueError(f"ground-truth file {str(f)!r}: accuracy of {model!r}{on} is {raw}")
    return value


def _csv_records(f: Path, text: str) -> list[GroundTruth]:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    cols = {c.strip().lower(): c for c in reader.fieldnames or []}
    if "model" not in cols:
        raise ValueError(f"ground-truth file {str(f)!r} needs columns 'model' and 'accuracy' (long format: "
                         "model,dataset,accuracy), or a 'model' column and one column per dataset (wide format), "
                         f"found {reader.fieldnames}; or pass the JSON written by `lead-hf finetune --output`")
    acc_col = cols.get("accuracy") or cols.get("acc")
    out = []
    for row in reader:
        model = row[cols["model"]].strip()
        if acc_col is not None:  # long
            ds = row[cols["dataset"]].strip() if "dataset" in cols and row[cols["dataset"]] else None
            items = [(ds, row[acc_col])]
        else:  # wide: one column per dataset
            items = [(c.strip(), row[c]) for c in reader.fieldnames if c != cols["model"]]
        for ds, raw in items:
            if raw is None or not str(raw).strip():
                continue  # a blank cell: no ground truth for this pair
            gt = GroundTruth(_number(raw, f, model, ds), model=model, dataset=ds, source=str(f))
            if acc_col is not None:
                gt = _protocol_fields(gt, row, cols, f, model, ds)
            out.append(gt)
    return out


def _protocol_fields(gt: GroundTruth, row, cols, f, model, ds) -> GroundTruth:
    def cell(name):
        raw = row.get(cols[name]) if name in cols else None
        return raw.strip() if raw and raw.strip() else None

    seeds = cell("seed_accuracies")
    return dataclasses.replace(
        gt, protocol=cell("protocol") or "",
        seed_accuracies=[_number(v, f, model, ds) for v in seeds.split(";")] if seeds else None,
        image_size=int(cell("image_size")) if cell("image_size") else None,
        train_split=cell("train_split"),
        train_per_class=int(cell("train_per_class")) if cell("train_per_class") not in (None, "None") else None,
        subset_seed=int(cell("subset_seed")) if cell("subset_seed") else None,
        revision=cell("revision"), row=cell("row"))


def _json_records(f: Path, text: str) -> list[GroundTruth]:
    where = f"ground-truth file {str(f)!r}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where} is not valid JSON ({err})") from None
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        rows = data["results"]
    elif isinstance(data, list):
        rows = data
    elif isinstance(data, dict) and data and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                 for v in data.values()):
        return [GroundTruth(float(v), model=str(k), source=str(f)) for k, v in data.items()]
    else:
        raise ValueError(f"{where}: expected the JSON of `lead-hf finetune --output` ({{\"results\": [...]}}), a "
                         "list of {\"model\", \"accuracy\"} records or a {model: accuracy} mapping")
    bad = [r for r in rows if not (isinstance(r, dict) and isinstance(r.get("model"), str)
                                   and isinstance(r.get("accuracy"), (int, float)))]
    if bad:
        raise ValueError(f"{where}: every record needs 'model' (text) and 'accuracy' (a number); first bad "
                         f"record: {json.dumps(bad[0])[:200]}")
    return [GroundTruth(float(r["accuracy"]), model=r["model"], dataset=r.get("dataset") or None, source=str(f),
                        seed_accuracies=[float(v) for v in r["seed_accuracies"]]
                        if isinstance(r.get("seed_accuracies"), list) and r["seed_accuracies"] else None)
            for r in rows]
