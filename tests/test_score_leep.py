"""LEEP: perfect and uninformative source predictions, an explicit loop version, chunking, invariances."""
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import lead_hf
from lead_hf.scores import leep as leep_module
from helpers import within_ulps


def label_entropy(y):
    p = np.bincount(y) / len(y)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def explicit_leep(logits, y):
    """The paper's three steps with Python loops over samples, classes and source classes."""
    logits = np.asarray(logits, dtype=np.float64)
    n, c = logits.shape
    k = int(y.max()) + 1
    theta = np.exp(logits - logits.max(1, keepdims=True))
    theta /= theta.sum(1, keepdims=True)
    joint = np.zeros((k, c))
    for i in range(n):
        for z in range(c):
            joint[y[i], z] += theta[i, z] / n
    total = 0.0
    for i in range(n):
        eep = sum(joint[y[i], z] / joint[:, z].sum() * theta[i, z] for z in range(c) if joint[:, z].sum() > 0)
        total += math.log(eep)
    return total / n


def one_to_one_logits(y, num_sources=7, confidence=60.0, seed=0):
    """Source class sigma(y) predicted with near-certainty: sigma an injective map labels -> sources."""
    mapping = np.random.default_rng(seed).permutation(num_sources)
    logits = np.zeros((y.size, num_sources))
    logits[np.arange(y.size), mapping[y]] = confidence
    return logits


def test_perfect_one_to_one_predictions_score_zero():
    y = np.repeat(np.arange(4), 10)
    value = lead_hf.score("leep", np.zeros((y.size, 1)), y, source_logits=one_to_one_logits(y))
    assert value == pytest.approx(0.0, abs=1e-12)
    # many-to-one (two source classes per label) is just as certain
    y2 = np.repeat(np.arange(3), 8)
    logits = np.zeros((y2.size, 6))
    logits[np.arange(y2.size), 2 * y2 + np.arange(y2.size) % 2] = 60.0
    assert lead_hf.score("leep", np.zeros((y2.size, 1)), y2, source_logits=logits) == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("counts", [(10, 10, 10, 10), (3, 20, 7)])
def test_uninformative_predictions_score_minus_label_entropy(counts):
    y = np.repeat(np.arange(len(counts)), counts)
    logits = np.tile(np.random.default_rng(1).normal(size=(1, 5)), (y.size, 1))   # same for every sample
    value = lead_hf.score("leep", np.zeros((y.size, 1)), y, source_logits=logits)
    assert value == pytest.approx(-label_entropy(y), rel=1e-12)
    if len(set(counts)) == 1:
        assert value == pytest.approx(math.log(1 / len(counts)), rel=1e-12)


@pytest.mark.parametrize("num_sources", [2, 5, 12])   # fewer and more source classes than labels
def test_equals_explicit_loops(num_sources):
    rng = np.random.default_rng(num_sources)
    y = np.arange(30) % 5
    logits = rng.normal(size=(30, num_sources)) * 2 + np.eye(max(5, num_sources))[y][:, :num_sources] * 3
    value = lead_hf.score("leep", np.zeros((30, 1)), y, source_logits=logits)
    assert value == pytest.approx(explicit_leep(logits, y), rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(4, 40), k=st.integers(2, 4), c=st.integers(1, 9), seed=st.integers(0, 10_000),
       scale=st.floats(0.01, 30))
def test_equals_explicit_loops_random(n, k, c, seed, scale):
    rng = np.random.default_rng(seed)
    assume(n > k)
    y = np.arange(n) % k
    logits = rng.normal(size=(n, c)) * scale
    value = lead_hf.score("leep", np.zeros((n, 1)), y, source_logits=logits)
    assert value <= 1e-12
    assert value == pytest.approx(explicit_leep(logits, y), rel=1e-9, abs=1e-12)


def test_chunked_passes_equal_one_pass(monkeypatch):
    rng = np.random.default_rng(2)
    y = np.arange(50) % 3
    logits = rng.normal(size=(50, 8))
    whole = lead_hf.score("leep", np.zeros((50, 1)), y, source_logits=logits)
    monkeypatch.setattr(leep_module, "_CHUNK", 7)
    assert lead_hf.score("leep", np.zeros((50, 1)), y, source_logits=logits) == pytest.approx(whole, rel=1e-13)


