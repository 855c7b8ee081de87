"""What runs an image model's forward pass in the extraction loop: PyTorch itself (``eager``), or the same
model exported to ONNX and run by ONNX Runtime on the CPU (``onnxruntime``), which fuses each convolution
with its batch norm and activation and runs them in its own blocked layouts.

The loop (:mod:`.loop`) stays the same for every model family: it asks :func:`forward_for` for a function
``pixels [B, 3, H, W] -> (features [B, D], logits [B, C])`` and calls it batch by batch. ONNX Runtime is
used where it applies (``runtime="auto"``: an image model on the CPU, float32) and where it agrees with
PyTorch: the exported graph is checked on the first batch against PyTorch's own forward, and any failure
(an operator the exporter does not know, a session that does not load, features further apart than
``TOLERANCE``) falls back to PyTorch, with the reason recorded in the provenance (``cost["runtime"]``).
The exported model is kept in the cache (``<cache>/onnx/``), keyed by the model's name, revision and input
size, so a second extraction of the same model does not export it again; an export that failed leaves a
``.failed`` record there instead, so the next extraction goes straight to PyTorch.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..utils.io import write_text_atomic
from .options import RUNTIMES  # noqa: F401 - the runtimes' names, with the options (no ML framework)

TOLERANCE = 1e-4
"""ONNX Runtime's features and logits must equal PyTorch's float32 forward to this, relative to the largest
absolute value of the batch (max |ort - torch| <= TOLERANCE * max(1, max |torch|)); on the demo zoo and 256
digits the features came out at most 3.9e-6 apart (benchmarks/bench_extract.py, docs/performance.md, 2026-12-06).
Results within it are the same features:
the runtime is not part of the cache key, like channels-last and the batch size."""

CHECK_IMAGES = 2
"""Images of the first batch that PyTorch also runs, to check ONNX Runtime against it."""

EXPORT_FORMAT = "lead-hf/onnx/v1"


class RuntimeFallbackWarning(UserWarning):
    """ONNX Runtime was asked for (or its check failed) and PyTorch runs the model instead: says why."""


def warn(message: str) -> None:
    import warnings

    warnings.warn(message, RuntimeFallbackWarning, stacklevel=3)


class _Both(torch.nn.Module):
    """The LoadedModel's one forward pass, features and logits, as a module the exporter can trace."""

    def __init__(self, model):
        super().__init__()
        self.inner = model.module
        self._forward = model.forward

    def forward(self, pixels):
        return self._forward(pixels)


def onnxruntime_applies(model, device: torch.device, opts) -> str | None:
    """None when ONNX Runtime may run ``model`` under ``opts``, else why not (in words)."""
    if opts.runtime == "eager":
        return "runtime='eager'"
    if model.modality != "image":
        return "a text model"
    if device.type != "cpu":
        return f"device {device.type} (ONNX Runtime runs on the CPU here)"
    if opts.mixed_precision != "no":
        return f"mixed_precision={opts.mixed_precision!r}"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed (pip install onnxruntime)"
    return None


def export_path(cache_root: Path, model) -> Path:
    """Where the exported graph of ``model`` is cached: its name, revision and input size, the torch version."""
    blob = json.dumps({"format": EXPORT_FORMAT, "name": model.name, "revision": model.revision,
                       "size": list(model.image_size), "preprocess": model.preprocess_config,
                       "torch": torch.__version__}, sort_keys=True, default=str)
    return Path(cache_root) / "onnx" / (hashlib.sha256(blob.encode()).hexdigest()[:40] + ".onnx")


def failed_export_path(path: Path) -> Path:
    """Where a failed export of the graph ``path`` records why: an export fails the same way every time for
    the same model, size and torch version (the key of ``path``), so it is tried once, not per extraction."""
    return path.with_suffix(".failed")


@contextlib.contextmanager
def _stderr_silenced():
    """Send file descriptor 2 to nowhere: when the TorchScript exporter fails it prints the whole traced graph
    (hundreds of lines) from C++, which Python's warnings filters and ``sys.stderr`` do not reach. The error
    itself still propagates, with its message."""
    import os
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def export(model, path: Path) -> None:
    """The model's forward (features and logits) as an ONNX graph with a free batch size, written atomically."""
    from ..utils.io import atomic_path

    import warnings

    example = torch.zeros(2, 3, *model.image_size, device=next(model.module.parameters()).device)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings(), _stderr_silenced():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice, tracer notes
        torch.onnx.export(_Both(model).eval(), (example,), str(tmp), dynamo=False, input_names=["pixels"],
                          output_names=["features", "logits"], opset_version=17,
                          dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}, "logits": {0: "batch"}})


