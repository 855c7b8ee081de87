"""PED: Potential Energy Decline, a feature re-mapping in front of another score (Li et al., ICCV 2023).

Fine-tuning pushes classes apart. PED models each class as a ball (centre = class mean, radius =
nsigma * the class's root total variance, in standardised feature space) and lets overlapping balls
repel: for a pair (i, j) at distance d the overlap is  o = max(nsigma (R_i + R_j) - d, 0),  the
repulsion F = constant * o, and during one time step t (starting at rest) each class moves
s = min(F t^2 / 2, o) straight away from the other. Every sample moves with its class; the class
displacements of one step add up over pairs. Steps repeat (at most ``max_steps``) while a step still
moves the classes more than ``exit_ratio`` times the first step's total movement (L1 over classes and
dimensions). The re-mapped features are then scored by any registered score (``base``).

``ped_remap`` is the re-mapping alone, for use in front of any score; the registered score "ped" runs
it and then ``base``. docs/baselines.md has the details.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import torch

from ..utils.constraints import Constrained, Interval, Mapping, OneOf, Text
from ._stats import class_counts, class_means
from .registry import ScoreResult, ScoreSpec, get_score_spec, make_options, register_score
from .validation import ScoreInputs, _as_float_matrix, prepare_inputs

RESCALES = ("self", "none")


@dataclass
class PedRemapOptions(Constrained):
    time_step: float = 0.1
    """t of one step; a class moves min(constant * overlap * t^2 / 2, overlap) per step and pair."""
    nsigma: float = 0.6
    """Ball radius in class standard deviations (root of the summed per-dimension variances)."""
    constant: float = 1.0
    """Spring constant: repulsion = constant * overlap."""
    exit_ratio: float = 0.5
    """Stop when a step moves the classes no more than this fraction of the first step's movement."""
    max_steps: int = 6
    """Most steps simulated."""
    rescale: str = "self"
    """Space of the simulation: self (features standardised per dimension with their own mean and std;
    the paper standardises with features of a general dataset, pass them to ped_remap as ``reference``)
    | none (raw features)."""
    std_floor: float = 1e-3
    """Smallest per-dimension std used when standardising, relative to the mean std (constant dims)."""

    constraints = {
        "time_step": Interval(float, 0, closed="neither"), "nsigma": Interval(float, 0, closed="neither"),
        "constant": Interval(float, 0, closed="neither"), "std_floor": Interval(float, 0, closed="neither"),
        # [0, 1): the first step always moves by ratio 1
        "exit_ratio": Interval(float, 0, 1, closed="left"), "max_steps": Interval(int, 0),
        "rescale": OneOf(*RESCALES),
    }


@dataclass
class PedOptions(PedRemapOptions):
    base: str = "logme"
    """Registered score applied to the re-mapped features (any of lead_hf.available_scores())."""
    base_options: dict[str, Any] = field(default_factory=dict)
    """Options of the base score: a mapping (Python, YAML), or a string of KEY=VALUE pairs separated by
    ';' (CLI: no spaces or commas, which the CLI splits on), or a JSON object."""

    constraints = {
        "base": Text(description="the name of the score applied after the re-mapping, e.g. 'logme', other than "
                                 "'ped' itself (which would re-map twice)", exclude=("ped",)),
        "base_options": Mapping(),
    }

    def __post_init__(self):
        if isinstance(self.base_options, str):
            self.base_options = _parse_base_options(self.base_options)
        if isinstance(self.base, str):
            self.base = self.base.lower().replace("-", "_")
        super().__post_init__()


