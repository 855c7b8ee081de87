"""`lead-hf benchmark`: how well each transferability score's ranking agrees with real fine-tuning.

For every downstream dataset and every model with a ground-truth accuracy, the features (and source
logits) of the downstream training split are taken from the extraction cache, with the preprocessing
fine-tuning used (``lead_hf.models.preprocessing.resized_ref``), and every available score is computed
and timed. Per dataset and averaged over datasets: weighted Kendall tau (``scipy.stats.weightedtau`` defaults, the
literature's measure), Kendall tau, Pearson and top-1 relative regret. Writes ``benchmark.json``,
``benchmark.csv`` (one row per score x model x dataset), ``benchmark.md`` and ``benchmark.png``.

Precomputed features instead of models (e.g. to reproduce the literature's comparison on the published
zoos): ``--features DIR`` with ``DIR/<dataset>/<model>.npz`` (or ``.safetensors``) holding ``features``,
``labels`` and optionally ``logits``, plus ``--ground-truth FILE.csv`` either long (model,dataset,accuracy)
or wide (model,<dataset>,<dataset>,...; the format of the literature's published tables).

    >>> from lead_hf.benchmark import BenchmarkOptions, run_benchmark
    >>> bench = run_benchmark(BenchmarkOptions(datasets=("embedded:digits",)))
    >>> bench.summary["lead"]["weighted_tau"]
"""
from .options import BenchmarkOptions

__all__ = ["BenchmarkOptions", "BenchmarkResult", "Entry", "run_benchmark"]


def __getattr__(name: str):
    if name in ("BenchmarkResult", "Entry"):  # numpy: imported on first use
        from . import schema
        return getattr(schema, name)
    if name == "run_benchmark":
        from .job import run_benchmark
        return run_benchmark
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
