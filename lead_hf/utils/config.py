"""Options as dataclasses, shared by the Python API, the YAML config and the CLI.

Every job (rank, extract, publish, ...) declares one options dataclass. Its fields' docstrings (the string
literal under each field) become the ``--help`` text; ``options_from`` merges, in increasing priority,
the dataclass defaults, a YAML file and command-line flags, converting types in one place.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import re
import textwrap
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .coercion import coerce
from .constraints import Constrained, Items, Text, declared_constraints, declared_error, metavar

LIST_HELP = "a list: values separated by spaces or commas; quote a path that holds either"


def plain_text(text: str) -> str:
    """Docstring text for a terminal: RST roles and ``literals`` lose their markup."""
    text = re.sub(r":(?:func|class|meth|mod|attr|data):`~?([^`]+)`", r"\1", text)
    return re.sub(r"``([^`]+)``", r"\1", text)


@functools.lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a dataclass (empty when the source is unavailable)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body
        for node, nxt in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                docs[node.target.id] = plain_text(" ".join(nxt.value.value.split()))
    return docs


def _is_list(hint) -> bool:
    if typing.get_origin(hint) in (list, tuple):
        return True
    return any(typing.get_origin(a) in (list, tuple) for a in typing.get_args(hint))


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_options_arguments(parser: argparse.ArgumentParser, cls: type, *, skip=(), positional=()) -> None:
    """Add one flag per dataclass field (``--field-name``). Flags default to 'not given' so that YAML
    values are only overridden by flags the user actually typed.

    - A list option takes one or more values, separated by spaces or commas (``--scores lead logme`` and
      ``--scores lead,logme`` are the same), and may be repeated (the values add up).
    - A boolean option gets the one flag that changes its default: ``--dry-run`` for a default of False,
      ``--no-chart`` for a default of True (a YAML file can still set either value).
    """
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    constraints = declared_constraints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        help_text = docs.get(f.name, "").replace("%", "%%")  # argparse formats help with %
        hint = hints.get(f.name)
        meta = metavar(constraints[f.name]) if f.name in constraints else "VALUE"
        if f.name in positional:
            if _is_list(hint):  # `rank a b`, `rank --models a,b` and both together add up
                parser.add_argument(f.name, nargs="*", action="extend", default=argparse.SUPPRESS,
                                    help=f"{help_text} ({LIST_HELP}; or --{f.name.replace('_', '-')})")
                parser.add_argument(_flag(f.name), dest=f.name, nargs="+", action="extend",
                                    default=argparse.SUPPRESS, metavar=meta, help=argparse.SUPPRESS)
            else:
                parser.add_argument(f.name, nargs="?", default=argparse.SUPPRESS, help=help_text)
            continue
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        shown = str(shown).replace("%", "%%")
        if hint is bool:
            if default is True:  # the flag turns off what the field's text describes
                parser.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_const",
                                    const=False, default=argparse.SUPPRESS,
                                    help=f"turn off (on by default): {_lower_first(help_text)}")
            else:
                parser.add_argument(_flag(f.name), dest=f.name, action="store_const", const=True,
                                    default=argparse.SUPPRESS, help=f"{help_text} (default: off)")
        elif _is_list(hint):
            parser.add_argument(_flag(f.name), dest=f.name, nargs="+", action="extend", default=argparse.SUPPRESS,
                                metavar=meta, help=f"{help_text} ({LIST_HELP}; default: {shown or 'none'})")
        else:
            parser.add_argument(_flag(f.name), dest=f.name, default=argparse.SUPPRESS, metavar=meta,
                                help=f"{help_text} (default: {shown})")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    try:
        with path.open() as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"config file {str(path)!r} is not valid YAML{where}: {problem}; a config file is a "
                         "mapping of option: value, lists as [a, b] or one '- item' per line") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {str(path)!r} must hold a mapping of option: value, got {type(data).__name__}")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def options_from(cls: type, *sources: dict[str, Any] | None, base: Any = None):
    """Build ``cls`` from mappings applied in order (later wins), with type conversion and clear errors.

    ``base``: an instance of ``cls`` whose values the mappings override (they alone are converted).
    """
    fields = {f.name for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    merged: dict[str, Any] = {}
    for src in sources:
        for key, value in (src or {}).items():
            key = key.replace("-", "_")
            if key not in fields:
                raise ValueError(f"unknown option {key!r} for {cls.__name__}; valid options: {', '.join(sorted(fields))}")
            merged[key] = value
    kwargs = {}
    for key, value in merged.items():
        hint = hints.get(key, Any)
        try:
            kwargs[key] = value if hint is Any else coerce(value, hint)
        except (TypeError, ValueError) as err:
            raise declared_error(cls, key, value) or ValueError(f"option {key}={value!r}: {err}") from None
    return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)


def with_overrides(options: Any, overrides: dict[str, Any] | None):
    """``options`` with ``overrides`` on top, converted as the CLI's and YAML's values are (``options_from``):
    the one route of ``extract(**overrides)``, ``finetune(**overrides)`` and ``publish(**overrides)``."""
    return options_from(type(options), overrides, base=options) if overrides else options



@dataclass
class PluginOptions(Constrained):
    """The option of every job that resolves models: which zoo plugins to load first."""

    plugins: tuple[str, ...] = ()
    """Zoo plugins to load before resolving models: module names, or paths of Python files or package folders,
    that register zoo: models (the checkout's benchmark zoo: benchmarks/zoo)."""

    constraints = {"plugins": Items(Text())}
