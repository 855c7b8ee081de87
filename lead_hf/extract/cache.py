"""The on-disk extraction cache.

One directory per request key (a hash of model name + revision + preprocessing, dataset fingerprint +
split + sample selection, and the options that change the numbers)::

    <root>/extract/<key>/
        arrays.safetensors   features [N, D] f32, logits [N, C] f32, labels [N] i64
        manifest.json        written last: its presence marks the entry complete
        partial/             while running: plan.json + chunk-00000.safetensors ... (removed at the end)

Every file goes through ``lead_hf.utils.io.atomic_path``, so a killed run leaves whole chunk files or none, and
an entry without a manifest is never read as a result.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.io import (atomic_path, default_cache_root, file_lock, remove_stale_temporaries,  # noqa: F401
                        sha256_now, write_json_atomic)


class DamagedCacheWarning(UserWarning):
    """A cache entry or chunk that does not match its checksum (or holds non-finite features): recomputed."""

FORMAT = "lead-hf/extract/v1"
ARRAYS = "arrays.safetensors"
MANIFEST = "manifest.json"




def request_key(parts: dict[str, Any]) -> str:
    blob = json.dumps({"format": FORMAT, **parts}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def entry_dir(root: Path, key: str) -> Path:
    return Path(root) / "extract" / key


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    from safetensors.numpy import save_file
    with atomic_path(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file
    return load_file(str(path))


def entry_lock(directory: Path, log=None):
    """The lock of one cache entry (a file beside it, so that removing the entry keeps the lock): whoever
    holds it is the entry's only writer."""
    directory = Path(directory)
    return file_lock(directory.parent / ".locks" / f"{directory.name}.lock", f"cache entry {str(directory)!r}", log)


def _damaged(directory: Path, why: str) -> None:
    warnings.warn(f"cache entry {str(directory)!r} is damaged ({why}); it is recomputed", DamagedCacheWarning,
                  stacklevel=3)


def read_entry(directory: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """(arrays, manifest) of a complete entry, or None when absent, partial or damaged (a damaged one is
    said with a :class:`DamagedCacheWarning`)."""
    manifest_path = directory / MANIFEST
    arrays_path = directory / ARRAYS
    if not manifest_path.is_file() or not arrays_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        _damaged(directory, "its manifest cannot be read")
        return None
    if manifest.get("format") != FORMAT:
        return None  # another version's entry: not ours to judge
    if arrays_path.stat().st_size != manifest.get("arrays_bytes"):
        _damaged(directory, f"{ARRAYS} has {arrays_path.stat().st_size} bytes, the manifest says "
                            f"{manifest.get('arrays_bytes')}")
        return None
    if "arrays_sha256" in manifest and sha256_now(arrays_path) != manifest["arrays_sha256"]:
        _damaged(directory, f"{ARRAYS} does not match its sha256")
        return None
    try:
        arrays = load_arrays(arrays_path)
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error type on torn files
        _damaged(directory, f"{ARRAYS} cannot be read: {err}")
        return None
    n = manifest.get("num_samples")
    if any(a.shape[0] != n for a in arrays.values()):
        _damaged(directory, f"its arrays do not all have the manifest's {n} rows")
        return None
    if "features" in arrays and not np.isfinite(arrays["features"]).all():
        _damaged(directory, "its cached features hold NaN or infinite values")
        return None
    return arrays, manifest


def write_entry(directory: Path, arrays: dict[str, np.ndarray], manifest: dict[str, Any]) -> None:
    """Arrays first, manifest last (the commit point), then drop the partial chunks."""
    save_arrays(directory / ARRAYS, arrays)
    manifest = {"format": FORMAT, **manifest, "arrays_bytes": (directory / ARRAYS).stat().st_size,
                "arrays_sha256": sha256_now(directory / ARRAYS)}
    write_json_atomic(directory / MANIFEST, manifest)
    shutil.rmtree(directory / "partial", ignore_errors=True)


class ChunkStore:
    """Resume support: rows [c*size, (c+1)*size) of the result stored as ``partial/chunk-c``."""

    def __init__(self, directory: Path, num_samples: int, chunk_size: int, plan: dict[str, Any]):
        self.dir = Path(directory) / "partial"
        self.n = num_samples
        self.size = chunk_size
        plan = {**plan, "num_samples": num_samples, "chunk_size": chunk_size}
        plan_path = self.dir / "plan.json"
        try:
            old = json.loads(plan_path.read_text()) if plan_path.is_file() else None
        except (OSError, json.JSONDecodeError):
            old = None
        if old != json.loads(json.dumps(plan, default=str)):
            shutil.rmtree(self.dir, ignore_errors=True)  # another plan's chunks cannot be reused
            write_json_atomic(plan_path, plan)

    @property
    def num_chunks(self) -> int:
        return -(-self.n // self.size)

    def rows(self, c: int) -> range:
        return range(c * self.size, min((c + 1) * self.size, self.n))

    def path(self, c: int) -> Path:
        return self.dir / f"chunk-{c:05d}.safetensors"

    def done(self) -> list[int]:
        """The chunks written whole: each matches the sha256 recorded beside it (a damaged one is redone,
        with a warning)."""
        out = []
        for c in range(self.num_chunks):
            p = self.path(c)
            if not p.is_file():
                continue
            try:
                record = json.loads(p.with_suffix(".json").read_text())
            except (OSError, ValueError):
                continue  # killed between the chunk and its checksum: redo it
            if sha256_now(p) != record.get("sha256"):
                _damaged(self.dir.parent, f"partial chunk {p.name} does not match its sha256")
                continue
            try:
                arrays = load_arrays(p)
            except Exception:  # noqa: BLE001 - safetensors raises its own error type on torn files
                continue
            if all(a.shape[0] == len(self.rows(c)) for a in arrays.values()):
                out.append(c)
        return out

    def write(self, c: int, arrays: dict[str, np.ndarray]) -> None:
        """The chunk, then its sha256 beside it (a chunk without one is not done)."""
        save_arrays(self.path(c), arrays)
        write_json_atomic(self.path(c).with_suffix(".json"), {"sha256": sha256_now(self.path(c))})

    def read_all(self) -> dict[str, np.ndarray]:
        parts = [load_arrays(self.path(c)) for c in range(self.num_chunks)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
