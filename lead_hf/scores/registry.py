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

from ..utils.coercion import coerce as _coerce
from ..utils.constraints import OptionError, declared_error
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
    data_free: bool = False
    """The score reads no data, only facts about the model (its parameter count, its FLOPs): ``fn`` gets a
    :class:`ModelFacts` instead of :class:`ScoreInputs`."""


@dataclass
class ModelFacts:
    """What a data-free score knows of a model: its size (``lead_hf.extract.cost`` measures both)."""

    parameters: int | None = None
    flops_per_image: float | None = None

    @classmethod
    def of(cls, cost: dict[str, Any] | None) -> "ModelFacts":
        cost = cost or {}
        return cls(parameters=cost.get("parameters"), flops_per_image=cost.get("flops_per_image"))


_REGISTRY: dict[str, ScoreSpec] = {}
_DRAWS: dict[str, Callable] = {}
"""score name -> its resampled form, ``fn(inputs, counts, options) -> values [B] | None`` (:mod:`.draws`)."""

SCORE_MODULES = ("lead", "logme", "leep", "nce", "nleep", "hscore", "transrate", "gbc", "sfda", "ped", "ncti", "etran",
                 "itm", "knn", "probe_accuracy", "static")
"""The modules of lead_hf.scores that register a score, imported in this order on first use."""
_LOADED = False


def _load_score_modules() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        import importlib

        for module in SCORE_MODULES:
            importlib.import_module(f"{__package__}.{module}")


def register_score(name: str, *, options: type, summary: str, citation: str,
                   needs_source_logits: bool = False, needs_features: bool = True, title: str | None = None,
                   data_free: bool = False):
    """Decorator: register ``fn(inputs, options) -> float | ScoreResult`` under ``name`` (``title``: its
    display name, e.g. "LogME"; the name itself when not given).

    ``needs_features=False`` marks a score that never reads ``inputs.features`` (then ``None`` for
    callers that pass no features); ``data_free=True`` one that reads no data at all, only the model's
    :class:`ModelFacts` (``fn(facts, options)``)."""
    if not dataclasses.is_dataclass(options):
        raise TypeError(f"options for score {name!r} must be a dataclass type")

    def decorate(fn):
        if name in _REGISTRY:
            raise ValueError(f"score {name!r} is registered twice")
        _REGISTRY[name] = ScoreSpec(name, fn, options, needs_source_logits, summary, citation,
                                    needs_features and not data_free, title or name, data_free)
        return fn

    return decorate


def register_draws(name: str):
    """Decorator: register the resampled form of score ``name``: ``fn(inputs, counts, options)`` with ``counts``
    [B, N] float64, how many times each sample of ``inputs`` is in each of B resamples, returns the B values
    the score takes on the resamples (each one equal to the score of the resampled rows), or None when it
    does not handle these options (then :func:`lead_hf.scores.draws.score_draws` scores every resample)."""
    def decorate(fn):
        if name in _DRAWS:
            raise ValueError(f"the resampled form of score {name!r} is registered twice")
        _DRAWS[name] = fn
        return fn

    return decorate


def draws_function(name: str) -> Callable | None:
    """The resampled form of score ``name`` (:func:`register_draws`), or None when it has none."""
    return _DRAWS.get(get_score_spec(name).name)


def available_scores() -> list[str]:
    """Names accepted by ``lead_hf.score``, sorted."""
    _load_score_modules()
    return sorted(_REGISTRY)


def get_score_spec(name: str) -> ScoreSpec:
    _load_score_modules()
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
    if dataclasses.is_dataclass(options):
        raise TypeError(f"score {spec.name!r} takes {spec.options.__name__}, not {type(options).__name__}")
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
    _load_score_modules()
    return [name for name in available_scores() if not _REGISTRY[name].needs_features and not _REGISTRY[name].data_free]


def data_free_scores() -> list[str]:
    """The scores that read no data, only the model's size (:class:`ModelFacts`)."""
    _load_score_modules()
    return [name for name in available_scores() if _REGISTRY[name].data_free]


def compute_score(method: str, features=None, labels=None, *, source_logits=None,
                  device: str | None = None, opts=None, model: ModelFacts | dict | None = None,
                  **options) -> ScoreResult:
    """Validate the inputs, run score ``method`` and return a :class:`ScoreResult`.

    ``features`` may be ``None`` for the scores that do not read them (``scores_without_features()``).
    The score's options come as keywords (``t=0.5``) or, parsed already, as its options dataclass
    (``opts=LeadOptions(t=0.5)``; what ``rank`` passes for every model). ``model``: the model's
    :class:`ModelFacts` (or its cost record), which the data-free scores read instead of any data.
    """
    spec = get_score_spec(method)
    if opts is not None and options:
        raise TypeError(f"pass the options of score {spec.name!r} either as opts= or as keywords, not both")
    opts = make_options(spec, opts if opts is not None else options)
    if spec.data_free:
        facts = model if isinstance(model, ModelFacts) else ModelFacts.of(model)
        return _timed(spec, opts, lambda: spec.fn(facts, opts))
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
    return _timed(spec, opts, lambda: spec.fn(inputs, opts))


def _timed(spec: ScoreSpec, opts, call) -> ScoreResult:
    start = time.perf_counter()
    out = call()
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
