"""lead-hf finetune: accuracy in [0, 1], per-run cache, resume, preprocessing shared with extraction, errors."""
import json

import numpy as np
import pytest
import torch

from lead_hf.finetune import FinetuneOptions, finetune, make_transforms, resized_ref


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
