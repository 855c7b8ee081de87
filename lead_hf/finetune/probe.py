"""The probe trainers: the model frozen, a linear classifier on its features; Curvature Tuning's ground truth.

The model is run once, in eval mode, over the training and the test subset (the evaluation transform, no
augmentation); its features (the input of its classification layer, exactly as the scores see them) train
a linear classifier, whose accuracy on the test subset is the run's:

- ``trainer="linear-probe"`` (protocol ct-probe): a multinomial logistic regression with an L2 penalty
  (scikit-learn, lbfgs, up to 10,000 iterations), ``C`` read from the learning-rate grid: fitted to
  convergence, deterministic. It is the probe the CT authors' code offers as its deterministic variant
  (``LogisticRegression(max_iter=10000)`` on the raw features).
- ``trainer="linear-probe-adam"`` (protocol ct-probe-adam): the CT paper's reported recipe (arXiv
  2502.07783, its public code): a new ``Linear(D, K)``, Adam, batch 32, 20 epochs, the first a linear
  warm-up, the rate x0.1 after epoch 10; the final epoch's accuracy (the paper keeps the best epoch on a
  validation split; without one, choosing an epoch would choose it on the test set). With 100 images per
  class that is 640 steps, far from convergence (docs/ct.md).

The outputs of one model on one pair of subsets are kept in memory between the runs of a grid and its
seeds (and for whoever scores the same features: :func:`frozen_outputs`). The Adam head is trained on one
thread: a [32, D] x [D, K] step only waits on more threads (ten times slower on a busy 2-core CPU).
"""
from __future__ import annotations

import math
import time
from typing import Any

from .loop import run_record
from .options import FinetuneOptions

_OUTPUTS: dict[tuple, dict] = {}
"""(model, revision, steering, preprocessing, subsets) -> the frozen outputs: the last one only."""

MAX_ITER = 10_000
"""The logistic probe's iteration cap (lbfgs); a run that reaches it records converged=False."""
WARMUP_EPOCHS = 1
DECAY_AFTER_EPOCH = 10
DECAY = 0.1


def _key(ref, data) -> tuple:
    import json

    return (ref.name, ref.revision, json.dumps(getattr(ref, "steering", None), sort_keys=True),
            json.dumps(ref.preprocess_config, sort_keys=True, default=str), data[0][3], data[1][3])


def frozen_outputs(ref, data, batch_size: int = 64) -> dict[str, Any]:
    """The frozen model's features [N, D] and source logits [N, C] (float32, CPU) on the training and the test
    images of ``data`` (``lead_hf.finetune.loop.load_data``): ``{"train": (features, logits), "test": (...),
    "seconds": how long the forward passes took}``; the same object again for the same model and subsets."""
    import torch

    key = _key(ref, data)
    if key in _OUTPUTS:
        return _OUTPUTS[key]
    start = time.time()
    loaded = ref.load()
    if loaded.modality != "image":
        raise ValueError(f"the linear-probe trainer takes image models; {ref.name!r} reads {loaded.modality}")
    loaded.module.eval()
    out: dict[str, Any] = {}
    for part, images in (("train", data[0][0]), ("test", data[1][0])):
        feats, logits = [], []
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                f, lg = loaded(torch.stack([loaded.preprocess(im) for im in images[i:i + batch_size]]))
                feats.append(f.float().cpu())
                logits.append(lg.float().cpu())
        out[part] = (torch.cat(feats), torch.cat(logits))
        if not torch.isfinite(out[part][0]).all():
            raise ValueError(f"model {ref.name!r} gives non-finite features; the probe cannot be trained")
    out["seconds"] = round(time.time() - start, 2)
    _OUTPUTS.clear()
    _OUTPUTS[key] = out
    return out


def lr_factor(step: int, steps_per_epoch: int) -> float:
    """The schedule, per optimiser step: a linear warm-up over the first epoch, the full rate up to epoch
    10, then a tenth."""
    epoch = step // steps_per_epoch
    if epoch < WARMUP_EPOCHS:
        return (step + 1) / (WARMUP_EPOCHS * steps_per_epoch)
    return DECAY if epoch >= DECAY_AFTER_EPOCH else 1.0


