#!/usr/bin/env python
"""Rank candidate models on a dataset split; a thin wrapper of ``lead-hf rank``.

    python scripts/rank_models.py                                   # the offline demo
    python scripts/rank_models.py zoo:mobilenetv2_100.in1k timm/resnet18.a1_in1k --dataset imagefolder:./photos
    accelerate launch scripts/rank_models.py --models-file models.txt --dataset my_org/my_dataset

Under ``accelerate launch`` every process runs the extraction share of its own; scoring and the
written results are the same on every process (only the main process's files matter).
"""
import sys

from lead_hf.cli import main

if __name__ == "__main__":
    sys.exit(main(["rank", *sys.argv[1:]]))
