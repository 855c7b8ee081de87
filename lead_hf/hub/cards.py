"""Model cards: turn ranking results into card metadata, eval-results files and a card section.

Pure text in, text out (no network): ``update_model_files`` takes the current README.md and
``.eval_results`` file of a model repo and returns their new contents plus the conflicts found, so that
publishing, the dry run and the tests share one code path.

What lands in a model repo for one (dataset, config, split):
- ``README.md`` metadata, ``model-index``: one result block (task ``image-classification``, the dataset's
  id/config/split/revision, source lead-hf) with one metric per score, ``type`` = the score name
  (``lead``, ``logme``, ...). This is the format ``huggingface_hub.EvalResult`` reads and writes.
- ``.eval_results/lead-hf_<dataset>_<split>.yaml``: the newer per-file format
  (``huggingface_hub.EvalResultEntry``), one entry per score. That format has no metric type, so the
  score and split go into ``task_id`` (``lead:test`` or ``lead:<config>:test``).
- a README section between ``<!-- lead-hf:results KEY -->`` markers (rendered from
  ``lead_hf/hub/templates/card_section.md``), replaced in place on later runs.

An existing value for the same dataset/config/split/score is kept when equal (so a re-run changes
nothing) and reported as a conflict when different, unless ``overwrite``.
"""
from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..results.schema import DatasetInfo, ModelResult, RankingResults

TASK_TYPE = "image-classification"
SOURCE_NAME = "lead-hf"
TOOL_URL = "https://pypi.org/project/lead-hf/"  # where the section's "lead-hf" link points
EVAL_RESULTS_FOLDER = ".eval_results"
_FRONT_MATTER = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(?:\r\n|\n|$))")
_REL_TOL = 1e-6  # float noise, not a changed result: re-extracting on another machine moves scores ~1e-7 relative,
# while models differ in the 3rd-4th significant digit at least (the demo's closest LEAD values: 1.4e-3 relative)


def score_name(method: str) -> str:
    """The display name the score registry gives ``method`` (``register_score(title=...)``: "LogME"); a
    score not registered here (results written elsewhere) shows under its own name. The registry is
    imported here, when a card is written, so ``import lead_hf.hub`` stays free of torch."""
    from ..scores.registry import get_score_spec

    try:
        spec = get_score_spec(method)
    except ValueError:
        return method
    return spec.title or spec.name


def dataset_label(ds: DatasetInfo) -> str:
    """``id`` / ``id (config)``, then ``, split``: how a dataset split is named in titles and messages."""
    return f"{ds.id}{f' ({_config(ds)})' if _config(ds) else ''}, split {ds.split}"


def _config(ds: DatasetInfo) -> str | None:
    """The config name, with the datasets library's implicit "default" config treated as none."""
    return None if ds.config in (None, "", "default") else ds.config


def dataset_key(ds: DatasetInfo) -> str:
    return f"{ds.id}/{_config(ds) or 'default'}/{ds.split}"


def slug(ds: DatasetInfo) -> str:
    """A file-name-safe name of a dataset split: ``owner--name[--config]--split``."""
    parts = [ds.id.replace("/", "--")] + ([_config(ds)] if _config(ds) else []) + [ds.split]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "--".join(parts))


def eval_results_path(ds: DatasetInfo) -> str:
    return f"{EVAL_RESULTS_FOLDER}/lead-hf_{slug(ds)}.yaml"


def task_id(ds: DatasetInfo, method: str) -> str:
    return ":".join([method] + ([_config(ds)] if _config(ds) else []) + [ds.split])


@dataclass(frozen=True)
class Conflict:
    """An existing value that differs from the one being published."""

    repo_id: str
    file: str
    where: str  # e.g. "model-index" or the task_id of an eval-results entry
    method: str
    dataset: str
    existing: Any
    new: float

    @property
    def value(self) -> str:
        """The value it is about, as ``ModelFiles.added`` names it (without the file)."""
        return f"{self.method} on {self.dataset}"

    def __str__(self) -> str:
        return (f"{self.repo_id}: {self.file} ({self.where}) already has {self.method} = {self.existing!r} on "
                f"{self.dataset}; this run has {self.new!r}")


