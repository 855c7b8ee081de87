"""``rank --bootstrap B``: every score recomputed on B stratified resamples of the training samples, from
the cached features and logits (no model runs again). The intervals and P(best) that the draws give are
derived with the rest of a ranking's fields (:mod:`lead_hf.results.summary`)."""
from __future__ import annotations

import time


def bootstrap_indices(labels, draws: int, seed: int = 0) -> list:
    """``draws`` stratified resamples of the sample indices: each class is drawn with replacement to its own
    size, so every draw has the class counts of the full split. The draws depend only on the labels and
    the seed, so models scored on the same samples see the same draws (which makes P(best) meaningful).
    A class with fewer than 2 samples cannot be resampled: ValueError."""
    import numpy as np

    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    small = [(c, n) for c, n in zip(classes.tolist(), counts.tolist()) if n < 2]
    if small:
        which = ", ".join(f"{c!r} ({n} sample)" for c, n in small[:5])
        raise ValueError(f"the bootstrap cannot resample class {which}: every class needs at least 2 training "
                         "samples; pass --bootstrap 0, or a split / --max-per-class with more samples per class")
    members = [np.flatnonzero(labels == c) for c in classes]
    rng = np.random.default_rng([int(seed), 0xB007])
    out = []
    for _ in range(draws):
        idx = np.concatenate([m[rng.integers(0, len(m), len(m))] for m in members])
        out.append(np.sort(idx))
    return out


def bootstrap_score(method: str, out, draws, device, options, fast: bool = True) -> tuple[list[float], float]:
    """The score of ``method`` on every resample of ``out``'s cached features/logits (no model re-run).
    ``options``: the score's options (a dict, or its options dataclass). The resamples are scored together
    by the score's resampled form where it has one (:mod:`lead_hf.scores.draws`: the same values, without
    recomputing per draw what the draws share); ``fast=False`` scores them one by one.
    Returns (the values, seconds)."""
    from ..scores.draws import score_draws

    opts = options if not isinstance(options, dict) else None
    kwargs = options if isinstance(options, dict) else {}
    start = time.perf_counter()
    values = score_draws(method, out.features, out.labels, draws, source_logits=out.logits, device=device,
                         opts=opts, fast=fast, **kwargs)
    return values, time.perf_counter() - start