def _parse_base_options(text: str) -> Any:
    """'pca_dim=32;gaussian_type=spherical' or '{"pca_dim": 32}' -> dict (values typed by the base)."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"base_options {text!r} is not valid JSON ({err}); write it as "
                             "KEY=VALUE;KEY=VALUE or as a JSON object") from None
    out = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"base_options item {item!r} must look like KEY=VALUE (pairs separated "
                             "by ';'), e.g. 'pca_dim=32;gaussian_type=spherical'")
        out[key.strip()] = value.strip()
    return out


@dataclass
class RemapTrace:
    steps: int                 # accepted steps
    movements: list[float]     # L1 movement of every simulated step (the last one may be rejected)
    displacement: torch.Tensor  # [K, D] total class displacement, in the simulation space


def class_balls(z: torch.Tensor, labels: torch.Tensor, num_classes: int):
    """Class means [K, D] and radii sqrt(sum_d var_kd) [K] (biased variances)."""
    counts = class_counts(labels, num_classes)
    means = class_means(z, labels, num_classes, counts)
    centred = z - means[labels]
    return means, class_means((centred ** 2).sum(1), labels, num_classes, counts).sqrt()


def repulsion_step(means: torch.Tensor, radii: torch.Tensor, opts: PedRemapOptions) -> torch.Tensor:
    """Displacement [K, D] of every class in one step, summed over all other classes."""
    # exact pairwise distances without a [K, K, D] tensor (K = 1000 classes would need gigabytes)
    dist = torch.cdist(means, means, compute_mode="donot_use_mm_for_euclid_dist")
    overlap = (opts.nsigma * (radii[:, None] + radii[None, :]) - dist).clamp_min(0)
    overlap.fill_diagonal_(0)
    step = torch.minimum(0.5 * opts.time_step ** 2 * opts.constant * overlap, overlap)
    # coinciding means give no direction to push along: such a pair does not move (documented)
    weight = torch.where(dist > 0, step / torch.where(dist > 0, dist, torch.ones_like(dist)), 0.0)
    # sum_j step_ij (mu_i - mu_j) / d_ij, written as two matrix products
    return weight.sum(1, keepdim=True) * means - weight @ means


def simulate(z: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: PedRemapOptions) -> RemapTrace:
    """Run the dynamics on the class balls. Classes move rigidly, so only the means change."""
    means, radii = class_balls(z, labels, num_classes)
    start = means.clone()
    movements: list[float] = []
    steps = 0
    first = None
    for _ in range(opts.max_steps):
        move = repulsion_step(means, radii, opts)
        amount = float(move.abs().sum())
        movements.append(amount)
        if first is None:
            first = amount
            if first <= 0:  # no two balls overlap: nothing to do
                break
        elif amount / first <= opts.exit_ratio:
            break
        means = means + move
        steps += 1
    return RemapTrace(steps, movements, means - start)


def remap_tensor(features: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: PedRemapOptions,
                 reference: torch.Tensor | None = None) -> tuple[torch.Tensor, RemapTrace]:
    """Re-mapped features (same space as ``features``) and the trace of the simulation."""
    if opts.rescale == "self" or reference is not None:
        ref = features if reference is None else reference
        mean, std = ref.mean(0), ref.std(0, unbiased=False)
        scale = std.mean()
        std = std.clamp_min(opts.std_floor * (scale if scale > 0 else torch.ones_like(scale)))
    else:
        mean = torch.zeros(features.shape[1], dtype=features.dtype, device=features.device)
        std = torch.ones_like(mean)
    trace = simulate((features - mean) / std, labels, num_classes, opts)
    return features + (trace.displacement * std)[labels], trace


def ped_remap(features, labels, *, reference=None, device: str | None = None, **options):
    """Re-map ``features`` [N, D] by PED's potential-energy dynamics; feed the result to any score.

    ``labels`` may be any hashable values. ``reference`` [M, D]: features of the same model on a general
    dataset (the paper uses ImageNet validation images) whose per-dimension mean and std define the
    simulation space; without it ``rescale`` decides. ``options`` are the fields of
    :class:`PedRemapOptions`. Returns an array of the same kind as ``features`` (numpy in, numpy out;
    torch in, float64 torch on ``device`` out).

        >>> mapped = ped_remap(features, labels)
        >>> lead_hf.score("lead", mapped, labels)
    """
    opts = make_options(_REMAP_SPEC, options)
    as_torch = isinstance(features, torch.Tensor)
    if device is None and as_torch:
        device = str(features.device)
    inputs = prepare_inputs(features, labels, device=device)
    ref = None
    if reference is not None:
        ref = torch.as_tensor(_as_float_matrix("reference", reference, "feature_dim"),
                              device=inputs.device)
        if ref.shape[1] != inputs.features.shape[1]:
            raise ValueError(f"reference has {ref.shape[1]} feature dimensions but features have "
                             f"{inputs.features.shape[1]}; pass the same model's features on the general dataset")
    mapped, _ = remap_tensor(inputs.features, inputs.labels, inputs.num_classes, opts, ref)
    return mapped if as_torch else mapped.cpu().numpy()


# make_options() wants a spec: this one only names the options class in error messages
_REMAP_SPEC = ScoreSpec("ped_remap", fn=None, options=PedRemapOptions, needs_source_logits=False,
                        summary="PED feature re-mapping", citation="")


def _remap_options(opts: PedOptions) -> PedRemapOptions:
    return PedRemapOptions(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(PedRemapOptions)})


@register_score(
    "ped", options=PedOptions,
    summary="PED: re-map features by simulated potential-energy decline, then apply a base score",
    citation="Li et al., Exploring Model Transferability through the Lens of Potential Energy, ICCV 2023")
def ped(inputs: ScoreInputs, opts: PedOptions) -> ScoreResult:
    # looked up now, not at import: the base may be a score registered after this module
    spec = get_score_spec(opts.base)
    base_opts = make_options(spec, opts.base_options)
    if spec.needs_source_logits and inputs.source_logits is None:
        raise ValueError(f"the base score {spec.name!r} needs the source model's logits: pass "
                         "source_logits=<array [N, C]> to lead_hf.score('ped', ...)")
    mapped, trace = remap_tensor(inputs.features, inputs.labels, inputs.num_classes, _remap_options(opts))
    out = spec.fn(dataclasses.replace(inputs, features=mapped), base_opts)
    value = float(out.value if isinstance(out, ScoreResult) else out)
    return ScoreResult("ped", value, details={
        "base": spec.name,
        "base_options": dataclasses.asdict(base_opts),
        "base_details": out.details if isinstance(out, ScoreResult) else {},
        "steps": trace.steps,
        "movements": trace.movements,
        "mean_class_shift": float(trace.displacement.norm(dim=1).mean()),
    })
