"""Options of ``lead-hf rank``; imports no ML framework, so ``lead-hf rank --help`` and option errors are instant."""
from __future__ import annotations

from dataclasses import dataclass

from ..extract.options import ExtractOptions
from ..results.options import OutputOptions
from ..scores.selection import ScoringOptions
from ..utils.constraints import Boolean, Interval, Items, PathLike, Text


@dataclass
class RankOptions(ExtractOptions, ScoringOptions, OutputOptions):
    max_per_class: int | None = 100
    """At most this many training samples per class (stratified, seeded): ranking needs far fewer samples
    than fine-tuning, and extraction time grows with them (lead-hf extract takes the same default, so
    extracting first warms this cache). none: every sample."""
    models: tuple[str, ...] = ()
    """Models to rank: zoo:NAME, timm/... or hf-hub: ids, transformers ids or local directories,
    timm:ARCH@weights-file. None given (and no --models-file nor --hub-search): the embedded demo models of
    the dataset's modality (the four ImageNet classifiers; for text, the MiniLM family)."""
    models_file: str | None = None
    """A text file listing models, one per line (# starts a comment); added to --models."""
    hub_search: str | None = None
    """Rank models found on the Hub (HfApi.list_models) whose id contains this text ('*': any id), chosen
    by --hub-task, --hub-library, --hub-sort and --hub-limit; added after --models (the embedded zoo is
    then not ranked). Needs HF_HUB_OFFLINE=0: the models found are downloaded from HF_ENDPOINT's Hub."""
    hub_task: str | None = "image-classification"
    """Hub search: the models' task (their pipeline tag); none: any task."""
    hub_library: tuple[str, ...] = ("timm", "transformers")
    """Hub search: the models' libraries, one listing each, merged (timm, transformers)."""
    hub_sort: str = "downloads"
    """Hub search: which models come first (downloads, likes, trending_score, created_at, last_modified;
    the most first)."""
    hub_limit: int = 10
    """Hub search: how many models to rank, at most."""
    dataset: str = "embedded:digits"
    """Downstream dataset: embedded:NAME (digits, mnist, fashion_mnist, lfw_faces, clipart; text:
    rotten_tomatoes, tweets_sentiment), a Hub dataset id, imagefolder:DIR, parquet, CSV or JSON files
    (reviews.csv, csv:FILES, json:FILES), or a directory saved with save_to_disk."""
    ground_truth: str | None = None
    """Fine-tuned accuracies (a CSV with columns model,accuracy, or the JSON of lead-hf finetune --output):
    adds rank agreement to the table and a panel to the chart."""
    chart: bool = True
    """Write chart.png."""
    ct_betas: tuple[float, ...] = ()
    """Curvature Tuning (docs/ct.md): rank every model at each of these betas, e.g. 0.7 0.8 0.9 0.95 1: its
    ReLUs (and ReLU6s) become CT_beta, a smooth ReLU that is the ReLU again at beta = 1 (the model as it
    is). Each (model, beta) is a row; a model without a ReLU is refused. Empty: no steering."""
    bootstrap: int = 0
    """Bootstrap draws per score and model, e.g. 20 (stratified resampling of the training samples, seeded
    by --seed): a 95% interval for every score and each model's probability of ranking first. 0: off,
    the default, because every draw re-runs the scores (docs/performance.md says what it costs)."""

    constraints = {
        "max_per_class": (Interval(int, 1), None), "models": Items(Text()), "models_file": (PathLike(), None),
        # the Hub search's own rules (sort keys, libraries, limit >= 1) are checked with the query, before any
        # request (lead_hf.hub.search.check_query): here only the types
        "hub_search": (Text(), None), "hub_task": (Text(), None), "hub_library": Items(Text()),
        "hub_sort": Text(), "hub_limit": Interval(int),
        "dataset": PathLike(), "ground_truth": (PathLike(), None), "chart": Boolean(),
        "ct_betas": Items(Interval(float, 0, 1), distinct=True),
        "bootstrap": (0, Interval(int, 2)),       # a bootstrap needs two draws at least
    }