@dataclass
class ModelFiles:
    """The new contents of a model repo's files and what happened to them."""

    readme: str
    eval_files: dict[str, str]  # path -> YAML text
    conflicts: list[Conflict]
    added: list[str]  # "lead on cifar10, split test (file)" for every value that is new
    replaced: list[str]  # same, for values replaced under overwrite
    unchanged: list[str] = None  # same, for values already there with this value

    def __post_init__(self):
        if self.unchanged is None:
            self.unchanged = []


def _values_equal(old: Any, new: float) -> bool:
    try:
        return math.isclose(float(old), float(new), rel_tol=_REL_TOL, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False


def finite_scores(results: RankingResults, model: ModelResult) -> dict[str, float]:
    """The model's scores in the results' column order, leaving out missing and non-finite ones."""
    out = {}
    for method in results.scores:
        value = model.scores.get(method)
        if value is not None and math.isfinite(float(value)):
            out[method] = float(value)
    return out


# -- README front matter ----------------------------------------------------------------------------------
def split_card(text: str | None, where: str = "README.md") -> tuple[dict[str, Any], str, bool]:
    """(metadata, body, has_front_matter) of a card; a missing card is empty metadata and body."""
    if not text:
        return {}, "", False
    match = _FRONT_MATTER.search(text)
    if not match:
        return {}, text, False
    try:
        meta = yaml.safe_load(match.group(2)) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{where}: the card's YAML metadata does not parse ({err}); fix the card on the Hub "
                         "first, lead-hf will not rewrite a card it cannot read") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: the card's YAML metadata is not a mapping; fix the card on the Hub first")
    return meta, text[match.end():], True


def join_card(meta: dict[str, Any], body: str) -> str:
    if not meta:
        return body
    dumped = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False).strip()
    return f"---\n{dumped}\n---\n{body}"


def _new_result_block(ds: DatasetInfo, scores: dict[str, float], source_url: str) -> dict[str, Any]:
    from huggingface_hub import EvalResult
    from huggingface_hub.repocard_data import eval_results_to_model_index

    # Built through huggingface_hub's own converter so the block is exactly what EvalResult round-trips.
    evals = [EvalResult(task_type=TASK_TYPE, dataset_type=ds.id, dataset_name=ds.id, dataset_config=ds.config,
                        dataset_split=ds.split, dataset_revision=ds.revision, metric_type=method,
                        metric_value=value, metric_name=score_name(method), source_name=SOURCE_NAME,
                        source_url=source_url)
             for method, value in scores.items()]
    return eval_results_to_model_index("x", evals)[0]["results"][0]


def _matches(block: dict[str, Any], ds: DatasetInfo) -> bool:
    task = block.get("task") or {}
    dataset = block.get("dataset") or {}
    return (isinstance(task, dict) and task.get("type") == TASK_TYPE and isinstance(dataset, dict)
            and dataset.get("type") == ds.id
            and (dataset.get("config") or "default") == (_config(ds) or "default")
            and dataset.get("split") == ds.split)


