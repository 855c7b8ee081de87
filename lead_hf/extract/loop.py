"""The accelerate extraction loop: features and source logits of one model on one dataset split.

Every process reads its shard of the not-yet-done samples (accelerate's sampler sharding; the last
uneven batch is padded and the padding dropped again by ``gather_for_metrics``), so the main process
receives the outputs in dataset order and writes them chunk by chunk; a killed run restarts at the first
missing chunk. Images are decoded and preprocessed in DataLoader workers, the forward runs in inference
mode, by ONNX Runtime where it applies (:mod:`.runtime`: image models on the CPU, float32), else by PyTorch,
channels-last, optionally under autocast. Text models (``modality="text"``) go through the same
loop: the workers hand over batches their tokenizer made (``LoadedModel.preprocess`` on the batch's texts).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..utils.config import with_overrides
from ..utils.provenance import (DatasetProvenance, ExtractionProvenance, ModelProvenance,
                                 package_versions)
from . import cache as _cache
from .options import ExtractOptions

@dataclass
class Extracted:
    """Features and source logits of one model on one split, in dataset order."""

    features: np.ndarray
    """float32 [N, D]: the input of the model's classification layer."""
    logits: np.ndarray | None
    """float32 [N, C]: the model's own (source-task) logits; None for a model without a source head."""
    labels: np.ndarray
    """int64 [N]: downstream labels, indices into label_names."""
    label_names: list[str]
    provenance: ExtractionProvenance | None = None
    """Model, dataset split, options and cost of the extraction (what the cache entry's manifest holds)."""
    cache_path: Path | None = None
    from_cache: bool = False
    skipped: list[dict[str, Any]] = field(default_factory=list)
    """Samples left out because they could not be read (``skip_bad_samples``): their rows and why."""

    @property
    def num_samples(self) -> int:
        return int(self.features.shape[0])


class _Images(torch.utils.data.Dataset):
    """Decodes and preprocesses rows ``indices`` of an HF dataset; a bad image gives zeros and a flag so
    every process can stop together with one clear error instead of hanging in a collective."""

    def __init__(self, ds, indices: np.ndarray, preprocess, size: tuple[int, int]):
        import datasets
        self.ds = ds.cast_column("image", datasets.Image(decode=False))
        self.indices = indices
        self.preprocess = preprocess
        self.size = size

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, j):
        from PIL import Image
        i = int(self.indices[j])
        cell = None
        try:
            cell = self.ds[i]["image"]
            if cell is None:
                raise ValueError("the image is missing (None)")
            src = io.BytesIO(cell["bytes"]) if cell.get("bytes") else cell["path"]
            with Image.open(src) as img:
                img.load()
                pixels = self.preprocess(img)
            return pixels, i, ""
        except Exception as err:  # noqa: BLE001 - any decoding failure is reported with the row and file
            path = cell.get("path") if isinstance(cell, dict) else None
            where = f"file {path!r}: " if path else ""
            return torch.zeros(3, *self.size), i, f"{where}{type(err).__name__}: {err}"


def _collate(items):
    pixels = torch.stack([p for p, _, _ in items])
    rows = torch.tensor([i for _, i, _ in items], dtype=torch.int64)
    bad = torch.tensor([1 if e else 0 for _, _, e in items], dtype=torch.int64)
    errors = [(i, e) for _, i, e in items if e]
    return pixels, rows, bad, errors


class _Texts(torch.utils.data.Dataset):
    """Rows ``indices`` of a text dataset: (text, row, error); a missing text is flagged like a bad image."""

    def __init__(self, ds, indices: np.ndarray):
        self.ds = ds
        self.indices = indices

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, j):
        i = int(self.indices[j])
        text = self.ds[i]["text"]
        if not isinstance(text, str):
            return "", i, f"the text is {'missing (None)' if text is None else type(text).__name__}"
        return text, i, ""


def _text_collate(tokenize):
    def collate(items):
        batch = tokenize([t for t, _, _ in items])
        rows = torch.tensor([i for _, i, _ in items], dtype=torch.int64)
        bad = torch.tensor([1 if e else 0 for _, _, e in items], dtype=torch.int64)
        return batch, rows, bad, [(i, e) for _, i, e in items if e]
    return collate


