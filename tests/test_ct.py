"""Curvature Tuning (lead_hf.models.ct): the activation against its formula, the steering of every ReLU form,
the refusal of models with nothing to steer, the cache keys, the rank's rows and table, and the probe."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lead_hf.models.base import ModelRef
from lead_hf.models.ct import (CTActivation, NothingToSteerError, activation_census, ct_relu, ct_relu6, steer,
                               steered_ref)
from lead_hf.utils.steering import check_beta, ct_spec, expand_ct, split_ct_spec


def reference(x: np.ndarray, beta: float, c: float = 0.5) -> np.ndarray:
    """The paper's formula in float64, written out term by term (softplus as logaddexp(0, z))."""
    z = x / (1.0 - beta)
    sigmoid = 0.5 * (1.0 + np.tanh(0.5 * beta * z))  # 1 / (1 + e^-t), without overflowing e^-t
    return c * sigmoid * x + (1.0 - c) * np.logaddexp(0.0, z) * (1.0 - beta)


# -- the function --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99, 0.999])
def test_ct_matches_the_formula_on_a_grid(beta):
    x = np.linspace(-30, 30, 6001)
    got = ct_relu(torch.tensor(x), beta).numpy()
    # softplus is linear past z = 20 (torch's threshold, as in the authors' code): (1 - c)(1 - beta) e^-20 at most
    np.testing.assert_allclose(got, reference(x, beta), rtol=1e-12, atol=0.5 * (1 - beta) * math.exp(-20) + 1e-13)
    got32 = ct_relu(torch.tensor(x, dtype=torch.float32), beta).double().numpy()
    np.testing.assert_allclose(got32, reference(x, beta), rtol=1e-6, atol=1e-5)


def test_beta_zero_is_a_quarter_of_x_plus_half_softplus():
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    torch.testing.assert_close(ct_relu(x, 0.0), 0.25 * x + 0.5 * F.softplus(x), rtol=0, atol=1e-15)


def test_beta_one_is_the_relu_exactly_and_beta_near_one_tends_to_it():
    x = torch.linspace(-10, 10, 2001, dtype=torch.float64)
    assert torch.equal(ct_relu(x, 1.0), torch.relu(x))
    assert torch.equal(ct_relu6(x, 1.0), F.relu6(x))
    gaps = [float((ct_relu(x, b) - torch.relu(x)).abs().max()) for b in (0.9, 0.99, 0.999, 0.9999)]
    assert all(a > b for a, b in zip(gaps, gaps[1:])) and gaps[-1] < 1e-3
    # the largest gap sits at x = 0, where CT = (1 - c)(1 - beta) log 2
    assert float(ct_relu(torch.zeros(1, dtype=torch.float64), 0.99)) == pytest.approx(0.5 * 0.01 * math.log(2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.99, 0.999999])
def test_no_overflow_at_large_magnitudes(dtype, beta):
    x = torch.tensor([-1e30, -1e6, -50.0, 50.0, 1e6, 1e30], dtype=dtype)
    y, y6 = ct_relu(x, beta), ct_relu6(x, beta)
    assert torch.isfinite(y).all() and torch.isfinite(y6).all()
    if beta == 0.0:  # the gate is sigmoid(0) = 1/2 everywhere: CT_0(x) -> 3x/4 on the right, x/4 on the left
        torch.testing.assert_close(y[[0, 1, -2, -1]], torch.tensor([0.25, 0.25, 0.75, 0.75], dtype=dtype)
                                   * x[[0, 1, -2, -1]], rtol=1e-6, atol=0)
        return
    # beta > 0: far right CT is x (both branches tend to x); far left it vanishes
    assert float(y[-1]) == pytest.approx(float(x[-1]), rel=1e-6) and float(y[-2]) == pytest.approx(1e6, rel=1e-6)
    assert abs(float(y[0])) < 1e-6 and abs(float(y[1])) < 1e-6
    assert float(y6[-1]) == pytest.approx(6.0) and abs(float(y6[0])) < 1e-6


def test_gradients_are_finite_and_the_module_has_no_parameters():
    x = torch.linspace(-40, 40, 401, dtype=torch.float64, requires_grad=True)
    ct_relu(x, 0.9).sum().backward()
    assert torch.isfinite(x.grad).all() and float(x.grad[-1]) == pytest.approx(1.0)
    m = CTActivation(0.8, "relu6")
    assert list(m.parameters()) == [] and "kind=relu6, beta=0.8" in repr(m)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        CTActivation(1.5)