def merge_model_index(meta: dict[str, Any], repo_id: str, ds: DatasetInfo, scores: dict[str, float],
                      source_url: str, overwrite: bool, out: ModelFiles) -> bool:
    """Add ``scores`` to ``meta['model-index']`` in place; returns whether ``meta`` changed."""
    index = meta.get("model-index")
    if index is None:
        index = [{"name": repo_id.split("/")[-1], "results": []}]
    if not (isinstance(index, list) and index and isinstance(index[0], dict)):
        raise ValueError(f"{repo_id}: README.md has a model-index that is not a list of models; fix it on the "
                         "Hub first (lead-hf will not rewrite metadata it cannot read)")
    model = index[0]  # the Hub reads one model per card
    results = model.get("results")
    if results is None:
        results = model["results"] = []
    if not isinstance(results, list):
        raise ValueError(f"{repo_id}: README.md model-index[0].results is not a list; fix it on the Hub first")
    changed = False
    missing: dict[str, float] = {}
    for method, value in scores.items():
        found = False
        for block in results:
            if not (isinstance(block, dict) and _matches(block, ds)):
                continue
            for metric in block.get("metrics") or []:
                if not (isinstance(metric, dict) and metric.get("type") == method):
                    continue
                found = True
                if _values_equal(metric.get("value"), value):
                    out.unchanged.append(f"{method} on {dataset_label(ds)} (model-index)")
                    continue
                if overwrite:
                    metric["value"] = value
                    changed = True
                    out.replaced.append(f"{method} on {dataset_label(ds)} (model-index)")
                else:
                    out.conflicts.append(Conflict(repo_id, "README.md", "model-index", method, dataset_label(ds),
                                                  metric.get("value"), value))
        if not found:
            missing[method] = value
    if missing:
        fresh = _new_result_block(ds, missing, source_url)
        # Join an existing lead-hf block of the same dataset split rather than repeating the dataset.
        ours = next((b for b in results if isinstance(b, dict) and _matches(b, ds)
                     and (b.get("source") or {}).get("name") == SOURCE_NAME
                     and (b.get("dataset") or {}).get("revision") == ds.revision
                     and isinstance(b.get("metrics"), list)), None)
        if ours is not None:
            ours["metrics"].extend(fresh["metrics"])
        else:
            results.append(fresh)
        out.added.extend(f"{m} on {dataset_label(ds)} (model-index)" for m in missing)
        changed = True
    if changed:
        meta["model-index"] = index
    return changed


# -- .eval_results/*.yaml ---------------------------------------------------------------------------------
def merge_eval_results(text: str | None, repo_id: str, ds: DatasetInfo, scores: dict[str, float],
                       source_url: str, notes: str, overwrite: bool, out: ModelFiles) -> str:
    """New text of the eval-results file for this dataset split (``text`` itself when nothing changes)."""
    from huggingface_hub import EvalResultEntry
    from huggingface_hub._eval_results import eval_result_entries_to_yaml

    path = eval_results_path(ds)
    entries: list[Any] = []
    if text:
        try:
            entries = yaml.safe_load(text) or []
        except yaml.YAMLError as err:
            raise ValueError(f"{repo_id}: {path} does not parse ({err}); fix or delete it on the Hub first") from None
        if not isinstance(entries, list):
            raise ValueError(f"{repo_id}: {path} is not a YAML list of results; fix or delete it on the Hub first")
    changed = False
    for method, value in scores.items():
        tid = task_id(ds, method)
        same = [e for e in entries if isinstance(e, dict) and isinstance(e.get("dataset"), dict)
                and e["dataset"].get("id") == ds.id and e["dataset"].get("task_id") == tid]
        if not same:
            entry = EvalResultEntry(dataset_id=ds.id, task_id=tid, value=value, dataset_revision=ds.revision,
                                    source_url=source_url, source_name=SOURCE_NAME, notes=notes)
            entries.extend(eval_result_entries_to_yaml([entry]))
            out.added.append(f"{method} on {dataset_label(ds)} ({path})")
            changed = True
            continue
        for e in same:
            if _values_equal(e.get("value"), value):
                out.unchanged.append(f"{method} on {dataset_label(ds)} ({path})")
                continue
            if overwrite:
                e["value"] = value
                out.replaced.append(f"{method} on {dataset_label(ds)} ({path})")
                changed = True
            else:
                out.conflicts.append(Conflict(repo_id, path, tid, method, dataset_label(ds), e.get("value"), value))
    if not changed:
        return text or ""
    return yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, default_flow_style=False)


# -- the card section ---------------------------------------------------------------------------------------
def load_template(templates_dir: str | Path, name: str) -> string.Template:
    path = Path(templates_dir) / name
    if not path.is_file():
        raise FileNotFoundError(f"template {str(path)!r} is missing; pass --templates-dir pointing at a folder "
                                "holding card_section.md and leaderboard_README.md (see lead_hf/hub/templates/ in lead-hf)")
    return string.Template(path.read_text(encoding="utf-8"))


def _fill(template: string.Template, name: str, values: dict[str, Any]) -> str:
    try:
        return template.substitute(values)
    except (KeyError, ValueError) as err:
        raise ValueError(f"template {name}: unknown or malformed placeholder {err}; the placeholders are "
                         f"{', '.join('${' + k + '}' for k in sorted(values))}") from None


