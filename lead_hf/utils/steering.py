"""Names of steered models: ``SPEC@ct=BETA`` is model ``SPEC`` with Curvature Tuning at ``BETA``
(:mod:`lead_hf.models.ct`). Plain string handling, so that every layer (results, rank, the CLI) can tell a
steered row from a plain one without importing a model."""
from __future__ import annotations

import math

CT_MARK = "@ct="
"""What separates a model spec from its Curvature Tuning beta: ``zoo:svhn_cnn.ccexam@ct=0.9``."""


def format_beta(beta: float) -> str:
    """The shortest text that reads back as the same float (``0.9``, ``1.0``, ``0.95``)."""
    return repr(float(beta))


def check_beta(beta, where: str = "ct beta") -> float:
    """``beta`` as a float in [0, 1], or a ValueError that says what is allowed (1 is the plain model)."""
    try:
        value = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a number in [0, 1], got {beta!r}") from None
    if isinstance(beta, bool) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{where} must be a number in [0, 1] (1: the model as it is, ReLU unchanged), got {beta!r}")
    return value


def split_ct_spec(spec: str) -> tuple[str, float | None]:
    """``("zoo:x", 0.9)`` for ``"zoo:x@ct=0.9"``; ``(spec, None)`` for a spec without a beta."""
    base, mark, beta = str(spec).rpartition(CT_MARK)
    if not mark:
        return str(spec), None
    if not base:
        raise ValueError(f"model spec {spec!r} has a Curvature Tuning beta but no model before {CT_MARK!r}")
    return base, check_beta(beta, f"the Curvature Tuning beta of {spec!r}")


def ct_spec(spec: str, beta: float) -> str:
    """The spec of ``spec`` steered at ``beta``; beta = 1 is the model itself (its own spec, its cache entry)."""
    beta = check_beta(beta)
    return spec if beta == 1.0 else f"{spec}{CT_MARK}{format_beta(beta)}"


def ct_base(spec: str) -> str:
    """The model a (possibly steered) spec steers."""
    return split_ct_spec(spec)[0]


def expand_ct(models, betas) -> list[str]:
    """``models`` x ``betas``, each model's betas together (beta = 1: the model's own spec); no betas:
    ``models`` unchanged. A model given as ``MODEL@ct=BETA`` already cannot be steered again."""
    if not betas:
        return list(models)
    steered = [m for m in models if split_ct_spec(m)[1] is not None]
    if steered:
        raise ValueError(f"{', '.join(steered)} {'is' if len(steered) == 1 else 'are'} steered already "
                         f"({CT_MARK}BETA), and --ct-betas steers every model: give the plain model with "
                         "--ct-betas, or the steered specs without it")
    return [ct_spec(m, b) for m in models for b in betas]
