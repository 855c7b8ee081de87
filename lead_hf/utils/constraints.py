"""Option checks declared, not hand-written: one constraint per field, one checking function, one message.

An options dataclass derives from :class:`Constrained` and declares what each field accepts in a
class-level ``constraints`` mapping, as scikit-learn's ``_parameter_constraints`` does::

    @dataclass
    class LogMEOptions(Constrained):
        tol: float = 1e-6
        solver: str = "auto"

        constraints = {"tol": Interval(float, 0, None, closed="neither"), "solver": OneOf(*SOLVERS)}

A field's constraint is one :class:`Constraint`, or a tuple of alternatives where ``None`` or a constant
(``"gcv"``) stands for that exact value. ``check_options`` (run by ``Constrained.__post_init__``) checks
every declared field and raises :class:`OptionError`, whose message always reads

    <option> must be <what is allowed>, got <the value>

Subclasses inherit and extend their parents' constraints. Rules that tie several fields together stay in
the class's ``__post_init__``, raising :class:`OptionError` with the same format. Every constraint can also
generate values it rejects (:func:`invalid_values`): the tests feed them to every option.

This module imports nothing from lead_hf, so every layer (scores included) may use it.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import os
import re
from typing import Any


class OptionError(ValueError):
    """An option value that its declared constraint (or a rule between options) rejects."""

    def __init__(self, option: str, value: Any, allowed: str):
        super().__init__(f"{option} must be {allowed}, got {value!r}")
        self.option, self.value, self.allowed = option, value, allowed


class Constraint:
    """What one option accepts: ``accepts(value)``, a ``describe()`` phrase that completes
    "<option> must be ...", and ``invalid()``: example values it rejects (for the tests)."""

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def invalid(self) -> list[Any]:
        raise NotImplementedError

    metavar = "VALUE"
    """How ``--help`` names the value (N, X, PATH, TEXT, {a,b})."""


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


class Interval(Constraint):
    """An integer (``kind=int``) or a finite number (``kind=float``) between ``low`` and ``high`` (None:
    unbounded); ``closed`` says which bounds belong to the interval: both, left, right or neither."""

    def __init__(self, kind: type, low: float | None = None, high: float | None = None, *, closed: str = "both"):
        if kind not in (int, float) or closed not in ("both", "left", "right", "neither"):
            raise TypeError("Interval(kind=int|float, low, high, closed=both|left|right|neither)")
        self.kind, self.low, self.high = kind, low, high
        self.metavar = "N" if kind is int else "X"
        self.low_closed = closed in ("both", "left")
        self.high_closed = closed in ("both", "right")

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral if self.kind is int else numbers.Real):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (value == self.low and not self.low_closed)):
            return False
        return not (self.high is not None and (value > self.high or (value == self.high and not self.high_closed)))

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a finite number"
        if self.low is not None and self.high is not None:
            what = "an integer" if self.kind is int else "a number"
            return (f"{what} in {'[' if self.low_closed else '('}{_fmt(self.low)}, {_fmt(self.high)}"
                    f"{']' if self.high_closed else ')'}")
        if self.low is not None:
            return f"{what} {'>=' if self.low_closed else '>'} {_fmt(self.low)}"
        if self.high is not None:
            return f"{what} {'<=' if self.high_closed else '<'} {_fmt(self.high)}"
        return what

    def invalid(self) -> list[Any]:
        step = 1 if self.kind is int else 0.5
        out: list[Any] = ["x"]
        if self.low is not None:
            out.append(self.low - step if self.low_closed else self.kind(self.low))
        if self.high is not None:
            out.append(self.high + step if self.high_closed else self.kind(self.high))
        out += [1.5] if self.kind is int else [math.nan, math.inf]
        return [v for v in out if not self.accepts(v)]


class OneOf(Constraint):
    """One of the given strings."""

    def __init__(self, *choices: str):
        self.choices = tuple(choices)
        self.metavar = "{" + ",".join(self.choices) + "}"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.choices

    def describe(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def invalid(self) -> list[Any]:
        return ["not-" + self.choices[0], 3]


class Text(Constraint):
    """A string; with ``pattern``, one that matches it whole (``description`` then says what it is); never
    one of ``exclude``. ``invalid`` adds example strings the pattern rejects."""

    metavar = "TEXT"

    def __init__(self, pattern: str | None = None, description: str | None = None, *, exclude: tuple = (),
                 invalid: tuple = ()):
        self.pattern = re.compile(pattern) if pattern else None
        self.description = description or "a string"
        self.exclude, self.examples = tuple(exclude), tuple(invalid)

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, str) and value not in self.exclude
                and (self.pattern is None or self.pattern.fullmatch(value) is not None))

    def describe(self) -> str:
        return self.description

    def invalid(self) -> list[Any]:
        return [3, *self.exclude, *self.examples]


class PathLike(Constraint):
    """A path: a string or an ``os.PathLike`` (pathlib.Path)."""

    metavar = "PATH"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (str, os.PathLike))

    def describe(self) -> str:
        return "a path (a string or pathlib.Path)"

    def invalid(self) -> list[Any]:
        return [3]


class Boolean(Constraint):
    def accepts(self, value: Any) -> bool:
        # numpy's booleans too (numpy.bool_, named numpy.bool since numpy 2), without importing numpy here
        return isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"))

    def describe(self) -> str:
        return "True or False"

    def invalid(self) -> list[Any]:
        return ["maybe"]


class Mapping(Constraint):
    """A dict (of option: value, for instance)."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def describe(self) -> str:
        return "a mapping of option: value"

    def invalid(self) -> list[Any]:
        return [[1, 2]]