# -- names and bad input -------------------------------------------------------------------------------------

def test_spec_names_round_trip_and_beta_one_is_the_model_itself():
    assert ct_spec("zoo:a", 0.9) == "zoo:a@ct=0.9" and ct_spec("zoo:a", 1) == "zoo:a"
    assert split_ct_spec("zoo:a@ct=0.95") == ("zoo:a", 0.95) and split_ct_spec("zoo:a") == ("zoo:a", None)
    assert expand_ct(["a", "b"], (0.8, 1.0)) == ["a@ct=0.8", "a", "b@ct=0.8", "b"]
    assert expand_ct(["a"], ()) == ["a"]
    for bad in ("zoo:a@ct=1.5", "zoo:a@ct=-0.1", "zoo:a@ct=x", "zoo:a@ct=nan"):
        with pytest.raises(ValueError, match=r"number in \[0, 1\]"):
            split_ct_spec(bad)
    with pytest.raises(ValueError, match="steered already"):
        expand_ct(["a@ct=0.9"], (0.8,))
    with pytest.raises(ValueError):
        check_beta(True)


@pytest.mark.parametrize("betas, why", [((1.5,), r"\[0, 1\]"), ((-0.1,), r"\[0, 1\]"), ((0.9, 0.9), "distinct"),
                                        ((0.9, 0.8, 0.9), "distinct")])
def test_bad_betas_are_refused_by_the_options(betas, why):
    from lead_hf.finetune import FinetuneOptions
    from lead_hf.rank import RankOptions
    from lead_hf.utils.constraints import OptionError

    for cls in (RankOptions, FinetuneOptions):
        with pytest.raises(OptionError, match="ct_betas must be.*" + why):
            cls(ct_betas=betas)


def test_bad_betas_on_the_command_line_fail_before_any_work(tmp_path, capsys):
    from lead_hf.cli import main

    for argv, said in ((["--ct-betas", "0.9", "1.2"], "--ct-betas must be"), (["--ct-betas", "0.9,0.9"], "distinct")):
        assert main(["rank", "zoo:mobilenetv2_100.in1k", "--output-dir", str(tmp_path / "out"), *argv]) == 2
        assert said in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# -- steering a model ----------------------------------------------------------------------------------------

class EveryForm(nn.Module):
    """A body with every ReLU form CT steers (module, in-place module, functional, in-place functional,
    Tensor methods, ReLU6 as a module and as functions) and two it leaves (GELU module, SiLU functional)."""

    def __init__(self, width: int = 6):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.relu6 = nn.ReLU6()
        self.gelu = nn.GELU()
        self.lin = nn.Linear(width, width)

    def forward(self, x):
        x = self.relu(self.conv(x))
        x = F.relu(x - 0.5) + torch.relu(x + 0.1)
        y = x - 0.3
        y.relu_()                              # in place: the caller reads y, not the result
        x = y + F.relu6(x * 3) + F.hardtanh(x, 0.0, 6.0) + self.relu6(x)
        x = x.mean(dim=(2, 3))
        x = self.gelu(self.lin(x)) + F.silu(x) + (x - 1).relu()
        return x


def _every_form_ref(name="test:every-form", body=EveryForm, seed=0) -> ModelRef:
    from lead_hf.models.base import ZooNet
    from lead_hf.models.loaders import torch_module_loaded

    cfg = {"input_size": [3, 8, 8]}

    def load():
        torch.manual_seed(seed)
        net = ZooNet(body(), nn.Linear(6, 4)).eval()
        return torch_module_loaded(name, net, "rev0", 6, 4, lambda img: torch.zeros(3, 8, 8), cfg)

    return ModelRef(name, "torch", "rev0", None, cfg, load)


def test_census_counts_every_form_and_what_it_leaves():
    census = activation_census(_every_form_ref().load())
    assert census["steered"] == {"ReLU (module)": 1, "ReLU6 (module)": 1, "relu (functional)": 3,
                                 "relu_ (functional, in place)": 1, "relu6 (functional)": 2}
    assert census["not_steered"] == {"GELU (module)": 1, "silu (functional)": 1}


