"""Build the weights of the derived benchmark members (``benchmarks.zoo.derived``), reproducibly.

``reinit`` and ``random`` members need no data and are bit-identical on every machine (seeded fresh
initialisation, no arithmetic on the weights). ``pretrain`` members are trained by ``lead_hf.finetune`` on
their source dataset, in a child process pinned to one thread, MKL's compatible code path, ATen's
unvectorised kernels and no oneDNN (:data:`DETERMINISTIC_ENV`), so that the same torch build gives the same
weights on any x86-64 CPU (the manifest records each file's sha256, which is the model's revision, so ground
truth and features are tied to the exact weights).

    python -m benchmarks.zoo.build                        # every member, skipping files that exist
    python -m benchmarks.zoo.build --only mobilenetv2_100.in1k-reinit1 --force
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import torch


def reinitialised(parent: str, stages: int | None, seed: int):
    """(state dict, info) of zoo model ``parent`` with its last ``stages`` stages, head conv, its
    BatchNorm and the classifier re-initialised from a fresh seeded timm model; ``None``: everything."""
    import timm

    from lead_hf.models import load_model

    loaded = load_model(f"zoo:{parent}")
    model = loaded.module
    arch = model.pretrained_cfg["architecture"]
    torch.manual_seed(seed)
    fresh = timm.create_model(arch, pretrained=False, num_classes=model.num_classes)
    n_blocks = len(model.blocks)
    if stages is None:
        prefixes: tuple[str, ...] = ("",)
    else:
        if not 1 <= stages <= n_blocks:
            raise ValueError(f"{parent} has {n_blocks} stages; cannot re-initialise {stages}")
        prefixes = tuple(f"blocks.{i}." for i in range(n_blocks - stages, n_blocks)) + \
            ("conv_head.", "bn2.", model.pretrained_cfg.get("classifier", "classifier") + ".")
    sd, new_sd = model.state_dict(), fresh.state_dict()
    reset = [k for k in sd if k.startswith(prefixes)]
    out = {k: (new_sd[k] if k in reset else v).clone().contiguous() for k, v in sd.items()}
    info = {"parent": f"zoo:{parent}", "parent_revision": loaded.revision, "architecture": arch,
            "reinitialised_stages": "all" if stages is None else stages, "of_stages": n_blocks,
            "tensors_reset": len(reset), "tensors": len(sd)}
    return out, info


DETERMINISTIC_ENV = {
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",  # one thread: every sum in one order
    "MKL_CBWR": "COMPATIBLE",         # MKL's conditional numerical reproducibility: one code path on any x86 CPU
    "ATEN_CPU_CAPABILITY": "default",  # ATen's kernels without AVX2/AVX-512 vectorisation, on every CPU
}
"""The environment the trained members are built in (a fresh process, set before torch loads): the same
arithmetic in the same order on any x86-64 CPU, so the weights, and with them the ground truth measured on
them, are the same on every machine. oneDNN, which picks its convolution kernels by instruction set, is
switched off in the child (``torch.backends.mkldnn.enabled = False``)."""


def pretrained(recipe, log: Callable[[str], None]):
    """(state dict, info) of ``recipe.parent`` trained on ``recipe.dataset`` with ``recipe.train``, in a
    child process with :data:`DETERMINISTIC_ENV` (minutes of CPU: 20,000 image-steps at 64 px)."""
    import json
    import os
    import subprocess
    import tempfile

    from safetensors.torch import load_file

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "member.safetensors"
        env = {**os.environ, **DETERMINISTIC_ENV}
        done = subprocess.run([sys.executable, "-m", "benchmarks.zoo.build", "--train-one", recipe.name, str(out)],
                              env=env, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True)
        for line in done.stdout.splitlines():
            log(line)
        if done.returncode != 0:
            raise RuntimeError(f"training {recipe.name} failed:\n{done.stderr[-3000:]}")
        return load_file(str(out)), json.loads(out.with_suffix(".json").read_text())


def _train_one(name: str, out: str) -> None:
    """The child of :func:`pretrained`: train ``name`` and write its weights and info next to ``out``."""
    import json

    from safetensors.torch import save_file

    from lead_hf.finetune import FinetuneOptions
    from lead_hf.finetune.image import train_model

    from .derived import RECIPES

    torch.backends.mkldnn.enabled = False  # oneDNN chooses kernels by the CPU's instruction set
    torch.use_deterministic_algorithms(True)
    recipe = RECIPES[name]
    opts = FinetuneOptions(dataset=recipe.dataset, seed=recipe.seed, num_threads=1, **recipe.train)
    module, record = train_model(f"zoo:{recipe.parent}", opts, log=lambda m: print(m, flush=True))
    save_file({k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}, out)
    info = {"parent": f"zoo:{recipe.parent}", "dataset": recipe.dataset, "training": opts.protocol_string(),
            "source_test_accuracy": record["accuracy"], "train_loss": record["train_loss"],
            "seconds": record["seconds"], "deterministic_env": DETERMINISTIC_ENV, "mkldnn": False,
            "torch": torch.__version__}
    Path(out).with_suffix(".json").write_text(json.dumps(info))


def build(names=None, force: bool = False, log: Callable[[str], None] = print) -> dict[str, dict]:
    """Build the derived members (all, or ``names``) into ``lead_hf.models.zoo.zoo_dir()``; files
    that exist are kept unless ``force``. Each file is written atomically, then the manifest. Returns
    the manifest (name -> info with sha256)."""
    from safetensors.torch import save_file

    from lead_hf.utils.io import atomic_path, write_json_atomic
    from lead_hf.models.base import file_sha256
    from lead_hf.models.zoo import zoo_dir

    from .derived import RECIPES, weights_path

    unknown = sorted(set(names or ()) - set(RECIPES))
    if unknown:
        raise ValueError(f"unknown derived member(s) {unknown}; known: {', '.join(RECIPES)}")
    folder = zoo_dir()
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    manifest = {k: v for k, v in _read_manifest(manifest_path).items() if k in RECIPES}  # drop retired names
    todo = [r for r in RECIPES.values() if not names or r.name in names]
    for recipe in todo:
        path = weights_path(recipe.name)
        if path.is_file() and not force:
            log(f"exists {path}")
        else:
            if recipe.kind == "pretrain":
                log(f"training {recipe.name} on {recipe.dataset} (from zoo:{recipe.parent}) ...")
                sd, info = pretrained(recipe, log)
            else:
                sd, info = reinitialised(recipe.parent, recipe.stages if recipe.kind == "reinit" else None,
                                         recipe.seed)
            with atomic_path(path) as tmp:
                save_file(sd, str(tmp))
            info.update({"kind": recipe.kind, "seed": recipe.seed, "description": recipe.description,
                         "excluded_datasets": list(recipe.excluded_datasets)})
            manifest[recipe.name] = info
            log(f"wrote {path}")
        manifest.setdefault(recipe.name, {"kind": recipe.kind})["sha256"] = file_sha256(path)
        write_json_atomic(manifest_path, manifest)  # after every member: an interrupted build keeps its record
    return manifest


def _read_manifest(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def main(argv=None) -> int:
    from lead_hf.models.zoo import zoo_dir

    from .derived import RECIPES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME",
                        help=f"members to build (default: all of {', '.join(RECIPES)})")
    parser.add_argument("--no-train", action="store_true",
                        help="skip the members that need training (kind 'pretrain'; minutes of CPU each)")
    parser.add_argument("--force", action="store_true", help="rebuild files that exist")
    parser.add_argument("--train-one", nargs=2, metavar=("NAME", "OUT"), help=argparse.SUPPRESS)  # the child
    args = parser.parse_args(argv)
    if args.train_one:
        _train_one(*args.train_one)
        return 0
    names = args.only
    if args.no_train:
        names = [n for n in (names or RECIPES) if RECIPES[n].kind != "pretrain"]
    build(names, force=args.force, log=lambda m: print(m, flush=True))
    print(f"zoo folder: {zoo_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