class Items(Constraint):
    """A list or tuple (not a string) whose every item satisfies ``item``; at least ``min_items`` of them,
    all different when ``distinct``."""

    def __init__(self, item: Constraint, *, min_items: int = 0, distinct: bool = False):
        self.item, self.min_items, self.distinct = item, min_items, distinct
        self.metavar = item.metavar

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, (list, tuple)) or len(value) < self.min_items:
            return False
        if not all(self.item.accepts(v) for v in value):
            return False
        return not self.distinct or len(set(value)) == len(value)

    def describe(self) -> str:
        size = "a non-empty list" if self.min_items == 1 else (
            f"a list of at least {self.min_items} items" if self.min_items > 1 else "a list")
        return f"{size}{' of distinct items' if self.distinct else ''}, each {self.item.describe()}"

    def invalid(self) -> list[Any]:
        good = _an_accepted_item(self.item)
        out: list[Any] = ["a string, not a list"]
        out += [(bad,) * max(1, self.min_items) for bad in self.item.invalid()]
        if self.min_items:
            out.append(())
        if self.distinct and good is not None:
            out.append((good, good))
        return [v for v in out if not self.accepts(v)]


def _an_accepted_item(c: Constraint) -> Any:
    for candidate in (1, 1.0, "a", True, "a/b"):
        if c.accepts(candidate):
            return candidate
    return None


# -- declarations and the one check --------------------------------------------------------------------

def _alternatives(spec) -> tuple:
    return spec if isinstance(spec, tuple) else (spec,)


def _matches(alt, value: Any) -> bool:
    if isinstance(alt, Constraint):
        return alt.accepts(value)
    return type(value) is type(alt) and value == alt      # None or a constant such as "gcv"


def metavar(spec) -> str:
    """How ``--help`` names the value of a field with this declared constraint."""
    return next((alt.metavar for alt in _alternatives(spec) if isinstance(alt, Constraint)), "VALUE")


def describe(spec) -> str:
    """'what is allowed' for a field's declared constraint (one constraint or a tuple of alternatives)."""
    return " or ".join(alt.describe() if isinstance(alt, Constraint) else repr(alt) for alt in _alternatives(spec))


def accepts(spec, value: Any) -> bool:
    return any(_matches(alt, value) for alt in _alternatives(spec))


def invalid_values(spec) -> list[Any]:
    """Values the declared constraint rejects, from every alternative's examples."""
    out = []
    for alt in _alternatives(spec):
        if isinstance(alt, Constraint):
            out += [v for v in alt.invalid() if not accepts(spec, v) and v not in out]
    return out


def declared_constraints(cls: type) -> dict[str, Any]:
    """The ``constraints`` of ``cls`` merged over its bases (a subclass may add or replace entries)."""
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        merged.update(klass.__dict__.get("constraints", {}))
    return merged


def check_value(owner: type, name: str, value: Any) -> None:
    """Raise :class:`OptionError` when ``value`` breaks the constraint declared for field ``name``."""
    spec = declared_constraints(owner).get(name)
    if spec is not None and not accepts(spec, value):
        raise OptionError(name, value, describe(spec))


def declared_error(owner: type, name: str, value: Any, label: str | None = None) -> OptionError | None:
    """The :class:`OptionError` for ``value`` of field ``name`` of ``owner`` when it breaks the declared
    constraint, else None (it fits, or nothing is declared). ``label`` names the option in the message.
    The converters (config.options_from, the score registry) raise it when a CLI/YAML value cannot be
    converted, so that a value of the wrong type gets the same message as a value out of range."""
    spec = declared_constraints(owner).get(name)
    if spec is None or accepts(spec, value):
        return None
    return OptionError(label or name, value, describe(spec))


def check_options(options: Any) -> None:
    """Check every declared field of a dataclass instance, in field order; the first violation raises."""
    cls = type(options)
    declared = declared_constraints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(declared) - names)
    if unknown:
        raise TypeError(f"{cls.__name__}.constraints names {', '.join(unknown)}, which are not fields")
    for f in dataclasses.fields(cls):
        if f.name in declared:
            check_value(cls, f.name, getattr(options, f.name))


def undeclared_fields(cls: type) -> list[str]:
    """Fields of ``cls`` without a declared constraint (the tests require none)."""
    declared = declared_constraints(cls)
    return [f.name for f in dataclasses.fields(cls) if f.name not in declared]


class Constrained:
    """Base of the options dataclasses: ``__post_init__`` checks the declared ``constraints``. A subclass
    that normalises values (a string into a tuple, ...) does so, then calls ``super().__post_init__()``,
    then checks its rules between fields."""

    metavar = "KEY=VALUE"

    metavar = "PATH"

    metavar = "TEXT"

    constraints: dict[str, Any] = {}

    def __post_init__(self):
        check_options(self)
