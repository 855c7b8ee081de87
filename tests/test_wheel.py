"""The wheel is the product: built from the checkout, it carries the library, its templates and the evaluate
module, and none of the lab (converters, the benchmark zoo) or the test support (the local Hub server);
installed apart from the checkout, it works from an empty folder: the CLI's help, the metric's install
and ``evaluate.load("lead")``, a rank on generated data and a dry-run publish of its results."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # no build isolation: the venv's setuptools builds it, offline
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = out.glob("lead_hf-*.whl")
    return path


def test_the_wheel_holds_the_product_and_not_the_lab(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "lead_hf/hub/templates/card_section.md" in names
    assert "lead_hf/hub/templates/leaderboard_README.md" in names
    assert "lead_hf/evaluate_metric/lead/lead.py" in names and "lead_hf/evaluate_metric/lead/README.md" in names
    top = {n.split("/")[0] for n in names}
    assert not any(t in top for t in ("benchmarks", "tests", "scripts", "metrics")), sorted(top)
    lab = [n for n in names if any(part in n for part in ("nsfwjs", "tfjs", "converted", "convert.py",
                                                          "hub_server", "tiny_repos", "lead_reference",
                                                          "zoo_build", "derived.py"))]
    assert not lab, lab
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "lead-hf = lead_hf.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """The wheel installed into a folder of its own, run from an empty folder with only that folder (and the
    venv's dependencies) importable: nothing of the checkout is on the path."""
    root = tmp_path_factory.mktemp("installed")
    site = root / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                           str(wheel)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    empty = root / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "HF_MODULES_CACHE": str(root / "modules"),
           "LEAD_HF_CACHE": str(root / "cache"), "HF_EVALUATE_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}

    def run(*args, check=True, timeout=600):
        done = subprocess.run([sys.executable, *args], cwd=empty, env=env, capture_output=True, text=True,
                              timeout=timeout)
        if check:
            assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
        return done

    where = run("-c", "import lead_hf; print(lead_hf.__file__)").stdout.strip()
    assert where.startswith(str(site)), where  # the installed copy, not the checkout
    return run, empty, root


def test_help_and_the_metric_work_from_an_empty_folder(installed):
    run, empty, root = installed
    assert "rank" in run("-m", "lead_hf", "--help").stdout
    assert "--max-per-class" in run("-m", "lead_hf", "rank", "--help").stdout
    run("-m", "lead_hf.evaluate_metric")
    code = ("import evaluate, numpy as np; m = evaluate.load('lead'); "
            "x = np.random.default_rng(0).normal(size=(40, 6)).astype('float32'); y = np.arange(40) % 2; "
            "print(m.compute(predictions=x, references=y, head_widths=[16, 16]))")
    out = run("-c", code).stdout
    assert "'lead':" in out


def test_a_rank_and_a_dry_run_publish_from_an_empty_folder(installed):
    run, empty, root = installed
    data, model = _generated_data_and_model(root)
    done = run("-m", "lead_hf", "rank", model, "--dataset", str(data), "--scores", "lead", "logme",
               "--score-options", "lead.head_widths=16,16", "--no-chart", "--no-progress", "--num-workers", "0",
               "--max-per-class", "none")
    results = next(empty.glob("results/*/results.json"))
    doc = json.loads(results.read_text())
    assert [m["status"] for m in doc["models"]] == ["ok"] and "lead" in doc["models"][0]["scores"]
    published = run("-m", "lead_hf", "publish", str(results), "--dry-run", "--dataset-id", "me/generated",
                    "--leaderboard", "me/board", "--no-cards", check=False)
    assert published.returncode == 0, published.stderr[-2000:]
    assert "me/board" in published.stdout
    assert str(root) not in published.stdout  # no local path is shown as published content
    assert "wrote" in done.stdout


def _generated_data_and_model(root: Path) -> tuple[Path, str]:
    import datasets
    import timm
    import torch
    from PIL import Image

    torch.manual_seed(0)
    model = timm.create_model("test_resnet", pretrained=False, num_classes=5).eval()
    timm.models.save_for_hf(model, str(root / "model"), safe_serialization=True,
                            model_config={"pretrained_cfg": {**model.pretrained_cfg, "input_size": (3, 32, 32)}})
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(2), 10)
    images = [Image.fromarray(np.clip(rng.normal(70 + 90 * y, 30, (24, 24, 3)), 0, 255).astype(np.uint8))
              for y in labels]
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])})
    ds = datasets.Dataset.from_dict({"image": images, "label": labels.tolist()}, features=feats)
    datasets.DatasetDict({"train": ds}).save_to_disk(str(root / "data"))
    return root / "data", f"local-dir:{root / 'model'}"
