"""The contract of every registered score, run over the registry (as timm's test_models.py runs over its
models): a finite value on every edge case, the same value whatever the sample order and the label names,
the same result twice, and every option checked against its declared constraint with a message that names
the option, the bad value and what is allowed.

The per-score files (tests/test_score_<name>.py) keep each score's maths and its fast-versus-explicit checks.
"""
import dataclasses
import math

import numpy as np
import pytest

import lead_hf
from lead_hf.utils.constraints import Constrained, OptionError, declared_constraints, describe, invalid_values, undeclared_fields
from lead_hf.scores import available_scores, get_score_spec
from helpers import EDGE_CASE_IDS, EDGE_CASES, gaussian_classes, within_ulps

# Options under which a score takes another path worth holding to the same contract.
VARIANTS = {
    "etran": [{"lda": "euclidean", "energy_input": "source_logits"}],
    "gbc": [{"gaussian_type": "spherical"}],
    "itm": [{"hidden_layers": 1, "evolution_steps": 2, "steps": 50}],
    "knn": [{"metric": "cosine", "soft": True}],
    "lead": [{"svm_loss": "squared_hinge"}, {"ntk": "analytic", "evolution": "full_kernel"}],
    "ncti": [{"shrinkage": 0.5}],
    "nleep": [{"covariance": "diag"}],
    "ped": [{"base": "transrate"}],
    "probe_accuracy": [{"loss": "squared_hinge"}, {"fit": "leave_one_out"}],
}
# the data-free orders read no data (tests/test_score_static.py holds them to their own contract)
DATA_SCORES = [name for name in available_scores() if not get_score_spec(name).data_free]
SCORE_CASES = [(name, opts) for name in DATA_SCORES for opts in [{}] + VARIANTS.get(name, [])]
SCORE_CASE_IDS = [name + "".join(f"-{k}={v}" for k, v in opts.items()) for name, opts in SCORE_CASES]

# The one documented exception to order invariance: EM reaches a local optimum that depends on its seeded
# k-means++ start, so on ambiguous data NLEEP's value depends on the sample order. With one component per
# well-separated class every order finds the same mixture (tests/test_score_nleep.py has the ambiguous case).
ORDER_OPTIONS = {"nleep": {"components_per_class": 1}}


def source_logits_for(labels, seed=0, num_sources=5):
    """Source-model logits that carry some information about the labels (LEEP and NCE read them)."""
    rng = np.random.default_rng(seed)
    codes = np.unique(labels, return_inverse=True)[1].reshape(-1)
    return rng.normal(size=(codes.size, num_sources)) + 2.0 * np.eye(num_sources)[codes % num_sources]


def run(name, x, y, logits=None, **opts):
    if logits is None and get_score_spec(name).needs_source_logits:
        logits = source_logits_for(y)
    return lead_hf.compute_score(name, x, y, source_logits=logits, **opts)


def assert_same_details(got, want, path="details"):
    """Details equal: floats (alone or inside lists and dicts) to a few ulps, everything else exactly."""
    if isinstance(want, dict):
        assert set(got) == set(want), path
        for key in want:
            assert_same_details(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), path
        for i, (a, b) in enumerate(zip(got, want)):
            assert_same_details(a, b, f"{path}[{i}]")
    elif isinstance(want, float):
        assert got == within_ulps(want), path
    else:
        assert got == want, path


@pytest.mark.parametrize("x, y", EDGE_CASES, ids=EDGE_CASE_IDS)
@pytest.mark.parametrize("name, opts", SCORE_CASES, ids=SCORE_CASE_IDS)
def test_edge_cases_are_finite(name, opts, x, y):
    result = run(name, x, y, **opts)
    assert math.isfinite(result.value)
    assert result.method == name


@pytest.mark.parametrize("name, opts", SCORE_CASES, ids=SCORE_CASE_IDS)
def test_invariant_to_sample_order_and_label_names(name, opts):
    x, y = gaussian_classes(num_classes=3, per_class=20, dim=6, separation=4.0, seed=2)
    logits = source_logits_for(y, seed=3)
    opts = {**opts, **ORDER_OPTIONS.get(name, {})}
    base = run(name, x, y, logits, **opts).value
    perm = np.random.default_rng(4).permutation(y.size)
    assert run(name, x[perm], y[perm], logits[perm], **opts).value == pytest.approx(base, rel=1e-9, abs=1e-12)
    # names that sort in another order than the integer labels: the classes are numbered differently
    names = np.array(["zebra", "moth", "ant"])[y]
    assert run(name, x, names, logits, **opts).value == pytest.approx(base, rel=1e-9, abs=1e-12)


LOGIT_SCORES = [name for name in available_scores() if get_score_spec(name).needs_source_logits]


@pytest.mark.parametrize("name", LOGIT_SCORES)
def test_scores_of_source_logits_ignore_the_order_of_the_source_classes(name):
    x, y = gaussian_classes(num_classes=4, per_class=10, dim=3, seed=5)
    logits = source_logits_for(y, seed=6, num_sources=7)
    base = run(name, x, y, logits).value
    columns = np.random.default_rng(7).permutation(7)
    assert run(name, x, y, logits[:, columns]).value == pytest.approx(base, rel=1e-9, abs=1e-12)
    # and the source logits matter: the same classes predicted for other samples change the value
    assert run(name, x, y, logits[np.random.default_rng(8).permutation(y.size)]).value != pytest.approx(base)


@pytest.mark.parametrize("name, opts", SCORE_CASES, ids=SCORE_CASE_IDS)
def test_deterministic(name, opts):
    x, y = gaussian_classes(num_classes=3, per_class=15, dim=8, separation=1.0, seed=7)
    first, second = run(name, x, y, **opts), run(name, x, y, **opts)
    assert first.value == within_ulps(second.value)
    assert first.options == second.options
    assert_same_details(first.details, second.details)


# -- options: every one declared, every one checked --------------------------------------------------------

OPTION_CASES = [(name, f.name) for name in available_scores()
                for f in dataclasses.fields(get_score_spec(name).options)]


@pytest.mark.parametrize("name", available_scores())
def test_every_option_is_declared_and_its_default_allowed(name):
    cls = get_score_spec(name).options
    assert issubclass(cls, Constrained)
    assert undeclared_fields(cls) == []
    assert dataclasses.asdict(cls()) == lead_hf.score_options(name)   # the defaults pass their own check


@pytest.mark.parametrize("name, option", OPTION_CASES, ids=[f"{n}.{o}" for n, o in OPTION_CASES])
def test_invalid_option_values_are_refused_with_a_message_naming_them(name, option):
    cls = get_score_spec(name).options
    spec = declared_constraints(cls)[option]
    bad_values = invalid_values(spec)
    assert bad_values, f"{name}.{option}: its constraint generates no invalid value"
    x, y = gaussian_classes(num_classes=2, per_class=5, dim=3)
    for bad in bad_values:
        with pytest.raises(OptionError) as err:
            cls(**{option: bad})
        assert err.value.option == option
        assert str(err.value) == f"{option} must be {describe(spec)}, got {bad!r}"
        # the user's route: lead_hf.score converts CLI/YAML strings first, then the same check applies, the
        # option named as rank's --score-options spells it
        with pytest.raises(OptionError, match=rf"^{name}\.{option} must be "):
            run(name, x, y, **{option: bad})


@pytest.mark.parametrize("name", available_scores())
def test_unknown_options_list_the_valid_ones(name):
    x, y = gaussian_classes(num_classes=2, per_class=5, dim=3)
    with pytest.raises(ValueError, match="valid options"):
        run(name, x, y, not_an_option=1)
