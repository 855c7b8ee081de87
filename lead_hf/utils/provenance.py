"""Where a result came from: package versions and the git commit, recorded by every job that writes one."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