def test_more_informative_source_predictions_score_higher():
    rng = np.random.default_rng(3)
    y = np.arange(60) % 4
    noise = rng.normal(size=(60, 6))
    onehot = np.eye(6)[y]
    scores = [lead_hf.score("leep", np.zeros((60, 1)), y, source_logits=noise + s * onehot)
              for s in (0.0, 1.0, 2.0, 4.0, 8.0)]
    assert all(a < b for a, b in zip(scores, scores[1:])), scores


def test_invariant_to_a_shift_of_each_row_of_logits():
    # sample order, label names and the order of the source classes: tests/test_score_contract.py
    rng = np.random.default_rng(4)
    y = np.arange(40) % 4
    logits = rng.normal(size=(40, 6)) + np.eye(6)[y] * 2
    base = lead_hf.score("leep", np.zeros((40, 1)), y, source_logits=logits)
    # a constant shift of a row's logits leaves its softmax unchanged
    shifted = logits + rng.normal(size=(40, 1)) * 100
    assert lead_hf.score("leep", np.zeros((40, 1)), y, source_logits=shifted) == pytest.approx(base, rel=1e-10)


def test_temperature_flattens_towards_minus_label_entropy():
    rng = np.random.default_rng(5)
    y = np.arange(30) % 3
    logits = rng.normal(size=(30, 4)) + np.eye(4)[y] * 3
    sharp = lead_hf.score("leep", np.zeros((30, 1)), y, source_logits=logits)
    flat = lead_hf.score("leep", np.zeros((30, 1)), y, source_logits=logits, temperature=1e6)
    assert flat == pytest.approx(-label_entropy(y), abs=1e-5)
    assert sharp > flat + 0.1
    assert lead_hf.score("leep", np.zeros((30, 1)), y, source_logits=logits / 2) == pytest.approx(
        lead_hf.score("leep", np.zeros((30, 1)), y, source_logits=logits, temperature=2.0))


def test_edge_cases_finite():
    y = np.array([0] * 6 + [1] * 6 + [2])           # a class with a single sample
    rng = np.random.default_rng(6)
    for logits in (rng.normal(size=(13, 4)), rng.normal(size=(13, 1)), rng.normal(size=(13, 4)) * 1e4):
        assert math.isfinite(lead_hf.score("leep", np.zeros((13, 1)), y, source_logits=logits))
    y2 = np.array([0, 1] * 5)
    assert math.isfinite(lead_hf.score("leep", np.zeros((10, 1)), y2, source_logits=rng.normal(size=(10, 3))))
    # one source class: nothing to learn from it
    assert lead_hf.score("leep", np.zeros((13, 1)), y, source_logits=np.zeros((13, 1))) == pytest.approx(
        -label_entropy(y))


def test_errors_name_the_problem():
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="source_logits"):
        lead_hf.score("leep", np.zeros((10, 1)), y)
    with pytest.raises(ValueError, match="temperature"):
        lead_hf.score("leep", np.zeros((10, 1)), y, source_logits=np.zeros((10, 3)), temperature=0)
    with pytest.raises(ValueError, match="source_logits have 9"):
        lead_hf.score("leep", np.zeros((10, 1)), y, source_logits=np.zeros((9, 3)))


def test_details_and_determinism():
    y = np.repeat(np.arange(3), 5)
    logits = one_to_one_logits(y, num_sources=4)
    r = lead_hf.compute_score("leep", np.zeros((15, 1)), y, source_logits=logits)
    assert r.details["num_source_classes"] == 4
    assert r.details["mapped_accuracy"] == pytest.approx(1.0)
    assert lead_hf.compute_score("leep", np.zeros((15, 1)), y, source_logits=logits).value == within_ulps(r.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(7)
    y = np.arange(40) % 4
    logits = rng.normal(size=(40, 9))
    assert lead_hf.score("leep", np.zeros((40, 1)), y, source_logits=logits, device="cuda") == pytest.approx(
        lead_hf.score("leep", np.zeros((40, 1)), y, source_logits=logits, device="cpu"), rel=1e-10)