def auto_batch_size(device: torch.device, image_size: tuple[int, int]) -> int:
    if device.type == "cpu":
        return 32
    scale = (224 * 224) / float(image_size[0] * image_size[1])
    return int(min(1024, max(16, round(256 * scale / 16) * 16)))


def auto_num_workers(num_processes: int, fast_forward: bool = False) -> int:
    """DataLoader workers per process. PyTorch's forward: every core but one decodes (a 2-core machine gets
    one worker). ``fast_forward`` (ONNX Runtime on the CPU): a quarter of the cores, since decoding and
    preprocessing run at 90-330 img/s a thread against 30-110 img/s for the whole forward; on 2 cores the
    forward then gets both and extraction was 1.1-1.4x faster than with a worker (docs/performance.md)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    per_process = cpus // max(1, num_processes)
    if fast_forward:
        return int(max(0, min(8, per_process // 4)))
    return int(max(0, min(8, per_process - 1)))


def dataset_split(dataset_spec, opts: ExtractOptions):
    """``dataset_spec`` as the :class:`lead_hf.data.DatasetSplit` ``opts`` select; one given already (rank
    resolves its dataset once for every model) must select what ``opts`` say."""
    from ..data import DatasetSplit

    wanted = {"image_column": opts.image_column, "label_column": opts.label_column,
              "max_per_class": opts.max_per_class, "seed": opts.seed, "name": opts.dataset_config,
              "text_column": opts.text_column}
    if isinstance(dataset_spec, DatasetSplit):
        if dataset_spec.split != opts.split or dataset_spec.selection != wanted:
            raise ValueError(f"the dataset split given ({dataset_spec.split!r}, {dataset_spec.selection}) is not "
                             f"the one the extraction options select ({opts.split!r}, {wanted})")
        return dataset_spec
    return DatasetSplit(dataset_spec, opts.split, **wanted)


def _check_modality(split, ref) -> None:
    """A text model on an embedded image set, or the reverse, fails before anything is loaded."""
    if split.embedded is not None and split.embedded.kind != ref.modality:
        from ..models import text
        raise ValueError(text.image_model_on_text_message(ref.name, split.label) if split.embedded.kind == "text"
                         else text.text_model_on_images_message(ref.name, split.label))


def extract(model_spec, dataset_spec, options: ExtractOptions | None = None, **overrides) -> Extracted:
    """Features and source logits of ``model_spec`` on a split of ``dataset_spec`` (cached).

    Run it in one process, or under ``accelerate launch`` / ``torchrun``: every process then calls
    ``extract`` with the same arguments and gets the same result; the work is split between them.
    ``dataset_spec`` may be a :class:`lead_hf.data.DatasetSplit` (loaded once for many models).
    """
    from ..models import load_plugins, resolve_model

    opts = with_overrides(options or ExtractOptions(), overrides)
    load_plugins(opts.plugins)
    ref = resolve_model(model_spec)
    if ref.modality == "text":
        from ..models.text import with_max_length
        ref = with_max_length(ref, opts.max_length)
    split = dataset_split(dataset_spec, opts)
    _check_modality(split, ref)
    fingerprint = split.fingerprint(ref.modality)
    key_parts = {
        "model": ref.name, "revision": ref.revision, "family": ref.family, "preprocess": ref.preprocess_config,
        "dataset": fingerprint, "split": opts.split, "image_column": opts.image_column,
        "label_column": opts.label_column, "dataset_config": opts.dataset_config,
        "max_per_class": opts.max_per_class, "seed": opts.seed if opts.max_per_class else None,
        "mixed_precision": opts.mixed_precision,
    }
    if ref.modality == "text":  # only for text, so that the keys of image models stay what they were
        key_parts.update(modality="text", text_column=opts.text_column)
    if ref.steering:  # a steered model (Curvature Tuning at beta < 1); the plain model's key is unchanged
        key_parts["steering"] = ref.steering
    key = _cache.request_key(key_parts)
    directory = _cache.entry_dir(opts.cache_root(), key)
    hit = _cache.read_entry(directory) if opts.use_cache else None
    hit = (*hit, True) if hit is not None else _extract_locked(ref, split, key, key_parts, directory, opts)
    out = _result(hit[0], hit[1], directory, from_cache=hit[2])
    if out.provenance.cost is None:  # an entry written before costs were recorded: no throughput
        from .cost import model_cost
        out.provenance.cost = {**model_cost(ref.load()), "images_per_second": None,
                               "throughput_images": 0, "device": None, "processes": None}
    return out


def _extract_locked(ref, split, key, key_parts, directory, opts):
    """Extract into the entry as its only writer: the main process holds the entry's lock, looks again (a
    process that held it before may have finished it, then this one just reads it) and, while it holds
    it, every process of the launch works on it. Returns (arrays, manifest, from_cache)."""
    import contextlib

    from accelerate.utils import broadcast_object_list

    acc = accelerator()
    lock = _cache.entry_lock(directory) if acc.is_main_process else contextlib.nullcontext()
    with lock:
        done = None
        if acc.is_main_process:
            from ..utils.io import remove_stale_temporaries

            remove_stale_temporaries(directory)  # a killed writer's temporaries: no one else writes here now
            remove_stale_temporaries(directory / "partial")
            done = _cache.read_entry(directory) if opts.use_cache else None
        finished = broadcast_object_list([done is not None])[0]
        if not finished:
            try:
                _run(ref, lambda: split.load(ref.modality), split.label, key, key_parts, directory, opts, acc)
            except BadSampleError:
                if acc.is_main_process:  # what it extracted cannot be resumed once the data is fixed
                    import shutil
                    shutil.rmtree(directory, ignore_errors=True)
                raise
            finally:
                acc.wait_for_everyone()
    hit = _cache.read_entry(directory)
    if hit is None:
        raise RuntimeError(f"extraction of {ref.name!r} on {split.label!r} finished but its cache entry "
                           f"{str(directory)!r} cannot be read; is the cache directory shared by all processes?")
    return hit[0], hit[1], finished


def accelerator():
    """The process's Accelerator. Without CUDA it is created with cpu=True: accelerate only sets up the
    gloo (MULTI_CPU) process group then, so a plain ``torchrun`` of CPU processes splits the work too."""
    from accelerate import Accelerator
    return Accelerator(cpu=not torch.cuda.is_available())


def _result(arrays, manifest, directory, from_cache) -> Extracted:
    logits = arrays.get("logits")
    if logits is not None and logits.ndim == 2 and logits.shape[1] == 0:
        logits = None  # a headless model (zoo entries with num_classes=0): no source logits
    return Extracted(features=arrays["features"], logits=logits, labels=arrays["labels"],
                     label_names=list(manifest["label_names"]), skipped=list(manifest.get("skipped_samples", [])),
                     provenance=ExtractionProvenance.from_dict(manifest["provenance"]),
                     cache_path=directory, from_cache=from_cache)


@dataclass
class _Plan:
    """What one extraction run works on, settled before the first batch (the same in every process)."""

    ds: Any
    labels: np.ndarray
    label_names: list[str]
    model: Any
    cost: dict[str, Any]
    text: bool
    batch_size: int
    workers: int
    chunk_rows: list[tuple[int, range]]
    """(chunk index, its rows) of every chunk the cache entry still lacks."""
    todo: np.ndarray
    """The rows of those chunks, in order."""
    store: Any
    """The main process's chunk store (None in the others)."""
    start: float
    skipped: dict[int, str] = field(default_factory=dict)
    """Rows that could not be read, and why (``skip_bad_samples``)."""


