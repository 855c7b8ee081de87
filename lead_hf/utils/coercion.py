"""Turning option values written as text (command line, YAML) into the types an options dataclass declares:
``"8,16"`` -> ``(8, 16)``, ``"false"`` -> ``False``, ``"none"`` -> ``None``. One function, used by
``lead_hf.utils.config.options_from`` (CLI, YAML, Python) and by the score registry (``METHOD.OPTION=VALUE``), so
every route accepts the same spellings. Imports nothing from lead_hf, so every layer may use it.
"""
from __future__ import annotations

import os
import re
import typing
from typing import Any


def split_list_item(item: str) -> list[str]:
    """The values one list item holds: split on commas and whitespace, unless the item names a file or folder
    that exists (as ``local-dir:PATH``, ``timm:ARCH@PATH`` or a bare path), which is kept whole."""
    path = item.split(":", 1)[1] if re.match(r"^[A-Za-z][\w-]*:(?!\\)", item) else item
    path = path.split("@", 1)[1] if "@" in path else path
    if path.strip() and (" " in item or "," in item) and os.path.exists(os.path.expanduser(path)):
        return [item]
    return item.replace(",", " ").split()


def coerce(value: Any, annotation: Any) -> Any:
    """Turn CLI/YAML strings and lists into the option's declared type (tuples of ints, bools...)."""
    if isinstance(annotation, str):  # postponed annotations
        annotation = eval(annotation, {"typing": typing, "Any": Any})  # noqa: S307 - our own dataclasses
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if type(None) in args and (value is None or (isinstance(value, str) and value.strip().lower() in {"none", "null"})):
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg)
            except (TypeError, ValueError):
                continue
        raise ValueError(f"{value!r} does not fit {annotation}")
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            value = [value]
        # every string item may itself hold several values: "a,b", "a b" (the CLI and YAML spellings); an
        # item that names an existing file or folder is kept whole (a quoted path with spaces or commas)
        items = [part for v in value for part in (split_list_item(v) if isinstance(v, str) else [v])]
        inner = args[0] if args else Any
        return tuple(coerce(v, inner) for v in items)
    if annotation is bool:
        if isinstance(value, str):
            low = value.strip().lower()
            if low in {"1", "true", "yes", "on"}:
                return True
            if low in {"0", "false", "no", "off"}:
                return False
            raise ValueError(f"{value!r} is not a boolean")
        return bool(value)
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        out = annotation(value)
        if annotation is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value!r} is not an integer")
        return out
    if annotation is str:
        if isinstance(value, os.PathLike):   # a pathlib.Path given from Python for a path option
            return os.fspath(value)
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a string")
        return value
    return value
