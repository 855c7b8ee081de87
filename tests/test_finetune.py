"""lead-hf finetune: accuracy in [0, 1], per-run cache, resume, preprocessing shared with extraction, errors."""
import json

import numpy as np
import pytest
import torch

from lead_hf.finetune import FinetuneOptions, finetune
from lead_hf.models.preprocessing import make_transforms, resized_ref


def _image(cls: int, rng) -> np.ndarray:
    """Class 0: bright left half, class 1: bright right half, plus noise (learnable in a few steps)."""
    img = rng.integers(0, 60, size=(20, 20), dtype=np.uint8)
    if cls == 0:
        img[:, :10] += 150
    else:
        img[:, 10:] += 150
    return img


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    import datasets
    from PIL import Image

    rng = np.random.default_rng(0)
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["left", "right"])})

    def split(n):
        labels = [i % 2 for i in range(n)]
        images = [Image.fromarray(_image(c, rng)).convert("RGB") for c in labels]
        return datasets.Dataset.from_dict({"image": images, "label": labels}, features=feats)

    folder = tmp_path_factory.mktemp("ftdata") / "toy"
    datasets.DatasetDict({"train": split(24), "test": split(12)}).save_to_disk(str(folder))
    return str(folder)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = timm.create_model("test_resnet", pretrained=False, num_classes=5)
    path = tmp_path_factory.mktemp("ftmodel") / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return f"timm:test_resnet@{path}"


def _opts(tmp_path, **kw):
    base = dict(train_per_class=None, test_per_class=None, image_size=32, epochs=1, batch_size=8,
                learning_rates=(0.01, 0.05), cache_dir=str(tmp_path / "cache"), num_threads=1)
    base.update(kw)
    return FinetuneOptions(**base)


def test_accuracy_in_unit_interval_and_cached(tmp_path, data_dir, tiny_model):
    opts = _opts(tmp_path)
    first = finetune(tiny_model, data_dir, opts, log=lambda m: None)
    assert first.trained == 2
    assert 0.0 <= first.accuracy <= 1.0
    assert first.accuracy == max(r["accuracy"] for r in first.runs)
    assert first.best_learning_rate in (0.01, 0.05)
    files = sorted((tmp_path / "cache" / "finetune").glob("*.json"))
    assert len(files) == 2
    record = json.loads(files[0].read_text())
    assert record["num_train"] == 24 and record["num_test"] == 12 and record["num_classes"] == 2
    assert record["protocol"]["image_size"] == 32 and record["revision"].startswith("sha256:")
    # a second call reads the cache: nothing trained, the same numbers
    second = finetune(tiny_model, data_dir, opts, log=lambda m: (_ for _ in ()).throw(AssertionError(m)))
    assert second.trained == 0
    assert second.accuracy == first.accuracy


def test_resume_trains_only_missing_or_torn_runs(tmp_path, data_dir, tiny_model):
    opts = _opts(tmp_path)
    first = finetune(tiny_model, data_dir, opts, log=lambda m: None)
    by_lr = {r["lr"]: r["cache_file"] for r in first.runs}
    with open(by_lr[0.05], "w") as fh:
        fh.write('{"accuracy": 0.')  # what a kill in the middle of a non-atomic write would leave
    again = finetune(tiny_model, data_dir, opts, log=lambda m: None)
    assert again.trained == 1
    assert [r["lr"] for r in again.runs] == [0.01, 0.05]
    # the same seed gives the same accuracy for the re-trained run
    assert again.runs[1]["accuracy"] == pytest.approx(first.runs[1]["accuracy"])


def test_cached_only_reads_finished_runs_and_trains_nothing(tmp_path, data_dir, tiny_model):
    opts = _opts(tmp_path, cached_only=True)
    with pytest.raises(LookupError, match="not finished"):
        finetune(tiny_model, data_dir, opts, log=lambda m: None)
    assert not list((tmp_path / "cache").rglob("*.json"))  # nothing trained, nothing written
    done = finetune(tiny_model, data_dir, _opts(tmp_path), log=lambda m: None)
    again = finetune(tiny_model, data_dir, opts, log=lambda m: None)
    assert again.trained == 0 and again.accuracy == done.accuracy
    with pytest.raises(ValueError, match="cached_only"):
        _opts(tmp_path, cached_only=True, use_cache=False)


def test_protocol_change_is_a_new_run(tmp_path, data_dir, tiny_model):
    finetune(tiny_model, data_dir, _opts(tmp_path, learning_rates=(0.01,)), log=lambda m: None)
    other = finetune(tiny_model, data_dir, _opts(tmp_path, learning_rates=(0.01,), weight_decay=0.0),
                     log=lambda m: None)
    assert other.trained == 1