def _run(ref, build, ds_label, key, key_parts, directory, opts, acc) -> None:
    """Extract what the cache entry lacks, every process its share; the main process writes the entry."""
    plan = _plan(ref, build, ds_label, key, directory, opts, acc)
    if len(plan.todo):
        _loop(plan, ref, ds_label, opts, acc)
    if acc.is_main_process:
        _finish(plan, ref, ds_label, key, key_parts, directory, opts, acc)


def _plan(ref, build, ds_label, key, directory, opts, acc) -> _Plan:
    """Load the split and the model, and find the chunks still to extract (resuming a killed run)."""
    from accelerate.utils import broadcast_object_list

    start = time.time()
    ds = build()
    n = len(ds)
    if n == 0:
        raise ValueError(f"split {opts.split!r} of dataset {ds_label!r} is empty; nothing to extract")
    labels = np.asarray(ds["label"], dtype=np.int64)
    label_names = list(ds.features["label"].names)
    model = ref.load()
    device = acc.device
    model.to(device, channels_last=opts.channels_last)
    from .cost import model_cost
    cost = model_cost(model, device)
    cost.update(images_per_second=None, throughput_images=0, device=str(device), processes=acc.num_processes)

    text = model.modality == "text"
    if text:
        from ..models.text import auto_text_batch_size
    batch_size = opts.batch_size or (auto_text_batch_size(device) if text else auto_batch_size(device, model.image_size))
    if opts.num_workers >= 0:
        workers = opts.num_workers
    else:
        from .runtime import onnxruntime_applies

        workers = auto_num_workers(acc.num_processes, fast_forward=onnxruntime_applies(model, device, opts) is None)
    # Chunks hold whole steps (batch_size x processes), so a resumed run batches every sample exactly as
    # an uninterrupted one and the arrays come out bit-identical.
    step = batch_size * acc.num_processes
    chunk = -(-opts.chunk_size // step) * step
    store = None
    todo_chunks = None
    if acc.is_main_process:
        if not opts.use_cache:
            import shutil
            shutil.rmtree(directory, ignore_errors=True)
        store = _cache.ChunkStore(directory, n, chunk, {"key": key})
        done = set(store.done())
        todo_chunks = [c for c in range(store.num_chunks) if c not in done]
    todo_chunks = broadcast_object_list([todo_chunks])[0]
    chunk_rows = [(c, range(c * chunk, min((c + 1) * chunk, n))) for c in todo_chunks]
    todo = np.fromiter((i for _, r in chunk_rows for i in r), dtype=np.int64, count=sum(len(r) for _, r in chunk_rows))
    return _Plan(ds, labels, label_names, model, cost, text, batch_size, workers, chunk_rows, todo, store, start)


def _loop(plan: _Plan, ref, ds_label, opts, acc) -> None:
    """Run the model over the rows still to extract; the main process writes each chunk once it is whole."""
    from tqdm.auto import tqdm

    from .runtime import forward_for, warn

    model, text, device, chunk_rows, store = plan.model, plan.text, acc.device, plan.chunk_rows, plan.store
    # ONNX Runtime where it applies (image models, CPU, float32), on the cores the decoding workers leave
    forward, plan.cost["runtime"] = forward_for(model, device, opts, opts.cache_root(),
                                                max(1, torch.get_num_threads() - plan.workers),
                                                log=warn if acc.is_local_main_process else None)
    loader = torch.utils.data.DataLoader(
        _Texts(plan.ds, plan.todo) if text else _Images(plan.ds, plan.todo, model.preprocess, model.image_size),
        batch_size=plan.batch_size, shuffle=False, num_workers=plan.workers,
        collate_fn=_text_collate(model.preprocess) if text else _collate, pin_memory=device.type == "cuda",
        persistent_workers=False, prefetch_factor=4 if plan.workers else None)
    loader = acc.prepare_data_loader(loader, device_placement=True)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(opts.mixed_precision)
    bar = tqdm(total=len(plan.todo), desc=f"extract {ref.name}", unit="img",
               disable=not (opts.progress and acc.is_local_main_process))
    pending: dict[str, list[np.ndarray]] = {"features": [], "logits": [], "bad": []}
    buffered = 0
    next_chunk = 0
    loop_start = time.perf_counter()
    for pixels, rows, bad, errors in loader:
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            feats, logits = forward(pixels)
        feats, logits, rows, bad = acc.gather_for_metrics((feats.float(), logits.float(), rows, bad))
        if int(bad.sum()):
            _bad_samples(rows, bad, errors, plan, ds_label, opts, text)
        bar.update(int(rows.shape[0]))
        if not acc.is_main_process:
            continue
        pending["features"].append(feats.cpu().numpy())
        pending["logits"].append(logits.cpu().numpy())
        pending["bad"].append(bad.cpu().numpy().astype(np.uint8))
        buffered += int(rows.shape[0])
        while next_chunk < len(chunk_rows) and buffered >= len(chunk_rows[next_chunk][1]):
            c, r = chunk_rows[next_chunk]
            arrays = {k: np.concatenate(v) for k, v in pending.items()}
            store.write(c, {k: a[:len(r)] for k, a in arrays.items()})
            pending = {k: [a[len(r):]] for k, a in arrays.items()}
            buffered -= len(r)
            next_chunk += 1
    bar.close()
    loop_seconds = time.perf_counter() - loop_start
    # decoding, preprocessing and the forward pass of every process together, in images per second
    plan.cost.update(images_per_second=round(len(plan.todo) / loop_seconds, 2) if loop_seconds > 0 else None,
                     throughput_images=int(len(plan.todo)))
    if acc.is_main_process and next_chunk != len(chunk_rows):
        raise RuntimeError(f"extraction of {ref.name!r} received {buffered} samples short of chunk "
                           f"{chunk_rows[next_chunk][0]}; this is a bug, please report it")


class BadSampleError(ValueError):
    """A sample of the dataset that cannot be read (a corrupt image, a missing text): the data's problem, not
    the model's, so a rank stops at the first one instead of failing every model on it."""


def _bad_samples(rows, bad, errors, plan: _Plan, ds_label, opts, text: bool) -> None:
    """Unreadable samples in a batch: an error naming the first (nothing of the entry is kept), or, with
    ``skip_bad_samples``, remembered so that ``_finish`` leaves them out and records them."""
    flagged = [int(r) for r in rows[bad.bool()]]
    detail = {i: e for i, e in errors}
    if not opts.skip_bad_samples:
        what = "text" if text else "image"
        raise BadSampleError(f"{what} {flagged[0]} of dataset {ds_label!r} (split {opts.split!r}) could not be "
                             f"read ({detail.get(flagged[0], 'unreadable')}); fix or delete "
                             f"{'that row' if text else 'that file'}, or pass --skip-bad-samples "
                             "(skip_bad_samples=True in Python) to leave such samples out")
    for row in flagged:
        plan.skipped.setdefault(row, detail.get(row, "unreadable (read by another process)"))


def _finish(plan: _Plan, ref, ds_label, key, key_parts, directory, opts, acc) -> None:
    """Main process: check the gathered arrays and write the cache entry (arrays + manifest); samples that
    could not be read (``skip_bad_samples``) are left out here and listed in the manifest."""
    arrays = plan.store.read_all()
    bad = arrays.pop("bad", np.zeros(len(plan.labels), dtype=np.uint8)).astype(bool)
    keep = ~bad
    if not keep.any():
        raise BadSampleError(f"no sample of dataset {ds_label!r} (split {opts.split!r}) could be read")
    arrays = {k: v[keep] for k, v in arrays.items()}
    arrays["labels"] = plan.labels[keep]
    n = int(keep.sum())
    skipped = [{"row": int(r), "error": plan.skipped.get(int(r), "unreadable")} for r in np.flatnonzero(bad)]
    if arrays["features"].shape[0] != n or not np.isfinite(arrays["features"]).all():
        raise ValueError(f"model {ref.name!r} produced non-finite features on {ds_label!r}; try "
                         "mixed_precision='no'")
    manifest = {
        "key": key,
        "num_samples": n,
        "feature_dim": int(arrays["features"].shape[1]),
        "num_source_classes": int(arrays["logits"].shape[1]),
        "label_names": plan.label_names,
        "skipped_samples": skipped,
        "provenance": ExtractionProvenance(
            model=ModelProvenance(name=ref.name, family=ref.family, revision=ref.revision, hub_id=ref.hub_id,
                                  preprocess=ref.preprocess_config),
            dataset=DatasetProvenance(id=ds_label, split=opts.split, fingerprint=key_parts["dataset"],
                                      selection_fingerprint=plan.ds._fingerprint, num_samples=n),
            options=dataclasses.asdict(opts), processes=acc.num_processes, device=str(acc.device),
            batch_size=plan.batch_size, versions=package_versions(),
            created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            seconds=round(time.time() - plan.start, 3), cost=plan.cost).to_dict(),
    }
    _cache.write_entry(directory, arrays, manifest)
