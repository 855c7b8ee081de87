"""The data-free orders (num_params, flops): bigger models first, whatever the data."""
import numpy as np
import pytest

import lead_hf
from lead_hf.scores import compute_score
from lead_hf.scores.registry import data_free_scores


def test_they_are_registered_as_data_free():
    assert data_free_scores() == ["flops", "num_params"]
    assert {"num_params", "flops"} <= set(lead_hf.available_scores())


@pytest.mark.parametrize("name, key, unit", [("num_params", "parameters", 1e6), ("flops", "flops_per_image", 1e9)])
def test_the_value_is_the_size_and_no_data_changes_it(name, key, unit):
    small, big = compute_score(name, model={key: 3.5e6}), compute_score(name, model={key: 2.5e7})
    assert small.value == 3.5e6 / unit and big.value > small.value  # bigger first
    rng = np.random.default_rng(0)
    with_data = compute_score(name, rng.normal(size=(20, 4)), np.arange(20) % 2, model={key: 3.5e6})
    assert with_data.value == small.value


@pytest.mark.parametrize("bad", [None, {}, {"parameters": 0}, {"parameters": float("nan")}, {"parameters": True}])
def test_a_missing_or_impossible_size_is_refused_saying_what_to_pass(bad):
    with pytest.raises(ValueError, match="ranks models by their parameters"):
        compute_score("num_params", model=bad)


def test_rank_fills_them_from_the_extraction_and_skips_their_bootstrap(tmp_path):
    from lead_hf.scores.selection import missing_input

    assert missing_input("num_params", None, None, {"parameters": 10}) is None
    assert missing_input("flops", None, None, {"parameters": 10}) == "the model's size"
