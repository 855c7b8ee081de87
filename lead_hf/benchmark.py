"""`lead-hf benchmark`: placeholder while being written."""
from __future__ import annotations

from pathlib import Path


def default_zoo_dir() -> Path:
    from .extract.cache import default_cache_root
    return default_cache_root() / "benchmark_zoo"


def read_zoo(path, zoo_dir=None) -> list[str]:
    """Model specs from a zoo file (one per line, # comments), ``{ZOO_DIR}`` replaced by ``zoo_dir``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"zoo file {str(path)!r} does not exist")
    folder = str(Path(zoo_dir).expanduser()) if zoo_dir else str(default_zoo_dir())
    specs = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            specs.append(line.replace("{ZOO_DIR}", folder))
    if not specs:
        raise ValueError(f"zoo file {str(path)!r} lists no model")
    return specs
