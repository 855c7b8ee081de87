"""Combinations of a score's terms over the models being ranked, as some authors evaluate their scores.

NCTI and ETran report several terms per model and their authors combine them only across a set of models:
each term is min-max normalised over the models, then the normalised terms are summed with fixed weights.
The registry scores one model at a time, so those scores return a per-model value and keep their raw terms
in ``details["terms"]``; :func:`combine_over_models` applies the authors' recipe to a set of results.
"""
from __future__ import annotations

import math
from typing import Any, Mapping


def _terms_of(result: Any) -> Mapping[str, float]:
    details = getattr(result, "details", result)
    if isinstance(details, Mapping) and "terms" in details:
        return details["terms"]
    if isinstance(details, Mapping):
        return details
    raise TypeError(f"expected a ScoreResult, its details or a mapping of term: value, got {type(result).__name__}")


def combine_over_models(results: Mapping[str, Any], weights: Mapping[str, float]) -> dict[str, float]:
    """{model: sum_t weights[t] x minmax_t(term t of the model)} for ``results`` = {model: ScoreResult, its
    details, or a mapping of term: value}.

    minmax_t maps the smallest value of term t over the models to 0 and the largest to 1; a term with the
    same value for every model contributes 0 to all (the authors' code divides by zero there). Every model
    must carry every weighted term (a term a model lacks, such as ETran's energy without source logits,
    cannot be normalised over the set: score all models with the same terms).
    """
    if not results:
        return {}
    table = {model: _terms_of(result) for model, result in results.items()}
    out = {model: 0.0 for model in table}
    for term, weight in weights.items():
        missing = sorted(m for m, terms in table.items() if term not in terms)
        if missing:
            raise ValueError(f"term {term!r} is missing for {', '.join(missing)}: score every model with the same "
                             "terms before combining them over the models")
        values = {m: float(terms[term]) for m, terms in table.items()}
        if not all(math.isfinite(v) for v in values.values()):
            raise ValueError(f"term {term!r} is not finite for every model: {values}")
        lo, hi = min(values.values()), max(values.values())
        for model, value in values.items():
            out[model] += weight * ((value - lo) / (hi - lo) if hi > lo else 0.0)
    return out
