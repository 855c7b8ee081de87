"""Options of an extraction (``lead-hf extract``, and what ``rank`` extracts with); imports no ML framework."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..utils.config import PluginOptions
from ..utils.constraints import Boolean, Interval, OneOf, PathLike, Text
from ..utils.io import default_cache_root

MIXED_PRECISION = ("no", "fp16", "bf16")
RUNTIMES = ("auto", "eager", "onnxruntime")


@dataclass
class ExtractOptions(PluginOptions):
    split: str = "train"
    """Dataset split, optionally sliced like datasets does it: train, test[:500], train[10:90] (percent
    bounds work too)."""
    image_column: str | None = None
    """Image column (default: the Image feature, else image/img/...)."""
    label_column: str | None = None
    """Label column (default: the ClassLabel feature, else label/labels/...)."""
    text_column: str | None = None
    """Text models: the column of texts (default: the only string column besides the label, else 'text')."""
    max_length: int | None = None
    """Text models: truncate at this many tokens (default: the model's own, e.g. 256 for all-MiniLM-L6-v2)."""
    dataset_config: str | None = None
    """Configuration name of a Hub dataset that has several."""
    max_per_class: int | None = None
    """Low-data mode: at most this many samples per class, drawn with seed (stratified). None: all."""
    seed: int = 0
    """Seed of the low-data sample selection."""
    batch_size: int = 0
    """Images per forward pass and process; 0 picks one (32 on CPU, about 256 at 224 px on a GPU)."""
    num_workers: int = -1
    """DataLoader workers decoding images off the main thread; -1 picks from the CPU count and the runtime
    (every core but one for PyTorch's forward, a quarter of them for ONNX Runtime's: none on 2 cores)."""
    mixed_precision: str = "no"
    """no | fp16 | bf16 (autocast for the forward pass; outputs are stored in float32)."""
    channels_last: bool = True
    """Run the model and its input in channels-last memory format (faster convolutions; PyTorch runtime)."""
    runtime: str = "auto"
    """What runs an image model's forward pass: auto (ONNX Runtime on the CPU in float32 when onnxruntime is
    installed, else PyTorch) | eager (PyTorch) | onnxruntime (ask for it; where it does not apply or fails
    its check against PyTorch on the first batch, PyTorch runs the model and the log says why). ONNX
    Runtime's features equal PyTorch's to 1e-4 relative (checked on every run), so the cache does not tell
    them apart."""
    chunk_size: int = 1024
    """Samples per resume chunk written to the cache while running (rounded up to whole steps of
    batch_size x processes)."""
    cache_dir: str | None = None
    """Cache root (default: $LEAD_HF_CACHE or ~/.cache/lead_hf)."""
    use_cache: bool = True
    """Read a finished result from the cache (off: recompute it, replacing the cached one)."""
    progress: bool = True
    """Show a progress bar (main process only)."""
    skip_bad_samples: bool = False
    """Leave out the samples that cannot be read (a corrupt image, a missing text) instead of stopping at the
    first one; they are listed in the cache entry and results.json."""

    constraints = {
        "split": Text(), "image_column": (Text(), None), "label_column": (Text(), None),
        "text_column": (Text(), None), "max_length": (Interval(int, 1), None), "dataset_config": (Text(), None),
        "max_per_class": (Interval(int, 1), None), "seed": Interval(int, 0),
        "batch_size": Interval(int, 0),           # 0: automatic
        "num_workers": Interval(int, -1),         # -1: automatic
        "mixed_precision": OneOf(*MIXED_PRECISION), "channels_last": Boolean(), "runtime": OneOf(*RUNTIMES),
        "chunk_size": Interval(int, 1),
        "cache_dir": (PathLike(), None), "use_cache": Boolean(), "progress": Boolean(),
        "skip_bad_samples": Boolean(),
    }

    def cache_root(self) -> Path:
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_root()
