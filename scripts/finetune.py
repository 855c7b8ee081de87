#!/usr/bin/env python
"""Fine-tune models for ground-truth accuracy; a thin wrapper of ``lead-hf finetune`` for
``accelerate launch`` / ``torchrun`` (every process runs this script; accelerate splits the batches).

    python scripts/finetune.py zoo:mobilenetv2_100.in1k --dataset embedded:digits
    accelerate launch scripts/finetune.py zoo:tf_efficientnet_lite0.in1k --dataset embedded:fashion_mnist
"""
import sys

from lead_hf.cli import main

if __name__ == "__main__":
    sys.exit(main(["finetune", *sys.argv[1:]]))
