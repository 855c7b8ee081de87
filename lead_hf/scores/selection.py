"""Which scores a job computes and with which options: ``--scores``, ``--score-options`` and the
:class:`ScoringOptions` that ``rank``, ``benchmark`` and ``score`` share.

Imports no ML framework (the registry, which imports torch through the score modules, is imported inside
the functions that need it), so that ``lead-hf CMD --help`` and option errors stay instant.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..utils.constraints import Constrained, Items, Text

DEFAULT_SCORES = ("lead", "logme", "leep", "nce")
"""What ``lead-hf rank`` computes unless told otherwise; ``all`` puts these first, LEAD primary."""


@dataclass
class ScoringOptions(Constrained):
    """Which scores a job computes, with which options, where: ``rank``, ``benchmark`` and ``score``."""

    scores: tuple[str, ...] = DEFAULT_SCORES
    """Scores to compute ('all': every registered score, LEAD and the default scores first); the first one
    is the primary score, which orders rank's leaderboard."""
    score_options: tuple[str, ...] = ()
    """Options of the scores as METHOD.OPTION=VALUE, e.g. lead.t=2 lead.samples_per_class=32."""
    device: str = "auto"
    """Device of the scores (auto: CUDA when available)."""

    constraints = {"scores": Items(Text()), "score_options": Items(Text()), "device": Text()}


def resolve_methods(names) -> list[str]:
    """Registry names of ``names``, in order, without repeats. ``all`` adds every registered score not
    named before it, LEAD and the other default scores first: the first score is the primary one, so
    ``--scores all`` keeps LEAD primary and ``--scores logme,all`` makes LogME primary."""
    from .registry import available_scores, get_score_spec

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
    from .registry import available_scores

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


def check_score_options(methods, per_method) -> dict:
    """Unknown or malformed score options fail now, before any model is loaded or cache entry written.
    Returns each method's options dataclass, parsed once for every model it will score."""
    from .registry import get_score_spec, make_options

    return {method: make_options(get_score_spec(method), per_method[method]) for method in methods}


def missing_input(method: str, features, source_logits, model_cost: dict | None = None) -> str | None:
    """What score ``method`` cannot run without among the inputs at hand ("source logits", "features" or,
    for a data-free score, "the model's size"), or None when it can run."""
    from .registry import ModelFacts, get_score_spec

    spec = get_score_spec(method)
    if spec.data_free:
        facts = ModelFacts.of(model_cost)
        return None if (facts.parameters if method == "num_params" else facts.flops_per_image) else "the model's size"
    if spec.needs_source_logits and source_logits is None:
        return "source logits"
    if spec.needs_features and features is None:
        return "features"
    return None
