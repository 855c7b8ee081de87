import itertools

import numpy as np
import pytest
from scipy import stats

from lead_hf.results.agreement import (MEASURES, agreement, kendall_tau, pearson, points, random_order_agreement,
                                       recall_at_k, spearman, top1_regret, weighted_tau)


def test_perfect_and_reversed_rankings():
    acc = [0.70, 0.80, 0.75, 0.90]
    perfect = agreement(acc, acc)
    assert perfect["weighted_tau"] == pytest.approx(1.0) and perfect["kendall_tau"] == pytest.approx(1.0)
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["pearson"] == pytest.approx(1.0)
    assert perfect["top1_regret"] == 0.0 and perfect["recall_at_3"] == 1.0
    reversed_ = agreement([-a for a in acc], acc)
    assert reversed_["weighted_tau"] == pytest.approx(-1.0) and reversed_["spearman"] == pytest.approx(-1.0)
    assert reversed_["top1_regret"] == pytest.approx(20.0)  # picks the 0.70 model: 20 points below 0.90
    assert reversed_["recall_at_3"] == 0.0  # the best is ranked last of four
    assert set(perfect) == set(MEASURES)


def test_matches_scipy_and_is_invariant_to_monotone_transforms_of_the_score():
    rng = np.random.default_rng(0)
    s, a = rng.normal(size=9), rng.uniform(0.5, 0.9, size=9)
    assert weighted_tau(s, a) == pytest.approx(stats.weightedtau(s, a).statistic)
    assert spearman(s, a) == pytest.approx(stats.spearmanr(s, a).statistic)
    assert pearson(s, a) == pytest.approx(np.corrcoef(s, a)[0, 1])
    monotone = np.exp(3 * s) + 1  # a strictly increasing map keeps every rank measure and the pick
    for m in ("weighted_tau", "kendall_tau", "spearman", "top1_regret", "recall_at_3"):
        assert agreement(monotone, a)[m] == pytest.approx(agreement(s, a)[m]), m


def test_regret_is_in_accuracy_points_and_percentages_stay_as_they_are():
    assert top1_regret([1, 0, 0], [0.50, 1.00, 0.60]) == pytest.approx(50.0)
    assert top1_regret([1, 0, 0], [50.0, 100.0, 60.0]) == pytest.approx(50.0)
    assert list(points([0.5, 1.0])) == [50.0, 100.0] and list(points([50.0, 93.0])) == [50.0, 93.0]


def test_ties_at_the_top_count_by_their_expected_loss():
    # two models share the top score: a random tie-break picks 0.9 or 0.7, an expected 0.8 -> 10 points
    assert top1_regret([1, 1, 0], [0.9, 0.7, 0.8]) == pytest.approx(10.0)
    # a data-free order gives every model the same value: the regret of a random pick
    acc = [0.6, 0.9, 0.75]
    assert top1_regret([3, 3, 3], acc) == pytest.approx(random_order_agreement(acc)["top1_regret"])


def _recall_by_enumeration(scores, acc, k):
    """Every order consistent with the scores (ties broken each way), equally likely."""
    n = len(scores)
    orders = [p for p in itertools.permutations(range(n))
              if all(scores[p[i]] >= scores[p[i + 1]] for i in range(n - 1))]
    best = max(acc)
    return np.mean([any(acc[i] == best for i in p[:k]) for p in orders])


@pytest.mark.parametrize("scores, acc", [
    ([5, 4, 4, 4, 1], [0.1, 0.2, 0.9, 0.3, 0.4]),     # the best inside a tied group at the cut-off
    ([2, 2, 2, 2, 2], [0.1, 0.9, 0.2, 0.3, 0.9]),     # all tied, two best models
    ([3, 2, 1, 0, 0], [0.1, 0.2, 0.3, 0.9, 0.5]),     # the best below the cut-off
    ([1, 1, 2, 3, 0, 0], [0.9, 0.5, 0.2, 0.3, 0.1, 0.9]),
])
def test_recall_at_3_equals_the_explicit_average_over_tie_breaks(scores, acc):
    assert recall_at_k(scores, acc, 3) == pytest.approx(_recall_by_enumeration(scores, acc, 3))


def test_random_order_expectation_matches_explicit_enumeration():
    acc = np.array([0.6, 0.9, 0.75, 0.8, 0.9])
    perms = list(itertools.permutations(range(acc.size)))
    explicit = {m: np.mean([agreement(np.array(p, dtype=float), acc)[m] for p in perms]) for m in MEASURES}
    got = random_order_agreement(acc, draws=4000, seed=0)
    for m in ("top1_regret", "recall_at_3", "spearman", "pearson", "kendall_tau"):
        assert got[m] == pytest.approx(explicit[m], abs=1e-9), m
    assert got["weighted_tau"] == pytest.approx(explicit["weighted_tau"], abs=0.03)  # Monte Carlo


def test_constant_input_agrees_with_nothing():
    assert agreement([1, 1, 1], [0.5, 0.6, 0.7])["spearman"] == 0.0
    assert agreement([1, 2, 3], [0.5, 0.5, 0.5])["pearson"] == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="same length"):
        agreement([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 2"):
        agreement([1], [1])
    with pytest.raises(ValueError, match="finite"):
        agreement([1, np.nan], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        kendall_tau([1, 2], [np.inf, 2])
