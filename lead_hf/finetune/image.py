"""The image trainer: the model with a new linear head, SGD with momentum and a per-step cosine schedule,
random-resized-crop augmentation; and ``train_model``, which builds the benchmark's trained members."""
from __future__ import annotations

import math
import time
from typing import Any

from .loop import load_data, run_record, train_epochs
from .options import FinetuneOptions

# -------------------------------------------------------------------------------------------- model

def _with_new_head(loaded, num_classes: int, seed: int):
    """The loaded model's module with its classifier replaced by a fresh Linear(D, K), and a function
    pixels -> logits."""
    import torch
    from torch import nn

    from ..models.base import find_classifier_linear

    module = loaded.module
    torch.manual_seed(seed)
    if _resets_its_head(module):  # timm models, and the torch-family zoo's ZooNet (headless ones too)
        module.reset_classifier(num_classes)
        return module, module
    old = find_classifier_linear(module, loaded.num_classes, loaded.name)
    new = nn.Linear(old.in_features, num_classes)
    for parent in module.modules():
        for child_name, child in parent.named_children():
            if child is old:
                setattr(parent, child_name, new)
    if loaded.family == "transformers":
        module.config.num_labels = num_classes

        def call(x):
            return module(pixel_values=x).logits
        return module, call
    return module, module



class _ImageList:
    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]



def train_one(ref, data, opts: FinetuneOptions, lr: float, log, seed: int, image_size: int,
               keep: list | None = None) -> dict[str, Any]:
    import numpy as np
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    (tr_img, tr_lab, names, _), (te_img, te_lab, _, _) = data
    acc = Accelerator(cpu=not torch.cuda.is_available())
    set_seed(seed)
    loaded = ref.load()
    from ..models.preprocessing import make_transforms, norm_stats

    mean, std = norm_stats(ref.preprocess_config)
    train_tf, eval_tf = make_transforms(mean, std, image_size)
    module, forward = _with_new_head(loaded, len(names), seed)
    head = [p for n, p in module.named_parameters() if _is_head(module, n, loaded.family)]
    head_ids = {id(p) for p in head}
    body = [p for p in module.parameters() if id(p) not in head_ids]
    optimizer = torch.optim.SGD([{"params": body, "lr": lr}, {"params": head, "lr": lr * opts.head_lr_multiplier}],
                                lr=lr, momentum=opts.momentum, weight_decay=opts.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    train_loader = torch.utils.data.DataLoader(_ImageList(tr_img, tr_lab, train_tf), batch_size=opts.batch_size,
                                               shuffle=True, generator=gen, num_workers=0, drop_last=False)
    test_loader = torch.utils.data.DataLoader(_ImageList(te_img, te_lab, eval_tf), batch_size=128,
                                              shuffle=False, num_workers=0)
    steps = opts.epochs * math.ceil(len(tr_img) / opts.batch_size / acc.num_processes)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    module, optimizer, train_loader, test_loader, scheduler = acc.prepare(module, optimizer, train_loader,
                                                                          test_loader, scheduler)
    if _resets_its_head(acc.unwrap_model(module)):
        forward = module
    per_epoch, losses = [], []
    start = time.time()
    chance = float(np.bincount(te_lab).max() / len(te_lab))

    def record(accuracy: float, final: float) -> dict[str, Any]:
        return run_record(acc, lr, seed, {"image_size": image_size}, accuracy, final, per_epoch, losses, start,
                          len(tr_img), len(te_img), len(names), chance)
    diverged_at = train_epochs(module, forward, optimizer, scheduler, train_loader, test_loader, acc, opts,
                               f"{ref.name} lr={lr:g}", seed, start, per_epoch, losses, log)
    if diverged_at is not None:
        # a learning rate too large for this model: the run counts as failed (chance accuracy, the
        # majority class's share, which is what a network with non-finite weights scores); the grid
        # goes on, and finetune() raises only when every run diverged
        acc.free_memory()
        return {**record(chance, chance), "diverged": True, "diverged_at_epoch": diverged_at}
    if keep is not None:
        keep.append(acc.unwrap_model(module))
    acc.free_memory()
    return record(max(per_epoch), per_epoch[-1])



def train_model(model_spec, options: FinetuneOptions, log=print):
    """Train ``model_spec`` once (the first learning rate of the grid, ``options.seed``) and return
    ``(module, record)``: the trained network with its new head, for building derived checkpoints (the
    benchmark zoo's members pre-trained by the project). Nothing is cached."""
    from ..models.preprocessing import effective_image_size, resized_ref

    if options.num_threads:
        import torch
        torch.set_num_threads(options.num_threads)
    ref = resized_ref(model_spec, options.image_size)
    size = effective_image_size(ref.preprocess_config, options.image_size)
    keep: list = []
    record = train_one(ref, load_data(options), options, options.learning_rates[0], log, options.seed, size,
                        keep=keep)
    return keep[0], record


def _resets_its_head(module) -> bool:
    """timm's convention, which ZooNet follows: ``reset_classifier(K)`` and ``pretrained_cfg["classifier"]``."""
    return callable(getattr(module, "reset_classifier", None)) and isinstance(getattr(module, "pretrained_cfg", None),
                                                                           dict)


def _is_head(module, param_name: str, family: str) -> bool:
    if _resets_its_head(module):
        head_name = module.pretrained_cfg.get("classifier", "classifier")
        return param_name.startswith(head_name + ".")
    return False