def fmt(value: float) -> str:
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"


def render_section(template: string.Template, ds: DatasetInfo, scores: dict[str, float], primary: str,
                   source_url: str, leaderboard_url: str | None, hub_url: str = "https://huggingface.co") -> str:
    rows = "\n".join(f"| {score_name(m)}{' (primary)' if m == primary else ''} | `{m}` | {fmt(v)} |"
                     for m, v in scores.items())
    values = {
        "dataset_id": ds.id, "dataset_url": f"{hub_url.rstrip('/')}/datasets/{ds.id}",
        "config": ds.config or "default", "split": ds.split,
        "revision": ds.revision or "unknown", "num_samples": ds.num_samples, "num_classes": ds.num_classes,
        "dataset_label": dataset_label(ds), "table": rows, "source_url": source_url, "tool_url": TOOL_URL,
        "leaderboard": (f"All models ranked on this dataset: [leaderboard]({leaderboard_url})."
                        if leaderboard_url else ""),
    }
    return _fill(template, "card_section.md", values).strip() + "\n"


def upsert_section(body: str, key: str, section: str) -> str:
    """Replace the marked section ``key`` in ``body``, or append it."""
    begin, end = f"<!-- lead-hf:results {key} -->", f"<!-- /lead-hf:results {key} -->"
    block = f"{begin}\n{section.rstrip()}\n{end}"
    start = body.find(begin)
    if start >= 0:
        stop = body.find(end, start)
        if stop < 0:
            raise ValueError(f"README.md has the marker {begin!r} without its closing {end!r}; restore or delete "
                             "the marker on the Hub first")
        return body[:start] + block + body[stop + len(end):]
    if not body.strip():
        return block + "\n"
    return body.rstrip("\n") + "\n\n" + block + "\n"


def update_model_files(repo_id: str, readme: str | None, eval_texts: dict[str, str | None],
                       entries: list[tuple[RankingResults, ModelResult]], *, section: string.Template,
                       source_url: str, leaderboard_url: str | None, overwrite: bool,
                       hub_url: str = "https://huggingface.co") -> ModelFiles:
    """New README.md and eval-results files of ``repo_id`` with every (results, model) pair added.

    ``eval_texts`` maps each eval-results path this run writes to its current text (None when absent).
    Unchanged files come back byte-identical, so equality with the inputs means "nothing to publish".
    """
    out = ModelFiles(readme=readme or "", eval_files={}, conflicts=[], added=[], replaced=[])
    meta, body, _ = split_card(readme, f"{repo_id}: README.md")
    meta_changed = False
    new_body = body
    for results, model in entries:
        ds = results.dataset
        scores = finite_scores(results, model)
        if not scores:
            continue
        before = len(out.added) + len(out.replaced)
        meta_changed |= merge_model_index(meta, repo_id, ds, scores, source_url, overwrite, out)
        path = eval_results_path(ds)
        notes = (f"lead-hf transferability score ({', '.join(scores)}): higher means the model is predicted to "
                 f"fine-tune better on this dataset; not an accuracy. {ds.num_samples} samples, "
                 f"{ds.num_classes} classes.")
        current = out.eval_files.get(path, eval_texts.get(path))
        out.eval_files[path] = merge_eval_results(current, repo_id, ds, scores, source_url, notes, overwrite, out)
        if len(out.added) + len(out.replaced) == before and f"<!-- lead-hf:results {dataset_key(ds)} -->" in body:
            continue  # same values as published: leave the section alone, so a re-run is a no-op
        new_body = upsert_section(new_body, dataset_key(ds),
                                  render_section(section, ds, scores, results.primary, source_url, leaderboard_url,
                                                 hub_url))
    if meta_changed:
        out.readme = join_card(meta, new_body)
    elif new_body != body:
        # Metadata untouched: keep the original front matter byte for byte.
        match = _FRONT_MATTER.search(readme or "")
        out.readme = ((readme or "")[:match.end()] if match else "") + new_body
    return out
