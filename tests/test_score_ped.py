"""PED: the re-mapping (against a sample-by-sample simulation), its early stop, and the registered score."""
import json
from dataclasses import dataclass
import math

import numpy as np
import pytest
import torch

import lead_hf
from lead_hf.scores import registry
from lead_hf.scores.ped import PedOptions, ped_remap
from helpers import EDGE_CASE_IDS, EDGE_CASES, blobs as spread_blobs


def blobs(k=4, per_class=20, d=8, spread=0.5, seed=0):
    return spread_blobs(k, per_class, d, spread, seed)


def explicit_ped(x, y, time_step=0.1, nsigma=0.6, constant=1.0, exit_ratio=0.5, max_steps=6,
                 rescale="self", std_floor=1e-3, reference=None):
    """The dynamics as the authors' loop runs them: standardise, class statistics from the samples,
    a loop over class pairs, every sample moved, back to the feature space; repeat."""
    x = np.asarray(x, dtype=np.float64).copy()
    if rescale == "self" or reference is not None:
        ref = x if reference is None else np.asarray(reference, dtype=np.float64)
        mean, std = ref.mean(0), ref.std(0)
        std = np.maximum(std, std_floor * (std.mean() if std.mean() > 0 else 1.0))
    else:
        mean, std = np.zeros(x.shape[1]), np.ones(x.shape[1])
    classes = np.unique(y)
    first, steps = None, 0
    for _ in range(max_steps):
        z = (x - mean) / std
        mu = [z[y == c].mean(0) for c in classes]
        radius = [math.sqrt(z[y == c].var(0).sum()) for c in classes]
        move = np.zeros((len(classes), x.shape[1]))
        for i in range(len(classes)):
            for j in range(i + 1, len(classes)):
                delta = mu[i] - mu[j]
                dist = np.linalg.norm(delta)
                overlap = max(nsigma * (radius[i] + radius[j]) - dist, 0.0)
                if dist == 0 or overlap == 0:
                    continue
                shift = min(0.5 * time_step ** 2 * constant * overlap, overlap) * delta / dist
                move[i] += shift
                move[j] -= shift
        change = np.abs(move).sum()
        if first is None:
            first = change
            if first == 0:
                break
        elif change / first <= exit_ratio:
            break
        for row in range(len(y)):
            z[row] += move[np.searchsorted(classes, y[row])]
        x = z * std + mean
        steps += 1
    return x, steps


@pytest.mark.parametrize("opts", [{}, {"time_step": 1.0}, {"nsigma": 2.0, "max_steps": 10},
                                  {"exit_ratio": 0.99}, {"rescale": "none", "constant": 3.0}])
@pytest.mark.parametrize("shape", [(4, 15, 6), (3, 4, 20)])
def test_remap_equals_the_sample_by_sample_simulation(opts, shape):
    k, per_class, d = shape
    x, y = blobs(k=k, per_class=per_class, d=d)
    fast = ped_remap(x, y, **opts)
    slow, _ = explicit_ped(x, y, **opts)
    assert not np.allclose(slow, x)  # the classes overlap, so the dynamics really moved them
    np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-10)


def test_classes_move_rigidly_and_apart():
    x, y = blobs(k=2)
    mapped = ped_remap(x, y, time_step=0.5)
    shift = mapped - x
    for c in (0, 1):
        rows = shift[y == c]
        np.testing.assert_allclose(rows, np.broadcast_to(rows[0], rows.shape), atol=1e-12)
    before = np.linalg.norm(x[y == 0].mean(0) - x[y == 1].mean(0))
    after = np.linalg.norm(mapped[y == 0].mean(0) - mapped[y == 1].mean(0))
    assert after > before + 1e-3


def test_separated_classes_do_not_move():
    x, y = blobs(spread=50.0)
    res = lead_hf.compute_score("ped", x, y, base="transrate")
    assert res.details["steps"] == 0 and res.details["movements"] == [0.0]
    np.testing.assert_array_equal(ped_remap(x, y), x)


