"""Every score's resampled form (``rank --bootstrap``'s draws at once) against the explicit loop: each draw's
value must equal ``compute_score`` on the resampled rows to 1e-6, with N > D and N < D, source logits of a
few and of many classes, and the options each form handles or hands back to the loop."""
from __future__ import annotations

import numpy as np
import pytest

from lead_hf.rank.bootstrap import bootstrap_indices
from lead_hf.scores import available_scores, get_score_spec
from lead_hf.scores.draws import explicit_draws, resample_counts, score_draws
from lead_hf.scores.registry import draws_function

from helpers import gaussian_classes

TOLERANCE = 1e-6
FAST = [name for name in available_scores() if draws_function(name) is not None]
# the scores whose forms are required: the default scores of rank
DEFAULT_SCORES = ("lead", "logme", "leep", "nce")


def data(n_per_class, dim, k=5, sources=12, seed=0, separation=1.0, rank=None):
    """Gaussian classes, float32 like extracted features, with source logits. ``rank``: the features span
    that many dimensions of ``dim`` (as a CNN's do: with N <= D and full rank every resample fits its labels
    exactly, where LogME's evidence rises without bound and its value is rounding noise)."""
    feats, labels = gaussian_classes(num_classes=k, per_class=n_per_class, dim=rank or dim, separation=separation,
                                     seed=seed)
    rng = np.random.default_rng(seed + 100)
    if rank is not None:
        feats = feats @ rng.normal(size=(rank, dim))
    logits = rng.normal(size=(labels.size, sources)) + 2.0 * np.eye(sources)[labels % sources]
    return feats.astype(np.float32), labels, logits.astype(np.float32)


def handled(method, feats, labels, logits, draws, **options) -> bool:
    """Whether the score's resampled form computes these draws itself (not handing them to the loop)."""
    import torch

    from lead_hf.scores import prepare_inputs
    from lead_hf.scores.registry import make_options

    spec = get_score_spec(method)
    inputs = prepare_inputs(feats if spec.needs_features else None, labels,
                            logits if spec.needs_source_logits else None)
    counts = torch.as_tensor(resample_counts(draws, labels.size))
    return draws_function(method)(inputs, counts, make_options(spec, options)) is not None


def assert_equal_draws(method, feats, labels, logits, draws, expect_handled=True, **options):
    spec = get_score_spec(method)
    logits = logits if spec.needs_source_logits else None
    want = explicit_draws(method, feats, labels, draws, source_logits=logits, **options)
    got = score_draws(method, feats, labels, draws, source_logits=logits, **options)
    diff = np.abs(np.asarray(got) - np.asarray(want))
    assert diff.max() <= TOLERANCE * max(1.0, np.abs(want).max()), (method, options, diff.max(), got, want)
    assert np.std(want) > 0  # the draws differ: equal values are not equal by accident
    assert handled(method, feats, labels, logits, draws, **options) == expect_handled
    return diff.max()


def test_the_default_scores_have_resampled_forms():
    assert set(DEFAULT_SCORES) <= set(FAST)


def test_counts_are_the_multiplicities():
    draws = [np.array([0, 0, 2, 3]), np.array([1, 1, 1, 3])]
    assert resample_counts(draws, 5).tolist() == [[2, 0, 1, 1, 0], [0, 3, 0, 1, 0]]


@pytest.mark.parametrize("method", FAST)
@pytest.mark.parametrize("shape", [(30, 8, None), (12, 90, 25)], ids=["N>D", "N<D"])
def test_resampled_form_equals_the_explicit_loop(method, shape):
    feats, labels, logits = data(*shape[:2], rank=shape[2])
    draws = bootstrap_indices(labels, 6, seed=1)
    # GBC's default PCA keeps 64 components, more than these resamples have: the loop
    assert_equal_draws(method, feats, labels, logits, draws, expect_handled=method != "gbc")


@pytest.mark.parametrize("method", [m for m in FAST if get_score_spec(m).needs_source_logits])
def test_many_source_classes(method):
    feats, labels, logits = data(20, 4, k=4, sources=300, seed=2)
    assert_equal_draws(method, feats, labels, logits, bootstrap_indices(labels, 5, seed=3))


def test_draws_missing_a_class_go_to_the_loop():
    feats, labels, logits = data(10, 6, k=3)
    draws = [np.flatnonzero(labels != 2), np.arange(labels.size)]  # the first has no sample of class 2
    for method in DEFAULT_SCORES:
        want = explicit_draws(method, feats, labels, draws, source_logits=logits)
        assert score_draws(method, feats, labels, draws, source_logits=logits) == want


LEAD_VARIANTS = [
    {},                                                         # the defaults: eta = 1 / lambda_max (lanczos)
    {"eta_normalization": "class_mean"},                        # v2's default
    {"lambda_max_method": "eigvalsh"},
    {"lambda_max_method": "matrix_free"},
    {"max_kernel_points": 20},                                  # 60 sampled points: 4 per class kept
    {"ntk": "analytic"},
    {"ntk": "analytic", "lambda_max_method": "matrix_free", "max_kernel_points": 12},
    {"samples_per_class": 5},                                   # fewer NTK samples than a class has
    {"svm_fit": "in_sample", "standardize": False, "svm_probability": "sigmoid"},
    {"evolved_state": "decisions", "class_aware": False, "eta_normalization": "class_max", "svm_C": 0.3},
    {"svm_probability": "clip", "softmax_before_ce": False, "eta_normalization": "none", "svm_folds": 3},
    {"head_widths": (64,), "eta_normalization": "unit_features"},  # one hidden layer: the traces directly
    {"svm_probability": "temperature"},                          # not handled: the loop
    {"evolution": "class_block"},                                # not handled: the loop
]
NOT_HANDLED = ({"svm_probability": "temperature"}, {"evolution": "class_block"})