def session(path: Path, threads: int):
    """An ONNX Runtime CPU session of ``path`` on ``threads`` threads that sleep when idle (spinning threads
    slowed the forward passes on the shared CPU, as OpenMP's did)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def close_enough(got: torch.Tensor, want: torch.Tensor) -> tuple[bool, float]:
    """(within TOLERANCE, the largest difference relative to max(1, max |want|)); an empty output (the
    logits of a model without a classifier) agrees when its shape does."""
    if want.numel() == 0:
        return tuple(got.shape) == tuple(want.shape), 0.0
    scale = max(1.0, float(want.abs().max()))
    diff = float((got - want).abs().max()) / scale
    return diff <= TOLERANCE, diff


class OrtForward:
    """``pixels -> (features, logits)`` by an ONNX Runtime session, checked against PyTorch on first use."""

    def __init__(self, sess, model, channels_last: bool):
        self.sess, self.model, self.channels_last = sess, model, channels_last
        self.checked: float | None = None

    def run(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = np.ascontiguousarray(pixels.detach().cpu().numpy(), dtype=np.float32)
        feats, logits = self.sess.run(None, {"pixels": x})
        return torch.from_numpy(feats), torch.from_numpy(logits)

    def check(self, pixels: torch.Tensor) -> float:
        """The largest relative difference from PyTorch on the first CHECK_IMAGES images; ValueError beyond
        TOLERANCE."""
        part = pixels[:CHECK_IMAGES]
        got = self.run(part)
        with torch.inference_mode():
            want = self.model(part.contiguous(memory_format=torch.channels_last) if self.channels_last else part)
        worst = 0.0
        for g, w in zip(got, want):
            ok, diff = close_enough(g, w.float())
            worst = max(worst, diff)
            if not ok:
                raise ValueError(f"ONNX Runtime differs from PyTorch by {diff:.1e} (relative), beyond {TOLERANCE:g}")
        return worst


def eager_forward(model, opts):
    """PyTorch's forward of the loop: channels-last input when asked (the model was made channels-last)."""
    if opts.channels_last and model.modality == "image":
        return lambda pixels: model(pixels.contiguous(memory_format=torch.channels_last))
    return model


class _ExportFailedBefore(Exception):
    """The graph's export failed in an earlier extraction (its ``.failed`` record says why)."""


def forward_for(model, device: torch.device, opts, cache_root: Path, threads: int,
                log: Callable[[str], None] | None = None):
    """(forward: pixels [B, 3, H, W] -> (features, logits) for the loop, info for the provenance: the runtime
    used, why not ONNX Runtime, its set-up seconds and the difference its check found). ``threads``: ONNX
    Runtime's threads (the loop leaves the DataLoader workers their cores)."""
    reason = onnxruntime_applies(model, device, opts)
    info: dict[str, Any] = {"runtime": "eager"}
    if reason is None:
        start = time.perf_counter()
        path = export_path(cache_root, model)
        failed = failed_export_path(path)
        try:
            if not path.exists():
                if failed.is_file():
                    raise _ExportFailedBefore(failed.read_text(encoding="utf-8").strip())
                try:
                    export(model, path)
                except Exception as err:
                    write_text_atomic(failed, f"{type(err).__name__}: {str(err)[:200]}\n")
                    raise
            ort_forward = OrtForward(session(path, threads), model, opts.channels_last)
        except _ExportFailedBefore as err:
            # the file's name, not its path: provenance travels (model cards), local paths must not
            reason = f"ONNX export failed ({err}; recorded in <cache>/onnx/{failed.name}, delete it to try again)"
        except Exception as err:  # noqa: BLE001 - any failure: PyTorch runs the model, as it always could
            reason = f"ONNX export or session failed ({type(err).__name__}: {str(err)[:200]})"
        else:
            info = {"runtime": "onnxruntime", "threads": int(threads),
                    "setup_seconds": round(time.perf_counter() - start, 3)}
            return _checked(ort_forward, model, opts, info, log), info
    if opts.runtime == "onnxruntime" and log is not None:
        log(f"ONNX Runtime not used for {model.name}: {reason}; PyTorch runs it")
    info["why"] = reason
    return eager_forward(model, opts), info


def _checked(ort_forward: OrtForward, model, opts, info: dict, log):
    """The ORT forward, which on its first batch compares itself with PyTorch and, beyond the tolerance or on
    an error, hands every batch to PyTorch from then on (recorded in ``info``)."""
    state = {"use": None}

    def forward(pixels):
        if state["use"] is None:
            try:
                info["checked_difference"] = float(f"{ort_forward.check(pixels):.2e}")
                state["use"] = ort_forward.run
            except Exception as err:  # noqa: BLE001
                info.update(runtime="eager", why=f"ONNX Runtime check failed ({type(err).__name__}: {err})")
                if log is not None:
                    log(f"{model.name}: {info['why']}; PyTorch runs it")
                state["use"] = eager_forward(model, opts)
        return state["use"](pixels)

    return forward
