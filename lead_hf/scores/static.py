"""Data-free orders: bigger models first, by parameter count (``num_params``) or by forward FLOPs
(``flops``), without looking at the data.

"How NOT to benchmark your SITE metric" (ICLR 2026, arXiv 2510.06448) reports that this static order beats
every published transferability score on the standard supervised zoo (weighted tau 0.91 against LogME's
0.57): any score worth running must beat it. It needs no features, labels or source logits, only the
model's size, which the extraction records (:mod:`lead_hf.extract.cost`); ranking tables mark it as
data-free.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..utils.constraints import Constrained
from .registry import ModelFacts, ScoreResult, register_score


@dataclass
class StaticOrderOptions(Constrained):
    """The static orders have no options: the value is the model's size in millions (parameters) or GFLOPs."""


def _size(value, what: str, name: str) -> float:
    if value is None or not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
            or value <= 0:
        raise ValueError(f"score {name!r} ranks models by their {what} and needs it for this model: pass "
                         f"model={{{what!r}: ...}} (lead-hf rank and benchmark take it from the extraction), got "
                         f"{value!r}")
    return float(value)


CITATION = ("How NOT to benchmark your SITE metric: the static order by model size, ICLR 2026 (arXiv 2510.06448)")


@register_score(
    "num_params", title="#params (data-free)", options=StaticOrderOptions, data_free=True, citation=CITATION,
    summary="data-free static order: the model's parameter count (in millions), bigger first")
def num_params(model: ModelFacts, opts: StaticOrderOptions) -> ScoreResult:
    p = _size(model.parameters, "parameters", "num_params")
    return ScoreResult("num_params", p / 1e6, details={"parameters": int(p)})


@register_score(
    "flops", title="FLOPs (data-free)", options=StaticOrderOptions, data_free=True, citation=CITATION,
    summary="data-free static order: the model's forward FLOPs per input (in GFLOPs), bigger first")
def flops(model: ModelFacts, opts: StaticOrderOptions) -> ScoreResult:
    f = _size(model.flops_per_image, "flops_per_image", "flops")
    return ScoreResult("flops", f / 1e9, details={"flops_per_image": f})
