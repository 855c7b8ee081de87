"""The fields of a ranking derived from its rows, computed in one place (:func:`summarize`): ranks per
score, the Pareto front of the primary score against cost, bootstrap intervals and P(best), rank
agreement with fine-tuned accuracy, and the warnings about scores that cannot rank these models."""
from __future__ import annotations

from .schema import RankingResults

BOOTSTRAP_LEVEL = 0.95


def assign_ranks(results: RankingResults) -> None:
    """Rank every method over the models that succeeded (1 = highest score; ties share a rank)."""
    ok = [m for m in results.models if m.status == "ok"]
    for m in results.models:
        m.ranks = {}
    for method in results.scores:
        values = sorted({m.scores[method] for m in ok if method in m.scores}, reverse=True)
        for m in ok:
            if method in m.scores:
                m.ranks[method] = 1 + sum(v > m.scores[method] for v in values)

def cost_axis(results: RankingResults) -> str | None:
    """The cost the Pareto front is taken on: forward FLOPs per image, else parameters (None: neither
    is known for two scored models)."""
    ok = [m for m in results.models if m.status == "ok" and results.primary in m.scores and m.cost]
    for key in ("flops_per_image", "parameters"):
        if sum(m.cost.get(key) is not None for m in ok) >= 2:
            return key
    return None

def assign_pareto(results: RankingResults) -> None:
    """Mark the models on the Pareto front of the primary score (higher is better) against the cost
    (lower is better): no other model scores at least as high for at most the cost, better in one."""
    key = cost_axis(results)
    for m in results.models:
        m.pareto = False
    if key is None:
        return
    pts = [m for m in results.models if m.status == "ok" and results.primary in m.scores and m.cost
           and m.cost.get(key) is not None]
    for m in pts:
        s, c = m.scores[results.primary], m.cost[key]
        m.pareto = not any(o.scores[results.primary] >= s and o.cost[key] <= c
                           and (o.scores[results.primary] > s or o.cost[key] < c) for o in pts if o is not m)


def score_flag(method: str, result, num_samples: int, feature_dim: int) -> str | None:
    """Why this value cannot rank models (a score pinned at its maximum), or None."""
    details = result.details or {}
    few = (f" (N = {num_samples} samples <= D = {feature_dim} features)" if num_samples <= feature_dim else "")
    cap = details.get("max_value")
    if isinstance(cap, (int, float)) and result.value >= cap - 1e-9 * max(1.0, abs(cap)):
        return f"saturated at its maximum K-1 = {cap}{few}"
    if method == "sfda" and float(details.get("mean_true_probability", 0.0)) >= 1 - 1e-9:
        return f"saturated: every sample is assigned its class with probability 1{few}"
    return None


def diagnose(ranking: RankingResults, max_per_class=None) -> None:
    """Fill ``ranking.warnings``: a score saturated for some models, or equal for all, cannot rank them."""
    ok = [m for m in ranking.models if m.status == "ok"]
    ranking.warnings = {}
    more = (f"use more samples per class (--max-per-class, now {max_per_class})" if max_per_class else
            "use a larger training split (every sample of this one is scored already)")
    advice = (more + " so that there are more samples than feature dimensions, or rank with a score that "
              "copes with few samples (lead, logme, hscore_reg)")
    for method in ranking.scores:
        rows = [m for m in ok if method in m.scores]
        if not rows:
            continue
        flagged = [m for m in rows if method in m.flags]
        values = [m.scores[method] for m in rows]
        if flagged:
            which = ("every model" if len(flagged) == len(rows) else
                     f"{len(flagged)} of {len(rows)} models ({', '.join(m.model for m in flagged[:3])}"
                     f"{', ...' if len(flagged) > 3 else ''})")
            ranking.warnings[method] = f"{method} is {flagged[0].flags[method]} for {which}; {advice}"
        elif len(rows) >= 2 and max(values) - min(values) <= 1e-9 * max(1.0, max(abs(v) for v in values)):
            ranking.warnings[method] = (f"{method} gives every model the same value ({values[0]:.6g}), so it "
                                        f"cannot rank them; {advice}")
            for m in rows:
                m.flags[method] = "the same value for every model"


def compute_agreement(ranking: RankingResults) -> None:
    from .agreement import agreement

    ranking.agreement = {}
    scored = [m for m in ranking.models if m.status == "ok" and m.finetune_accuracy is not None]
    for method in ranking.scores:
        pts = [(m.scores[method], m.finetune_accuracy) for m in scored if method in m.scores]
        if len(pts) >= 2:
            ranking.agreement[method] = agreement(*zip(*pts))


def interval_from_draws(value: float, draws) -> tuple[float, float]:
    """The 95% interval of a score: the 2.5%-97.5% quantiles of the bootstrap draws, shifted by the
    draws' median bias (median(draws) - full-data value). Resampling with replacement duplicates samples,
    which moves scores that reward tight classes; the shift keeps the spread and centres it on the value
    computed from the real data, which the interval therefore always contains."""
    import numpy as np

    d = np.asarray(draws, dtype=float)
    shift = value - float(np.median(d))
    a = (1 - BOOTSTRAP_LEVEL) / 2
    lo, hi = np.quantile(d, [a, 1 - a])
    return float(lo + shift), float(hi + shift)


def compute_uncertainty(ranking: RankingResults) -> None:
    """Fill every row's ``intervals`` and ``p_best`` from its bootstrap draws: P(best) of a model is the
    share of draws in which its (bias-shifted) draw is the highest among the models with draws, ties
    split. Only draws of the same count are compared (one run's rows)."""
    import numpy as np

    ok = [m for m in ranking.models if m.status == "ok"]
    for m in ranking.models:
        m.intervals, m.p_best = {}, {}
    for method in ranking.scores:
        rows = [m for m in ok if method in m.scores and len((m.bootstrap or {}).get(method) or []) >= 2]
        for m in rows:
            m.intervals[method] = list(interval_from_draws(m.scores[method], m.bootstrap[method]))
        if not rows:
            continue
        counts = {len(m.bootstrap[method]) for m in rows}
        n = max(counts, key=lambda c: sum(len(m.bootstrap[method]) == c for m in rows))
        rows = [m for m in rows if len(m.bootstrap[method]) == n]
        shifted = np.array([np.asarray(m.bootstrap[method]) - np.median(m.bootstrap[method]) + m.scores[method]
                            for m in rows])  # [models, draws]
        best = shifted.max(axis=0)
        top = np.isclose(shifted, best, rtol=1e-12, atol=0.0)
        share = (top / top.sum(axis=0)).mean(axis=1)
        for m, p in zip(rows, share):
            m.p_best[method] = round(float(p), 4)


def summarize(ranking: RankingResults) -> RankingResults:
    """Every field of a ranking that is derived from its rows, computed here and nowhere else: ranks,
    the Pareto front, bootstrap intervals and P(best), rank agreement with the ground truth and the
    warnings. ``rank`` calls it on a fresh ranking, the store after merging two."""
    assign_ranks(ranking)
    assign_pareto(ranking)
    compute_uncertainty(ranking)
    compute_agreement(ranking)
    diagnose(ranking, (ranking.options.get("rank") or {}).get("max_per_class"))
    return ranking
