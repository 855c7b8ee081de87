"""Where a result came from: package versions and the git commit, recorded by every job that writes one,
and the typed provenance of an extraction (model, dataset split, options, cost), which the cache stores and
``rank`` reads."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

PACKAGES = ("lead-hf", "torch", "timm", "transformers", "datasets", "accelerate", "evaluate",
            "huggingface_hub", "numpy", "scipy")


def package_versions() -> dict[str, str]:
    """Installed versions of Python and the packages a result depends on (absent ones are left out)."""
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for pkg in PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    """The commit of the lead-hf checkout in use, or None (installed from a wheel, no git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


# ----------------------------------------------------------------------- what an extraction came from

@dataclass
class ModelProvenance:
    """The model an extraction ran: its name, family, revision (commit or weights hash), Hub id and the
    preprocessing config (part of the cache key)."""

    name: str
    family: str
    revision: str | None = None
    hub_id: str | None = None
    preprocess: dict[str, Any] = field(default_factory=dict)

    @property
    def modality(self) -> str:
        """What the model reads: ``text`` or ``image``."""
        return "text" if self.preprocess.get("modality") == "text" else "image"


@dataclass
class DatasetProvenance:
    """The dataset split an extraction read: its id, split, content fingerprint (part of the cache key),
    the fingerprint of the rows selected and how many."""

    id: str
    split: str
    fingerprint: str | None = None
    selection_fingerprint: str | None = None
    num_samples: int = 0


@dataclass
class ExtractionProvenance:
    """Where one cache entry's arrays came from; stored in its manifest, read back as this type."""

    model: ModelProvenance
    dataset: DatasetProvenance
    options: dict[str, Any] = field(default_factory=dict)
    processes: int = 1
    device: str | None = None
    batch_size: int | None = None
    versions: dict[str, str] = field(default_factory=dict)
    created: str | None = None
    seconds: float | None = None
    cost: dict[str, Any] | None = None
    """Parameters, forward FLOPs per input, measured throughput (:mod:`lead_hf.extract.cost`)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExtractionProvenance":
        known = {f.name for f in fields(cls)}
        rest = {k: v for k, v in data.items() if k in known and k not in ("model", "dataset")}
        model = {k: v for k, v in data["model"].items() if k in {f.name for f in fields(ModelProvenance)}}
        dataset = {k: v for k, v in data["dataset"].items() if k in {f.name for f in fields(DatasetProvenance)}}
        return cls(model=ModelProvenance(**model), dataset=DatasetProvenance(**dataset), **rest)