def test_learns_the_toy_task(tmp_path, data_dir, tiny_model):
    # Left/right brightness is trivially separable (chance 0.5). With 24 images a random BatchNorm net's
    # running statistics lag behind its weights, so the best epoch is kept (eval_every_epoch).
    res = finetune(tiny_model, data_dir, _opts(tmp_path, epochs=8, learning_rates=(0.05,), eval_every_epoch=True),
                   log=lambda m: None)
    assert len(res.runs[0]["per_epoch"]) == 8
    assert res.accuracy >= 0.75


def test_resized_ref_matches_finetune_eval_transform(tiny_model):
    from PIL import Image

    ref = resized_ref(tiny_model, 40)
    loaded = ref.load()
    img = Image.fromarray(np.arange(400, dtype=np.uint8).reshape(20, 20))
    _, evaluate = make_transforms([0.5] * 3, [0.5] * 3, 40)
    assert loaded.image_size == (40, 40)
    assert torch.equal(loaded.preprocess(img), evaluate(img))
    assert ref.preprocess_config["resize"] == [40, 40]
    assert ref.name == "timm:test_resnet@tiny.safetensors"


def test_cli_writes_output(tmp_path, data_dir, tiny_model):
    from lead_hf.cli import main

    out = tmp_path / "ft.json"
    code = main(["finetune", tiny_model, "--dataset", data_dir, "--epochs", "1", "--image-size", "32",
                 "--learning-rates", "0.01", "--train-per-class", "6", "--test-per-class", "3",
                 "--cache-dir", str(tmp_path / "c"), "--output", str(out)])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["results"][0]["runs"][0]["num_train"] == 12
    assert 0 <= doc["results"][0]["accuracy"] <= 1


@pytest.mark.parametrize("kw, match", [
    ({"learning_rates": ()}, "learning_rates"),
    ({"learning_rates": (0.1, -1.0)}, "learning_rates"),
    ({"epochs": 0}, "epochs"),
    ({"image_size": 8}, "image_size"),
    ({"train_per_class": 0}, "train_per_class"),
    ({"momentum": 1.0}, "momentum"),
])
def test_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        FinetuneOptions(**kw)


def test_bad_inputs(tmp_path, data_dir, tiny_model):
    from lead_hf.cli import main

    with pytest.raises(ValueError, match="not understood"):
        finetune("no such model!", data_dir, _opts(tmp_path))
    with pytest.raises(ValueError, match="no split"):
        finetune(tiny_model, data_dir, _opts(tmp_path, test_split="validation"))
    assert main(["finetune", "--dataset", data_dir]) == 2  # no model given


# ------------------------------------------------------------------------------ protocol ft-v2 pieces

def _fake_training(monkeypatch, accuracy_of, **fields):
    """Replace the training of one run by ``accuracy_of(lr, seed)``: tests the grid/seed logic only.
    ``fields`` go into every record (``chance=0.1``)."""
    import lead_hf.finetune.image as ft

    calls = []

    def fake(ref, data, opts, lr, log, seed, image_size, keep=None):
        calls.append((lr, seed, image_size))
        return {"lr": lr, "seed": seed, "image_size": image_size, "accuracy": float(accuracy_of(lr, seed)),
                "is_main": True, **fields}

    monkeypatch.setattr(ft, "train_one", fake)
    return calls


def test_lr_search_extends_the_grid_until_the_best_is_inside(tmp_path, monkeypatch, data_dir, tiny_model):
    calls = _fake_training(monkeypatch, lambda lr, seed: 1 - abs(np.log10(lr) - np.log10(0.3)) / 10)
    res = finetune(tiny_model, data_dir, _opts(tmp_path, learning_rates=(0.003, 0.01, 0.03), lr_search_steps=3),
                   log=lambda m: None)
    rates = [c[0] for c in calls]
    assert rates[:3] == [0.003, 0.01, 0.03]
    # the best (0.03) sat on the upper edge: one step of the grid's ratio (about 3.16x) at a time
    assert rates[3:] == pytest.approx([0.0949, 0.3, 0.949], rel=1e-9)
    assert res.best_learning_rate == pytest.approx(0.3)
    assert len(res.runs) == 6


def test_lr_search_stops_when_bracketed_and_is_bounded(tmp_path, monkeypatch, data_dir, tiny_model):
    calls = _fake_training(monkeypatch, lambda lr, seed: -lr)  # always best at the lowest rate
    finetune(tiny_model, data_dir, _opts(tmp_path, learning_rates=(0.01, 0.1), lr_search_steps=2),
             log=lambda m: None)
    assert [c[0] for c in calls] == pytest.approx([0.01, 0.1, 0.001, 0.0001])
    calls.clear()
    finetune(tiny_model, data_dir, _opts(tmp_path / "b", learning_rates=(0.001, 0.01, 0.1), lr_search_steps=2),
             log=lambda m: (None))
    assert len(calls) == 5  # 3 + 2 extensions, then the budget is spent
    calls.clear()
    peak = _fake_training(monkeypatch, lambda lr, seed: -abs(lr - 0.01))
    finetune(tiny_model, data_dir, _opts(tmp_path / "c", learning_rates=(0.001, 0.01, 0.1), lr_search_steps=2),
             log=lambda m: None)
    assert len(peak) == 3  # bracketed at once: no extension


