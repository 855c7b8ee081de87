#!/usr/bin/env python
"""Build the derived members of the benchmark zoo (re-initialised, random, pre-trained by the project).

The recipes are data in ``lead_hf/models/derived.py`` (each member is a ``zoo:`` name); the building is
``lead_hf.zoo_build``. Weights go to ``$LEAD_HF_ZOO_DIR`` or ``<lead_hf cache>/benchmark_zoo`` with a
manifest.json (sha256, seed, what was done); they are never committed.

    python scripts/build_benchmark_zoo.py                       # every member, keeping files that exist
    python scripts/build_benchmark_zoo.py --only mobilenetv2_100.random --force
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    from lead_hf.models.derived import RECIPES, zoo_dir
    from lead_hf.zoo_build import build

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME",
                        help=f"members to build (default: all of {', '.join(RECIPES)})")
    parser.add_argument("--no-train", action="store_true",
                        help="skip the members that need training (kind 'pretrain'; minutes of CPU each)")
    parser.add_argument("--force", action="store_true", help="rebuild files that exist")
    args = parser.parse_args(argv)
    names = args.only
    if args.no_train:
        names = [n for n in (names or RECIPES) if RECIPES[n].kind != "pretrain"]
    build(names, force=args.force, log=lambda m: print(m, flush=True))
    print(f"zoo folder: {zoo_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
