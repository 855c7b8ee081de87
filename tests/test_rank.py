"""`lead-hf rank` end to end on tiny random models and a small generated dataset."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import datasets
from lead_hf.cli import main
from lead_hf.results.ground_truth import for_dataset, read_ground_truth
from lead_hf.rank import RankOptions, rank_models
from lead_hf.results.store import write_outputs
from lead_hf.scores.selection import parse_score_options
from lead_hf.results.schema import RankingResults

from helpers import within_ulps


def _save_tiny_timm(path, seed, arch="test_resnet"):
    import timm
    torch.manual_seed(seed)
    model = timm.create_model(arch, pretrained=False, num_classes=5).eval()
    timm.models.save_for_hf(model, str(path), safe_serialization=True,
                            model_config={"pretrained_cfg": {**model.pretrained_cfg, "input_size": (3, 32, 32)}})
    return f"local-dir:{path}"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from PIL import Image
    root = tmp_path_factory.mktemp("rank")
    models = [_save_tiny_timm(root / f"m{i}", seed=i) for i in range(2)]
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 8)
    # class-dependent brightness, so that features carry some label information
    imgs = [Image.fromarray(np.clip(rng.normal(60 + 70 * y, 30, (24, 24, 3)), 0, 255).astype(np.uint8))
            for y in labels]
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"])})
    ds = datasets.Dataset.from_dict({"image": imgs, "label": labels.tolist()}, features=feats)
    data_dir = root / "data"
    datasets.DatasetDict({"train": ds}).save_to_disk(str(data_dir))
    return models, str(data_dir), root


def _opts(setup, tmp_path, **kw):
    models, data, root = setup
    # one cache for the module: extraction is not what these tests are about, and it is the slow part
    base = dict(models=tuple(models), dataset=data, cache_dir=str(root / "cache"), num_workers=0,
                progress=False, batch_size=8, max_per_class=None, output_dir=str(tmp_path / "out"),
                score_options=("lead.head_widths=16,16", "lead.samples_per_class=4"))
    base.update(kw)
    return RankOptions(**base)


def test_rank_scores_every_model_and_writes_every_file(setup, tmp_path):
    opts = _opts(setup, tmp_path, bootstrap=20)
    results = rank_models(opts, log=lambda m: None)
    assert results.scores == ["lead", "logme", "leep", "nce"] and results.primary == "lead"
    assert [m.status for m in results.models] == ["ok", "ok"]
    assert results.dataset.num_samples == 24 and results.dataset.num_classes == 3
    for method in results.scores:
        assert sorted(m.ranks[method] for m in results.models) in ([1, 2], [1, 1])
        assert all(np.isfinite(m.scores[method]) for m in results.models)
    best = results.sorted_models()[0]
    assert best.scores["lead"] == max(m.scores["lead"] for m in results.models)
    assert results.options["scores"]["lead"] == {"head_widths": "16,16", "samples_per_class": "4"}
    folder = tmp_path / "report"
    written = write_outputs(results, folder)
    assert {p.name for p in written} == {"results.json", "results.csv", "results.md", "chart.png"}
    again = RankingResults.load(folder / "results.json")
    assert again.to_dict() == json.loads(json.dumps(results.to_dict()))
    assert (folder / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| rank | model | lead [95% CI] |" in (folder / "results.md").read_text()
    for method in results.scores:  # --bootstrap 20: 20 draws, an interval and P(best) per score
        assert all(len(m.bootstrap[method]) == 20 for m in results.models)
        assert all(m.intervals[method][0] <= m.scores[method] <= m.intervals[method][1] for m in results.models)
        assert sum(m.p_best[method] for m in results.models) == pytest.approx(1.0)
    for m in results.models:  # cost, recorded by the extraction
        module = __import__("lead_hf.models", fromlist=["resolve_model"]).resolve_model(m.model).load().module
        assert m.cost["parameters"] == sum(p.numel() for p in module.parameters())
        assert m.cost["flops_per_image"] > 0 and m.cost["input_size"] == [32, 32]
        assert m.cost["images_per_second"] > 0 and m.cost["throughput_images"] == 24
    assert any(m.pareto for m in results.models)
    assert "GFLOPs" in (folder / "results.md").read_text()
    saved = json.loads((folder / "results.json").read_text())["models"]
    for m in saved:  # what a user needs to read a LEAD value, in results.json
        lead = m["details"]["lead"]
        assert len(lead["ntk_lambda"]) == 3 and lead["lambda_max"] > 0
        assert {"initial_cross_entropy", "cross_entropy", "probe_accuracy"} <= set(lead)
        assert 0 <= lead["probe_accuracy"] <= 1


def test_bootstrap_on_a_class_too_small_fails_before_scoring(setup, tmp_path):
    # one sample per class cannot be scored at all (N = K): refused before any model, bootstrap or not
    with pytest.raises(ValueError, match=r"selects 3 samples for 3 classes.*--max-per-class"):
        rank_models(_opts(setup, tmp_path, max_per_class=1, scores=("logme",), bootstrap=5), log=lambda m: None)
    off = rank_models(_opts(setup, tmp_path, max_per_class=2, scores=("logme",), bootstrap=0), log=lambda m: None)
    assert [(m.status, m.error, m.p_best, m.intervals) for m in off.models] == [("ok", None, {}, {})] * 2


def test_a_model_that_fails_is_reported_and_the_others_ranked(setup, tmp_path):
    models, _, _ = setup
    opts = _opts(setup, tmp_path, models=(models[0], "local-dir:/nonexistent/model", models[1]), scores=("lead",))
    results = rank_models(opts, log=lambda m: None)
    status = {m.model: m.status for m in results.models}
    assert status["local-dir:/nonexistent/model"] == "failed"
    assert [status[m] for m in models] == ["ok", "ok"]
    failed = next(m for m in results.models if m.status == "failed")
    assert failed.error and "model directory '/nonexistent/model' does not exist" in failed.error
    assert failed.ranks == {}
    assert results.sorted_models()[-1] is failed


def test_second_run_reuses_cached_features(setup, tmp_path, monkeypatch):
    opts = _opts(setup, tmp_path, scores=("logme",))
    first = rank_models(opts, log=lambda m: None)
    from lead_hf.models import base

    def boom(self):
        raise AssertionError("the model was loaded although its features are cached")
    monkeypatch.setattr(base.ModelRef, "load", boom)
    second = rank_models(opts, log=lambda m: None)
    assert [m.model for m in first.models] == [m.model for m in second.models]
    for a, b in zip(first.models, second.models):
        assert a.scores == within_ulps(b.scores)


def test_ground_truth_adds_agreement(setup, tmp_path):
    models, _, _ = setup
    gt = tmp_path / "gt.csv"
    gt.write_text("# fine-tuned accuracies\nmodel,accuracy\n" + "".join(f"{m},{70 + i}\n" for i, m in enumerate(models)))
    results = rank_models(_opts(setup, tmp_path, scores=("lead", "logme"), ground_truth=str(gt)), log=lambda m: None)
    assert set(results.agreement) == {"lead", "logme"}
    assert all(abs(a["weighted_tau"]) == pytest.approx(1.0) for a in results.agreement.values())  # 2 models
    assert [m.finetune_accuracy for m in results.models] == [70.0, 71.0]


def test_cli_rank(setup, tmp_path, capsys):
    models, data, _ = setup
    code = main(["rank", *models, "--dataset", data, "--cache-dir", str(tmp_path / "c"), "--num-workers", "0",
                 "--no-progress", "--max-per-class", "none", "--scores", "lead,hscore", "--output-dir",
                 str(tmp_path / "o"), "--score-options", "lead.head_widths=8,8", "--no-chart"])
    out = capsys.readouterr().out
    assert code == 0
    assert "rank  model" in out and "lead" in out and "hscore" in out
    files = list((tmp_path / "o").rglob("*"))
    # the results, and the folder's lock (a hidden file that stays: locks are taken on it, never removed)
    assert {f.name for f in files if f.is_file()} == {"results.json", "results.csv", "results.md", ".lock"}


def test_option_errors(setup, tmp_path, capsys):
    with pytest.raises(ValueError, match="METHOD.OPTION=VALUE"):
        parse_score_options(["t=2"], ["lead"])
    with pytest.raises(ValueError, match="not a score"):
        parse_score_options(["leed.t=1"], ["lead"])
    assert parse_score_options(["logme.x=1", "lead.head_widths=4", "8"], ["lead"]) == {"lead": {"head_widths": "4,8"}}
    with pytest.raises(ValueError, match="unknown score"):
        rank_models(_opts(setup, tmp_path, scores=("leed",)), log=lambda m: None)
    with pytest.raises(ValueError, match="unknown option"):
        rank_models(_opts(setup, tmp_path, scores=("lead",), score_options=("lead.bogus=1",)), log=lambda m: None)
    bad = tmp_path / "gt.csv"
    bad.write_text("name,score\nx,1\n")
    with pytest.raises(ValueError, match="'model' and 'accuracy'"):
        read_ground_truth(bad)
    assert main(["rank", "--models-file", str(tmp_path / "missing.txt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_script_wrapper_runs_the_same_command(setup, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    models, data, root = setup
    script = Path(__file__).resolve().parents[1] / "scripts" / "rank_models.py"
    proc = subprocess.run([sys.executable, str(script), models[0], models[1], "--dataset", data,
                           "--cache-dir", str(root / "cache"), "--num-workers", "0", "--no-progress",
                           "--max-per-class", "none", "--scores", "logme", "--output-dir", str(tmp_path),
                           "--no-chart"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "logme" in proc.stdout
    written = [p for p in tmp_path.rglob("results.json")]
    assert len(written) == 1 and RankingResults.load(written[0]).primary == "logme"


# --- issue 10: what a new user hits -------------------------------------------------------------------

def _cli(setup, tmp_path, *extra, models=None):
    m, data, root = setup
    return main(["rank", *(models if models is not None else m), "--dataset", data, "--cache-dir",
                 str(root / "cache"), "--num-workers", "0", "--no-progress", "--max-per-class", "none",
                 "--scores", "lead", "logme", "--output-dir", str(tmp_path / "o"),
                 "--score-options", "lead.head_widths=8,8", "lead.samples_per_class=4", *extra])


def test_a_failed_rank_never_loses_earlier_results(setup, tmp_path, capsys):
    from lead_hf.results.report import chart_png

    models, _, _ = setup
    assert _cli(setup, tmp_path) == 0
    folder = next((tmp_path / "o").iterdir())
    first = RankingResults.load(folder / "results.json")
    chart_before = (folder / "chart.png").read_bytes()
    assert _cli(setup, tmp_path, models=["nosuch-org/nosuch-model"]) == 1
    capsys.readouterr()
    merged = RankingResults.load(folder / "results.json")
    assert [m.model for m in merged.models] == [*models, "nosuch-org/nosuch-model"]
    assert [m.scores for m in merged.models[:2]] == [m.scores for m in first.models]
    assert merged.models[2].status == "failed"
    csv_rows = (folder / "results.csv").read_text().splitlines()
    assert len(csv_rows) == 4 and "nosuch-org/nosuch-model" in (folder / "results.md").read_text()
    # the chart is redrawn from the merged results, with the failed model listed
    chart_after = (folder / "chart.png").read_bytes()
    assert chart_after != chart_before and chart_after == chart_png(merged)
    # re-ranking one model replaces its row only; a model failing now keeps its earlier scores
    assert _cli(setup, tmp_path, models=[models[1]]) == 0
    again = RankingResults.load(folder / "results.json")
    assert [m.model for m in again.models] == [m.model for m in merged.models]
    assert again.models[1].ranked >= merged.models[1].ranked
    assert not (folder / "previous").exists()


def test_incomparable_earlier_results_are_moved_aside_not_mixed(setup, tmp_path, capsys):
    assert _cli(setup, tmp_path) == 0
    folder = next((tmp_path / "o").iterdir())
    first = RankingResults.load(folder / "results.json")
    assert _cli(setup, tmp_path, "--score-options", "lead.t=2") == 0  # other LEAD options: other values
    assert "not comparable with this run (lead options" in capsys.readouterr().err
    (archive,) = (folder / "previous").iterdir()
    assert {p.name for p in archive.iterdir()} == {"results.json", "results.csv", "results.md", "chart.png"}
    assert RankingResults.load(archive / "results.json").to_dict() == first.to_dict()
    now = RankingResults.load(folder / "results.json")
    assert now.options["scores"]["lead"]["t"] == "2" and len(now.models) == 2


def test_no_chart_leaves_no_stale_chart(setup, tmp_path):
    assert _cli(setup, tmp_path) == 0
    folder = next((tmp_path / "o").iterdir())
    assert (folder / "chart.png").is_file()
    assert _cli(setup, tmp_path, "--no-chart") == 0
    assert not (folder / "chart.png").exists()


def test_mistakes_fail_before_any_work_and_create_nothing(setup, tmp_path, capsys):
    models, data, root = setup
    cache = tmp_path / "fresh-cache"
    base = ["rank", *models, "--cache-dir", str(cache), "--num-workers", "0", "--no-progress",
            "--output-dir", str(tmp_path / "o")]
    # an unknown score option: before the first extraction, so no cache entry is written
    assert main([*base, "--dataset", data, "--score-options", "lead.bogus=1"]) == 2
    assert "unknown option(s) bogus for score 'lead'" in capsys.readouterr().err
    # a dataset that does not exist: said once, not once per model, and no results folder
    assert main([*base, "--dataset", str(tmp_path / "no-such-data")]) == 2
    err = capsys.readouterr().err
    assert err.count("does not exist") == 1 and "[1/2]" not in err
    # --output-dir naming a file
    (tmp_path / "taken").write_text("x")
    assert main([*base[:-1], str(tmp_path / "taken"), "--dataset", data]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert not cache.exists() and not (tmp_path / "o").exists()


def test_saturated_scores_are_flagged_in_table_and_results(setup, tmp_path, capsys):
    # 24 samples of 96-d features: H-score reaches its maximum K-1 = 2 for every model
    assert _cli(setup, tmp_path, "--scores", "lead", "hscore", "--max-per-class", "none") == 0
    captured = capsys.readouterr()
    folder = next((tmp_path / "o").iterdir())
    results = RankingResults.load(folder / "results.json")
    assert all("saturated at its maximum K-1 = 2" in m.flags["hscore"] for m in results.models)
    assert "N = 24 samples <= D = 96 features" in results.models[0].flags["hscore"]
    assert "hscore is saturated" in results.warnings["hscore"] and "larger training split" in results.warnings["hscore"]
    assert "lead" not in results.warnings
    # said once, under the table, with what to do (not a second time as a stderr warning)
    assert captured.out.count("* hscore: saturated") == 1 and "larger training split" in captured.out
    assert "hscore is saturated" not in captured.err
    assert "2.0000*" in captured.out
    assert "2.0000\\*" in (folder / "results.md").read_text() and "hscore: saturated" in (folder / "results.csv").read_text()


def test_scores_equal_for_every_model_are_flagged():
    from lead_hf.results.summary import diagnose
    from lead_hf.results.schema import DatasetInfo, ModelResult

    r = RankingResults(DatasetInfo("d", "train"), ["sfda", "lead"], "lead",
                       [ModelResult("a", scores={"sfda": 0.0, "lead": -1.0}),
                        ModelResult("b", scores={"sfda": 0.0, "lead": -1.2})])
    diagnose(r, 100)
    assert set(r.warnings) == {"sfda"} and "same value (0)" in r.warnings["sfda"]
    assert "--max-per-class, now 100" in r.warnings["sfda"]
    assert all(m.flags == {"sfda": "the same value for every model"} for m in r.models)


def test_finetune_json_is_accepted_as_ground_truth(setup, tmp_path):
    models, data, _ = setup
    doc = {"results": [{"model": m, "dataset": data, "accuracy": 0.5 + 0.1 * i, "runs": []}
                       for i, m in enumerate(models)], "protocol_string": "ft-v1"}
    gt = tmp_path / "finetuned.json"
    gt.write_text(json.dumps(doc))
    assert for_dataset(read_ground_truth(gt), data) == {models[0]: 0.5, models[1]: 0.6}
    results = rank_models(_opts(setup, tmp_path, scores=("logme",), ground_truth=str(gt)), log=lambda m: None)
    assert [m.finetune_accuracy for m in results.models] == [0.5, 0.6] and "logme" in results.agreement
    with pytest.raises(ValueError, match="fine-tuned accuracies on .*, not on 'embedded:digits'"):
        for_dataset(read_ground_truth(gt), "embedded:digits", "it")
    (tmp_path / "map.json").write_text(json.dumps({models[0]: 70, models[1]: 71}))
    assert for_dataset(read_ground_truth(tmp_path / "map.json"), data) == {models[0]: 70.0, models[1]: 71.0}
    (tmp_path / "bad.json").write_text('{"results": [{"model": "a"}]}')
    with pytest.raises(ValueError, match="every record needs 'model'"):
        read_ground_truth(tmp_path / "bad.json")


def test_score_details_become_json_values():
    import torch

    from lead_hf.utils.io import json_safe

    got = json_safe({"a": torch.tensor([1.5, 2.0]), "b": float("nan"), "c": np.float64(3.0), "d": (1, "x"),
                     "e": {"f": np.array([[1, 2]])}, "g": None, "h": True})
    assert got == {"a": [1.5, 2.0], "b": None, "c": 3.0, "d": [1, "x"], "e": {"f": [[1, 2]]}, "g": None, "h": True}
    json.dumps(got, allow_nan=False)
