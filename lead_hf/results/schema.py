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
         "text": {"kind", "pooling", "normalize", "max_length", "tokenizer", "tokenizer_class"}|null}
                                                  # text models: how texts became features (optional)
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
        if data.get("schema") not in READABLE_SCHEMAS:
            raise ValueError(f"not a lead-hf results file (schema {data.get('schema')!r}, expected {SCHEMA!r})")
        try:
            return cls(
                dataset=DatasetInfo(**data["dataset"]),
                scores=list(data["scores"]),
                primary=data["primary"],
                models=[ModelResult(**m) for m in data["models"]],
                agreement=data.get("agreement", {}),
                warnings=data.get("warnings", {}),
                options=data.get("options", {}),
                versions=data.get("versions", {}),
                git_commit=data.get("git_commit"),
                created=data.get("created"),
                candidates=data.get("candidates") or {},
            )
        except (KeyError, TypeError) as err:
            raise ValueError(f"malformed lead-hf results file: {err}") from None

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
        return cls.from_dict(data)
