"""``lead-hf benchmark``: compare every score's ranking with fine-tuning, write the tables and print them."""
from __future__ import annotations

from .. import benchmark as benchmark_module
from ..benchmark import BenchmarkOptions, markdown, resolve_repo_path, run_benchmark, write_outputs
from .command import Command


def run(opts: BenchmarkOptions) -> int:
    result = run_benchmark(opts)
    out = opts.output_dir
    if out == BenchmarkOptions.output_dir:  # the default: the checkout's benchmarks/results from anywhere
        out = resolve_repo_path(out, "output folder", "--output-dir")
    paths = write_outputs(result, out, opts.name, opts.chart)
    print(markdown(result))
    print("written: " + ", ".join(str(p) for p in paths))
    return 0


COMMAND = Command(
    name="benchmark",
    options=BenchmarkOptions,
    run=run,
    description=benchmark_module.__doc__.strip().split("\n\n    >>>")[0] + "\n\nExamples:\n  lead-hf benchmark\n"
                "  lead-hf benchmark --features feats/ --ground-truth acc.csv --datasets cifar10,dtd",
)
