"""The ranking results file: what `lead-hf rank` writes and `lead-hf publish` / `benchmark` read.

One JSON document per (dataset split, set of models). Schema ``lead-hf/results/v2`` (v1 files, which
have no bootstrap fields, still load):

    {
      "schema": "lead-hf/results/v2",
      "dataset": {"id": str, "config": str|null, "split": str, "revision": str|null,
                  "fingerprint": str|null, "num_samples": int, "num_classes": int,
                  "label_names": [str]|null,
                  "local": bool|null},                # true: not a Hub dataset (a folder, files, embedded)
      "scores": ["lead", "logme", ...],          # methods, in column order
      "primary": "lead",                          # the method the ranking is sorted by
      "models": [
        {"model": str,                            # what the user asked for (zoo name, hub id, path)
         "hub_id": str|null,                      # the Hub repo to publish to, when there is one
         "revision": str|null,                    # commit sha or weights file hash
         "status": "ok" | "failed",
         "error": str|null,
         "scores": {method: float},
         "ranks": {method: int},                  # 1 = best
         "seconds": {method: float, "extract": float},
         "finetune_accuracy": float|null,         # ground truth, when supplied
         "feature_dim": int|null,
         "flags": {method: str},                  # why a value cannot be trusted (saturated score, ...)
         "ranked": ISO-8601 UTC|null,            # when this row was computed (rows of earlier runs are kept)
         "bootstrap": {method: [float]},          # the score on each stratified resample (v2)
         "bootstrap_seconds": {method: float},    # what those draws cost (v2)
         "intervals": {method: [lo, hi]},         # 95% bootstrap interval, contains the score (v2)
         "p_best": {method: float},               # share of draws in which this model ranks first (v2)
         "cost": {"parameters": int, "flops_per_image": int|null,   # forward FLOPs at "input_size" [H, W]
                  "input_size": [int, int], "images_per_second": float|null,  # measured extraction
                  "throughput_images": int, "device": str|null, "processes": int|null}|null,  # (v2)
         "pareto": bool,                          # on the primary-score-vs-FLOPs Pareto front (v2)
         "modality": "image"|"text"|null,         # what the model reads (null: rows from before it was recorded)
         "text": {"kind", "pooling", "normalize", "max_length", "tokenizer", "tokenizer_class"}|null,
                                                  # text models: how texts became features (optional)
         "skipped_samples": [int],                # rows left out, unreadable (--skip-bad-samples)
         "ct_beta": float|null,                   # Curvature Tuning's beta (rank --ct-betas; 1.0: unsteered
                                                  # among steered rows), null: ranked without steering
         "ct_activations": {"steered": {str: int}, "not_steered": {str: int}}|null}  # what the steering replaced
      ],
      "agreement": {method: {"weighted_tau", "kendall_tau", "pearson", "top1_regret"}},  # with ground truth
      "warnings": {method: str},                  # a score that cannot rank these models, and what to do
      "options": {...}, "versions": {package: version}, "git_commit": str|null,
      "created": ISO-8601 UTC,
      "candidates": {                             # how the latest run chose its models (optional)
        "given": [str],                           # --models, then --models-file
        "embedded_zoo": bool,                     # none given: the embedded demo zoo
        "hub_search": {"endpoint": str, "searched": ISO-8601 UTC,   # --hub-search, or null
                       "query": {"search", "task", "libraries", "sort", "limit"},
                       "found": [{"id", "library", "pipeline_tag", "downloads", "likes", "sha", "gated"}],
                       "skipped": [str]}|null}    # listed models left out, and why
    }
"""
from __future__ import annotations

import json
import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..utils.io import write_json_atomic

SCHEMA = "lead-hf/results/v2"
READABLE_SCHEMAS = ("lead-hf/results/v1", SCHEMA)


@dataclass
class DatasetInfo:
    id: str
    split: str
    config: str | None = None
    revision: str | None = None
    fingerprint: str | None = None
    num_samples: int = 0
    num_classes: int = 0
    label_names: list[str] | None = None
    local: bool | None = None


