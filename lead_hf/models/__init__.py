"""Every model family behind one interface.

    >>> from lead_hf.models import load_model, list_zoo
    >>> m = load_model("zoo:mobilenetv2_100.in1k")
    >>> feats, logits = m(torch.stack([m.preprocess(img)]))
"""
from .base import LoadedModel, ModelRef
from .loaders import load_model, missing_local_model, read_model_list, resolve_model
from .zoo import ZooEntry, list_zoo, register_zoo, zoo_entry
from . import derived  # noqa: E402,F401 - registers the members the project derives (benchmark zoo)

__all__ = ["LoadedModel", "ModelRef", "ZooEntry", "list_zoo", "load_model", "missing_local_model", "read_model_list",
           "register_zoo", "resolve_model", "zoo_entry"]
