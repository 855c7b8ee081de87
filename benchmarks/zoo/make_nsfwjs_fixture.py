#!/usr/bin/env python3
"""Write tests/fixtures/nsfwjs_reference.json: what nsfwjs 4.4.0 itself, under TensorFlow.js, outputs for
three real photos. tests/test_models_nsfwjs.py checks the PyTorch port against these numbers.

Run once (it needs node and npm, and about a minute of CPU):

    .venv/bin/python benchmarks/zoo/make_nsfwjs_fixture.py [--node-modules DIR]

- Images: centre crops of scikit-image's astronaut, chelsea and coffee at each model's native size
  (299 or 224 px), so nsfwjs runs them without resizing and the test needs no resampling (which differs
  between libraries).
- Runtime: @tensorflow/tfjs 4.22.0 (pure JavaScript, CPU backend) and nsfwjs 4.4.0, installed with npm into
  DIR (default: a folder under the lead_hf cache) when missing.
- Recorded per model and image: the 5 probabilities (``model.infer``) and a summary of the pooled feature
  vector (first 4 values, mean, L2 norm).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the checkout: benchmarks.zoo

from benchmarks.zoo.nsfwjs import NSFW_CLASSES, NSFWJS_VERSION  # noqa: E402
from lead_hf.models.zoo import zoo_entry  # noqa: E402
from lead_hf.utils.io import write_json_atomic  # noqa: E402

TFJS_VERSION = "4.22.0"
IMAGES = ("astronaut", "chelsea", "coffee")
MEMBERS = {"inception_v3.nsfwjs": "InceptionV3", "mobilenetv2_100.nsfwjs": "MobileNetV2",
           "mobilenetv2_140.nsfwjs": "MobileNetV2Mid"}
"""zoo name -> nsfwjs's own model name."""
FIXTURE = ROOT / "tests" / "fixtures" / "nsfwjs_reference.json"


def centre_crop(name: str, size: int) -> np.ndarray:
    """[size, size, 3] uint8 centre crop of ``skimage.data.<name>()`` (shared with the test)."""
    import skimage.data

    img = getattr(skimage.data, name)()
    h, w = img.shape[:2]
    if h < size or w < size:
        raise ValueError(f"skimage.data.{name} is {h}x{w}, smaller than the {size} px crop")
    top, left = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(img[top:top + size, left:left + size, :3])


def ensure_node_modules(folder: Path) -> Path:
    if (folder / "node_modules" / "@tensorflow" / "tfjs").is_dir() and (folder / "node_modules" / "nsfwjs").is_dir():
        return folder / "node_modules"
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed to install @tensorflow/tfjs and nsfwjs for the reference run")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--no-save",
                    f"@tensorflow/tfjs@{TFJS_VERSION}", f"nsfwjs@{NSFWJS_VERSION}", "buffer@6.0.3"], check=True)
    return folder / "node_modules"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-modules", type=Path, default=None,
                        help="folder with node_modules/{@tensorflow/tfjs,nsfwjs} (installed there when missing)")
    parser.add_argument("--output", type=Path, default=FIXTURE)
    args = parser.parse_args(argv)
    if shutil.which("node") is None:
        raise SystemExit("node is needed to run nsfwjs under TensorFlow.js")
    if args.node_modules is None:
        from lead_hf.extract.cache import default_cache_root
        args.node_modules = default_cache_root() / "npm-reference"
    modules = ensure_node_modules(args.node_modules)
    with tempfile.TemporaryDirectory() as tmp:
        jobs = {"models": []}
        for zoo_name, nsfwjs_name in MEMBERS.items():
            size = zoo_entry(zoo_name).preprocess.size
            images = []
            for name in IMAGES:
                path = Path(tmp) / f"{name}-{size}.rgb"
                path.write_bytes(centre_crop(name, size).tobytes())  # raw HWC RGB bytes
                images.append({"name": name, "file": str(path), "size": size})
            jobs["models"].append({"nsfwjs_name": nsfwjs_name, "images": images})
        (Path(tmp) / "jobs.json").write_text(json.dumps(jobs))
        run = subprocess.run(["node", str(Path(__file__).with_name("nsfwjs_reference.mjs")), str(modules),
                              str(Path(tmp) / "jobs.json")], capture_output=True, text=True)
        if run.returncode != 0:
            raise SystemExit(f"the TF.js reference run failed:\n{run.stderr[-3000:]}")
    ref = json.loads(run.stdout.strip().splitlines()[-1])
    models = {zoo_name: {"nsfwjs_model": nsfwjs_name, "size": zoo_entry(zoo_name).preprocess.size,
                         "outputs": ref["results"][nsfwjs_name]} for zoo_name, nsfwjs_name in MEMBERS.items()}
    fixture = {
        "about": "nsfwjs outputs under TensorFlow.js on centre crops of skimage.data images; made by "
                 "benchmarks/zoo/make_nsfwjs_fixture.py (benchmarks/zoo/nsfwjs_reference.mjs)",
        "runtime": {"nsfwjs": NSFWJS_VERSION, "tfjs": ref["tfjs"], "backend": ref["backend"], "node": ref["node"]},
        "classes": list(NSFW_CLASSES),
        "images": {name: f"skimage.data.{name}(), centre crop at the model's size" for name in IMAGES},
        "models": models,
    }
    write_json_atomic(args.output, fixture)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
