"""Every model family behind one interface.

    >>> from lead_hf.models import load_model, list_zoo
    >>> m = load_model("zoo:mobilenetv2_100.in1k")
    >>> feats, logits = m(torch.stack([m.preprocess(img)]))
"""
from .base import LoadedModel, ModelRef
from .loaders import load_model, missing_local_model, read_model_list, resolve_model
from .zoo import ZooEntry, excluded_datasets, list_zoo, load_plugins, register_zoo, zoo_entry
from . import derived_text  # noqa: E402,F401 - registers the MiniLM family's derived members

__all__ = ["LoadedModel", "ModelRef", "ZooEntry", "excluded_datasets", "list_zoo", "load_model", "load_plugins",
           "missing_local_model", "read_model_list", "register_zoo", "resolve_model", "zoo_entry"]
