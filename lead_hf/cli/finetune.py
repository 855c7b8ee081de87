"""``lead-hf finetune``: fine-tune models for their ground-truth accuracy and print each result."""
from __future__ import annotations

import dataclasses

from .. import finetune as finetune_module
from ..finetune import FinetuneOptions, finetune
from .command import Command


def run(opts: FinetuneOptions) -> int:
    from ..utils.io import write_json_atomic

    if not opts.models:
        raise ValueError("no model given: lead-hf finetune MODEL [MODEL ...] --dataset embedded:digits")
    out = []
    from ..utils.steering import expand_ct
    for spec in expand_ct(opts.models, opts.ct_betas):  # Curvature Tuning: every model at every beta
        res = finetune(spec, options=opts)
        spread = (f" +- {res.accuracy_std:.4f} over {len(res.seed_accuracies)} seeds"
                  if res.accuracy_std is not None else "")
        print(f"{res.model} on {res.dataset}: accuracy {res.accuracy:.4f}{spread} (lr={res.best_learning_rate:g}; "
              f"{res.trained} run(s) trained, {len(res.runs) - res.trained} from cache)")
        out.append(dataclasses.asdict(res))
    if opts.output:
        write_json_atomic(opts.output, {"results": out, "protocol_string": opts.protocol_string()})
        print(f"written to {opts.output}")
    return 0


COMMAND = Command(
    name="finetune",
    options=FinetuneOptions,
    run=run,
    positional=("models",),
    description=finetune_module.__doc__.strip().split("\n\n")[0] + "\n\nExample:\n  lead-hf finetune "
                "zoo:mobilenetv2_100.in1k --dataset embedded:digits --epochs 4 --learning-rates 0.01,0.05\n  lead-hf finetune "
                "zoo:all-minilm-l6-v2 --dataset embedded:rotten_tomatoes --learning-rates 3e-5,1e-4,3e-4   # text: AdamW",
)
