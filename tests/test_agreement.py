import numpy as np
import pytest
from scipy import stats

from lead_hf.results.agreement import agreement, kendall_tau, pearson, top1_relative_regret, weighted_tau


def test_perfect_and_reversed_rankings():
    acc = [70.0, 80.0, 75.0, 90.0]
    assert weighted_tau(acc, acc) == pytest.approx(1.0)
    assert weighted_tau([-a for a in acc], acc) == pytest.approx(-1.0)
    assert kendall_tau(acc, acc) == pytest.approx(1.0)
    assert top1_relative_regret(acc, acc) == 0.0


def test_matches_scipy_defaults_and_is_scale_free():
    rng = np.random.default_rng(0)
    s, a = rng.normal(size=9), rng.normal(size=9)
    assert weighted_tau(s, a) == pytest.approx(stats.weightedtau(s, a).statistic)
    assert weighted_tau(3 * s + 1, a) == pytest.approx(weighted_tau(s, a))
    assert pearson(s, a) == pytest.approx(np.corrcoef(s, a)[0, 1])


def test_regret_of_a_bad_pick():
    assert top1_relative_regret([1, 0, 0], [50.0, 100.0, 60.0]) == pytest.approx(0.5)


def test_bad_input():
    with pytest.raises(ValueError, match="same length"):
        agreement([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 2"):
        agreement([1], [1])
    with pytest.raises(ValueError, match="finite"):
        agreement([1, np.nan], [1, 2])