def test_a_grid_where_no_rate_learns_goes_lower(tmp_path, monkeypatch, data_dir, tiny_model):
    """Every rate at chance (not diverged, just nothing learnt) ties, which looked bracketed; it is the
    rates being too large, so the grid goes down until a rate learns and is bracketed."""
    calls = _fake_training(monkeypatch, lambda lr, seed: 0.1 if lr > 0.002 else
                           0.8 - abs(np.log10(lr) - np.log10(0.001)), chance=0.1)
    res = finetune(tiny_model, data_dir, _opts(tmp_path, learning_rates=(0.003, 0.01, 0.03), lr_search_steps=3),
                   log=lambda m: None)
    assert [c[0] for c in calls] == pytest.approx([0.003, 0.01, 0.03, 0.000949, 0.0003], rel=1e-9)
    assert res.best_learning_rate == pytest.approx(0.000949)
    # a run above chance anywhere is learning: a plain tie in the middle stays bracketed
    calls = _fake_training(monkeypatch, lambda lr, seed: 0.1 if lr != 0.01 else 0.2, chance=0.1)
    finetune(tiny_model, data_dir, _opts(tmp_path / "b", learning_rates=(0.003, 0.01, 0.03), lr_search_steps=3),
             log=lambda m: None)
    assert [c[0] for c in calls] == [0.003, 0.01, 0.03]


def test_repeat_seeds_run_at_the_best_rate_and_give_mean_and_std(tmp_path, monkeypatch, data_dir, tiny_model):
    table = {(0.01, 0): 0.5, (0.05, 0): 0.7, (0.05, 1): 0.6, (0.05, 2): 0.8}
    calls = _fake_training(monkeypatch, lambda lr, seed: table[(lr, seed)])
    opts = _opts(tmp_path, repeat_seeds=(1, 2), subset_seed=0)
    res = finetune(tiny_model, data_dir, opts, log=lambda m: None)
    assert [(c[0], c[1]) for c in calls] == [(0.01, 0), (0.05, 0), (0.05, 1), (0.05, 2)]
    assert res.seed_accuracies == pytest.approx([0.7, 0.6, 0.8])
    assert res.accuracy == pytest.approx(0.7)
    assert res.accuracy_std == pytest.approx(0.1)
    # every (lr, seed) run has its own cache file, and a second call trains nothing
    assert len({r["cache_file"] for r in res.runs}) == 4
    calls.clear()
    again = finetune(tiny_model, data_dir, opts, log=lambda m: None)
    assert calls == [] and again.trained == 0 and again.seed_accuracies == res.seed_accuracies


def test_repeat_seeds_must_differ_from_the_seed():
    with pytest.raises(ValueError, match="repeat_seeds"):
        FinetuneOptions(seed=1, repeat_seeds=(1, 2))
    with pytest.raises(ValueError, match="lr_search_steps"):
        FinetuneOptions(learning_rates=(0.01,), lr_search_steps=1)


def test_preset_ft_v2_and_unknown_preset():
    from lead_hf.finetune import PROTOCOLS

    v2 = FinetuneOptions.preset("ft-v2", epochs=2)
    assert v2.protocol_name == "ft-v2" and v2.epochs == 2
    assert v2.image_size >= 64 and v2.train_per_class >= 100 and len(v2.learning_rates) == 3
    assert len(v2.repeat_seeds) == 2 and v2.subset_seed == 0
    assert FinetuneOptions.preset("ft-v1") == FinetuneOptions(protocol_name="ft-v1")
    assert set(PROTOCOLS) >= {"ft-v1", "ft-v2"}
    with pytest.raises(ValueError, match="unknown fine-tuning protocol 'ft-v9'"):
        FinetuneOptions.preset("ft-v9")


