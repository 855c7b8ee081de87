"""Ranking uncertainty: the stratified bootstrap of `lead-hf rank`, on generated features (no model runs)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from lead_hf.utils.constraints import OptionError
from lead_hf.rank import RankOptions
from lead_hf.rank.bootstrap import bootstrap_indices, bootstrap_score
from lead_hf.results.summary import assign_ranks, compute_uncertainty, interval_from_draws
from lead_hf.results.report import csv_text, markdown_report, overlap_note, terminal_table
from lead_hf.results.schema import DatasetInfo, ModelResult, RankingResults

from helpers import gaussian_classes


def _out(features, labels, logits=None):
    return SimpleNamespace(features=np.asarray(features, dtype=np.float64), labels=np.asarray(labels),
                           logits=logits)


def _row(name, method, out, draws):
    from lead_hf.scores import compute_score

    value = compute_score(method, out.features, out.labels).value
    values, seconds = bootstrap_score(method, out, draws, "cpu", {})
    return ModelResult(model=name, scores={method: value}, bootstrap={method: values},
                       bootstrap_seconds={method: seconds})


def _ranking(rows, method):
    r = RankingResults(dataset=DatasetInfo(id="generated", split="train", num_samples=10, num_classes=2),
                       scores=[method], primary=method, models=rows)
    assign_ranks(r)
    compute_uncertainty(r)
    return r


def test_draws_are_stratified_seeded_and_shared_by_equal_labels():
    labels = np.array([0] * 7 + [1] * 3 + [2] * 5)
    draws = bootstrap_indices(labels, 6, seed=3)
    assert len(draws) == 6
    for idx in draws:
        assert np.array_equal(np.bincount(labels[idx]), [7, 3, 5])  # class counts of the full split
    again = bootstrap_indices(labels.copy(), 6, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(draws, again))
    other = bootstrap_indices(labels, 6, seed=4)
    assert any(not np.array_equal(a, b) for a, b in zip(draws, other))
    assert any(len(np.unique(idx)) < labels.size for idx in draws)  # with replacement


def test_a_class_too_small_to_resample_is_a_clear_error():
    with pytest.raises(ValueError, match=r"cannot resample class 2 \(1 sample\).*--bootstrap 0"):
        bootstrap_indices(np.array([0, 0, 1, 1, 2]), 5)
    for bad in (-1, 1, 2.5, True):
        with pytest.raises(OptionError, match=r"bootstrap must be 0 or an integer >= 2, got"):
            RankOptions(bootstrap=bad)
    assert RankOptions(bootstrap=0).bootstrap == 0 and RankOptions(bootstrap=2).bootstrap == 2


@pytest.mark.parametrize("method", ["logme", "lead", "hscore_reg"])
def test_intervals_cover_the_full_data_value(method):
    feats, labels = gaussian_classes(num_classes=3, per_class=20, dim=8, separation=1.5, seed=1)
    out = _out(feats, labels)
    r = _ranking([_row("m", method, out, bootstrap_indices(labels, 20, seed=0))], method)
    m = r.models[0]
    lo, hi = m.intervals[method]
    assert lo <= m.scores[method] <= hi and lo < hi
    assert len(m.bootstrap[method]) == 20 and m.bootstrap_seconds[method] > 0
    # the draws really differ from the full-data value: an interval from re-scoring the same data is not this
    assert np.std(m.bootstrap[method]) > 0


def test_intervals_shrink_with_more_samples():
    widths = []
    for per_class in (15, 240):
        w = []
        for seed in range(3):
            feats, labels = gaussian_classes(num_classes=3, per_class=per_class, dim=6, separation=1.0, seed=seed)
            r = _ranking([_row("m", "logme", _out(feats, labels), bootstrap_indices(labels, 20, seed=seed))],
                         "logme")
            lo, hi = r.models[0].intervals["logme"]
            w.append(hi - lo)
        widths.append(np.mean(w))
    assert widths[1] < 0.5 * widths[0], widths  # about 1/sqrt(16) = 0.25 expected


def test_a_clearly_separated_model_is_best_in_almost_every_draw():
    feats, labels = gaussian_classes(num_classes=3, per_class=25, dim=8, separation=4.0, seed=0)
    noise = np.random.default_rng(5).normal(size=feats.shape)
    draws = bootstrap_indices(labels, 20, seed=0)
    r = _ranking([_row("noise", "logme", _out(noise, labels), draws),
                  _row("separated", "logme", _out(feats, labels), draws)], "logme")
    by = {m.model: m for m in r.models}
    assert by["separated"].p_best["logme"] >= 0.95
    assert by["separated"].p_best["logme"] + by["noise"].p_best["logme"] == pytest.approx(1.0)
    note = overlap_note(r)
    assert note.startswith("separated is ahead of noise") and "P(best) 1.00" in note


def _twin_ranking():
    """Two nearly identical models ranked by LogME with 20 shared bootstrap draws."""
    feats, labels = gaussian_classes(num_classes=3, per_class=12, dim=6, separation=1.0, seed=0)
    twin = feats + 1e-3 * np.random.default_rng(1).normal(size=feats.shape)  # nearly the same model
    draws = bootstrap_indices(labels, 20, seed=0)
    return _ranking([_row("a", "logme", _out(feats, labels), draws), _row("b", "logme", _out(twin, labels), draws)],
                    "logme")


def test_overlapping_top_two_are_called_tied_everywhere(tmp_path):
    r = _twin_ranking()
    note = overlap_note(r)
    assert "overlapping 95% bootstrap intervals" in note and "cannot tell them apart" in note
    assert 0.1 < r.models[0].p_best["logme"] < 0.9
    table = terminal_table(r)
    assert "logme [95% CI]" in table and "P(best logme)" in table
    lo, hi = r.models[0].intervals["logme"]
    assert f"[{lo:.4f}, {hi:.4f}]" in table
    assert note in markdown_report(r)
    header, first = csv_text(r).splitlines()[:2]
    assert "logme_ci_low,logme_ci_high,logme_p_best" in header
    # the results file keeps draws, intervals and P(best), and a reload recomputes the same
    again = RankingResults.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again.schema == "lead-hf/results/v2"
    compute_uncertainty(again)
    assert [m.p_best for m in again.models] == [m.p_best for m in r.models]


def test_overlapping_intervals_with_a_paired_lead_say_likely_ahead():
    """Two models that move together with the resample: their intervals overlap, but the first is higher
    on every shared resample, which P(best) (paired) shows and the note says."""
    r = _twin_ranking()
    first, second = r.sorted_models()[:2]
    # b becomes a copy of a lowered by a constant smaller than the intervals' width: behind in every draw
    gap = 0.1 * (first.intervals["logme"][1] - first.intervals["logme"][0])
    second.scores["logme"] = first.scores["logme"] - gap
    second.bootstrap["logme"] = [v - gap for v in first.bootstrap["logme"]]
    compute_uncertainty(r)
    assert first.p_best["logme"] == 1.0
    note = overlap_note(r)
    assert "overlapping 95% bootstrap intervals" in note and "likely ahead" in note and "100%" in note
    assert "cannot tell them apart" not in note


def test_interval_is_the_draws_spread_centred_on_the_value():
    draws = [1.0, 2.0, 3.0, 4.0, 5.0]
    lo, hi = interval_from_draws(10.0, draws)  # median 3, so the draws are shifted by +7
    assert lo == pytest.approx(7 + np.quantile(draws, 0.025)) and hi == pytest.approx(7 + np.quantile(draws, 0.975))


def test_version_1_results_still_load():
    r = RankingResults(dataset=DatasetInfo(id="d", split="train"), scores=["lead"], primary="lead",
                       models=[ModelResult(model="m", scores={"lead": 1.0})])
    data = r.to_dict()
    data["schema"] = "lead-hf/results/v1"
    for key in ("bootstrap", "bootstrap_seconds", "intervals", "p_best"):
        del data["models"][0][key]
    old = RankingResults.from_dict(data)
    assert old.models[0].bootstrap == {} and old.to_dict()["schema"] == "lead-hf/results/v2"
    assert overlap_note(old) is None and "CI" not in terminal_table(old)
