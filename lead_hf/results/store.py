"""A results folder (``<output_dir>/<dataset>-<split>``) as a store: where a ranking goes, whether an
earlier one can share its table (:func:`incomparable`), merging the two by model, moving an incomparable one
to ``previous/``, and writing the four files (results.json, .csv, .md, chart.png) together."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ..utils.io import file_lock, remove_stale_temporaries, write_bytes_atomic, write_text_atomic
from .schema import ModelResult, RankingResults
from .summary import summarize


def output_folder(opts, results: RankingResults | None = None) -> Path:
    """``<output_dir>/<dataset>-<split>``: one folder per dataset split, known before any work."""
    dataset_id = results.dataset.id if results is not None else str(opts.dataset)
    split = results.dataset.split if results is not None else opts.split
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{dataset_id}-{split}")
    return Path(opts.output_dir) / slug.strip("_")


def check_output_dir(folder: str | Path) -> None:
    """Refuse, before any work, an output folder that cannot be created or written: a file is created (and
    removed) in the folder, or in the nearest folder above it that exists."""
    folder = Path(folder)
    existing = next((p for p in [folder, *folder.parents] if p.exists()), Path("."))
    if not existing.is_dir():
        raise ValueError(f"output folder {str(folder)!r} cannot be created: {str(existing)!r} is a file, not a "
                         "folder; pass --output-dir a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".lead-hf-write-check.", suffix=".tmp"):
            pass
    except OSError as err:
        raise ValueError(f"output folder {str(folder)!r} cannot be written ({str(existing)!r}: "
                         f"{err.strerror or err}); pass --output-dir a folder you can write to") from None


# rank options that change which samples are scored or how: rows of runs that differ here are not comparable
# (--bootstrap is not one: it only adds intervals, and P(best) compares draws of the same count)
_SELECTION = ("split", "max_per_class", "seed", "image_column", "label_column", "dataset_config", "mixed_precision",
              "text_column", "max_length")


def incomparable(old: RankingResults, new: RankingResults) -> list[str]:
    """Why the rows of ``old`` cannot sit in one table with those of ``new`` (empty: they can)."""
    why = []
    a, b = old.dataset, new.dataset
    for name in ("id", "config", "split"):
        if getattr(a, name) != getattr(b, name):
            why.append(f"dataset {name} {getattr(a, name)!r} vs {getattr(b, name)!r}")
    if a.fingerprint and b.fingerprint and a.fingerprint != b.fingerprint:
        why.append("the dataset's content changed (fingerprint)")
    old_opts, new_opts = old.options.get("rank") or {}, new.options.get("rank") or {}
    for name in _SELECTION:
        if name in old_opts and name in new_opts and old_opts[name] != new_opts[name]:
            why.append(f"{name} {old_opts[name]!r} vs {new_opts[name]!r}")
    old_scores, new_scores = old.options.get("scores") or {}, new.options.get("scores") or {}
    for method in set(old.scores) & set(new.scores):
        if (old_scores.get(method) or {}) != (new_scores.get(method) or {}):
            why.append(f"{method} options {old_scores.get(method) or {}} vs {new_scores.get(method) or {}}")
    ok_old = [m for m in old.models if m.status == "ok"]
    if ok_old and new.dataset.num_samples and a.num_samples and a.num_samples != b.num_samples:
        why.append(f"{a.num_samples} vs {b.num_samples} samples")
    return why


def merge_results(old: RankingResults, new: RankingResults, log=print) -> RankingResults:
    """One table of both runs: re-ranked models replace their rows, the others are kept. A model that
    fails now but was scored before keeps its earlier row. ``old`` must be comparable (``incomparable``)."""
    merged = RankingResults.from_dict(json.loads(json.dumps(new.to_dict())))
    by_name = {m.model: m for m in merged.models}
    rows: list[ModelResult] = []
    for prev in old.models:
        now = by_name.pop(prev.model, None)
        if now is None:
            rows.append(prev)
        elif now.status != "ok" and prev.status == "ok":
            log(f"    {prev.model} failed now ({now.error}); its scores from {prev.ranked or 'the earlier run'} "
                "are kept")
            rows.append(prev)
        else:
            rows.append(now)
    rows += [m for m in merged.models if m.model in by_name]
    merged.models = rows
    merged.scores = list(new.scores) + [m for m in old.scores if m not in new.scores]
    merged.options.setdefault("scores", {})
    for method in old.scores:
        merged.options["scores"].setdefault(method, (old.options.get("scores") or {}).get(method, {}))
    if not merged.dataset.num_samples:  # this run scored nothing: the dataset facts come from the earlier one
        merged.dataset = old.dataset
    truth = {m.model: m.finetune_accuracy for m in new.models if m.finetune_accuracy is not None}
    for m in merged.models:
        if m.model in truth:
            m.finetune_accuracy = truth[m.model]
    return summarize(merged)


OUTPUT_FILES = ("results.csv", "results.md", "chart.png", "results.json")
"""The four files of a results folder, in the order they are put in place (results.json, which every reader
reads first, last)."""
STAGING = ".staging"
"""The folder the next set of files is written into before any of them replaces the current ones."""


def write_outputs(results: RankingResults, folder: Path, chart: bool = True) -> list[Path]:
    """Write results.json, .csv, .md and chart.png of ``results`` into ``folder``, the four together or not at
    all: every file is rendered, then written whole into ``folder/.staging/`` with a COMPLETE record, then
    moved into place (results.json last). A process killed before COMPLETE leaves the earlier files as they
    were; one killed after it leaves a set that :func:`recover` finishes putting in place. Without
    ``chart``, a stale chart.png is removed with the same step."""
    from .report import chart_png, csv_text, markdown_report

    folder = Path(folder)
    files = {"results.json": (json.dumps(results.to_dict(), indent=2) + "\n").encode(),
             "results.csv": csv_text(results).encode(), "results.md": markdown_report(results).encode()}
    if chart:
        files["chart.png"] = chart_png(results)
    staging = folder / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    for name, data in files.items():
        write_bytes_atomic(staging / name, data)
    write_text_atomic(staging / "COMPLETE", json.dumps({"files": sorted(files)}) + "\n")
    return _put_in_place(folder)


def _put_in_place(folder: Path) -> list[Path]:
    """Move a complete staged set into place (results.json last), remove what it does not have, and the
    staging folder."""
    staging = folder / STAGING
    names = json.loads((staging / "COMPLETE").read_text())["files"]
    written = []
    for name in OUTPUT_FILES:
        if name in names:
            if (staging / name).exists():  # absent: moved already by an interrupted earlier attempt
                os.replace(staging / name, folder / name)
            written.append(folder / name)
        elif (folder / name).exists():
            (folder / name).unlink()  # a chart.png the new set does not have
    shutil.rmtree(staging, ignore_errors=True)
    return sorted(written, key=lambda p: ("results.json", "results.csv", "results.md", "chart.png").index(p.name))


def recover(folder: str | Path) -> None:
    """Finish or undo an interrupted write of a results folder (call it holding the folder's lock): a
    complete staged set is put in place, an incomplete one dropped; temporaries of killed writers go."""
    folder = Path(folder)
    staging = folder / STAGING
    if (staging / "COMPLETE").is_file():
        _put_in_place(folder)
    elif staging.exists():
        shutil.rmtree(staging, ignore_errors=True)
    remove_stale_temporaries(folder)


def folder_lock(folder: str | Path, log=None):
    """The lock of a results folder: held across reading, merging and writing its files."""
    return file_lock(Path(folder) / ".lock", f"results folder {str(folder)!r}", log)


def save_ranking(results: RankingResults, folder: str | Path, chart: bool = True,
                 log=print) -> tuple[RankingResults, list[Path]]:
    """Write ``results`` into ``folder`` without losing earlier results there, holding the folder's lock from
    reading to writing (two ranks into one folder both keep their rows): a comparable earlier ranking (same
    dataset split, sample selection and score options) is merged by model; one that is not is moved to
    ``folder/previous/<its date>/`` first, unless every model of this run failed, which then writes nothing.
    Returns the ranking written (merged) and the files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with folder_lock(folder, log):
        recover(folder)
        previous = folder / "results.json"
        if not previous.is_file():
            return results, write_outputs(results, folder, chart=chart)
        try:
            old = RankingResults.load(previous)
            why = incomparable(old, results)
        except ValueError as err:
            old, why = None, [f"it cannot be read ({err})"]
        if not why:
            out = merge_results(old, results, log=log)
            kept = len([m for m in out.models if m.model not in {n.model for n in results.models}])
            if kept:
                log(f"merged with the earlier results in {previous}: {kept} model(s) kept from earlier runs")
            return out, write_outputs(out, folder, chart=chart)
        if not any(m.status == "ok" for m in results.models):
            log(f"every model of this run failed: the earlier results in {folder} are left as they were")
            return results, []
        archive = _archive(folder, old)
        log(f"the earlier results in {folder} are not comparable with this run ({'; '.join(why)}): "
            f"moved to {archive}")
        return results, write_outputs(results, folder, chart=chart)


def _archive(folder: Path, old: RankingResults | None) -> Path:
    """Move the current files of ``folder`` to ``previous/<their date>[-n]/``."""
    stamp = "".join(c if c.isalnum() else "-" for c in (old.created if old and old.created else "unknown"))
    archive = folder / "previous" / stamp
    n = 1
    while archive.exists():
        n += 1
        archive = folder / "previous" / f"{stamp}-{n}"
    archive.mkdir(parents=True)
    for name in OUTPUT_FILES:
        if (folder / name).exists():
            shutil.move(str(folder / name), str(archive / name))
    return archive


def find_results(path: str | Path) -> list[Path]:
    """The results files a path names: a results.json itself, the folder of one dataset split
    (``results/<dataset>-<split>/``), or an output folder holding several (``results/``: every
    ``*/results.json`` in it). A path with none is refused, naming what is there."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.exists():
        raise FileNotFoundError(f"results {str(path)!r} do not exist; `lead-hf rank` writes "
                                "<output-dir>/<dataset>-<split>/results.json (publish takes that file, its folder, or "
                                "the output folder)")
    for folder in [path, *(p for p in path.iterdir() if p.is_dir())]:
        if (folder / STAGING).exists():  # a write that was interrupted: finish or undo it first
            with folder_lock(folder):
                recover(folder)
    if (path / "results.json").is_file():
        return [path / "results.json"]
    found = sorted(path.glob("*/results.json"))
    if not found:
        inside = sorted(p.name for p in path.iterdir())[:10]
        raise FileNotFoundError(f"no results.json in {str(path)!r} nor in its sub-folders (it holds: "
                                f"{', '.join(inside) or 'nothing'}); `lead-hf rank` writes "
                                "<output-dir>/<dataset>-<split>/results.json")
    return found
