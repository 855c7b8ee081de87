"""Publishing ranking results to the Hugging Face Hub: model cards, eval results and a leaderboard dataset.

``publish(results, PublishOptions(...))`` is the Python API behind ``lead-hf publish``; ``cards`` and
``leaderboard`` hold the pure text transformations it uses. Every request goes through one
``HfApi(endpoint=..., token=...)``.
"""
from .publishing import PublishError, PublishOptions, PublishReport, RepoChange, publish

__all__ = ["PublishError", "PublishOptions", "PublishReport", "RepoChange", "publish"]