def test_early_stop_rule():
    x, y = blobs()
    # a step that removes the whole overlap at once leaves nothing for the second step: stop after one
    res = lead_hf.compute_score("ped", x, y, base="gbc", time_step=10.0, nsigma=0.3)
    assert res.details["steps"] == 1 == _explicit_steps(x, y, time_step=10.0, nsigma=0.3)
    assert res.details["movements"][-1] / res.details["movements"][0] <= 0.5
    # exit_ratio 0: run until max_steps; the default small step never decays below half in 6 steps
    assert lead_hf.compute_score("ped", x, y, base="gbc", exit_ratio=0.0, max_steps=3).details["steps"] == 3
    assert lead_hf.compute_score("ped", x, y, base="gbc").details["steps"] == 6
    assert lead_hf.compute_score("ped", x, y, base="gbc", max_steps=0).details["steps"] == 0


def _explicit_steps(x, y, **opts):
    return explicit_ped(x, y, **opts)[1]


@pytest.mark.parametrize("base, base_options", [("transrate", {}), ("gbc", {"gaussian_type": "spherical"}),
                                                 ("sfda", {"log_probability": False})])
def test_score_is_the_base_score_of_the_remapped_features(base, base_options):
    x, y = blobs()
    expected = lead_hf.score(base, ped_remap(x, y), y, **base_options)
    res = lead_hf.compute_score("ped", x, y, base=base, base_options=base_options)
    assert res.value == pytest.approx(expected, rel=1e-10)
    assert res.details["base"] == base and res.options["base_options"] == base_options
    # the re-mapping changes the value: ped is not a pass-through
    assert res.value != pytest.approx(lead_hf.score(base, x, y, **base_options), rel=1e-6)


def test_base_options_from_a_cli_json_string():
    x, y = blobs()
    opts = {"gaussian_type": "spherical", "pca_dim": 4}
    assert lead_hf.score("ped", x, y, base="gbc", base_options=json.dumps(opts)) == pytest.approx(
        lead_hf.score("ped", x, y, base="gbc", base_options=opts))
    assert lead_hf.score("ped", x, y, base="gbc", base_options="gaussian_type=spherical;pca_dim=4") == \
        pytest.approx(lead_hf.score("ped", x, y, base="gbc", base_options=opts))
    assert PedOptions(base_options="").base_options == {}


def test_base_is_looked_up_at_call_time(monkeypatch):
    # a score registered after ped was imported (as a plugin or a later module would be)
    @dataclass
    class NoOptions:
        pass

    def mean_shift(inputs, opts):
        return float(inputs.features.mean())

    spec = registry.ScoreSpec("late_test_score", mean_shift, NoOptions, False, "test", "test")
    monkeypatch.setitem(registry._REGISTRY, "late_test_score", spec)
    x, y = blobs()
    assert lead_hf.score("ped", x, y, base="late_test_score") == pytest.approx(ped_remap(x, y).mean(), rel=1e-12)


def test_base_needing_source_logits_is_explained(monkeypatch):
    @dataclass
    class NoOptions:
        pass

    spec = registry.ScoreSpec("logit_test_score", lambda inputs, opts: float(inputs.source_logits.sum()),
                              NoOptions, True, "test", "test")
    monkeypatch.setitem(registry._REGISTRY, "logit_test_score", spec)
    x, y = blobs()
    with pytest.raises(ValueError, match="source_logits"):
        lead_hf.score("ped", x, y, base="logit_test_score")
    logits = np.ones((len(y), 3))
    assert lead_hf.score("ped", x, y, base="logit_test_score", source_logits=logits) == pytest.approx(logits.sum())


@pytest.mark.parametrize("opts, match", [
    # every option against its declared constraint: tests/test_score_contract.py; here the base and its options
    ({"base": "no_such_score"}, "available scores"), ({"base": "ped"}, "re-map twice"), ({"base": "PED"}, "re-map"),
    ({"base": "gbc", "base_options": {"gausian_type": "diagonal"}}, "valid options"),
    ({"base_options": "{not json"}, "JSON"), ({"base_options": "[1, 2]"}, "mapping"),
    ({"base_options": "pca_dim"}, "KEY=VALUE"), ({"base_options": "pca_dim=x"}, "pca_dim"),
])
def test_bad_base_and_base_options_are_explained(opts, match):
    x, y = blobs()
    with pytest.raises(ValueError, match=match):
        lead_hf.score("ped", x, y, **{"base": "transrate", **opts})


def test_remap_rejects_bad_options_and_inputs():
    x, y = blobs()
    with pytest.raises(ValueError, match="valid options"):
        ped_remap(x, y, base="gbc")
    with pytest.raises(ValueError, match="labels"):
        ped_remap(x, y[:-1])
    with pytest.raises(ValueError, match="reference has 3 feature dimensions"):
        ped_remap(x, y, reference=np.ones((5, 3)))