@dataclass
class ModelResult:
    model: str
    hub_id: str | None = None
    revision: str | None = None
    status: str = "ok"
    error: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    ranks: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    finetune_accuracy: float | None = None
    feature_dim: int | None = None
    flags: dict[str, str] = field(default_factory=dict)
    ranked: str | None = None
    bootstrap: dict[str, list[float]] = field(default_factory=dict)
    bootstrap_seconds: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, list[float]] = field(default_factory=dict)
    p_best: dict[str, float] = field(default_factory=dict)
    cost: dict[str, Any] | None = None
    pareto: bool = False
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    """score -> its diagnostics (``ScoreResult.details``; for LEAD: lambda_k, lambda_max, the initial and
    final cross-entropy, the out-of-fold probe accuracy)."""
    modality: str | None = None
    """image | text: what the model reads (None in rows written before it was recorded)."""
    text: dict[str, Any] | None = None
    """Text models: how the texts became features (sequence classifier or encoder, pooling, L2
    normalisation, truncation length, tokenizer files' sha256)."""
    skipped_samples: list[int] = field(default_factory=list)
    """Rows of the split left out because they could not be read (``--skip-bad-samples``)."""
    ct_beta: float | None = None
    """Curvature Tuning's beta of this row (``rank --ct-betas``; 1.0: the model as it is, ranked among its
    steered versions); None: a model ranked without steering."""
    ct_activations: dict[str, Any] | None = None
    """Steered rows: what the steering replaced and what it left (``{"steered": {what: count},
    "not_steered": {what: count}}``)."""


@dataclass
class RankingResults:
    dataset: DatasetInfo
    scores: list[str]
    primary: str
    models: list[ModelResult]
    agreement: dict[str, dict[str, float]] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None
    created: str | None = None
    candidates: dict[str, Any] = field(default_factory=dict)
    """How the run chose its models (--models, the embedded zoo, a Hub search: query and what it found)."""
    schema: str = SCHEMA

    def sorted_models(self) -> list[ModelResult]:
        """Successful models best-first by the primary score, then failures."""
        ok = [m for m in self.models if m.status == "ok" and self.primary in m.scores]
        ok.sort(key=lambda m: -m.scores[self.primary])
        return ok + [m for m in self.models if m not in ok]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out = {"schema": out.pop("schema"), **out}
        return out

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RankingResults":
        """The results a JSON document holds, its shape checked first (:func:`check_document`): a document of
        the wrong shape is refused with a ValueError that says where, never read half-way."""
        check_document(data)
        known = {f.name for f in dataclasses.fields(ModelResult)}
        return cls(
            dataset=DatasetInfo(**{k: v for k, v in data["dataset"].items()
                                   if k in {f.name for f in dataclasses.fields(DatasetInfo)}}),
            scores=list(data["scores"]),
            primary=data["primary"],
            models=[ModelResult(**{k: v for k, v in m.items() if k in known}) for m in data["models"]],
            agreement=data.get("agreement") or {},
            warnings=data.get("warnings") or {},
            options=data.get("options") or {},
            versions=data.get("versions") or {},
            git_commit=data.get("git_commit"),
            created=data.get("created"),
            candidates=data.get("candidates") or {},
        )

    @classmethod
    def load(cls, path: str | Path) -> "RankingResults":
        path = Path(path)
        if path.is_dir():
            path = path / "results.json"
        if not path.is_file():
            raise FileNotFoundError(f"results file {str(path)!r} does not exist; run `lead-hf rank` first")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{str(path)!r} is not valid JSON: {err}") from None
        except UnicodeDecodeError:
            raise ValueError(f"{str(path)!r} is not a text file (not UTF-8), so not a lead-hf results file") from None
        try:
            return cls.from_dict(data)
        except ValueError as err:
            raise ValueError(f"{str(path)!r}: {err}") from None


# ------------------------------------------------------------------------------------------ shape check

def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _opt(check):
    return lambda v: v is None or check(v)


def _map_of(check):
    return lambda v: isinstance(v, dict) and all(isinstance(k, str) and check(x) for k, x in v.items())


def _list_of(check):
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


_TEXT = lambda v: isinstance(v, str)  # noqa: E731
_DICT = lambda v: isinstance(v, dict)  # noqa: E731
DATASET_FIELDS = {"id": (_TEXT, "a string"), "split": (_TEXT, "a string"),
                  "config": (_opt(_TEXT), "a string or null"), "num_samples": (_opt(_number), "a number"),
                  "num_classes": (_opt(_number), "a number"), "label_names": (_opt(_list_of(_TEXT)), "a list of strings"),
                  "fingerprint": (_opt(_TEXT), "a string or null"), "revision": (_opt(_TEXT), "a string or null"),
                  "local": (_opt(lambda v: isinstance(v, bool)), "true, false or null")}
