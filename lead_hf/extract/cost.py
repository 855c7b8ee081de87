"""What a model costs to run: parameters, forward FLOPs per image, measured extraction throughput.

The extraction loop records them in the cache entry's provenance (``provenance["cost"]``), so that
`lead-hf rank` can put them next to the transferability scores without running the model again.
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch


def parameter_count(module: torch.nn.Module) -> int:
    """Every parameter of the model, the classification head included (shared tensors once)."""
    seen, total = set(), 0
    for p in module.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return int(total)


def forward_flops(model, image_size: tuple[int, int], device="cpu") -> int | None:
    """Forward FLOPs of ``model`` (a LoadedModel) on one image at its preprocessing's input size, counted
    by ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts 2; matrix products and
    convolutions only, so element-wise work is left out). None when the counter cannot trace the model.
    A text model is counted on its own one-sample input (``LoadedModel.example_input``: one sequence of
    ``lead_hf.models.text.FLOPS_TOKENS`` tokens, or its max_length when shorter)."""
    from torch.utils.flop_counter import FlopCounterMode

    example = getattr(model, "example_input", None)
    pixels = example() if example is not None else \
        torch.zeros(1, 3, int(image_size[0]), int(image_size[1]), device=device)
    counter = FlopCounterMode(display=False)
    exact = getattr(getattr(model, "module", model), "eager_attention", None)  # text: attention as countable matmuls
    try:
        with torch.inference_mode(), (exact() if exact is not None else contextlib.nullcontext()), counter:
            model(pixels)
    except Exception:  # noqa: BLE001 - the cost is bookkeeping: a model the counter cannot trace has none
        return None
    return int(counter.get_total_flops())


def model_cost(model, device="cpu") -> dict[str, Any]:
    """Parameters and FLOPs per image of a LoadedModel; the throughput is added by the extraction loop.
    For a text model "per image" reads "per text" and ``input_size`` is ``[tokens]``."""
    if getattr(model, "modality", "image") == "text":
        from ..models.text import FLOPS_TOKENS
        tokens = min(FLOPS_TOKENS, int(model.preprocess_config.get("max_length") or FLOPS_TOKENS))
        return {"parameters": parameter_count(model.module), "flops_per_image": forward_flops(model, None, device),
                "input_size": [tokens]}
    return {"parameters": parameter_count(model.module),
            "flops_per_image": forward_flops(model, model.image_size, device),
            "input_size": [int(model.image_size[0]), int(model.image_size[1])]}
