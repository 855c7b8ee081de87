#!/usr/bin/env python
"""Extract and cache features and source logits; a thin wrapper of ``lead-hf extract`` for
``accelerate launch`` / ``torchrun`` (every process runs this script; the work is split between them).

    accelerate launch scripts/extract_logits.py --dataset embedded:digits --models zoo:mobilenetv2_100.in1k
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 --num_machines 1 \
        --mixed_precision no --dynamo_backend no scripts/extract_logits.py --dataset embedded:digits
"""
import sys

from lead_hf.cli import main

if __name__ == "__main__":
    sys.exit(main(["extract", *sys.argv[1:]]))
