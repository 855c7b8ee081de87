"""What every script of the lab needs first, imported as ``import _lab`` (a script's own folder is on
``sys.path``): the checkout's root on ``sys.path`` (for ``benchmarks.zoo`` and ``tests.support``) and the
benchmark zoo registered (its members are ``zoo:`` names only once ``benchmarks.zoo`` is imported)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import benchmarks.zoo  # noqa: E402,F401 - registers the benchmark zoo