def fit_probe(train_x, train_y, eval_x, eval_y, *, lr: float, epochs: int, batch_size: int, weight_decay: float,
              seed: int, eval_every_epoch: bool = False, device="cpu") -> dict[str, Any]:
    """Train a fresh ``Linear(D, K)`` (seeded) on ``train_x`` with the probe's recipe; ``{"per_epoch": eval
    accuracies (after every epoch, or the last only), "losses": mean training loss per epoch, "diverged_at":
    the epoch whose loss was not finite, or None}``. K is the number of classes in either label set."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        train_y = torch.as_tensor(train_y, dtype=torch.long)
        eval_y = torch.as_tensor(eval_y, dtype=torch.long)
        k = int(max(train_y.max(), eval_y.max())) + 1
        head = torch.nn.Linear(train_x.shape[1], k).to(device)
        optimizer = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
        steps = math.ceil(len(train_x) / batch_size)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, steps))
        train_x, eval_x = train_x.to(device), eval_x.to(device)
        train_y, eval_y = train_y.to(device), eval_y.to(device)
        per_epoch, losses = [], []
        for epoch in range(epochs):
            order = torch.randperm(len(train_x), generator=gen).to(device)
            total = 0.0
            for i in range(0, len(order), batch_size):
                rows = order[i:i + batch_size]
                loss = torch.nn.functional.cross_entropy(head(train_x[rows]), train_y[rows])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += float(loss.detach()) * len(rows)
            if not math.isfinite(total):
                return {"per_epoch": per_epoch, "losses": losses, "diverged_at": epoch + 1}
            losses.append(total / len(train_x))
            if eval_every_epoch or epoch == epochs - 1:
                with torch.no_grad():
                    per_epoch.append(float((head(eval_x).argmax(1) == eval_y).float().mean()))
        return {"per_epoch": per_epoch, "losses": losses, "diverged_at": None}
    finally:
        torch.set_num_threads(threads)


def fit_logistic(train_x, train_y, eval_x, eval_y, *, c: float) -> dict[str, Any]:
    """The ct-probe classifier: a multinomial L2 logistic regression (lbfgs, up to 10,000 iterations) on the
    raw features; ``{"accuracy", "iterations", "converged", "train_log_loss"}``."""
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    x, xe = np.asarray(train_x, dtype=np.float64), np.asarray(eval_x, dtype=np.float64)
    model = LogisticRegression(C=c, max_iter=MAX_ITER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # recorded as converged=False instead
        model.fit(x, np.asarray(train_y))
    iterations = int(np.max(model.n_iter_))
    return {"accuracy": float(model.score(xe, np.asarray(eval_y))), "iterations": iterations,
            "converged": iterations < MAX_ITER,
            "train_log_loss": float(log_loss(np.asarray(train_y), model.predict_proba(x), labels=model.classes_))}



def train_one(ref, data, opts: FinetuneOptions, lr: float, log, seed: int, image_size: int,
              keep: list | None = None) -> dict[str, Any]:
    """One probe run on the frozen model's features (computed once per model and subsets); its record."""
    import numpy as np
    import torch
    from accelerate import Accelerator

    (_, tr_lab, names, _), (_, te_lab, _, _) = data
    outputs = frozen_outputs(ref, data)
    acc = Accelerator(cpu=not torch.cuda.is_available())
    start = time.time()
    chance = float(np.bincount(te_lab).max() / len(te_lab))
    common = (len(tr_lab), len(te_lab), len(names), chance)
    if opts.trainer == "linear-probe":
        fit = fit_logistic(outputs["train"][0], tr_lab, outputs["test"][0], te_lab, c=lr)
        log(f"  {ref.name} logistic probe C={lr:g}: test acc {fit['accuracy']:.4f} ({fit['iterations']} iterations"
            f"{'' if fit['converged'] else ', NOT converged'}, {time.time() - start:.1f}s)")
        record = run_record(acc, lr, seed, {"image_size": image_size}, fit["accuracy"], fit["accuracy"],
                            [fit["accuracy"]], [fit["train_log_loss"]], start, *common)
        return {**record, "iterations": fit["iterations"], "converged": fit["converged"],
                "features_seconds": outputs["seconds"]}
    fit = fit_probe(outputs["train"][0], tr_lab, outputs["test"][0], te_lab, lr=lr, epochs=opts.epochs,
                    batch_size=opts.batch_size, weight_decay=opts.weight_decay, seed=seed,
                    eval_every_epoch=opts.eval_every_epoch, device=acc.device)
    per_epoch, losses = fit["per_epoch"], fit["losses"]
    if fit["diverged_at"] is not None:  # as the full trainer: a failed run at chance, the grid goes on
        log(f"  {ref.name} probe lr={lr:g} seed={seed}: diverged (non-finite loss) at epoch {fit['diverged_at']}")
        record = run_record(acc, lr, seed, {"image_size": image_size}, chance, chance, per_epoch, losses, start,
                            *common)
        return {**record, "diverged": True, "diverged_at_epoch": fit["diverged_at"],
                "features_seconds": outputs["seconds"]}
    log(f"  {ref.name} probe lr={lr:g} seed={seed}: loss {losses[-1]:.4f} test acc {per_epoch[-1]:.4f} "
        f"({time.time() - start:.1f}s)")
    record = run_record(acc, lr, seed, {"image_size": image_size}, max(per_epoch), per_epoch[-1], per_epoch, losses,
                        start, *common)
    return {**record, "features_seconds": outputs["seconds"]}
