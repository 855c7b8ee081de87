"""`lead-hf finetune`: the ground truth a transferability score is judged against.

Full fine-tuning of a pre-trained model on a downstream split with a new linear head, following the
protocol of the model-selection literature (You et al. 2021 LogME; Hu et al. 2024 LEAD): SGD with
momentum, cosine learning-rate decay, a small learning-rate grid, and the best test accuracy over the
grid kept. Sizes are reduced so it also runs on a CPU: small image size, a stratified subset of the
training split, few epochs. The protocol (every number) is stored with each result.

    >>> from lead_hf.finetune import FinetuneOptions, finetune
    >>> res = finetune("zoo:mobilenetv2_100.in1k", "embedded:digits", FinetuneOptions(epochs=1))
    >>> res.accuracy, res.runs[0]["per_epoch"]

Every (model, dataset, protocol, learning rate) run is cached as one JSON file (written atomically) under
``<cache>/finetune/``; a killed sweep resumes by skipping the runs that already have one. The same
preprocessing (:func:`lead_hf.models.preprocessing.resized_ref`) is what ``lead-hf benchmark`` extracts
features with, so the scores see exactly the images fine-tuning saw (minus augmentation).
"""
from .job import FinetuneResult, finetune, run_key
from .options import PROTOCOL_VERSION, PROTOCOLS, FinetuneOptions

__all__ = ["PROTOCOLS", "PROTOCOL_VERSION", "FinetuneOptions", "FinetuneResult", "finetune", "run_key"]
