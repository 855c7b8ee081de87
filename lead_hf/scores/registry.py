"""One registry for every transferability score.

A score is a function ``fn(inputs: ScoreInputs, options) -> ScoreResult`` plus a dataclass of its
options. ``register_score`` records both; ``compute_score`` validates the raw arrays once
(``validation.prepare_inputs``), parses the options into the dataclass (unknown names are an error that
lists the valid ones) and times the call. Score modules import nothing from models, extraction or hub.
"""
from __future__ import annotations

import dataclasses
import time
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

from ..coercion import coerce as _coerce
from ..constraints import OptionError, declared_error
from .validation import ScoreInputs, prepare_inputs


@dataclass
class ScoreResult:
    """What a score returns. ``value``: higher means more transferable, for every method."""

    method: str
    value: float
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)

    def __float__(self) -> float:
        return float(self.value)


@dataclass(frozen=True)
class ScoreSpec:
    name: str
    fn: Callable[[ScoreInputs, Any], ScoreResult]
    options: type
    needs_source_logits: bool
    summary: str
    citation: str
    needs_features: bool = True   # False: the score reads only labels and source logits (LEEP, NCE)
    title: str = ""
    """How the score is written for people (model cards, leaderboards): "LogME"; the name by default."""


_REGISTRY: dict[str, ScoreSpec] = {}


def register_score(name: str, *, options: type, summary: str, citation: str,
                   needs_source_logits: bool = False, needs_features: bool = True, title: str | None = None):
    """Decorator: register ``fn(inputs, options) -> float | ScoreResult`` under ``name`` (``title``: its
    display name, e.g. "LogME"; the name itself when not given).

    ``needs_features=False`` marks a score that never reads ``inputs.features`` (then ``None`` for
    callers that pass no features)."""
    if not dataclasses.is_dataclass(options):
        raise TypeError(f"options for score {name!r} must be a dataclass type")

    def decorate(fn):
        if name in _REGISTRY:
            raise ValueError(f"score {name!r} is registered twice")
        _REGISTRY[name] = ScoreSpec(name, fn, options, needs_source_logits, summary, citation, needs_features,
                                    title or name)
        return fn

    return decorate


def available_scores() -> list[str]:
    """Names accepted by ``lead_hf.score``, sorted."""
    return sorted(_REGISTRY)


def get_score_spec(name: str) -> ScoreSpec:
    key = name.lower().replace("-", "_")
    if key not in _REGISTRY:
        raise ValueError(f"unknown score {name!r}; available scores: {', '.join(available_scores())}")
    return _REGISTRY[key]


def make_options(spec: ScoreSpec, options: dict[str, Any] | Any | None):
    """Build the options dataclass of ``spec`` from a dict (or pass an instance through)."""
    if options is None:
        return spec.options()
    if isinstance(options, spec.options):
        return options
    fields = {f.name: f for f in dataclasses.fields(spec.options)}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for score {spec.name!r}; "
            f"valid options: {', '.join(sorted(fields)) or '(none)'}")
    hints = typing.get_type_hints(spec.options)
    kwargs = {}
    for key, value in options.items():
        try:
            kwargs[key] = _coerce(value, hints.get(key, Any))
        except (TypeError, ValueError) as err:
            raise declared_error(spec.options, key, value, f"{spec.name}.{key}") or ValueError(
                f"option {key}={value!r} for score {spec.name!r}: {err}") from None
    try:
        return spec.options(**kwargs)
    except OptionError as err:   # named as rank's --score-options spells it: lead.t
        raise OptionError(f"{spec.name}.{err.option}", err.value, err.allowed) from None


def scores_without_features() -> list[str]:
    """The scores that work from labels and source logits alone (``features=None``)."""
    return [name for name in available_scores() if not _REGISTRY[name].needs_features]


