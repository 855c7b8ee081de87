"""Curvature Tuning (CT; Hu, Gamba and Balestriero, arXiv 2502.07783): a frozen network steered by one
scalar. Every ReLU becomes

    CT_beta(x) = c * sigmoid(beta * x / (1 - beta)) * x + (1 - c) * softplus(x / (1 - beta)) * (1 - beta)

with c = 0.5 and beta in [0, 1); beta -> 1 gives back the ReLU, so beta = 1 is the model as it is.

A steered model is one more :class:`ModelRef` (:func:`steered_ref`, or the spec ``MODEL@ct=BETA`` that
:func:`lead_hf.models.resolve_model` understands): its name carries beta, its ``steering`` record enters the
extraction cache key, and ``load()`` builds the base model, then

- replaces every ``nn.ReLU`` (in-place or not) by a :class:`CTActivation`, which never works in place;
- replaces every ``nn.ReLU6`` (and ``nn.Hardtanh(0, 6)``) by the same smoothing applied to both of its
  kinks: ``CT6_beta(x) = CT_beta(x) - CT_beta(x - 6)``, since ReLU6(x) = ReLU(x) - ReLU(x - 6) (an
  extension of the paper, which steers ReLU only; docs/ct.md);
- steers the functional forms (``F.relu``, ``torch.relu``, ``Tensor.relu``, their in-place twins,
  ``F.relu6``, ``F.hardtanh(x, 0, 6)``) through a ``TorchFunctionMode`` that is active while the model
  runs, whether it is called whole (``module(x)``: forward hooks) or through the LoadedModel's forward
  (timm's ``forward_features`` / ``forward_head``). An in-place call writes its result into its input, as
  the ReLU it replaces did.

GELU, SiLU and every other activation are left as they are (they are smooth already, and no beta gives
them back). A model with nothing to steer is refused (:class:`NothingToSteerError`) with the activations
it has, as modules and as functional calls seen in one forward pass.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..utils.steering import check_beta, ct_spec, format_beta
from .base import LoadedModel, ModelRef

C = 0.5
"""The mix of the sigmoid-gated and the softplus branch (the paper's CT uses 0.5)."""
VERSION = 1
"""Part of every steered model's cache key: bumped whenever the steered forward changes its numbers."""
STEERABLE = ("relu", "relu6")
STEERED_ATTRIBUTE = "_lead_hf_ct_beta"
"""Set on a module once it is steered (the steering changes it in place), so that it is not steered twice."""


class NothingToSteerError(ValueError):
    """A model without a ReLU (or ReLU6) for Curvature Tuning to replace."""


# ---------------------------------------------------------------------------------------- the function

def ct_relu(x: torch.Tensor, beta: float, c: float = C) -> torch.Tensor:
    """CT_beta(x), element-wise; beta = 1 is max(x, 0) exactly. ``F.softplus`` is linear past 20 (its
    threshold), so no exp overflows however large |x| / (1 - beta) gets."""
    beta = float(beta)
    if beta >= 1.0:
        return x.clamp_min(0)  # not torch.relu: that would be steered again while the mode is active
    scale = 1.0 - beta
    # softplus(x / s) * s is softplus with its own beta = 1 / s: one kernel; the rest is one addcmul.
    # Neither in-place step changes a tensor that autograd keeps (softplus saves its input, not its output).
    out = F.softplus(x, beta=1.0 / scale).mul_(1.0 - c)
    return out.addcmul_(x, torch.sigmoid(x * (beta / scale)), value=c)


def ct_relu6(x: torch.Tensor, beta: float, c: float = C) -> torch.Tensor:
    """The ReLU6 analogue: CT6(x) = CT_beta(x) - CT_beta(x - 6), which is ReLU6 at beta = 1 and smooths both
    kinks. Since CT(x) - x = CT(-x) (both branches are odd-symmetric that way, as the ReLU is), CT6(x) =
    6 - CT6(6 - x); it is evaluated at min(x, 6 - x) <= 3, where neither term is large, so that no
    cancellation of two huge terms loses it for large x."""
    if float(beta) >= 1.0:
        return x.clamp(0, 6)
    u = torch.minimum(x, 6.0 - x)
    low = ct_relu(u, beta, c) - ct_relu(u - 6.0, beta, c)
    return torch.where(x <= 3.0, low, 6.0 - low)


_FUNCTIONS = {"relu": ct_relu, "relu6": ct_relu6}


class CTActivation(nn.Module):
    """A ReLU (``kind="relu"``) or ReLU6 (``kind="relu6"``) steered at ``beta``; never in place, no
    parameters (a steered model's state dict is the base model's)."""

    def __init__(self, beta: float, kind: str = "relu", c: float = C):
        super().__init__()
        if kind not in _FUNCTIONS:
            raise ValueError(f"kind must be one of {', '.join(_FUNCTIONS)}, got {kind!r}")
        self.beta, self.kind, self.c = check_beta(beta), kind, float(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _FUNCTIONS[self.kind](x, self.beta, self.c)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, beta={format_beta(self.beta)}, c={self.c:g}"


# ------------------------------------------------------------------------------- finding the activations

_ACTIVATION_CLASS = re.compile(r"relu|gelu|silu|swish|mish|elu|sigmoid|tanh|softplus|softsign|hardtanh|"
                               r"threshold|activation|glu", re.IGNORECASE)
_NOT_ACTIVATION = re.compile(r"softmax|softmin|attention", re.IGNORECASE)


def module_kind(module: nn.Module) -> str | None:
    """"relu" or "relu6" for a module CT replaces (its class's own forward, not a subclass that changes it)."""
    if type(module).forward is nn.ReLU.forward and isinstance(module, nn.ReLU):
        return "relu"
    if isinstance(module, nn.Hardtanh) and type(module).forward is nn.Hardtanh.forward \
            and float(module.min_val) == 0.0 and float(module.max_val) == 6.0:
        return "relu6"  # nn.ReLU6 is Hardtanh(0, 6)
    return None


def _is_activation_module(module: nn.Module) -> bool:
    name = type(module).__name__
    return (not any(True for _ in module.children()) and _ACTIVATION_CLASS.search(name) is not None
            and _NOT_ACTIVATION.search(name) is None)


def _arg(args, kwargs, position: int, name: str, default):
    return args[position] if len(args) > position else kwargs.get(name, default)


def functional_kind(func, args, kwargs) -> tuple[str | None, bool]:
    """(kind, in_place) of a torch function call that computes a ReLU or ReLU6; (None, False) otherwise."""
    if func in (torch.relu, torch.Tensor.relu):
        return "relu", False
    if func in (torch.relu_, torch.Tensor.relu_):
        return "relu", True
    if func is F.relu or func is F.relu6:
        return ("relu" if func is F.relu else "relu6"), bool(_arg(args, kwargs, 1, "inplace", False))
    if func is F.hardtanh or func is F.hardtanh_:
        low, high = _arg(args, kwargs, 1, "min_val", -1.0), _arg(args, kwargs, 2, "max_val", 1.0)
        if float(low) == 0.0 and float(high) == 6.0:
            return "relu6", func is F.hardtanh_ or bool(_arg(args, kwargs, 3, "inplace", False))
    return None, False


_OTHER_FUNCTIONS = {F.gelu: "gelu", F.silu: "silu", F.mish: "mish", F.hardswish: "hardswish",
                    F.hardsigmoid: "hardsigmoid", F.elu: "elu", F.selu: "selu", F.celu: "celu",
                    F.leaky_relu: "leaky_relu", F.prelu: "prelu", F.softplus: "softplus", F.glu: "glu",
                    F.hardtanh: "hardtanh", torch.sigmoid: "sigmoid", torch.Tensor.sigmoid: "sigmoid",
                    torch.tanh: "tanh", torch.Tensor.tanh: "tanh"}


class _Counter(TorchFunctionMode):
    """Counts the activation functions called outside activation modules during one forward pass."""

    def __init__(self):
        super().__init__()
        self.inside = 0
        self.calls: dict[str, int] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not self.inside:
            kind, inplace = functional_kind(func, args, kwargs)
            name = (f"{kind}{'_' if inplace else ''}" if kind else _OTHER_FUNCTIONS.get(func))
            if name:
                self.calls[name] = self.calls.get(name, 0) + 1
        return func(*args, **kwargs)


def example_input(loaded: LoadedModel):
    """A one-sample input for a dry run: the model's own example, else zeros at its input size."""
    if loaded.example_input is not None:
        return loaded.example_input()
    device = next(loaded.module.parameters(), torch.zeros(())).device
    return torch.zeros(1, 3, int(loaded.image_size[0]), int(loaded.image_size[1]), device=device)


def activation_census(loaded: LoadedModel) -> dict[str, Any]:
    """What CT would steer in ``loaded`` and what it leaves: ``{"steered": {what: count}, "not_steered":
    {what: count}}``. Modules are counted where they sit in the module tree (``nn.ReLU (module)``);
    functional calls are counted in one forward pass on a blank input (``relu (functional)``), those made
    by an activation module's own forward excepted. Nothing is changed."""
    steered: dict[str, int] = {}
    other: dict[str, int] = {}
    counter = _Counter()
    hooks = []

    def enter(*_):
        counter.inside += 1

    def leave(*_):
        counter.inside -= 1

    seen = set()
    for _, parent in loaded.module.named_modules():
        for _, child in parent.named_children():
            kind = module_kind(child)
            if kind is None and not _is_activation_module(child):
                continue
            label = f"{type(child).__name__} (module)"
            target = steered if kind else other
            target[label] = target.get(label, 0) + 1  # one per place in the tree: a shared module counts each
            if id(child) not in seen:
                seen.add(id(child))
                hooks += [child.register_forward_pre_hook(enter), child.register_forward_hook(leave, always_call=True)]
    try:
        with torch.no_grad(), counter:
            loaded.forward(example_input(loaded))
    finally:
        for h in hooks:
            h.remove()
    for name, n in counter.calls.items():
        base = name.rstrip("_")
        target = steered if base in STEERABLE else other
        label = f"{name} (functional{', in place' if name.endswith('_') else ''})"
        target[label] = target.get(label, 0) + n
    return {"steered": dict(sorted(steered.items())), "not_steered": dict(sorted(other.items()))}


def describe_census(census: dict[str, Any]) -> str:
    parts = [f"{n} x {what}" for what, n in {**census["steered"], **census["not_steered"]}.items()]
    return ", ".join(parts) if parts else "no activation function at all"


def nothing_to_steer(name: str, census: dict[str, Any]) -> NothingToSteerError:
    return NothingToSteerError(
        f"model {name!r} has nothing for Curvature Tuning to steer: it has no ReLU or ReLU6 (as a module or a "
        f"functional call); found {describe_census(census)}. CT replaces ReLU (and ReLU6) only: rank this model "
        "without --ct-betas (ct_betas), or pick a ReLU network")


# ------------------------------------------------------------------------------------------- steering

class _FunctionalCT(TorchFunctionMode):
    """Replaces the functional ReLU and ReLU6 calls by their steered forms while it is active."""

    def __init__(self, beta: float):
        super().__init__()
        self.beta = beta

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind, inplace = functional_kind(func, args, kwargs)
        if kind is None:
            return func(*args, **kwargs)
        x = args[0] if args else kwargs["input"]
        if not inplace:
            return _FUNCTIONS[kind](x, self.beta)
        # an in-place ReLU changes its input: the caller may read that tensor rather than the result
        # (from a copy when autograd records it, so that the backward pass sees the input before it changed)
        y = _FUNCTIONS[kind](x.clone() if x.requires_grad else x, self.beta)
        x.copy_(y)
        return x


class _Steering:
    """The functional mode of one steered model, entered once however deeply calls nest (the LoadedModel's
    forward, then the module's own call inside it)."""

    def __init__(self, beta: float):
        self.beta, self.depth, self.mode = beta, 0, None

    def __enter__(self):
        if self.depth == 0:
            self.mode = _FunctionalCT(self.beta)
            self.mode.__enter__()
        self.depth += 1
        return self

    def __exit__(self, *exc):
        self.depth -= 1
        if self.depth == 0:
            mode, self.mode = self.mode, None
            mode.__exit__(*exc)
        return False


def replace_activations(module: nn.Module, beta: float) -> int:
    """Replace every ReLU / ReLU6 module of ``module`` by a :class:`CTActivation` at ``beta`` (in place);
    returns how many places were replaced."""
    replaced = 0
    for parent in list(module.modules()):
        for child_name, child in list(parent.named_children()):
            kind = module_kind(child)
            if kind is not None:
                setattr(parent, child_name, CTActivation(beta, kind))
                replaced += 1
    return replaced


def steer(loaded: LoadedModel, beta: float, name: str | None = None) -> tuple[LoadedModel, dict[str, Any]]:
    """``loaded`` with CT at ``beta`` and the census of what was steered; :class:`NothingToSteerError` when
    there is nothing. Its module is changed in place (activations replaced, two forward hooks added), so
    closures that hold it (timm's forward_features / forward_head) run steered too; a module steered once
    is refused. beta = 1 returns ``loaded`` unchanged."""
    beta = check_beta(beta)
    already = getattr(loaded.module, STEERED_ATTRIBUTE, None)
    if already is not None:  # e.g. a ModelRef made from a LoadedModel hands out the same object every time
        raise ValueError(f"model {loaded.name!r} is steered already (beta {format_beta(already)}): Curvature "
                         "Tuning changes the loaded module in place; steer a freshly loaded model")
    census = activation_census(loaded)
    if not census["steered"]:
        raise nothing_to_steer(loaded.name, census)
    if beta == 1.0:
        return loaded, census
    replace_activations(loaded.module, beta)
    setattr(loaded.module, STEERED_ATTRIBUTE, beta)
    state = _Steering(beta)
    def enter(*_):  # a hook returning something would replace the module's input (or output): None
        state.__enter__()

    def leave(*_):
        state.__exit__(None, None, None)

    loaded.module.register_forward_pre_hook(enter)
    loaded.module.register_forward_hook(leave, always_call=True)
    both = loaded._both

    def steered_both(x):
        with state:
            return both(x)

    steered = dataclasses.replace(loaded, name=name or ct_spec(loaded.name, beta), hub_id=None, _both=steered_both)
    return steered, census


def steering_record(beta: float) -> dict[str, Any]:
    """What a steered model's cache key and provenance hold about the steering."""
    return {"method": "curvature-tuning", "beta": float(beta), "c": C, "relu6": "ct(x)-ct(x-6)", "version": VERSION}


def steered_ref(ref: ModelRef, beta: float) -> ModelRef:
    """``ref`` steered by Curvature Tuning at ``beta`` (cheap: nothing is built until ``load()``). beta = 1
    is ``ref`` itself, so it shares the plain model's cache entry. Its name is ``<name>@ct=<beta>``, it has
    no Hub id (its scores are not the Hub model's), and ``load()`` raises :class:`NothingToSteerError` for a
    model without a ReLU."""
    beta = check_beta(beta)
    if beta == 1.0:
        return ref
    if getattr(ref, "steering", None):
        raise ValueError(f"model {ref.name!r} is steered already; steer the plain model")
    name = ct_spec(ref.name, beta)

    def load():
        return steer(ref.load(), beta, name)[0]

    return dataclasses.replace(ref, name=name, hub_id=None, loader=load, steering=steering_record(beta))


_CENSUS: dict[tuple[str, str], dict[str, Any]] = {}


def check_steerable(ref: ModelRef) -> dict[str, Any]:
    """The activation census of a model (built once per process and revision), or
    :class:`NothingToSteerError` when it has nothing CT can steer."""
    key = (ref.name, ref.revision)
    if key not in _CENSUS:
        _CENSUS[key] = activation_census(ref.load())
    census = _CENSUS[key]
    if not census["steered"]:
        raise nothing_to_steer(ref.name, census)
    return census