MODEL_FIELDS = {"model": (_TEXT, "a string"), "status": (lambda v: v in ("ok", "failed"), '"ok" or "failed"'),
                "error": (_opt(_TEXT), "a string or null"), "hub_id": (_opt(_TEXT), "a string or null"),
                "revision": (_opt(_TEXT), "a string or null"),
                "scores": (_map_of(_number), "a mapping of score -> number"),
                "ranks": (_map_of(_number), "a mapping of score -> number"),
                "seconds": (_map_of(_number), "a mapping of name -> number"),
                "finetune_accuracy": (_opt(_number), "a number or null"), "feature_dim": (_opt(_number), "a number"),
                "flags": (_map_of(_TEXT), "a mapping of score -> text"),
                "bootstrap": (_map_of(_list_of(_number)), "a mapping of score -> list of numbers"),
                "bootstrap_seconds": (_map_of(_number), "a mapping of score -> number"),
                "intervals": (_map_of(lambda x: _list_of(_number)(x) and len(x) == 2), "a mapping of score -> [lo, hi]"),
                "p_best": (_map_of(_number), "a mapping of score -> number"), "cost": (_opt(_DICT), "a mapping or null"),
                "pareto": (lambda v: isinstance(v, bool), "true or false"), "details": (_map_of(_DICT), "a mapping"),
                "modality": (_opt(_TEXT), "a string or null"), "text": (_opt(_DICT), "a mapping or null"),
                "ranked": (_opt(_TEXT), "a string or null"),
                "skipped_samples": (_list_of(_number), "a list of row numbers"),
                "ct_beta": (_opt(_number), "a number or null"), "ct_activations": (_opt(_DICT), "a mapping or null")}
TOP_FIELDS = {"scores": (_list_of(_TEXT), "a list of score names"), "primary": (_TEXT, "a score name"),
              "agreement": (_opt(_map_of(_map_of(lambda x: x is None or _number(x)))), "a mapping"),
              "warnings": (_opt(_map_of(_TEXT)), "a mapping of score -> text"), "options": (_opt(_DICT), "a mapping"),
              "versions": (_opt(_DICT), "a mapping"), "candidates": (_opt(_DICT), "a mapping"),
              "created": (_opt(_TEXT), "a string"), "git_commit": (_opt(_TEXT), "a string or null")}


def check_document(data) -> None:
    """Refuse a results document of the wrong shape, naming the first field that is wrong; every field the
    readers use is checked (``TOP_FIELDS``, ``DATASET_FIELDS``, ``MODEL_FIELDS``)."""
    def fail(where: str, what: str, value) -> None:
        raise ValueError(f"not a lead-hf results file of the expected shape: {where} must be {what}, got "
                         f"{type(value).__name__} {str(value)[:60]!r}; move the file away (or delete it) and rank again")

    if not isinstance(data, dict):
        fail("the document", "a JSON object", data)
    if data.get("schema") not in READABLE_SCHEMAS:
        raise ValueError(f"not a lead-hf results file (schema {data.get('schema')!r}, expected {SCHEMA!r})")
    for name in ("dataset", "scores", "primary", "models"):
        if name not in data:
            raise ValueError(f"not a lead-hf results file of the expected shape: it has no {name!r}")
    for fields, where, value in [(TOP_FIELDS, "", data), (DATASET_FIELDS, "dataset.", data["dataset"])]:
        if not isinstance(value, dict):
            fail(where.rstrip(".") or "the document", "a JSON object", value)
        for name, (check, what) in fields.items():
            if name in value and not check(value[name]):
                fail(where + name, what, value[name])
    if data["primary"] not in data["scores"]:
        fail("primary", f"one of the scores {data['scores']}", data["primary"])
    if not isinstance(data["models"], list):
        fail("models", "a list", data["models"])
    for i, row in enumerate(data["models"]):
        if not isinstance(row, dict) or "model" not in row:
            fail(f"models[{i}]", "an object with a 'model'", row)
        for name, (check, what) in MODEL_FIELDS.items():
            if name in row and not check(row[name]):
                fail(f"models[{i}].{name}", what, row[name])
