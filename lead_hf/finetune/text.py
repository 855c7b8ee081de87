"""Fine-tuning a text model (modality ``text``): the ground truth of a text benchmark.

``lead_hf.finetune.finetune`` calls this module for text models; the grid, the learning-rate search, the
repeat seeds and the per-run cache are the image path's. What differs:

- the network: the model's own features (:class:`lead_hf.models.text.TextModel`: a sentence encoder's
  pooled output before its final L2 normalisation, a sequence classifier's classifier input) with a new
  ``nn.Linear(D, K)`` head on top, and every parameter trained (full fine-tuning);
- the optimiser: AdamW (decoupled weight decay ``weight_decay``), linear warm-up over the first 10% of
  the steps then cosine decay, as transformers are fine-tuned (Devlin et al. 2019); SGD learning rates
  meant for images (above ``MAX_TEXT_LR``) are refused;
- the input: the model's tokenizer with truncation at ``max_length`` (the option, else the model's own),
  padding to the longest text of each batch; no augmentation.

The protocol recorded with every run (and keying its cache file) says all of it.
"""
from __future__ import annotations

import math
import time
from typing import Any

PROTOCOL_VERSION = "ft-text-v1"
MAX_TEXT_LR = 5e-3
"""Learning rates above this are image-SGD rates; AdamW on a transformer diverges or forgets there."""
WARMUP = 0.1
"""Share of the steps with a linear learning-rate warm-up."""


def text_ref(ref, opts):
    """``ref`` truncating at ``opts.max_length`` (when set), after checking the learning rates."""
    from ..models.text import with_max_length

    high = [lr for lr in opts.learning_rates if lr > MAX_TEXT_LR]
    if high:
        raise ValueError(f"learning rates {high} are too large for fine-tuning the text model {ref.name!r} with "
                         f"AdamW (they suit SGD on images); pass e.g. --learning-rates 3e-5,1e-4,3e-4")
    return with_max_length(ref, opts.max_length)


def protocol(opts, max_length: int) -> dict[str, Any]:
    """The image protocol's fields that apply to text, with the text optimiser, schedule and length."""
    p = opts.protocol()
    for k in ("image_size", "momentum"):
        p.pop(k, None)
    p.update(version=PROTOCOL_VERSION, modality="text", optimizer="adamw(0.9,0.999,eps=1e-8)",
             schedule=f"linear-warmup-{WARMUP:g}-then-cosine-per-step", augmentation="none", max_length=max_length,
             text_column=opts.text_column)
    return p


def run_protocol(opts, seed: int, max_length: int) -> dict[str, Any]:
    """What one text run's numbers depend on (the seed's, without the grid)."""
    p = protocol(opts, max_length)
    p["seed"] = seed
    p.pop("learning_rates")
    if seed != opts.seed or opts.subset_seed is not None:
        p["subset_seed"] = opts.resolved_subset_seed
    return p


def protocol_string(opts, max_length: int | None = None) -> str:
    """One line naming the text protocol (the preset's name when it is one, e.g. ft-text-v1) and its numbers."""
    from .options import PROTOCOLS

    p = opts.protocol()
    name = opts.protocol_name if opts.protocol_name in PROTOCOLS else PROTOCOL_VERSION
    return (f"{name} adamw(wd={p['weight_decay']}) warmup{WARMUP:g}+cosine lr={p['learning_rates']} "
            f"epochs={p['epochs']} bs={p['batch_size']} max_length={max_length or 'model'} "
            f"train={p['train_split']}/{p['train_per_class']}pc test={p['test_split']}/{p['test_per_class']}pc "
            f"seed={p['seed']}" + (f" subset_seed={opts.subset_seed}" if opts.subset_seed is not None else "")
            + (f" mean-over-seeds={[opts.seed, *opts.repeat_seeds]}@best-lr" if opts.repeat_seeds
               else " best-over-grid"))


class _Texts:
    def __init__(self, texts, labels):
        self.texts, self.labels = texts, labels

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, i):
        return self.texts[i], self.labels[i]


def _collate(tokenize):
    import torch

    def collate(items):
        return tokenize([t for t, _ in items]), torch.tensor([y for _, y in items], dtype=torch.int64)
    return collate


def _schedule(step: int, steps: int) -> float:
    warm = max(1, int(round(WARMUP * steps)))
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * min(step - warm, steps - warm) / max(1, steps - warm)))


def train_one(ref, data, opts, lr: float, log, seed: int, max_length: int) -> dict[str, Any]:
    """One fine-tuning run of a text model at ``lr`` with ``seed``: the record the image path keeps."""
    import numpy as np
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from torch import nn

    from .loop import run_record, train_epochs

    (tr_txt, tr_lab, names, _), (te_txt, te_lab, _, _) = data
    acc = Accelerator(cpu=not torch.cuda.is_available())
    set_seed(seed)
    loaded = ref.load()
    body = loaded.module
    torch.manual_seed(seed)
    head = nn.Linear(body.num_features, len(names))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.head = body, head

        def forward(self, batch):
            return self.head(self.body.features(batch, normalize=False))

    net = Net()
    head_ids = {id(p) for p in head.parameters()}
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in net.parameters() if id(p) not in head_ids], "lr": lr},
         {"params": list(head.parameters()), "lr": lr * opts.head_lr_multiplier}],
        lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=opts.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    collate = _collate(loaded.preprocess)
    train_loader = torch.utils.data.DataLoader(_Texts(tr_txt, tr_lab), batch_size=opts.batch_size, shuffle=True,
                                               generator=gen, num_workers=0, collate_fn=collate)
    test_loader = torch.utils.data.DataLoader(_Texts(te_txt, te_lab), batch_size=64, shuffle=False, num_workers=0,
                                              collate_fn=collate)
    steps = opts.epochs * math.ceil(len(tr_txt) / opts.batch_size / acc.num_processes)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _schedule(s, steps))
    net, optimizer, train_loader, test_loader, scheduler = acc.prepare(net, optimizer, train_loader, test_loader,
                                                                       scheduler)
    per_epoch, losses = [], []
    start = time.time()
    chance = float(np.bincount(te_lab).max() / len(te_lab))

    def record(accuracy: float, final: float) -> dict[str, Any]:
        return run_record(acc, lr, seed, {"image_size": None, "max_length": max_length}, accuracy, final,
                          per_epoch, losses, start, len(tr_txt), len(te_txt), len(names), chance)

    diverged_at = train_epochs(net, net, optimizer, scheduler, train_loader, test_loader, acc, opts,
                               f"{ref.name} lr={lr:g}", seed, start, per_epoch, losses, log)
    if diverged_at is not None:
        acc.free_memory()
        return {**record(chance, chance), "diverged": True, "diverged_at_epoch": diverged_at}
    acc.free_memory()
    return record(max(per_epoch), per_epoch[-1])