def test_steering_replaces_every_relu_form_and_matches_a_hand_written_ct():
    beta = 0.8
    x = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    plain = _every_form_ref().load()
    steered = steered_ref(_every_form_ref(), beta)
    assert steered.name == "test:every-form@ct=0.8" and steered.steering["beta"] == beta and steered.hub_id is None
    model = steered.load()
    assert sum(isinstance(m, CTActivation) for m in model.module.modules()) == 2
    assert not any(type(m) in (nn.ReLU, nn.ReLU6) for m in model.module.modules())

    def by_hand(net, x):  # EveryForm with each ReLU form written as CT by hand
        b = net.body
        ct, ct6 = (lambda t: ct_relu(t, beta)), (lambda t: ct_relu6(t, beta))
        h = ct(b.conv(x))
        h = ct(h - 0.5) + ct(h + 0.1)
        y = ct(h - 0.3)
        h = y + ct6(h * 3) + ct6(h) + ct6(h)
        h = h.mean(dim=(2, 3))
        return b.gelu(b.lin(h)) + F.silu(h) + ct(h - 1)

    with torch.no_grad():
        feats, logits = model(x)
        expected = by_hand(plain.module, x)
        torch.testing.assert_close(feats, expected, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(logits, plain.module.classifier(expected), rtol=1e-5, atol=1e-6)
        # called whole (as fine-tuning does), the functional forms are steered as well
        torch.testing.assert_close(model.module(x), plain.module.classifier(expected), rtol=1e-5, atol=1e-6)
        assert not torch.allclose(plain(x)[0], feats)
    # the mode is off outside the model: relu is relu again
    assert torch.equal(torch.relu(torch.tensor([-1.0, 2.0])), torch.tensor([0.0, 2.0]))


def test_steered_model_trains_and_in_place_forms_keep_autograd_working():
    model = steered_ref(_every_form_ref(), 0.7).load()
    model.module.train()
    x = torch.randn(4, 3, 8, 8)
    loss = model.module(x).pow(2).mean()
    loss.backward()
    grads = [p.grad for p in model.module.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_beta_one_gives_the_unsteered_features_exactly():
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    ref = _every_form_ref()
    assert steered_ref(ref, 1.0) is ref
    plain, again = ref.load(), ref.load()
    same, census = steer(again, 1.0)
    assert same is again and census["steered"]
    with torch.no_grad():
        assert torch.equal(plain(x)[0], same(x)[0]) and torch.equal(plain(x)[1], same(x)[1])
        near = steered_ref(ref, 0.99999).load()(x)[0]
    torch.testing.assert_close(near, plain(x)[0], rtol=1e-4, atol=1e-4)


def test_a_model_is_not_steered_twice():
    loaded = _every_form_ref().load()
    steer(loaded, 0.9)
    with pytest.raises(ValueError, match="steered already"):
        steer(loaded, 0.8)
    with pytest.raises(ValueError, match="steered already"):
        steered_ref(steered_ref(_every_form_ref(), 0.9), 0.8)


class SmoothOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.act = nn.GELU()

    def forward(self, x):
        return F.silu(self.act(self.conv(x))).mean(dim=(2, 3))


def test_a_model_without_relu_is_refused_naming_what_it_has():
    with pytest.raises(NothingToSteerError, match=r"no ReLU or ReLU6.*1 x GELU \(module\), 1 x silu \(functional\)"):
        steered_ref(_every_form_ref("test:smooth", SmoothOnly), 0.9).load()


def test_timm_models_are_steered_through_forward_features(tmp_path):
    import timm

    from lead_hf.models import resolve_model
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = timm.create_model("test_resnet", pretrained=False, num_classes=5)
    path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    spec = f"timm:test_resnet@{path}"
    plain, steered = resolve_model(spec).load(), resolve_model(f"{spec}@ct=0.7").load()
    assert steered.name == plain.name + "@ct=0.7"  # the stable name of the plain model, then beta
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(plain(x)[0], steered(x)[0])
        torch.testing.assert_close(steered(x)[1], steered.module(x))  # forward_head path = whole call


# -- the extraction cache --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    import datasets
    from PIL import Image

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 8)
    imgs = [Image.fromarray(np.clip(rng.normal(60 + 70 * y, 30, (16, 16, 3)), 0, 255).astype(np.uint8))
            for y in labels]
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"])})
    folder = tmp_path_factory.mktemp("ctdata") / "data"
    ds = datasets.Dataset.from_dict({"image": imgs, "label": labels.tolist()}, features=feats)
    datasets.DatasetDict({"train": ds, "test": ds}).save_to_disk(str(folder))
    return str(folder)


@pytest.fixture(scope="module")
def tiny_timm(tmp_path_factory):
    import timm

    root = tmp_path_factory.mktemp("cttimm")
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", pretrained=False, num_classes=5).eval()
    timm.models.save_for_hf(model, str(root / "m"), safe_serialization=True,
                            model_config={"pretrained_cfg": {**model.pretrained_cfg, "input_size": (3, 32, 32)}})
    return f"local-dir:{root / 'm'}"


def test_cache_keys_include_beta_and_beta_one_reuses_the_plain_entry(tiny_timm, tiny_data, tmp_path):
    from lead_hf.extract import ExtractOptions, extract

    opts = ExtractOptions(cache_dir=str(tmp_path), num_workers=0, progress=False, batch_size=8)
    plain = extract(tiny_timm, tiny_data, opts)
    one = extract(f"{tiny_timm}@ct=1", tiny_data, opts)
    assert one.from_cache and one.cache_path == plain.cache_path
    a, b = extract(f"{tiny_timm}@ct=0.8", tiny_data, opts), extract(f"{tiny_timm}@ct=0.9", tiny_data, opts)
    assert len({plain.cache_path, a.cache_path, b.cache_path}) == 3 and not a.from_cache
    assert not np.allclose(a.features, plain.features) and not np.allclose(a.features, b.features)
    assert extract(f"{tiny_timm}@ct=0.8", tiny_data, opts).from_cache  # found again
    manifest = json.loads((a.cache_path / "manifest.json").read_text())
    assert manifest["provenance"]["model"]["name"].endswith("@ct=0.8")


# -- the rank ----------------------------------------------------------------------------------------------

def _rank_opts(tiny_timm, tiny_data, tmp_path, **kw):
    from lead_hf.rank import RankOptions

    base = dict(models=(tiny_timm,), dataset=tiny_data, cache_dir=str(tmp_path / "cache"), num_workers=0,
                progress=False, batch_size=8, max_per_class=None, output_dir=str(tmp_path / "out"),
                scores=("lead", "logme", "leep"), ct_betas=(0.7, 0.9, 1.0),
                score_options=("lead.head_widths=16,16", "lead.samples_per_class=4"))
    base.update(kw)
    return RankOptions(**base)


def test_rank_has_a_row_per_model_and_beta_and_a_ct_table(tiny_timm, tiny_data, tmp_path):
    from lead_hf.rank import rank_models
    from lead_hf.results import ct as ct_results
    from lead_hf.results.report import chart_png, markdown_report, terminal_table
    from lead_hf.results.schema import RankingResults
    from lead_hf.results.store import save_ranking

    results = rank_models(_rank_opts(tiny_timm, tiny_data, tmp_path), log=lambda m: None)
    rows = {m.model: m for m in results.models}
    assert list(rows) == [f"{tiny_timm}@ct=0.7", f"{tiny_timm}@ct=0.9", tiny_timm]
    assert [m.ct_beta for m in results.models] == [0.7, 0.9, 1.0]
    assert all(m.status == "ok" for m in results.models)
    import timm
    net = timm.create_model("test_resnet", pretrained=False)
    places = sum(isinstance(c, nn.ReLU) for p in net.modules() for c in p.children())
    assert rows[f"{tiny_timm}@ct=0.7"].ct_activations["steered"] == {"ReLU (module)": places}
    assert rows[tiny_timm].ct_activations is None and rows[f"{tiny_timm}@ct=0.7"].hub_id is None
    [group] = ct_results.model_betas(results)
    assert group.model == tiny_timm and list(group.rows) == [0.7, 0.9, 1.0]
    for method, pref in group.preferences.items():
        values = {b: r.scores[method] for b, r in group.rows.items()}
        assert pref.best_value == max(values.values()) and pref.plain_value == values[1.0]
    table = terminal_table(results)
    assert "Curvature Tuning: the beta each score prefers" in table and "0.7,0.9,1.0" in table
    assert "## Curvature Tuning" in markdown_report(results)
    assert chart_png(results)[:8] == b"\x89PNG\r\n\x1a\n"
    saved, _ = save_ranking(results, tmp_path / "out" / "x", log=lambda m: None)
    again = RankingResults.load(tmp_path / "out" / "x")
    assert [m.ct_beta for m in again.models] == [0.7, 0.9, 1.0]
    # a plain rank of the same model later replaces the beta = 1 row only (ct_beta null: unsteered)
    plain = rank_models(_rank_opts(tiny_timm, tiny_data, tmp_path, ct_betas=()), log=lambda m: None)
    assert plain.models[0].ct_beta is None
    merged, _ = save_ranking(plain, tmp_path / "out" / "x", log=lambda m: None)
    assert sorted(m.model for m in merged.models) == sorted(rows)
    assert ct_results.model_betas(merged)[0].rows[1.0].ct_beta is None


def test_rank_refuses_a_model_with_nothing_to_steer_before_any_work(tiny_data, tmp_path, monkeypatch):
    import lead_hf.extract.loop as loop
    from lead_hf.rank import rank_models

    ran = []
    monkeypatch.setattr(loop, "_extract_locked", lambda *a, **k: ran.append(a))
    ref = _every_form_ref("test:smooth-only", SmoothOnly)
    import lead_hf.models as models
    import lead_hf.models.loaders as loaders
    real = loaders.resolve_model
    fake = lambda spec: ref if spec == "test:smooth-only" else real(spec)  # noqa: E731
    # both names: rank's check imports lead_hf.models.resolve_model, a steered spec resolves its base by loaders'
    monkeypatch.setattr(loaders, "resolve_model", fake)
    monkeypatch.setattr(models, "resolve_model", fake)
    with pytest.raises(NothingToSteerError, match="test:smooth-only.*GELU"):
        rank_models(_rank_opts("test:smooth-only", tiny_data, tmp_path), log=lambda m: None)
    assert ran == [] and not (tmp_path / "cache" / "extract").exists()


def test_ct_summary_with_ground_truth_gives_each_scores_regret():
    from lead_hf.results import ct as ct_results
    from lead_hf.results.schema import DatasetInfo, ModelResult, RankingResults

    def row(beta, lead, logme, acc):
        name = ct_spec("m", beta)
        return ModelResult(model=name, ct_beta=beta, scores={"lead": lead, "logme": logme}, finetune_accuracy=acc)

    results = RankingResults(dataset=DatasetInfo(id="d", split="train"), scores=["lead", "logme"], primary="lead",
                             models=[row(0.7, -1.0, 0.5, 0.80), row(0.9, -1.2, 0.2, 0.90), row(1.0, -1.1, 0.1, 0.85)])
    [g] = ct_results.model_betas(results)
    assert g.best_accuracy_beta == 0.9 and g.accuracy_gain == pytest.approx(0.05)
    assert g.preferences["lead"].best_beta == 0.7 and g.preferences["lead"].regret == pytest.approx(0.10)
    assert g.preferences["lead"].steered_wins
    header, rows = ct_results.table_rows(results)
    assert header[-2:] == ["best beta (acc)", "acc gain"] and rows[0][2] == "0.7 (+0.1000) r=0.100"
    assert rows[0][-3] == "2/2 scores"


# -- the probe protocol --------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", ["ct-probe", "ct-probe-adam"])
def test_probe_protocol_on_a_tiny_model(protocol, tiny_timm, tiny_data, tmp_path):
    from lead_hf.finetune import PROTOCOLS, FinetuneOptions, finetune

    assert protocol in PROTOCOLS
    opts = FinetuneOptions.preset(protocol, dataset=tiny_data, train_split="train", test_split="test",
                                  train_per_class=None, test_per_class=None, image_size=32, cache_dir=str(tmp_path),
                                  epochs=2, num_threads=1)
    plain = finetune(tiny_timm, options=opts, log=lambda m: None)
    steered = finetune(f"{tiny_timm}@ct=0.8", options=opts, log=lambda m: None)
    assert 0.0 <= plain.accuracy <= 1.0 and 0.0 <= steered.accuracy <= 1.0
    assert steered.model == f"{tiny_timm}@ct=0.8" and plain.trained >= 1 and steered.trained >= 1
    assert {r["key"] for r in plain.runs}.isdisjoint(r["key"] for r in steered.runs)
    assert steered.runs[0]["protocol"]["steering"]["beta"] == 0.8 and "steering" not in plain.runs[0]["protocol"]
    assert plain.runs[0]["protocol"]["trainer"] == opts.trainer
    again = finetune(f"{tiny_timm}@ct=0.8", options=opts, log=lambda m: None)
    assert again.trained == 0 and again.accuracy == steered.accuracy
    if protocol == "ct-probe":
        assert len(plain.runs) == 1 and plain.runs[0]["converged"]
    else:
        assert len(plain.runs) == 3  # 3 seeds


def test_probe_equals_a_logistic_regression_on_the_extracted_features(tiny_timm, tiny_data, tmp_path):
    from sklearn.linear_model import LogisticRegression

    from lead_hf.extract import ExtractOptions, extract
    from lead_hf.finetune import FinetuneOptions, finetune
    from lead_hf.models.preprocessing import resized_ref

    opts = FinetuneOptions.preset("ct-probe", dataset=tiny_data, train_split="train", test_split="test",
                                  train_per_class=None, test_per_class=None, image_size=32, cache_dir=str(tmp_path))
    res = finetune(f"{tiny_timm}@ct=0.8", options=opts, log=lambda m: None)
    ex = ExtractOptions(cache_dir=str(tmp_path), num_workers=0, progress=False, batch_size=8, channels_last=False)
    train = extract(resized_ref(f"{tiny_timm}@ct=0.8", 32), tiny_data, ex)
    test = extract(resized_ref(f"{tiny_timm}@ct=0.8", 32), tiny_data, ExtractOptions(**{**ex.__dict__, "split": "test"}))
    lr = LogisticRegression(max_iter=10000).fit(train.features.astype(np.float64), train.labels)
    assert res.accuracy == pytest.approx(lr.score(test.features.astype(np.float64), test.labels), abs=1.5 / len(test.labels))


def test_the_probe_refuses_text_models_and_cli_finetune_expands_betas(tiny_timm, tiny_data, tmp_path, capsys):
    from lead_hf.cli import main

    out = tmp_path / "ft.json"
    code = main(["finetune", tiny_timm, "--dataset", tiny_data, "--train-per-class", "none", "--test-per-class",
                 "none", "--image-size", "32", "--trainer", "linear-probe", "--learning-rates", "1.0", "--ct-betas",
                 "0.8", "1", "--cache-dir", str(tmp_path), "--output", str(out)])
    assert code == 0
    models = [r["model"] for r in json.loads(out.read_text())["results"]]
    assert models == [f"{tiny_timm}@ct=0.8", tiny_timm]


def test_ct6_is_the_difference_of_two_cts_and_symmetric_about_three():
    x = torch.linspace(-40, 46, 8601, dtype=torch.float64)
    for beta in (0.0, 0.5, 0.9, 0.99):
        # up to softplus's linear cut past z = 20, which the two ways of writing it meet at other points
        tol = 2 * (1 - beta) * math.exp(-20) + 1e-12
        torch.testing.assert_close(ct_relu6(x, beta), ct_relu(x, beta) - ct_relu(x - 6, beta), rtol=0, atol=tol)
        torch.testing.assert_close(ct_relu6(x, beta), 6 - ct_relu6(6 - x, beta), rtol=0, atol=tol)


def test_ct_betas_from_yaml_and_flags(tmp_path):
    from lead_hf.rank import RankOptions
    from lead_hf.utils.config import load_yaml, options_from
    from lead_hf.utils.constraints import OptionError

    cfg = tmp_path / "rank.yaml"
    cfg.write_text("models: [zoo:mobilenetv2_100.in1k]\nct_betas: [0.7, 0.9, 1]\n")
    assert options_from(RankOptions, load_yaml(cfg)).ct_betas == (0.7, 0.9, 1.0)
    assert options_from(RankOptions, load_yaml(cfg), {"ct_betas": "0.8,1"}).ct_betas == (0.8, 1.0)
    with pytest.raises(OptionError, match="ct_betas"):
        options_from(RankOptions, {"ct_betas": "0.8,0.8"})


def test_lead_copes_with_the_tiny_values_of_steered_dead_units():
    """A ReLU unit dead on every sample gives 0; steered, it gives values down to float32's subnormals
    (CT_beta(x) for x << 0). LEAD's probe standardises every column and takes float32 Gram products, in which
    such columns are noise: they count as constant now; they made the Gram indefinite (LinAlgError).
    The fixture: 100 digits of zoo:cifar10_cnn.keras@ct=0.95's features, 4 live columns and 20 such ones."""
    from pathlib import Path

    import lead_hf
    import lead_hf.scores._probe as probe

    data = np.load(Path(__file__).parent / "fixtures" / "ct_dead_units.npz")
    features, labels = data["features"], data["labels"]
    dead = features[:, 4:]
    assert np.abs(dead).max() < 1e-13 and (dead != 0).any()
    value = lead_hf.score("lead", features, labels)
    assert np.isfinite(value)
    assert value == pytest.approx(lead_hf.score("lead", features[:, :4], labels), abs=0.01)
    floor = probe.VARIANCE_FLOOR["float32"]
    try:  # without the floor: the failure this guards against
        probe.VARIANCE_FLOOR["float32"] = 0.0
        with pytest.raises(RuntimeError, match="positive definite"):
            lead_hf.score("lead", features, labels)
    finally:
        probe.VARIANCE_FLOOR["float32"] = floor
