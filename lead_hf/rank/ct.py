"""Curvature Tuning in a rank: every model x every beta of ``--ct-betas`` is one candidate
(``MODEL@ct=BETA``; beta = 1 is the model as it is), checked before any extraction."""
from __future__ import annotations

from ..utils.steering import split_ct_spec


def check_models(models: list[str], log=print) -> dict[str, dict]:
    """Every model a candidate steers (beta < 1) is built once and its activations counted, so that a model
    with nothing to steer stops the rank before any work (``NothingToSteerError``, naming what it has).
    A model that cannot be built is left to its row, which then fails as any model does.
    Returns the census of each steered base model."""
    from ..models import resolve_model
    from ..models.ct import NothingToSteerError, check_steerable

    bases = []
    for spec in models:
        base, beta = split_ct_spec(spec)
        if beta is not None and beta < 1.0 and base not in bases:
            bases.append(base)
    census = {}
    for base in bases:
        try:
            census[base] = check_steerable(resolve_model(base))
        except NothingToSteerError:
            raise
        except Exception as err:  # noqa: BLE001 - not CT's to judge: the model's row reports it
            log(f"    {base}: could not be checked for ReLUs ({type(err).__name__}: {err})")
    return census


def row_beta(spec: str, betas) -> float | None:
    """The ct_beta of a results row: the spec's beta, 1.0 for a plain model ranked with --ct-betas, else None."""
    beta = split_ct_spec(spec)[1]
    if beta is not None:
        return beta
    return 1.0 if betas else None
