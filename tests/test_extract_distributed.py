"""A real two-process CPU run (gloo) through `accelerate launch` equals the single-process run."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lead_hf.extract import ExtractOptions, extract

ROOT = Path(__file__).resolve().parents[1]


def test_two_process_accelerate_launch_equals_single_process(tmp_path):
    import datasets
    import timm
    from PIL import Image

    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    if launcher is None:
        pytest.skip("the accelerate launcher is not installed")
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", pretrained=False, num_classes=4).eval()
    timm.models.save_for_hf(model, str(tmp_path / "model"), safe_serialization=True,
                            model_config={"pretrained_cfg": {**model.pretrained_cfg, "input_size": (3, 40, 40)}})
    rng = np.random.default_rng(0)
    n = 21  # not a multiple of 2 processes x 4: the padded duplicates must be dropped again
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["x", "y", "z"])})
    datasets.Dataset.from_dict(
        {"image": [Image.fromarray(rng.integers(0, 256, (18, 18, 3), dtype=np.uint8)) for _ in range(n)],
         "label": [i % 3 for i in range(n)]}, features=feats).save_to_disk(tmp_path / "ds")
    spec, ds = f"local-dir:{tmp_path / 'model'}", str(tmp_path / "ds")

    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1", "MASTER_PORT": "29531"}
    cmd = [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29531",
           str(ROOT / "scripts" / "extract_logits.py"), "--dataset", ds, "--models", spec,
           "--cache-dir", str(tmp_path / "multi"), "--batch-size", "4", "--chunk-size", "8",
           "--num-workers", "0", "--no-progress", "--max-per-class", "none"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stderr.count("lead-hf extract: 2 process(es) (world size 2, multi_cpu") == 1  # said once, by rank 0

    opts = ExtractOptions(cache_dir=str(tmp_path / "multi"), batch_size=4, chunk_size=8, num_workers=0,
                          progress=False)
    multi = extract(spec, ds, opts)  # the entry the two processes wrote
    assert multi.from_cache and multi.provenance.processes == 2
    single = extract(spec, ds, opts, cache_dir=str(tmp_path / "single"))
    assert not single.from_cache and single.provenance.processes == 1
    assert multi.features.shape == single.features.shape == (n, model.num_features)
    np.testing.assert_allclose(multi.features, single.features, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(multi.logits, single.logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(multi.labels, np.arange(n) % 3)
