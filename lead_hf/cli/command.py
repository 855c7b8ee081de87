"""The ``lead-hf`` subcommands: one module per subcommand, each exposing ``COMMAND = Command(...)``.

A command module wires an options dataclass to the library function that does the work and prints
the outcome; the work itself lives in the library (``lead_hf.rank``, ``lead_hf.extract``, ...), which
never imports this package. ``lead_hf.cli`` maps a subcommand name to ``lead_hf.cli.<name>``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class Command:
    """One subcommand: its options dataclass (one flag per field), the function that runs it (options ->
    exit code), its ``--help`` description, and which fields are positional arguments."""

    name: str
    options: type
    run: Callable[[Any], int | None]
    description: str
    positional: tuple[str, ...] = ()
