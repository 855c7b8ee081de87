"""Datasets for extraction: any ``datasets`` source plus embedded offline sets, one split at a time.

    >>> from lead_hf.data import load_split
    >>> ds = load_split("embedded:digits", "train", max_per_class=20, seed=0)
    >>> ds.features["label"].names
"""
from .embedded import EmbeddedSource, list_embedded, register_embedded
from .loading import DatasetSplit, check_dataset, load_split, normalize_columns
from .sampling import parse_split, stratified_indices

__all__ = ["DatasetSplit", "EmbeddedSource", "check_dataset", "list_embedded", "load_split", "normalize_columns", "parse_split",
           "register_embedded", "stratified_indices"]
