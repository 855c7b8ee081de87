"""The evaluate metric metrics/lead and its installer lead_hf.evaluate_metric.install.

In-process tests load the metric by path into a temporary module cache; the bare-name and two-process
tests run real subprocesses with a temporary HF_HOME, so the developer's own caches are never read.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import lead_hf
from lead_hf.evaluate_metric import install as metric_install
from lead_hf.evaluate_metric import support as metric_support
from lead_hf.scores import registry
from lead_hf.scores.lead import LeadOptions

from helpers import within_ulps

evaluate = pytest.importorskip("evaluate")

REPO = Path(__file__).resolve().parents[1]
METRIC_DIR = REPO / "metrics" / "lead"
SMALL = {"head_widths": (32, 32), "samples_per_class": 8}  # LEAD options that keep each call ~0.1 s


def make_data(n_per_class=15, k=3, d=12, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(k), n_per_class)
    rng.shuffle(labels)
    feats = rng.normal(size=(labels.size, d)) + 1.5 * np.eye(k, d)[labels]
    return feats, labels


def expected(features, labels, method="lead", **options):
    return lead_hf.compute_score(method, features, labels, **options).value


@pytest.fixture(scope="module")
def modules_cache(tmp_path_factory):
    """evaluate's module cache redirected to a temporary folder for this file's in-process loads."""
    if "evaluate_modules" in sys.modules:  # another test loaded a module already: its package path is fixed
        yield Path(evaluate.config.HF_MODULES_CACHE)
        return
    path = tmp_path_factory.mktemp("hf_modules")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evaluate.config, "HF_MODULES_CACHE", path)
        yield path


@pytest.fixture
def metric(modules_cache, tmp_path):
    return evaluate.load(str(METRIC_DIR), cache_dir=str(tmp_path / "metric_data"))


# --- values -------------------------------------------------------------------------------------------

def test_loader_picks_the_lead_class(metric):
    assert type(metric).__name__ == "Lead" and metric.name == "lead"
    assert "Hu" in metric.citation and "CVPR" in metric.citation


def test_value_equals_compute_score(metric):
    x, y = make_data()
    out = metric.compute(predictions=x, references=y, **SMALL)
    assert out["lead"] == within_ulps(expected(x, y, **SMALL))
    assert (out["method"], out["num_samples"], out["num_classes"], out["feature_dim"]) == ("lead", 45, 3, 12)
    # the options echo what was passed, and the library's default for what was not
    assert out["options"]["head_widths"] == (32, 32) and out["options"]["t"] == LeadOptions().t
    assert 0.0 <= out["details"]["svm_accuracy"] <= 1.0 and out["seconds"] >= 0
    json.dumps(out)  # evaluate.save writes results as JSON


def test_float32_torch_and_list_inputs_match(metric):
    x, y = make_data(seed=1)
    x32 = x.astype(np.float32)
    ref = expected(x32, y, **SMALL)
    assert metric.compute(predictions=x32, references=y, **SMALL)["lead"] == within_ulps(ref)
    tensors = metric.compute(predictions=torch.from_numpy(x32), references=torch.from_numpy(y), **SMALL)
    assert tensors["lead"] == within_ulps(ref)
    assert metric.compute(predictions=x32.tolist(), references=y.tolist(), **SMALL)["lead"] == within_ulps(ref)


def test_string_labels(metric):
    x, y = make_data(seed=2)
    names = np.array(["cat", "dog", "emu"])[y]
    out = metric.compute(predictions=x, references=list(names), **SMALL)
    assert out["lead"] == within_ulps(expected(x, names, **SMALL))
    # the sorted names give the same class order as the integer codes, hence the same score
    assert out["lead"] == within_ulps(expected(x, y, **SMALL))
    digits = [str(v) for v in y]  # digit strings stay strings (not cast to int)
    out = metric.compute(predictions=x, references=digits, **SMALL)
    assert out["lead"] == within_ulps(expected(x, digits, **SMALL))


def test_integer_valued_float_labels(metric):
    x, y = make_data(seed=3)
    out = metric.compute(predictions=x, references=y.astype(float), **SMALL)
    assert out["lead"] == within_ulps(expected(x, y, **SMALL))


def test_device_is_forwarded(metric):
    x, y = make_data()
    out = metric.compute(predictions=x, references=y, device="cpu", **SMALL)
    assert out["lead"] == within_ulps(expected(x, y, **SMALL))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            metric.compute(predictions=x, references=y, device="cuda", **SMALL)


# --- options ------------------------------------------------------------------------------------------

def test_options_are_forwarded(metric):
    x, y = make_data(seed=4)
    base = metric.compute(predictions=x, references=y, **SMALL)["lead"]
    out = metric.compute(predictions=x, references=y, t=0.25, seed=3, **SMALL)
    assert out["lead"] == within_ulps(expected(x, y, t=0.25, seed=3, **SMALL))
    assert out["lead"] != base
    assert out["options"]["t"] == 0.25 and out["options"]["seed"] == 3


def test_unknown_option_gives_the_registry_error(metric):
    x, y = make_data()
    message = r"unknown option\(s\) tt for score 'lead'; valid options: .*samples_per_class"
    with pytest.raises(ValueError, match=message):
        metric.compute(predictions=x, references=y, tt=2.0)
    with pytest.raises(ValueError, match=r"^lead\.t must be a finite number >= 0, got 'soon'$"):
        metric.compute(predictions=x, references=y, t="soon")


def _register(monkeypatch, name, fn, needs_source_logits=False):
    from dataclasses import make_dataclass
    opts = make_dataclass(f"{name}_options", [("scale", float, 1.0)])
    spec = registry.ScoreSpec(name, fn, opts, needs_source_logits, "test score", "none")
    monkeypatch.setitem(registry._REGISTRY, name, spec)


def test_method_selects_another_score(metric, monkeypatch):
    # a throwaway score, so the test does not depend on which baselines exist yet
    _register(monkeypatch, "test_spread", lambda inp, o: o.scale * float(inp.features.std()) + inp.num_classes)
    x, y = make_data(seed=5)
    out = metric.compute(predictions=x, references=y, method="test_spread", scale=2.0)
    assert out["method"] == "test_spread" and "lead" not in out
    assert out["test_spread"] == pytest.approx(2.0 * x.std(ddof=1) + 3, rel=1e-12)
    assert "test_spread" in metric_support.scores_without_logits()


@pytest.mark.parametrize("method", [m for m in metric_support.scores_without_logits() if m != "lead"])
def test_every_registered_score_matches_compute_score(metric, method):
    x, y = make_data(n_per_class=12, seed=6)
    out = metric.compute(predictions=x, references=y, method=method)
    assert out[method] == within_ulps(expected(x, y, method=method))


def test_scores_needing_logits_are_refused(metric, monkeypatch):
    _register(monkeypatch, "test_needs_logits", lambda inp, o: 0.0, needs_source_logits=True)
    x, y = make_data()
    with pytest.raises(ValueError, match="needs the source model's logits.*lead_hf.score"):
        metric.compute(predictions=x, references=y, method="test_needs_logits")
    with pytest.raises(ValueError, match="does not collect"):
        metric.compute(predictions=x, references=y, source_logits=x)
    with pytest.raises(ValueError, match="unknown score 'nope'"):
        metric.compute(predictions=x, references=y, method="nope")


def test_data_free_scores_are_refused_and_not_offered(metric):
    # num_params and flops read the model's size, which a metric over (features, labels) never sees
    x, y = make_data()
    with pytest.raises(ValueError, match="reads no data, only the model's size.*lead_hf.score"):
        metric.compute(predictions=x, references=y, method="num_params")
    offered = metric_support.scores_without_logits()
    assert "num_params" not in offered and "flops" not in offered and "logme" in offered


# --- accumulation -------------------------------------------------------------------------------------

def test_add_batch_and_add_equal_one_shot(metric):
    x, y = make_data(seed=7)
    for start in range(0, 40, 8):
        metric.add_batch(predictions=x[start:start + 8], references=y[start:start + 8])
    for i in range(40, len(y)):
        metric.add(prediction=x[i], reference=int(y[i]))
    assert metric.compute(**SMALL)["lead"] == within_ulps(expected(x, y, **SMALL))
    # a second round on the same instance starts from scratch
    metric.add_batch(predictions=x[:30], references=y[:30])
    assert metric.compute(**SMALL)["lead"] == within_ulps(expected(x[:30], y[:30], **SMALL))


def test_keep_in_memory(modules_cache):
    m = evaluate.load(str(METRIC_DIR), keep_in_memory=True)
    x, y = make_data(seed=8)
    m.add_batch(predictions=x[:20], references=y[:20])
    m.add_batch(predictions=x[20:], references=y[20:])
    assert m.compute(**SMALL)["lead"] == within_ulps(expected(x, y, **SMALL))


# --- bad input: lead_hf's messages, before Arrow --------------------------------------------------------

@pytest.mark.parametrize("predictions, references, message", [
    (np.zeros(6), [0, 1, 0, 1, 0, 1], r"predictions must be 2-D .*reshape\(-1, 1\)"),
    (np.zeros((6, 2, 2)), [0, 1, 0, 1, 0, 1], "flatten or pool"),
    (np.array([[0.0, np.nan]] * 6), [0, 1, 0, 1, 0, 1], "NaN/inf"),
    (np.zeros((6, 2)), [0, 1, 0], "same samples in the same order"),
    (np.zeros((6, 2)), [0.5, 1, 0, 1, 0, 1], "non-integer floats"),
    (np.zeros((6, 2)), [0, None, 0, 1, 0, 1], "None"),
    ([["a", "b"]] * 6, [0, 1, 0, 1, 0, 1], "real numbers"),
    (np.zeros((0, 2)), [], "0 samples"),
    (None, [0, 1], "predictions missing"),
    (np.zeros((2, 2)), [(1, 2), (3, 4)], "labels must be 1-D"),
])
def test_bad_batches_fail_with_clear_errors(metric, predictions, references, message):
    with pytest.raises(ValueError, match=message):
        metric.add_batch(predictions=predictions, references=references)


def test_mixed_label_types_across_batches(metric):
    x, y = make_data()
    metric.add_batch(predictions=x[:10], references=y[:10])
    with pytest.raises(ValueError, match="strings but earlier batches held integers"):
        metric.add_batch(predictions=x[10:], references=[str(v) for v in y[10:]])


def test_feature_dim_change_between_batches(metric):
    x, y = make_data()
    metric.add_batch(predictions=x[:20], references=y[:20])
    metric.add_batch(predictions=x[20:, :5], references=y[20:])
    with pytest.raises(ValueError, match=r"different lengths \[5, 12\]"):
        metric.compute()


def test_add_needs_one_row(metric):
    with pytest.raises(ValueError, match="one feature row"):
        metric.add(prediction=np.zeros((2, 3)), reference=0)


def test_split_level_errors_come_from_validation(metric):
    x, _ = make_data()
    with pytest.raises(ValueError, match="single class"):
        metric.compute(predictions=x, references=np.zeros(len(x), dtype=int))


def test_column_conversion_handles_sliced_arrow_chunks():
    pa = pytest.importorskip("pyarrow")
    x = np.arange(24, dtype=float).reshape(8, 3)
    chunked = pa.chunked_array([pa.array(x[:5].tolist()).slice(2), pa.array(x[5:].tolist())])
    np.testing.assert_array_equal(metric_support.column_to_matrix(chunked), x[2:])
    with pytest.raises(ValueError, match="missing row"):
        metric_support.column_to_matrix(pa.chunked_array([pa.array([[1.0], None])]))


# --- installer ----------------------------------------------------------------------------------------

def test_install_is_idempotent_and_found_by_evaluates_cache_loader(tmp_path):
    from evaluate.loading import CachedEvaluationModuleFactory

    first = metric_install.install_metric(modules_cache=str(tmp_path))
    assert first.changed and first.path.read_bytes() == (METRIC_DIR / "lead.py").read_bytes()
    second = metric_install.install_metric(modules_cache=str(tmp_path))
    assert not second.changed and second.hash == first.hash
    found = CachedEvaluationModuleFactory(
        "evaluate-metric--lead", dynamic_modules_path=str(tmp_path / "evaluate_modules")).get_module()
    assert found.hash == first.hash
    assert found.module_path == f"evaluate_modules.metrics.evaluate-metric--lead.{first.hash}.lead"
    meta = json.loads((first.path.parent / "lead.json").read_text())
    assert meta["local file path"] == str(first.path)
    leftovers = [p.name for p in first.path.parent.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_install_hash_is_evaluates_own(metric):
    result = metric_install.install_metric(modules_cache=str(evaluate.config.HF_MODULES_CACHE))
    assert metric._hash == result.hash  # the path load and the cached copy are the same version


def test_check_detects_missing_stale_and_damaged_copies(tmp_path, capsys):
    ok, why = metric_install.check_metric(modules_cache=str(tmp_path))
    assert not ok and "not installed" in why
    assert metric_install.main(["--check", "--modules-cache", str(tmp_path)]) == 1
    assert metric_install.main(["--modules-cache", str(tmp_path)]) == 0
    assert "installed: evaluate metric 'lead'" in capsys.readouterr().out
    assert metric_install.check_metric(modules_cache=str(tmp_path))[0]

    # an older version installed later (newer mtime) would win the loader's choice
    result = metric_install.install_metric(modules_cache=str(tmp_path))
    stale = result.path.parent.parent / ("0" * 64)
    stale.mkdir()
    (stale / "lead.py").write_text("# old version\n")
    ok, why = metric_install.check_metric(modules_cache=str(tmp_path))
    assert not ok and "000000000000" in why
    again = metric_install.install_metric(modules_cache=str(tmp_path))
    assert stale in again.removed and not stale.exists()
    assert metric_install.check_metric(modules_cache=str(tmp_path))[0]

    # a damaged copy is detected and repaired
    again.path.write_text("# truncated")
    assert "damaged" in metric_install.check_metric(modules_cache=str(tmp_path))[1]
    assert metric_install.install_metric(modules_cache=str(tmp_path)).changed
    assert metric_install.check_metric(modules_cache=str(tmp_path))[0]


def test_no_prune_keeps_other_versions_but_installed_one_is_newest(tmp_path):
    result = metric_install.install_metric(modules_cache=str(tmp_path))
    other = result.path.parent.parent / ("f" * 64)
    other.mkdir()
    (other / "lead.py").write_text("# another version\n")
    kept = metric_install.install_metric(modules_cache=str(tmp_path), prune=False)
    assert other.exists() and kept.removed == []
    assert metric_install.check_metric(modules_cache=str(tmp_path))[0]


def test_load_metric_without_a_checkout_uses_the_installed_copy(modules_cache, tmp_path, monkeypatch):
    installed = tmp_path / "installed"
    metric_install.install_metric(source=str(METRIC_DIR / "lead.py"), modules_cache=str(installed))
    monkeypatch.setattr(metric_install, "default_source", lambda: tmp_path / "no-checkout" / "lead.py")
    with pytest.raises(FileNotFoundError, match="neither shipped in this lead-hf package nor installed"):
        metric_install.load_metric(modules_cache=str(tmp_path / "empty"))
    m = metric_install.load_metric(modules_cache=str(installed), keep_in_memory=True)
    x, y = make_data(seed=11)
    assert m.compute(predictions=x, references=y, **SMALL)["lead"] == within_ulps(expected(x, y, **SMALL))


def test_installer_errors(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="not found.*--source"):
        metric_install.install_metric(source=str(tmp_path / "missing.py"), modules_cache=str(tmp_path))
    wrong = tmp_path / "metric.py"
    wrong.write_text("")
    with pytest.raises(ValueError, match="must be named lead.py"):
        metric_install.install_metric(source=str(wrong), modules_cache=str(tmp_path))
    with pytest.raises(ValueError, match="unknown option 'colour'"):
        metric_install.install_metric(colour="red")
    assert metric_install.main(["--source", str(wrong), "--modules-cache", str(tmp_path)]) == 2
    assert "must be named lead.py" in capsys.readouterr().err


# --- real processes: bare-name loading from anywhere, distributed mode ---------------------------------

def _env(tmp_path, offline: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "XDG_"))}
    env.update(HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               HF_HUB_DISABLE_TELEMETRY="1", PYTHONPATH=str(REPO))
    if offline:
        env["HF_EVALUATE_OFFLINE"] = "1"
    else:
        # no offline flag and a Hub that refuses connections (port 9, discard): evaluate must fall back
        env["HF_ENDPOINT"] = "http://127.0.0.1:9"
    return env


def _start(script: str, tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    work = tmp_path / "elsewhere"  # a directory with no metrics/ folder in sight
    work.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, str(path), *args], cwd=work, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


LOAD_ANYWHERE = """
    import json, runpy, sys, numpy as np, evaluate
    from lead_hf.evaluate_metric import install as metric_install
    x = np.array(json.loads(sys.argv[1])); y = json.loads(sys.argv[2]); path = sys.argv[3]
    opts = {"head_widths": (32, 32)}
    try:
        evaluate.load("lead")
        before = "loaded"
    except FileNotFoundError:
        before = "not found"
    sys.argv[1:] = []  # the set-up step, as the Makefile runs it: python -m lead_hf.evaluate_metric
    try:
        runpy.run_module("lead_hf.evaluate_metric", run_name="__main__")
    except SystemExit as stop:
        assert stop.code == 0, stop.code
    by_name = evaluate.load("lead").compute(predictions=x, references=y, **opts)["lead"]
    by_path = evaluate.load(path).compute(predictions=x, references=y, **opts)["lead"]
    helper = metric_install.load_metric().compute(predictions=x, references=y, **opts)["lead"]
    print(json.dumps({"before": before, "by_name": by_name, "by_path": by_path, "helper": helper}))