def test_reference_features_define_the_simulation_space():
    x, y = blobs()
    general = np.random.default_rng(9).normal(size=(50, x.shape[1])) * 3 + 1
    np.testing.assert_allclose(ped_remap(x, y, reference=general), explicit_ped(x, y, reference=general)[0],
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ped_remap(x, y, reference=x), ped_remap(x, y), rtol=1e-12)
    assert not np.allclose(ped_remap(x, y, reference=general), ped_remap(x, y))


def test_numpy_in_numpy_out_torch_in_torch_out():
    x, y = blobs()
    out = ped_remap(torch.tensor(x, dtype=torch.float32), torch.tensor(y))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    assert isinstance(ped_remap(x, y), np.ndarray)
    np.testing.assert_allclose(out.numpy(), ped_remap(x.astype(np.float32), y), rtol=1e-12)


def test_remap_follows_the_sample_order():
    # the score's invariance to sample order and label names: tests/test_score_contract.py
    x, y = blobs(k=3)
    perm = np.random.default_rng(3).permutation(y.size)
    remapped = ped_remap(x, y)
    np.testing.assert_allclose(ped_remap(x[perm], y[perm]), remapped[perm], rtol=1e-12)


def test_separable_scores_above_noise():
    x, y = blobs(spread=3.0)
    noise = np.random.default_rng(5).normal(size=x.shape)
    for base in ("transrate", "gbc", "sfda"):
        assert lead_hf.score("ped", x, y, base=base) > lead_hf.score("ped", noise, y, base=base)


def test_scale_free_with_self_rescaling():
    x, y = blobs()
    np.testing.assert_allclose(ped_remap(100 * x + 3, y), 100 * ped_remap(x, y) + 3, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("x, y", EDGE_CASES, ids=EDGE_CASE_IDS)
def test_remap_equals_the_explicit_simulation_on_edge_cases(x, y):
    # the score's finiteness there: tests/test_score_contract.py
    mapped = ped_remap(x, y)
    assert np.isfinite(mapped).all()
    np.testing.assert_allclose(mapped, explicit_ped(x, y)[0], rtol=1e-10, atol=1e-10)


def test_default_base_is_logme():
    assert lead_hf.score_options("ped")["base"] == "logme"
    if "logme" not in lead_hf.available_scores():
        pytest.skip("logme is not registered in this checkout")
    x, y = blobs()
    res = lead_hf.compute_score("ped", x, y)
    assert res.details["base"] == "logme"
    assert res.value == pytest.approx(lead_hf.score("logme", ped_remap(x, y), y), rel=1e-10)


def test_rank_cli_style_option_strings():
    # lead-hf rank passes METHOD.OPTION=VALUE strings; every option of ped must survive that route
    x, y = blobs()
    res = lead_hf.compute_score("ped", x, y, base="gbc", time_step="0.5", max_steps="2",
                                base_options='{"pca_dim": 3}')
    assert res.options["time_step"] == 0.5 and res.options["max_steps"] == 2
    mapped = ped_remap(x, y, time_step=0.5, max_steps=2)
    assert res.value == pytest.approx(lead_hf.score("gbc", mapped, y, pca_dim=3))


def test_options_through_the_rank_command_line_route():
    # `lead-hf rank --score-options "..."` reaches the score as one string split on spaces and commas
    from lead_hf.utils.config import options_from
    from lead_hf.rank import RankOptions
    from lead_hf.scores.selection import parse_score_options

    flags = {"scores": "ped,gbc",
             "score_options": "ped.base=gbc ped.base_options=pca_dim=3;gaussian_type=spherical ped.max_steps=2"}
    rank_opts = options_from(RankOptions, flags)
    per_method = parse_score_options(rank_opts.score_options, list(rank_opts.scores))
    x, y = blobs()
    res = lead_hf.compute_score("ped", x, y, **per_method["ped"])
    assert res.options["base_options"] == {"pca_dim": "3", "gaussian_type": "spherical"}
    assert res.details["base_options"]["pca_dim"] == 3 and res.details["steps"] == 2
    assert res.value == pytest.approx(
        lead_hf.score("gbc", ped_remap(x, y, max_steps=2), y, pca_dim=3, gaussian_type="spherical"))
