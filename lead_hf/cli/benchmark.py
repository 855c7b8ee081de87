"""``lead-hf benchmark``: compare every score's ranking with fine-tuning, write the tables and print them."""
from __future__ import annotations

from ..benchmark.options import BenchmarkOptions
from .command import Command


def run(opts: BenchmarkOptions) -> int:
    from ..benchmark import run_benchmark
    from ..benchmark.report import markdown, write_outputs

    result = run_benchmark(opts)
    paths = write_outputs(result, opts.output_dir, opts.name, opts.chart)
    print(markdown(result))
    print("written: " + ", ".join(str(p) for p in paths))
    return 0


COMMAND = Command(
    name="benchmark",
    options=BenchmarkOptions,
    run=run,
    description="""Measure how well each score's ranking agrees with real fine-tuning.

For every dataset and every model with a fine-tuned accuracy, the scores are computed on the features of
the training split (extracted at fine-tuning's preprocessing, through the cache, or read from --features)
and compared with the accuracies: weighted Kendall tau (the literature's measure), Kendall tau, Pearson and
top-1 regret per dataset and averaged, with bootstrap intervals over models and the ground truth's noise
ceiling. Writes <name>.{json,csv,md,png} and <name>_fidelity.json (fidelity.json for the default name).

The benchmarks of the lead-hf checkout are configs (run from the checkout's root):
  lead-hf benchmark --config benchmarks/configs/v2.yaml
Your own:
  lead-hf benchmark --zoo models.txt --ground-truth finetuned.csv --datasets imagefolder:./photos
  lead-hf benchmark --features feats/ --ground-truth acc.csv --datasets cifar10,dtd""",
)
