"""A score on many resamples of the same samples at once (``rank --bootstrap``).

A resample with replacement is the same rows with integer weights: row i appears ``counts[b, i]`` times in
resample b. Whatever a score computes from the rows alone (a Gram matrix of the samples, softmaxes of the
source logits, projections, a random head's first layer) is then the same in every resample and is
computed once; only what depends on the weights is computed per resample, on the rows that resample holds.

A score registers its resampled form with :func:`lead_hf.scores.registry.register_draws`. Its values must
equal the score of each resample's rows, computed the plain way (``compute_score(features[idx], ...)``), to
1e-6 (tests/test_score_draws.py checks every score that has one against that explicit loop). A score
without one, or options its resampled form does not handle, is scored resample by resample.
"""
from __future__ import annotations

import numpy as np
import torch

from .registry import compute_score, draws_function, get_score_spec, make_options
from .validation import prepare_inputs


def one_blas_thread():
    """A context in which scipy's and numpy's BLAS/LAPACK (OpenBLAS) run on one thread.

    The resampled forms make many small LAPACK calls (Cholesky factorisations and eigendecompositions of a
    few hundred rows). OpenBLAS's threads wait for work by spinning, and on a CPU shared with other jobs a
    factorisation of 550 rows took 0.60 s with 2 threads and 0.007 s with 1 (2 cores, load average 11).
    torch's own threads are left as they are. Without threadpoolctl (a scikit-learn dependency): nothing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with scikit-learn
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def resample_counts(draws, num_samples: int) -> np.ndarray:
    """[B, N] float64: how many times each of ``num_samples`` rows is in each resample (a list of index
    arrays, as :func:`lead_hf.rank.bootstrap.bootstrap_indices` gives)."""
    out = np.zeros((len(draws), num_samples), dtype=np.float64)
    for b, idx in enumerate(draws):
        out[b] = np.bincount(np.asarray(idx, dtype=np.int64), minlength=num_samples)
    return out


def explicit_draws(method: str, features, labels, draws, *, source_logits=None, device=None, opts=None,
                   **options) -> list[float]:
    """The score of every resample, one by one: ``compute_score`` on the resampled rows (what the
    resampled forms must equal)."""
    features = None if features is None else np.asarray(features)
    logits = None if source_logits is None else np.asarray(source_logits)
    labels = np.asarray(labels)
    values = []
    for idx in draws:
        values.append(float(compute_score(method, None if features is None else features[idx], labels[idx],
                                          source_logits=None if logits is None else logits[idx], device=device,
                                          opts=opts, **options).value))
    return values


def score_draws(method: str, features, labels, draws, *, source_logits=None, device=None, opts=None,
                fast: bool = True, **options) -> list[float]:
    """The value of score ``method`` on every resample in ``draws`` (index arrays into the rows), as
    :func:`explicit_draws` computes them, by the score's resampled form when it has one (``fast=False``:
    never). Options come as keywords or parsed (``opts=``), as for ``compute_score``."""
    spec = get_score_spec(method)
    if opts is not None and options:
        raise TypeError(f"pass the options of score {spec.name!r} either as opts= or as keywords, not both")
    parsed = make_options(spec, opts if opts is not None else options)
    fn = draws_function(spec.name) if fast else None
    if fn is not None and len(draws) and labels is not None:
        inputs = prepare_inputs(features if spec.needs_features else None, labels,
                                source_logits if spec.needs_source_logits else None, device=device)
        counts = resample_counts(draws, inputs.num_samples)
        # every resample must hold every class: otherwise its labels are re-coded (and K changes) when it
        # is scored alone, which only the explicit loop reproduces
        per_class = counts @ np.eye(inputs.num_classes)[inputs.labels.cpu().numpy()]
        if (per_class > 0).all():
            with one_blas_thread():
                values = fn(inputs, torch.as_tensor(counts, device=inputs.device), parsed)
            if values is not None:
                values = [float(v) for v in values]
                if not all(np.isfinite(values)):
                    raise FloatingPointError(f"the resampled form of score {spec.name!r} produced a non-finite "
                                             "value; this is a bug in lead-hf, please report it")
                return values
    return explicit_draws(spec.name, features, labels, draws, source_logits=source_logits, device=device,
                          opts=parsed)
