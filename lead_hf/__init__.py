"""lead-hf: which pre-trained model to fine-tune on your data, without fine-tuning them all.

    >>> import lead_hf
    >>> lead_hf.score("lead", features, labels)            # higher = more transferable
    >>> lead_hf.available_scores()
"""
__version__ = "0.1.0"

from .scores import (ScoreResult, available_scores, compute_score, get_score_spec, score,  # noqa: E402
                     score_options)

__all__ = ["__version__", "ScoreResult", "available_scores", "compute_score", "get_score_spec",
           "score", "score_options"]
