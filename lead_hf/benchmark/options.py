"""Options of ``lead-hf benchmark``; imports no ML framework."""
from __future__ import annotations

from dataclasses import dataclass

from ..results.options import OutputOptions
from ..scores.selection import ScoringOptions
from ..utils.config import PluginOptions
from ..utils.constraints import Boolean, Interval, Items, PathLike, Text


@dataclass
class BenchmarkOptions(ScoringOptions, OutputOptions, PluginOptions):
    zoo: str | None = None
    """Model list (one spec per line, {ZOO_DIR} replaced by --zoo-dir); ignored with --models or --features.
    The checkout's benchmark configs name theirs (benchmarks/configs/*.yaml)."""
    zoo_dir: str | None = None
    """Folder of the derived checkpoints (python -m benchmarks.zoo.build); default <lead_hf cache>/benchmark_zoo."""
    models: tuple[str, ...] = ()
    """Model specs to benchmark instead of the zoo file."""
    datasets: tuple[str, ...] = ()
    """Downstream datasets (with --features: the sub-folder names); none given: every dataset of the ground
    truth."""
    ground_truth: str | None = None
    """Fine-tuned accuracies (required): a folder of <dataset>.csv files (model,dataset,accuracy) or one CSV,
    long (model,dataset,accuracy) or wide (model,<dataset>,...)."""
    features: str | None = None
    """Precomputed features: DIR/<dataset>/<model>.npz|.safetensors with features, labels[, logits]."""
    scores: tuple[str, ...] = ("all",)  # its help: lead_hf.scores.selection.ScoringOptions
    reference: tuple[str, ...] = ("num_params", "flops", "probe_accuracy")
    """Scores computed as reference rows that any transferability score must beat, reported apart: the
    data-free static orders and the out-of-fold accuracy of a linear probe on the same samples; the random
    order and the noise ceiling are always added."""
    headline_ceiling: float = 0.8
    """A dataset joins the headline means when its noise ceiling (weighted tau between fine-tuning seed
    halves) reaches this; the others are reported apart, with the reason."""
    split: str = "train"
    """Downstream split the scores see (the training split, as in the literature)."""
    max_per_class: int | None = 30
    """Stratified subset of that split the scores see (None: all of it)."""
    image_size: int = 32
    """Input size of the extracted features; must be fine-tuning's (FinetuneOptions.image_size)."""
    seed: int = 0
    """Seed of the subset selection (where the ground truth does not record one) and of the bootstrap."""
    min_models: int = 3
    """A dataset needs at least this many models with both features and ground truth."""
    num_threads: int = 0
    """torch CPU threads for the scores (0: torch's default). On a busy shared CPU use 1: multi-threaded
    LAPACK (eigh) slows down by 100x when its threads are descheduled."""
    cache_dir: str | None = None
    """Extraction cache root (default: $LEAD_HF_CACHE or ~/.cache/lead_hf)."""
    output_dir: str = "benchmarks/results"  # its help: lead_hf.results.options.OutputOptions
    name: str = "benchmark"
    """Stem of the output files."""
    chart: bool = True
    """Write the PNG chart."""
    bootstrap: int = 1000
    """Bootstrap draws (resampling the models of every dataset and the fine-tuning seeds of every model) for
    the 95% intervals of every headline mean; 0: none."""

    constraints = {
        "zoo": (PathLike(), None), "zoo_dir": (PathLike(), None), "models": Items(Text()),
        "datasets": Items(Text()), "ground_truth": (PathLike(), None), "features": (PathLike(), None),
        "split": Text(),
        "max_per_class": (Interval(int, 1), None), "image_size": Interval(int, 16), "seed": Interval(int, 0),
        "min_models": Interval(int, 2),           # rank agreement needs two models
        "num_threads": Interval(int, 0), "cache_dir": (PathLike(), None), "name": Text(), "chart": Boolean(),
        "bootstrap": Interval(int, 0),            # 0: no interval
        "reference": Items(Text()), "headline_ceiling": Interval(float, -1.0, 1.0),
    }
