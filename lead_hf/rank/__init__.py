"""`lead-hf rank`: candidate models x one dataset split -> cached extraction -> scores -> a leaderboard.

    >>> from lead_hf.rank import RankOptions, rank_models
    >>> results = rank_models(RankOptions(models=("zoo:mobilenetv2_100.in1k", "zoo:tf_efficientnet_lite0.in1k"),
    ...                                   dataset="embedded:digits"))
    >>> results.sorted_models()[0].model
"""
from .job import choose_models, default_models, plan_rank, rank_models
from .options import RankOptions

__all__ = ["RankOptions", "choose_models", "default_models", "plan_rank", "rank_models"]
