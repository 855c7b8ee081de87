#!/usr/bin/env python
"""Build the derived checkpoints of the benchmark zoo (benchmarks/zoo.txt), reproducibly.

The embedded ImageNet models transfer well and similarly; a benchmark needs models whose transferability
differs in a known direction. Without any source data we get a graded ladder by re-initialising the last
k stages of an ImageNet backbone (plus its head conv and classifier) from a seeded fresh initialisation:
the more stages re-initialised, the less pre-trained knowledge is left. A fully random network ends it.

    python scripts/build_benchmark_zoo.py              # -> $LEAD_HF_CACHE/benchmark_zoo (or ~/.cache/lead_hf/...)
    python scripts/build_benchmark_zoo.py --out DIR --force

Weights are written as safetensors with timm key names, loadable as ``timm:ARCH@FILE``; a manifest.json
records the seed, source checkpoint hash and what was re-initialised. Same seed -> bit-identical files.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

# (file stem, zoo source, number of trailing stages re-initialised; None = everything)
DERIVED = (
    ("mobilenetv2_100-reinit1", "mobilenetv2_100.in1k", 1),
    ("mobilenetv2_100-reinit3", "mobilenetv2_100.in1k", 3),
    ("mobilenetv2_100-reinit5", "mobilenetv2_100.in1k", 5),
    ("mobilenetv2_100-random", "mobilenetv2_100.in1k", None),
    ("tf_efficientnet_lite0-reinit2", "tf_efficientnet_lite0.in1k", 2),
    ("tf_efficientnet_lite0-reinit4", "tf_efficientnet_lite0.in1k", 4),
)
SEED = 0


def default_out() -> Path:
    from lead_hf.extract.cache import default_cache_root
    return default_cache_root() / "benchmark_zoo"


def derive(source: str, stages: int | None, seed: int) -> tuple[str, dict[str, torch.Tensor], dict]:
    """(timm architecture, state dict, description) of ``source`` with its last ``stages`` re-initialised."""
    import timm

    from lead_hf.models import load_model

    loaded = load_model(f"zoo:{source}")
    model = loaded.module
    arch = model.pretrained_cfg["architecture"]
    torch.manual_seed(seed)
    fresh = timm.create_model(arch, pretrained=False, num_classes=model.num_classes)
    n_blocks = len(model.blocks)
    if stages is None:
        prefixes = ("",)
    else:
        if not 1 <= stages <= n_blocks:
            raise ValueError(f"{source} has {n_blocks} stages; cannot re-initialise {stages}")
        prefixes = tuple(f"blocks.{i}." for i in range(n_blocks - stages, n_blocks)) + \
            ("conv_head.", "bn2.", model.pretrained_cfg.get("classifier", "classifier") + ".")
    sd = model.state_dict()
    new_sd = fresh.state_dict()
    reset = [k for k in sd if k.startswith(prefixes)]
    out = {k: (new_sd[k] if k in reset else v).clone().contiguous() for k, v in sd.items()}
    info = {"source": f"zoo:{source}", "source_revision": loaded.revision, "architecture": arch,
            "reinitialised_stages": "all" if stages is None else stages, "of_stages": n_blocks,
            "tensors_reset": len(reset), "tensors": len(sd), "seed": seed}
    return arch, out, info


def main(argv=None) -> int:
    from safetensors.torch import save_file

    from lead_hf.io import atomic_path, write_json_atomic

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="output folder (default: <lead_hf cache>/benchmark_zoo)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--force", action="store_true", help="rebuild files that exist")
    args = parser.parse_args(argv)
    out = Path(args.out).expanduser() if args.out else default_out()
    out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for stem, source, stages in DERIVED:
        path = out / f"{stem}.safetensors"
        arch, sd, info = derive(source, stages, args.seed)
        info["spec"] = f"timm:{arch}@{path}"
        if args.force or not path.is_file():
            with atomic_path(path) as tmp:
                save_file(sd, str(tmp))
            print(f"wrote {path} ({info['tensors_reset']}/{info['tensors']} tensors re-initialised)")
        else:
            print(f"exists {path}")
        manifest[stem] = info
    write_json_atomic(out / "manifest.json", manifest)
    print(f"zoo folder: {out}\nuse it with: lead-hf benchmark --zoo benchmarks/zoo.txt --zoo-dir {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
