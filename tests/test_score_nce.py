"""NCE: perfect and uninformative source predictions, bounds and the data-processing inequality."""
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import lead_hf


def label_entropy(y):
    p = np.bincount(y) / len(y)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def explicit_nce(source, y):
    """sum over observed (y, z) pairs of P(y, z) log P(y | z), from Counters."""
    n = len(y)
    pairs, per_source = Counter(zip(y.tolist(), source.tolist())), Counter(source.tolist())
    return sum(c / n * math.log(c / per_source[z]) for (_, z), c in pairs.items())


def logits_for(source, num_sources):
    return np.eye(num_sources)[source] * 5.0


def score_nce(y, source, num_sources):
    return lead_hf.score("nce", np.zeros((len(y), 1)), y, source_logits=logits_for(source, num_sources))


def test_perfect_predictions_score_zero_and_constant_ones_minus_entropy():
    y = np.repeat(np.arange(4), 6)
    mapping = np.array([5, 0, 3, 1])
    assert score_nce(y, mapping[y], 6) == 0.0
    # several source classes per label are still certain
    assert score_nce(y, mapping[y] + 6 * (np.arange(24) % 2), 12) == 0.0
    assert score_nce(y, np.zeros(24, dtype=int), 6) == pytest.approx(math.log(1 / 4), rel=1e-12)
    y2 = np.repeat(np.arange(3), [2, 9, 4])
    assert score_nce(y2, np.full(15, 2), 3) == pytest.approx(-label_entropy(y2), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(3, 60), k=st.integers(2, 5), c=st.integers(1, 8), seed=st.integers(0, 10_000))
def test_explicit_value_and_bounds(n, k, c, seed):
    assume(n > k)
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    logits = rng.normal(size=(n, c))
    value = lead_hf.score("nce", np.zeros((n, 1)), y, source_logits=logits)
    assert value == pytest.approx(explicit_nce(logits.argmax(1), y), rel=1e-12, abs=1e-15)
    # conditioning cannot increase entropy: -H(Y) <= -H(Y|Z) <= 0
    assert -label_entropy(y) - 1e-12 <= value <= 1e-15


def test_coarser_source_labels_cannot_score_higher():
    # data processing: merging source classes z -> g(z) loses information, H(Y | g(Z)) >= H(Y | Z)
    rng = np.random.default_rng(1)
    y = np.arange(80) % 4
    source = (y * 3 + rng.integers(0, 3, 80)) % 10
    noisy = rng.random(80) < 0.3
    source[noisy] = rng.integers(0, 10, int(noisy.sum()))
    fine = score_nce(y, source, 10)
    coarse = score_nce(y, source // 2, 5)
    coarser = score_nce(y, source // 5, 2)
    assert fine >= coarse >= coarser
    assert fine > coarser


def test_details_edge_cases_and_errors():
    y = np.array([0] * 5 + [1] * 5 + [2])
    rng = np.random.default_rng(3)
    r = lead_hf.compute_score("nce", np.zeros((11, 1)), y, source_logits=rng.normal(size=(11, 30)))
    assert math.isfinite(r.value) and r.details["num_source_classes"] == 30
    assert 1 <= r.details["source_classes_used"] <= 11
    assert lead_hf.score("nce", np.zeros((11, 1)), y, source_logits=np.zeros((11, 1))) == pytest.approx(
        -label_entropy(y))
    with pytest.raises(ValueError, match="source_logits"):
        lead_hf.score("nce", np.zeros((11, 1)), y)
    with pytest.raises(ValueError, match="valid options"):
        lead_hf.score("nce", np.zeros((11, 1)), y, source_logits=np.zeros((11, 2)), temperature=2)