"""


@pytest.mark.slow
def test_bare_name_loads_from_any_directory(tmp_path):
    """With HF_EVALUATE_OFFLINE=1, and without it against an unreachable Hub (run side by side)."""
    x, y = make_data(n_per_class=10, seed=9)
    args = (json.dumps(x.tolist()), json.dumps(y.tolist()), str(METRIC_DIR))
    procs = {}
    for offline in (True, False):
        home = tmp_path / ("offline" if offline else "unreachable")
        home.mkdir()
        procs[home.name] = (home, _start(LOAD_ANYWHERE, home, _env(home, offline), *args))
    ref = expected(x, y, head_widths=(32, 32))
    for name, (home, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name}: {stderr[-3000:]}"
        out = json.loads(stdout.strip().splitlines()[-1])
        assert out["before"] == "not found", name  # a fresh HF_HOME: only the installer makes the name resolvable
        assert [out["by_name"], out["by_path"], out["helper"]] == within_ulps([ref] * 3), name  # another process
        assert (home / "hf_home" / "modules" / "evaluate_modules" / "metrics" / "evaluate-metric--lead").is_dir()


SHARD = """
    import json, sys, numpy as np, evaluate
    rank, shared, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    data = json.load(open(f"{shared}/shard{rank}.json"))
    m = evaluate.load(path, num_process=2, process_id=rank, experiment_id="two-procs", cache_dir=shared,
                      timeout=120)
    x, y = np.array(data["x"]), data["y"]
    half = len(y) // 2
    m.add_batch(predictions=x[:half], references=y[:half])
    m.add_batch(predictions=x[half:], references=y[half:])
    out = m.compute(head_widths=(32, 32), samples_per_class=8)
    print(json.dumps(None if out is None else {k: out[k] for k in ("lead", "num_samples")}))
