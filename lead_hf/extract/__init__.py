"""The accelerate extraction loop and its on-disk cache.

    >>> from lead_hf.extract import ExtractOptions, extract
    >>> out = extract("zoo:mobilenetv2_100.in1k", "embedded:digits", ExtractOptions(max_per_class=20))
    >>> out.features.shape, out.logits.shape, out.labels.shape

Importing the package imports its options only; the loop (torch, accelerate) is imported by the first
``extract`` call.
"""
from .options import MIXED_PRECISION, ExtractOptions

__all__ = ["MIXED_PRECISION", "ExtractOptions", "Extracted", "extract"]


def extract(model_spec, dataset_spec, options=None, **overrides):
    """Features and source logits of ``model_spec`` on a split of ``dataset_spec`` (cached); see
    :func:`lead_hf.extract.loop.extract`."""
    from .loop import extract as run

    return run(model_spec, dataset_spec, options, **overrides)


def __getattr__(name: str):
    if name == "Extracted":
        from .loop import Extracted
        return Extracted
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
