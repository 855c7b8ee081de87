"""What the image and the text trainer share: the stratified train/test subsets, the epochs of one run,
and the record a run leaves in the cache."""
from __future__ import annotations

import math
import time
from typing import Any

# --------------------------------------------------------------------------------------------- data

def _decoded(dataset, split: str, per_class: int | None, seed: int, exclude_per_class: int | None = None,
             modality: str = "image", text_column: str | None = None):
    """(PIL images, labels, label names, fingerprint) of a stratified subset of one split; for
    ``modality="text"``, the texts instead of the images.

    ``exclude_per_class``: first remove the subset that ``max_per_class=exclude_per_class`` with the same
    seed selects (the training subset, when train and test come from one split) and draw from the rest,
    so the two subsets are disjoint and the training one is exactly what the scores see."""
    import numpy as np

    from ..data import load_split
    from ..data.sampling import stratified_indices

    kind = {"modality": modality, "text_column": text_column} if modality == "text" else {}
    if exclude_per_class is None:
        ds = load_split(dataset, split, max_per_class=per_class, seed=seed, **kind)
    else:
        ds = load_split(dataset, split, **kind)
        labels_all = np.asarray(ds["label"])
        rest = np.setdiff1d(np.arange(len(ds)), stratified_indices(labels_all, exclude_per_class, seed))
        if rest.size == 0:
            raise ValueError(f"dataset {dataset!r}: split {split!r} has nothing left for testing after "
                             f"{exclude_per_class} training images per class; lower train_per_class")
        if per_class is not None:
            rest = rest[stratified_indices(labels_all[rest], per_class, seed + 1)]
        ds = ds.select(rest)
    images = list(ds["text"]) if modality == "text" else [im.copy() for im in ds["image"]]
    labels = [int(v) for v in ds["label"]]
    return images, labels, list(ds.features["label"].names), ds._fingerprint



def run_record(acc, lr: float, seed: int, inputs: dict[str, Any], accuracy: float, final: float, per_epoch: list,
               losses: list, start: float, num_train: int, num_test: int, num_classes: int,
               chance: float) -> dict[str, Any]:
    """The record of one run (what the run cache stores), the image and the text trainer's alike; ``inputs``:
    the input size it trained at (``image_size``, or ``max_length`` for text)."""
    return {"lr": lr, "seed": seed, **inputs, "accuracy": float(accuracy), "final_accuracy": float(final),
            "per_epoch": [float(v) for v in per_epoch], "train_loss": [float(v) for v in losses],
            "seconds": round(time.time() - start, 2), "num_train": num_train, "num_test": num_test,
            "num_classes": num_classes, "device": str(acc.device), "num_processes": acc.num_processes,
            "is_main": acc.is_main_process, "chance": chance}


def train_epochs(module, forward, optimizer, scheduler, train_loader, test_loader, acc, opts, name: str,
                 seed: int, start: float, per_epoch: list, losses: list, log) -> int | None:
    """The epochs of one run, the image and the text trainer's alike: SGD/AdamW steps with the schedule, the
    mean training loss of each epoch appended to ``losses``, the test accuracy to ``per_epoch`` (after every
    epoch with ``eval_every_epoch``, else after the last). Returns the epoch (1-based) whose loss was not
    finite, or None."""
    import torch

    for epoch in range(opts.epochs):
        module.train()
        total, count = 0.0, 0
        for x, y in train_loader:
            loss = torch.nn.functional.cross_entropy(forward(x), y)
            optimizer.zero_grad(set_to_none=True)
            acc.backward(loss)
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(y)
            count += len(y)
        if not math.isfinite(total):
            log(f"  {name} seed={seed} epoch {epoch + 1}/{opts.epochs}: diverged (non-finite loss)")
            return epoch + 1
        losses.append(total / max(count, 1))
        if not (opts.eval_every_epoch or epoch == opts.epochs - 1):
            log(f"  {name} epoch {epoch + 1}/{opts.epochs}: loss {losses[-1]:.4f} ({time.time() - start:.0f}s)")
            continue
        module.eval()
        correct, seen = 0, 0
        with torch.inference_mode():
            for x, y in test_loader:
                pred = forward(x).argmax(dim=1)
                pred, y = acc.gather_for_metrics((pred, y))
                correct += int((pred == y).sum())
                seen += len(y)
        per_epoch.append(correct / seen)
        log(f"  {name} seed={seed} epoch {epoch + 1}/{opts.epochs}: loss {losses[-1]:.4f} "
            f"test acc {per_epoch[-1]:.4f} ({time.time() - start:.0f}s)")
    return None



def load_data(opts, modality: str = "image"):
    seed = opts.resolved_subset_seed
    same = opts.test_split == opts.train_split
    if same and opts.train_per_class is None:
        raise ValueError(f"train_split and test_split are both {opts.train_split!r}: a disjoint test subset "
                         "needs train_per_class (e.g. 100), or pass a separate --test-split")
    kind = {"modality": modality, "text_column": opts.text_column} if modality == "text" else {}
    data = (_decoded(opts.dataset, opts.train_split, opts.train_per_class, seed, **kind),
            _decoded(opts.dataset, opts.test_split, opts.test_per_class, seed,
                     exclude_per_class=opts.train_per_class if same else None, **kind))
    if data[0][2] != data[1][2]:
        raise ValueError(f"dataset {opts.dataset!r}: the {opts.train_split!r} and {opts.test_split!r} splits have "
                         f"different classes ({data[0][2]} vs {data[1][2]}); pass splits of the same task")
    if len(set(data[0][1])) < 2:
        raise ValueError(f"dataset {opts.dataset!r}: the training subset has fewer than 2 classes; "
                         "fine-tuning a classifier needs at least 2")
    return data


