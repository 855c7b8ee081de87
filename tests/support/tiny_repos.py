"""Tiny random models as repos of a :class:`~tests.support.hub_server.LocalHub`, to search and rank.

``add_tiny_model_repos(hub)`` creates, under the ``lead-hf-demo`` namespace, repos with the files timm and
transformers save (so ``lead-hf rank`` downloads and loads them from the local Hub as from the real one)
and the listing metadata the Hub would derive from them:

============================  ============  =====================  =========  =====================
repo                          library       task (pipeline tag)    downloads  how the Hub knows
============================  ============  =====================  =========  =====================
tiny-resnet-a                 timm          image-classification   300        model card front matter
tiny-resnet-b                 timm          image-classification   200        config.json (timm's)
tiny-vit                      transformers  image-classification   100        config.json architectures
tiny-bert-sentiment           transformers  text-classification    1000       config.json (no weights)
tiny-keras-classifier         keras         image-classification   500        model card (no weights)
============================  ============  =====================  =========  =====================

The weights are random (seeded), so the ranking means nothing: these repos exercise the search and the
download path, not transferability. The last two are there to be filtered out (other task, other library).
Building them needs torch, timm and transformers (imported here, never by the server).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

NAMESPACE = "lead-hf-demo"
INPUT_SIZE = 32  # pixels; keeps extraction of the demo instant


def _folder_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def tiny_timm_files(folder: Path, seed: int) -> dict[str, bytes]:
    """timm's ``test_resnet`` (5 classes, random, seeded) as ``timm.models.save_for_hf`` writes it."""
    import timm
    import torch

    torch.manual_seed(seed)
    model = timm.create_model("test_resnet", pretrained=False, num_classes=5).eval()
    cfg = {**model.pretrained_cfg, "input_size": (3, INPUT_SIZE, INPUT_SIZE)}
    timm.models.save_for_hf(model, str(folder), safe_serialization=True, model_config={"pretrained_cfg": cfg})
    return _folder_files(folder)


def tiny_vit_files(folder: Path, seed: int = 0) -> dict[str, bytes]:
    """A 2-layer ViT image classifier (6 classes, random, seeded) and its image processor, as
    ``save_pretrained`` writes them."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(seed)
    cfg = ViTConfig(image_size=INPUT_SIZE, patch_size=8, hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=2, intermediate_size=64, num_labels=6)
    ViTForImageClassification(cfg).save_pretrained(folder)
    ViTImageProcessor(size={"height": INPUT_SIZE, "width": INPUT_SIZE}).save_pretrained(folder)
    return _folder_files(folder)


def add_tiny_model_repos(hub) -> list[str]:
    """Create the repos of the table above on ``hub`` (a LocalHub); returns their ids."""
    card = ("---\nlibrary_name: timm\nlicense: apache-2.0\ntags:\n- image-classification\n- timm\n---\n"
            "# tiny-resnet-a\n\nA random timm test_resnet, for testing lead-hf's Hub search.\n")
    with tempfile.TemporaryDirectory(prefix="lead-hf-tiny-") as tmp:
        tmp = Path(tmp)
        repos = {
            "tiny-resnet-a": ({**tiny_timm_files(tmp / "a", seed=0), "README.md": card.encode()}, 300),
            "tiny-resnet-b": (tiny_timm_files(tmp / "b", seed=1), 200),
            "tiny-vit": (tiny_vit_files(tmp / "vit"), 100),
            "tiny-bert-sentiment": ({"config.json": json.dumps({
                "model_type": "bert", "architectures": ["BertForSequenceClassification"]}).encode()}, 1000),
            "tiny-keras-classifier": ({"README.md": b"---\nlibrary_name: keras\npipeline_tag: image-classification"
                                                    b"\n---\n"}, 500),
        }
    ids = []
    for name, (files, downloads) in repos.items():
        repo_id = f"{NAMESPACE}/{name}"
        hub.create_repo(repo_id, files=files, downloads=downloads)
        ids.append(repo_id)
    return ids
