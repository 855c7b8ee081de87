"""Bad input is caught in one place (lead_hf.scores.validation) with a message that says what to do."""
import numpy as np
import pytest
import torch

import lead_hf
from lead_hf.scores.validation import encode_labels, prepare_inputs

from helpers import gaussian_classes, within_ulps


@pytest.fixture
def data():
    return gaussian_classes(num_classes=3, per_class=10, dim=4)


@pytest.mark.parametrize("mutate,message", [
    (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x), y), "NaN/inf"),
    (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 7, np.inf, x), y), "NaN/inf"),
    (lambda x, y: (x[:, 0], y), "reshape\\(-1, 1\\)"),
    (lambda x, y: (x[:, :, None], y), "must be 2-D"),
    (lambda x, y: (x[:0], y[:0]), "empty"),
    (lambda x, y: (x[:, :0], y), "0 columns"),
    (lambda x, y: (x, y[:-1]), "same samples"),
    (lambda x, y: (x, np.zeros_like(y)), "single class"),
    (lambda x, y: (x[:3], np.array([0, 1, 2])), "single sample"),
    (lambda x, y: (x, y + 0.5), "non-integer"),
    (lambda x, y: (x, np.where(np.arange(y.size) == 2, np.nan, y.astype(float))), "NaN"),
    (lambda x, y: (np.array([["a"] * 4] * len(y)), y), "real numbers"),
    (lambda x, y: (x, np.stack([y, y], 1)), "1-D"),
])
def test_bad_input_raises_named_error(data, mutate, message):
    x, y = mutate(*data)
    for method in ("lead",):
        with pytest.raises(ValueError, match=message):
            lead_hf.score(method, x, y)


def test_labels_of_any_hashable_type_are_remapped():
    codes, classes = encode_labels(["b", "a", "b", "c"])
    assert codes.tolist() == [1, 0, 1, 2] and classes.tolist() == ["a", "b", "c"]
    codes, classes = encode_labels(np.array([10.0, 3.0, 10.0]))
    assert codes.tolist() == [1, 0, 1] and classes.tolist() == [3, 10]
    codes, _ = encode_labels(torch.tensor([[2], [0]]))
    assert codes.tolist() == [1, 0]


def test_inputs_are_float64_tensors_of_torch_numpy_or_lists(data):
    x, y = data
    for feats in (x, torch.as_tensor(x, dtype=torch.float32), x.tolist()):
        inp = prepare_inputs(feats, list(y))
        assert inp.features.dtype == torch.float64 and inp.features.shape == x.shape
        assert inp.num_classes == 3 and inp.labels.max() == 2


def test_source_logits_validated(data):
    x, y = data
    with pytest.raises(ValueError, match="source_logits"):
        prepare_inputs(x, y, source_logits=np.zeros((len(y) - 1, 5)))
    with pytest.raises(ValueError, match="NaN"):
        prepare_inputs(x, y, source_logits=np.full((len(y), 5), np.nan))


def test_unknown_method_lists_available(data):
    with pytest.raises(ValueError, match="available scores: .*lead"):
        lead_hf.score("leed", *data)


def test_missing_cuda_is_a_clear_error(data):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA is not available"):
        lead_hf.score("lead", *data, device="cuda")


def test_scores_that_read_no_features_accept_none(data):
    """Issue 10 item 12: `score("leep", None, labels, source_logits=...)` used to fail on shape ()."""
    x, y = data
    logits = np.random.default_rng(5).normal(size=(len(y), 7)) + 2 * np.eye(7)[y]
    assert set(lead_hf.scores.scores_without_features()) == {"leep", "nce"}
    for method in ("leep", "nce"):
        with_features = lead_hf.score(method, x, y, source_logits=logits)
        assert lead_hf.score(method, None, y, source_logits=logits) == within_ulps(with_features)
        assert lead_hf.score(method, labels=y, source_logits=logits) == within_ulps(with_features)
        r = lead_hf.compute_score(method, None, list(np.array(["a", "b", "c"])[y]), source_logits=logits)
        assert r.details["num_source_classes"] == 7
    inputs = prepare_inputs(None, y, logits)
    assert inputs.features is None and inputs.num_samples == len(y) and inputs.num_classes == 3
    with pytest.raises(ValueError, match="labels have 30 samples but source_logits have 29"):
        lead_hf.score("leep", None, y, source_logits=logits[:-1])
    with pytest.raises(ValueError, match="needs the source model's logits"):
        lead_hf.score("nce", None, y)
    with pytest.raises(ValueError, match="reads the model's features.*leep, nce work from labels"):
        lead_hf.score("logme", None, y, source_logits=logits)
    with pytest.raises(ValueError, match="needs the target labels"):
        lead_hf.score("leep", source_logits=logits)
