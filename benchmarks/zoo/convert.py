"""Derived weights: converted once from an installed package's files, cached, verified by hash.

Converted weights are derived data, never committed. ``cached_file`` / ``cached_state_dict`` convert at
first use and store the result under ``<lead_hf cache>/zoo/<member>/<key>.*`` (the key hashes the
sources' sha256 and the converter tag) plus a manifest, written last, that records the sha256 of the
derived file. A later load re-hashes the file; a missing, partial or altered file is converted again.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import torch

from lead_hf.utils.io import atomic_path, default_cache_root, write_json_atomic
from lead_hf.models.base import file_sha256, files_revision


def conversion_dir(member: str) -> Path:
    return default_cache_root() / "zoo" / member


def cached_file(member: str, sources: list[str], converter: str, suffix: str,
                produce: Callable[[Path], None]) -> Path:
    """A file derived from ``sources`` by ``produce(path)`` (which writes it), made once and cached under
    ``<cache>/zoo/<member>/``; its manifest, written last, holds the file's sha256, checked on every use."""
    revision = files_revision(sources)
    key = hashlib.sha256(f"{revision}|{converter}".encode()).hexdigest()[:20]
    folder = conversion_dir(member)
    target, manifest = folder / f"{key}{suffix}", folder / f"{key}.json"
    if target.is_file() and manifest.is_file():
        try:
            meta = json.loads(manifest.read_text())
        except (OSError, ValueError):
            meta = {}
        if meta.get("sha256") == file_sha256(target):
            return target
    with atomic_path(target) as tmp:
        produce(tmp)
    write_json_atomic(manifest, {"member": member, "sources": [str(p) for p in sources],
                                 "source_revision": revision, "converter": converter,
                                 "sha256": file_sha256(target)})
    return target


def cached_state_dict(member: str, sources: list[str], converter: str,
                      convert: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The state dict ``convert()`` produces from ``sources``, converted once and cached as safetensors."""
    from safetensors.torch import load_file, save_file

    def produce(path: Path) -> None:
        save_file({k: v.detach().contiguous().clone() for k, v in convert().items()}, str(path))

    path = cached_file(member, sources, converter, ".safetensors", produce)
    # load_file maps the file; copy, so the tensors never alias a file another process may rewrite
    return {k: v.clone() for k, v in load_file(str(path)).items()}