@pytest.mark.parametrize("options", LEAD_VARIANTS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_lead_options(options):
    feats, labels, logits = data(12, 90, rank=25)
    small_head = {"head_widths": (64, 128)} if "head_widths" not in options else {}  # two hidden layers too
    assert_equal_draws("lead", feats, labels, logits, bootstrap_indices(labels, 4, seed=5),
                       expect_handled=options not in NOT_HANDLED, **options, **small_head)


def test_lead_rows_with_more_copies_than_folds():
    """Resamples in which some rows have more copies than there are folds (two copies in one fold), with
    the dual probe (N <= D + 1) and the primal one (N > D + 1: fitted on the repeated rows)."""
    rng = np.random.default_rng(0)
    for dim, rank in ((150, 20), (6, None)):
        feats, labels, logits = data(40, dim, k=3, seed=4, rank=rank)
        parts = [np.concatenate([np.repeat(np.flatnonzero(labels == c)[:3], 7),
                                 rng.choice(np.flatnonzero(labels == c), 19)]) for c in range(3)]
        draws = [np.sort(np.concatenate(parts)), *bootstrap_indices(labels, 2, seed=1)]
        assert_equal_draws("lead", feats, labels, logits, draws, samples_per_class=9, head_widths=(64, 128))


def test_lead_default_is_handled():
    from lead_hf.scores.lead import LeadOptions
    from lead_hf.scores.lead.draws import handles

    opts = LeadOptions()
    assert opts.eta_normalization == "lambda_max" and opts.evolution == "class_mean"
    assert handles(opts)
    assert not handles(LeadOptions(evolution="full_kernel"))


@pytest.mark.parametrize("method", ["lanczos", "eigvalsh", "matrix_free"])
@pytest.mark.parametrize("dim, rank", [(150, 20), (6, None)], ids=["dual", "primal"])
def test_lead_lambda_max_of_repeated_kernel_points(method, dim, rank):
    """lambda_max on resamples of small classes (most rows repeated, some many times) whose sampled points
    outnumber max_kernel_points, so that the kernel points are the first copies of each class: both the
    copies that count and their multiplicities must be LEAD's."""
    rng = np.random.default_rng(1)
    feats, labels, logits = data(6, dim, k=4, seed=7, rank=rank)
    members = [np.flatnonzero(labels == c) for c in range(4)]
    heavy = np.sort(np.concatenate([np.repeat(m[:2], [5, 3]) for m in members]))  # two rows make each class
    draws = [heavy, *[np.sort(np.concatenate([rng.choice(m, 6) for m in members])) for _ in range(3)]]
    options = dict(samples_per_class=5, max_kernel_points=9, lambda_max_method=method, head_widths=(64, 128))
    assert_equal_draws("lead", feats, labels, logits, draws, **options)
    # the kernel points are a strict subset of the sampled points here (5 per class sampled, 2 kept)
    import lead_hf

    details = lead_hf.compute_score("lead", feats[heavy], labels[heavy], **options).details
    assert details["kernel_points"] == 8 < 4 * 5


def test_scaled_traces_equal_the_head():
    import torch

    from lead_hf.scores.lead.draws import ScaledTraces
    from lead_hf.scores.lead.kernel import head_kernel, make_head

    rows = torch.as_tensor(data(10, 32)[0], dtype=torch.float64)
    head = make_head(32, 5, (64, 128), seed=3, dtype=torch.float32)
    traces = ScaledTraces(head, rows, c0=0.2)
    sel = torch.arange(0, rows.shape[0], 2)
    for norm in (5.0, 4.9, 5.3, 50.0):  # 50: far from c0 = 0.2, many masks change
        want = head_kernel(head, (rows[sel] / norm).float()).traces().double()
        assert torch.allclose(traces(sel, torch.tensor(norm, dtype=torch.float64)), want, rtol=1e-5, atol=0)
        gram = head_kernel(head, (rows[sel] / norm).float()).gram()  # lambda_max's Gram from the same signals
        got = traces.kernel(sel, torch.tensor(norm, dtype=torch.float64)).gram()
        assert torch.allclose(got, gram, rtol=1e-5, atol=1e-6 * float(gram.abs().max()))


@pytest.mark.parametrize("shape", [(30, 8, None), (12, 90, 25)], ids=["N>D", "N<D"])
@pytest.mark.parametrize("options", [{"pca_dim": 4}, {"pca_dim": 3, "gaussian_type": "spherical"}, {"pca_dim": None}],
                         ids=["pca4", "pca3-spherical", "no-pca"])
def test_gbc_options(shape, options):
    feats, labels, logits = data(*shape[:2], rank=shape[2])
    assert_equal_draws("gbc", feats, labels, logits, bootstrap_indices(labels, 4, seed=6), **options)


@pytest.mark.parametrize("options", [{"normalize": "l2", "class_weights": "proportional"}, {"normalize": "none"}],
                         ids=["l2-proportional", "none"])
def test_transrate_options(options):
    feats, labels, logits = data(12, 90, rank=25)
    assert_equal_draws("transrate", feats, labels, logits, bootstrap_indices(labels, 4, seed=6), **options)