"""


@pytest.mark.slow
def test_two_processes_gather_on_process_zero(tmp_path):
    x, y = make_data(n_per_class=14, seed=10)
    cut = 19  # uneven shards
    shared = tmp_path / "shared"
    shared.mkdir()
    for rank, sl in enumerate((slice(0, cut), slice(cut, None))):
        (shared / f"shard{rank}.json").write_text(json.dumps({"x": x[sl].tolist(), "y": y[sl].tolist()}))
    script = tmp_path / "shard.py"
    script.write_text(textwrap.dedent(SHARD))
    env = _env(tmp_path, offline=True)
    procs = [subprocess.Popen([sys.executable, str(script), str(rank), str(shared), str(METRIC_DIR)],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in (0, 1)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    results = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    assert results[1] is None  # only process 0 computes
    assert results[0]["num_samples"] == len(y)
    # process 0 reads the shards in process order: the score of the concatenation (to a few ulps: another
    # process may run its reductions in another order)
    assert results[0]["lead"] == within_ulps(expected(x, y, **SMALL))
    assert not list(shared.glob("*.arrow"))  # evaluate removed the shards after computing


def test_the_import_path_of_earlier_installed_copies_is_kept():
    # copies installed by earlier versions import lead_hf.metric_support: still the same module
    from lead_hf import metric_support as installed_path

    assert "from lead_hf.evaluate_metric import support" in (METRIC_DIR / "lead.py").read_text()
    assert installed_path is metric_support and installed_path.check_batch is metric_support.check_batch


def test_the_card_names_every_lead_option_and_detail():
    """The metric card is what a Hub user reads: every LEAD option, and every key of a LEAD result's
    details, must appear in it (the card had fallen behind the options of issue 9 once)."""
    card = (Path(__file__).resolve().parents[1] / "metrics" / "lead" / "README.md").read_text()
    missing = [name for name in lead_hf.score_options("lead") if f"`{name}`" not in card]
    assert not missing, f"metrics/lead/README.md does not mention the LEAD options {missing}"
    x = torch.randn(60, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.arange(60) % 3
    details = lead_hf.compute_score("lead", x, y, svm_probability="temperature", head_widths=(16,)).details
    missing = [key for key in details if f"`{key}`" not in card]
    assert not missing, f"metrics/lead/README.md does not describe the LEAD details {missing}"


def test_card_examples_print_what_the_card_says(modules_cache, tmp_path, monkeypatch):
    """The `>>>` examples of metrics/lead/README.md run as doctests, so their values follow the defaults."""
    import doctest
    # a fence line would read as expected output: blank it, as the end of an example
    card = re.sub(r"(?m)^```.*$", "", (REPO / "metrics" / "lead" / "README.md").read_text())
    real_load = evaluate.load
    # the card loads by name (after the set-up step); the test loads this checkout's copy by path
    monkeypatch.setattr(evaluate, "load", lambda name, **kw: real_load(
        str(METRIC_DIR) if name == "lead" else name, cache_dir=str(tmp_path / "card"), **kw))
    test = doctest.DocTestParser().get_doctest(card, {}, "metrics/lead/README.md",
                                               str(METRIC_DIR / "README.md"), 0)
    assert len(test.examples) >= 10, "the card's examples were not found"
    runner, report = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS), []
    runner.run(test, out=report.append)
    assert runner.summarize(verbose=False).failed == 0, "".join(report)
