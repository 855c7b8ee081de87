"""The accelerate extraction loop and its on-disk cache.

    >>> from lead_hf.extract import ExtractOptions, extract
    >>> out = extract("zoo:mobilenetv2_100.in1k", "embedded:digits", ExtractOptions(max_per_class=20))
    >>> out.features.shape, out.logits.shape, out.labels.shape
"""
from .cache import default_cache_root
from .loop import ExtractOptions, Extracted, extract

__all__ = ["ExtractOptions", "Extracted", "default_cache_root", "extract"]