def compute_score(method: str, features=None, labels=None, *, source_logits=None,
                  device: str | None = None, **options) -> ScoreResult:
    """Validate the inputs, run score ``method`` and return a :class:`ScoreResult`.

    ``features`` may be ``None`` for the scores that do not read them (``scores_without_features()``).
    """
    spec = get_score_spec(method)
    opts = make_options(spec, options)
    if labels is None:
        raise ValueError(f"score {spec.name!r} needs the target labels: pass labels=<array [N]>")
    if features is None and spec.needs_features:
        raise ValueError(
            f"score {spec.name!r} reads the model's features, and features=None was passed: pass "
            f"features=<array [N, D]>; only {', '.join(scores_without_features()) or '(none)'} work from "
            "labels and source_logits alone")
    if spec.needs_source_logits and source_logits is None:
        raise ValueError(
            f"score {spec.name!r} needs the source model's logits on the same samples: pass "
            "source_logits=<array [N, C]> (lead-hf extract saves them next to the features)")
    inputs = prepare_inputs(features, labels, source_logits, device=device)
    start = time.perf_counter()
    out = spec.fn(inputs, opts)
    seconds = time.perf_counter() - start
    result = out if isinstance(out, ScoreResult) else ScoreResult(spec.name, float(out))
    result.method = spec.name
    result.seconds = seconds
    result.options = dataclasses.asdict(opts)
    if result.value != result.value or result.value in (float("inf"), float("-inf")):
        raise FloatingPointError(
            f"score {spec.name!r} produced a non-finite value ({result.value}); this is a bug in "
            "lead-hf for these inputs, please report it with the array shapes")
    return result


def score(method: str, features=None, labels=None, *, source_logits=None, device: str | None = None,
          **options) -> float:
    """Transferability of a model whose frozen ``features`` [N, D] describe a labelled training split.

    Higher is better for every method. ``labels`` may be any hashable values (strings included).
    ``source_logits`` [N, C] are the model's own (pre-training head) logits, needed by LEEP and NCE,
    which do not read the features: for them ``features`` may be ``None``.
    ``options`` are the method's options (see ``lead_hf.score_options(method)``).
    """
    return compute_score(method, features, labels, source_logits=source_logits, device=device,
                         **options).value


def score_options(method: str) -> dict[str, Any]:
    """Default options of ``method`` as a dict."""
    return dataclasses.asdict(get_score_spec(method).options())


# ------------------------------------------------------------------ choosing scores (rank, score, benchmark)

DEFAULT_SCORES = ("lead", "logme", "leep", "nce")
"""What ``lead-hf rank`` computes unless told otherwise; ``all`` puts these first, LEAD primary."""


def resolve_methods(names) -> list[str]:
    """Registry names of ``names``, in order, without repeats. ``all`` adds every registered score not
    named before it, LEAD and the other default scores first: the first score is the primary one, so
    ``--scores all`` keeps LEAD primary and ``--scores logme,all`` makes LogME primary."""
    out: list[str] = []
    for name in names:
        if name == "all":
            every = available_scores()
            expanded = [m for m in DEFAULT_SCORES if m in every] + [m for m in every if m not in DEFAULT_SCORES]
        else:
            try:
                expanded = [get_score_spec(name).name]
            except ValueError as err:
                if ":" in name or "/" in name:
                    raise ValueError(f"{err}. {name!r} looks like a model: give the models before the options "
                                     f"(lead-hf rank MODEL ... --scores lead logme) or use --models") from None
                raise
        out += [m for m in expanded if m not in out]
    return out


def parse_score_options(items, methods) -> dict[str, dict[str, str]]:
    """METHOD.OPTION=VALUE items -> {method: {option: value}} for the methods being computed.

    Options of a registered score that is not being computed are ignored (one YAML file can serve several
    --scores choices); an unregistered method name is an error. A fragment without '=' continues the
    previous value: the CLI splits lists on commas, so lead.head_widths=16,16 arrives as two items.
    """
    joined: list[str] = []
    for item in items:
        if "=" not in item and joined:
            joined[-1] += "," + item
        else:
            joined.append(item)
    out: dict[str, dict[str, str]] = {m: {} for m in methods}
    for item in joined:
        key, sep, value = item.partition("=")
        method, dot, option = key.strip().partition(".")
        if not sep or not dot or not option:
            raise ValueError(f"score option {item!r} must look like METHOD.OPTION=VALUE, e.g. lead.t=2")
        if method not in available_scores():
            raise ValueError(f"score option {item!r} names {method!r}, which is not a score; available: "
                             f"{', '.join(available_scores())}")
        if method in out:
            out[method][option] = value.strip()
    return out


def check_score_options(methods, per_method) -> None:
    """Unknown or malformed score options fail now, before any model is loaded or cache entry written."""
    for method in methods:
        make_options(get_score_spec(method), per_method[method])


def missing_input(method: str, features, source_logits) -> str | None:
    """What score ``method`` cannot run without among the inputs at hand ("source logits" or "features"),
    or None when it can run."""
    spec = get_score_spec(method)
    if spec.needs_source_logits and source_logits is None:
        return "source logits"
    if spec.needs_features and features is None:
        return "features"
    return None
