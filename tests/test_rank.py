"""`lead-hf rank` end to end on tiny random models and a small generated dataset."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import datasets
from lead_hf.cli import main
from lead_hf.rank import RankOptions, parse_score_options, rank_models, read_ground_truth, write_outputs
from lead_hf.results import RankingResults

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
    opts = _opts(setup, tmp_path)
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
    assert "| rank | model | lead |" in (folder / "results.md").read_text()


def test_a_model_that_fails_is_reported_and_the_others_ranked(setup, tmp_path):
    models, _, _ = setup
    opts = _opts(setup, tmp_path, models=(models[0], "local-dir:/nonexistent/model", models[1]), scores=("lead",))
    results = rank_models(opts, log=lambda m: None)
    status = {m.model: m.status for m in results.models}
    assert status["local-dir:/nonexistent/model"] == "failed"
    assert [status[m] for m in models] == ["ok", "ok"]
    failed = next(m for m in results.models if m.status == "failed")
    assert failed.error and "nonexistent" in failed.error and failed.ranks == {}
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
    assert {f.name for f in files if f.is_file()} == {"results.json", "results.csv", "results.md"}


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