def test_disjoint_holdout_when_train_and_test_split_are_the_same(data_dir):
    from lead_hf.data import load_split
    from lead_hf.finetune.loop import load_data

    opts = FinetuneOptions(dataset=data_dir, train_split="train", test_split="train", train_per_class=5,
                           test_per_class=4, subset_seed=0)
    (tr_img, tr_lab, _, _), (te_img, te_lab, _, _) = load_data(opts)
    assert np.bincount(tr_lab).tolist() == [5, 5] and np.bincount(te_lab).tolist() == [4, 4]
    as_scored = load_split(data_dir, "train", max_per_class=5, seed=0)
    key = lambda im: np.asarray(im).tobytes()  # noqa: E731
    assert [key(im) for im in tr_img] == [key(im) for im in as_scored["image"]]  # what the scores see
    assert not {key(im) for im in tr_img} & {key(im) for im in te_img}
    with pytest.raises(ValueError, match="disjoint test subset needs train_per_class"):
        load_data(FinetuneOptions(dataset=data_dir, train_split="train", test_split="train", train_per_class=None))
    with pytest.raises(ValueError, match="nothing left for testing"):
        load_data(FinetuneOptions(dataset=data_dir, train_split="train", test_split="train", train_per_class=12))


def test_effective_image_size_honours_the_models_minimum():
    from lead_hf.models.preprocessing import effective_image_size

    assert effective_image_size({}, 64) == 64
    assert effective_image_size({"min_input_size": 75}, 64) == 75
    assert effective_image_size({"min_input_size": 32}, 64) == 64


def test_lr_search_does_not_extend_on_a_tie_with_an_interior_rate(tmp_path, monkeypatch, data_dir, tiny_model):
    calls = _fake_training(monkeypatch, lambda lr, seed: 1.0)  # a saturated task: every rate reaches 100%
    res = finetune(tiny_model, data_dir, _opts(tmp_path, learning_rates=(0.003, 0.01, 0.03), lr_search_steps=2),
                   log=lambda m: None)
    assert [c[0] for c in calls] == [0.003, 0.01, 0.03]
    assert res.best_learning_rate == 0.01  # the middle of the tied rates


def test_a_headless_torch_family_model_gets_a_new_head():
    """torch-family zoo members are ZooNets (timm's reset_classifier convention), with or without a
    source head: fine-tuning attaches Linear(D, K) and trains it as the head."""
    from types import SimpleNamespace

    from torch import nn

    from lead_hf.finetune.image import _is_head, _with_new_head
    from lead_hf.models.base import ZooNet

    body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    for net in (ZooNet(body, None, feature_dim=4), ZooNet(body, nn.Linear(4, 7))):
        loaded = SimpleNamespace(module=net, family="torch", num_classes=net.num_classes, name="x")
        module, forward = _with_new_head(loaded, 3, seed=0)
        assert isinstance(module.classifier, nn.Linear) and module.classifier.out_features == 3
        assert forward(torch.zeros(2, 3, 8, 8)).shape == (2, 3)
        heads = [n for n, _ in module.named_parameters() if _is_head(module, n, "torch")]
        assert heads == ["classifier.weight", "classifier.bias"]


def test_protocol_string_names_the_preset():
    assert FinetuneOptions.preset("ft-v2").protocol_string().startswith("ft-v2 ")
    assert FinetuneOptions().protocol_string().startswith("ft-v1 ")  # not a preset: the code's version


def test_a_diverging_rate_fails_alone_and_all_diverging_rates_raise(tmp_path, data_dir, tiny_model):
    opts = _opts(tmp_path, learning_rates=(0.01, 1e12), epochs=2)
    res = finetune(tiny_model, data_dir, opts, log=lambda m: None)
    by_lr = {r["lr"]: r for r in res.runs}
    assert by_lr[1e12].get("diverged") and by_lr[1e12]["accuracy"] == by_lr[1e12]["chance"]
    assert not by_lr[0.01].get("diverged") and res.best_learning_rate == 0.01
    again = finetune(tiny_model, data_dir, opts, log=lambda m: None)  # the diverged run is cached too
    assert again.trained == 0
    with pytest.raises(FloatingPointError, match="diverged .* at every learning rate"):
        finetune(tiny_model, data_dir, _opts(tmp_path, learning_rates=(1e12, 1e13), epochs=1), log=lambda m: None)


def test_lr_search_goes_lower_when_every_rate_diverges(tmp_path, monkeypatch, data_dir, tiny_model):
    import lead_hf.finetune.image as ft

    calls = []

    def fake(ref, data, opts, lr, log, seed, image_size, keep=None):
        calls.append(lr)
        if lr > 0.002:
            return {"lr": lr, "seed": seed, "accuracy": 0.5, "chance": 0.5, "diverged": True, "is_main": True}
        return {"lr": lr, "seed": seed, "accuracy": 0.9, "is_main": True}

    monkeypatch.setattr(ft, "train_one", fake)
    res = finetune(tiny_model, data_dir, _opts(tmp_path, learning_rates=(0.003, 0.01, 0.03), lr_search_steps=1),
                   log=lambda m: None)
    assert calls[3:] == [pytest.approx(0.000949)] and res.best_learning_rate == pytest.approx(0.000949)
