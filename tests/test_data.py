"""Dataset loading: embedded sets, datasets sources, split slicing, column detection, low-data mode."""
from __future__ import annotations

import numpy as np
import pytest

import datasets
from lead_hf.data import check_dataset, load_split, parse_split, stratified_indices
from lead_hf.data import embedded as emb


def _gen_dataset(n=24, classes=("cat", "dog", "owl"), seed=0, image_col="image", label_col="label"):
    from PIL import Image
    rng = np.random.default_rng(seed)
    imgs = [Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)) for _ in range(n)]
    labels = [i % len(classes) for i in range(n)]
    feats = datasets.Features({image_col: datasets.Image(), label_col: datasets.ClassLabel(names=list(classes))})
    return datasets.Dataset.from_dict({image_col: imgs, label_col: labels}, features=feats)


def _check_schema(ds):
    assert isinstance(ds.features["image"], datasets.Image)
    assert isinstance(ds.features["label"], datasets.ClassLabel)
    assert ds.column_names == ["image", "label"]


def test_embedded_digits_splits_and_images():
    train, test, every = (load_split("embedded:digits", s) for s in ("train", "test", "all"))
    assert len(every) == 1797 and len(train) + len(test) == 1797 and len(test) == 1797 // 5
    _check_schema(train)
    img = train[0]["image"]
    assert img.mode == "RGB" and img.size == (8, 8)
    arr = np.asarray(img)
    assert (arr[..., 0] == arr[..., 1]).all() and arr.max() > 200  # grey repeated, 0..16 rescaled to 0..255
    from sklearn.datasets import load_digits
    d = load_digits()
    assert train["label"][:4] == d.target[[0, 1, 2, 3]].tolist()
    np.testing.assert_array_equal(arr[..., 0], np.rint(d.images[0] * 255 / 16).astype(np.uint8))


def test_embedded_slicing_and_low_data_mode():
    ds = load_split("embedded:digits", "train[:10%]")
    assert len(ds) == round(0.1 * 1438)
    low = load_split("embedded:digits", "train", max_per_class=7, seed=3)
    counts = np.bincount(low["label"], minlength=10)
    assert (counts == 7).all()
    again = load_split("embedded:digits", "train", max_per_class=7, seed=3)
    other = load_split("embedded:digits", "train", max_per_class=7, seed=4)
    assert again._fingerprint == low._fingerprint != other._fingerprint
    assert [np.asarray(a).tobytes() for a in again["image"][:5]] == [np.asarray(a).tobytes() for a in low["image"][:5]]


def test_embedded_mnist_and_faces():
    pytest.importorskip("mnist")
    m = load_split("embedded:mnist", "test[:30]")
    _check_schema(m)
    assert len(m) == 30 and m[0]["image"].size == (28, 28) and m["label"][:3] == [7, 2, 1]
    pytest.importorskip("skimage")
    faces = load_split("embedded:lfw_faces", "all")
    assert len(faces) == 200 and faces.features["label"].names == ["face", "non-face"]
    assert faces["label"][:100] == [0] * 100 and faces["label"][100:] == [1] * 100


def test_fashion_mnist_present_or_clear_error(monkeypatch, tmp_path):
    if (emb.FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz").is_file():
        ds = load_split("embedded:fashion_mnist", "test[:20]")
        assert len(ds) == 20 and ds.features["label"].names[0] == "T-shirt/top"
    monkeypatch.setattr(emb, "FASHION_MNIST_DIR", tmp_path)
    with pytest.raises(ValueError, match="apt-get install -y dataset-fashion-mnist"):
        load_split("embedded:fashion_mnist", "test")


def test_idx_reader_roundtrip(tmp_path):
    import gzip
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(tmp_path / "x.gz", "wb") as fh:
        fh.write(header + arr.tobytes())
    np.testing.assert_array_equal(emb._read_idx(tmp_path / "x.gz"), arr)
    with gzip.open(tmp_path / "y.gz", "wb") as fh:
        fh.write(header + arr.tobytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        emb._read_idx(tmp_path / "y.gz")


def test_in_memory_imagefolder_parquet_and_disk(tmp_path):
    ds = _gen_dataset()
    got = load_split(ds, "train[:50%]")
    assert len(got) == 12 and got["label"] == ds["label"][:12]
    # save_to_disk, a DatasetDict and a parquet file give the same rows
    datasets.DatasetDict({"train": ds, "test": ds.select(range(5))}).save_to_disk(tmp_path / "dd")
    assert load_split(str(tmp_path / "dd"), "test")["label"] == ds["label"][:5]
    with pytest.raises(ValueError, match="no split 'validation'.*train, test"):
        load_split(str(tmp_path / "dd"), "validation")
    ds.to_parquet(str(tmp_path / "part.parquet"))
    pq = load_split(f"parquet:{tmp_path / 'part.parquet'}", "train[-6:]")
    assert pq["label"] == ds["label"][-6:]
    for i, row in enumerate(ds.select(range(9))):
        folder = tmp_path / "folder" / ds.features["label"].names[row["label"]]
        folder.mkdir(parents=True, exist_ok=True)
        row["image"].save(folder / f"{i}.png")
    folder_ds = load_split(f"imagefolder:{tmp_path / 'folder'}")
    _check_schema(folder_ds)
    assert len(folder_ds) == 9 and sorted(folder_ds.features["label"].names) == ["cat", "dog", "owl"]


def test_column_detection_and_casting():
    ds = _gen_dataset(image_col="img", label_col="fine_label")
    got = load_split(ds)
    _check_schema(got)
    assert got.features["label"].names == ["cat", "dog", "owl"]
    strings = datasets.Dataset.from_dict({"picture": ds["img"], "kind": ["a", "b"] * 12, "other": list(range(24))},
                                         features=datasets.Features({"picture": datasets.Image(),
                                                                     "kind": datasets.Value("string"),
                                                                     "other": datasets.Value("int64")}))
    got = load_split(strings, label_column="kind")
    assert got.features["label"].names == ["a", "b"] and got["label"][:2] == [0, 1]
    ints = strings.rename_column("other", "target").remove_columns("kind")
    assert load_split(ints).features["label"].num_classes == 24


@pytest.mark.parametrize("kwargs, match", [
    ({"image_column": "photo"}, "no image column 'photo'.*image, label"),
    ({"label_column": "y"}, "no label column 'y'"),
    ({"label_column": "image"}, "both 'image'"),
    ({"max_per_class": 0}, "max_per_class must be >= 1"),
])
def test_column_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_split(_gen_dataset(), **kwargs)


def test_missing_label_and_empty_split():
    ds = _gen_dataset().remove_columns("label")
    with pytest.raises(ValueError, match="no label column"):
        load_split(ds)
    with pytest.raises(ValueError, match="selects no sample"):
        load_split(_gen_dataset(), "train[:0]")
    with pytest.raises(ValueError, match="no split 'validation'"):
        load_split("embedded:digits", "validation")
    with pytest.raises(ValueError, match="unknown embedded dataset 'cifar'"):
        load_split("embedded:cifar")


def _image_folder(root, classes, per_class=2):
    from PIL import Image
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(np.full((8, 8, 3), 30 * i, np.uint8)).save(root / c / f"{i}.png")
    return f"imagefolder:{root}"


def test_messages_a_new_user_meets(tmp_path):
    """Issue 10 item 6 and 8: one class, a missing directory, a split that does not exist."""
    one = _image_folder(tmp_path / "one", ["cat"])
    with pytest.raises(ValueError, match=r"holds a single class: it has a single class folder \('cat'\).*at least 2"):
        load_split(one)
    for path in ("./no/such/photos", str(tmp_path / "missing"), "~/no-such-lead-hf-dir"):
        with pytest.raises(FileNotFoundError, match=f"dataset directory '{path}' does not exist"):
            load_split(path)
    two = _image_folder(tmp_path / "two", ["cat", "dog"])
    with pytest.raises(ValueError, match=r"has no split 'test'; its splits: train\..*--test-split"):
        load_split(two, "test")
    with pytest.raises(ValueError, match=r"has no split 'validation'; its splits: train, test, all"):
        check_dataset("embedded:digits", "validation")


def test_check_dataset_fails_before_any_model_and_is_quiet_when_fine(tmp_path, monkeypatch):
    check_dataset(_image_folder(tmp_path / "ok", ["a", "b"]), "train[:75%]")
    from lead_hf.data import loading
    calls = []
    monkeypatch.setattr(loading, "png_bytes", lambda *a: calls.append(a) or b"")
    check_dataset("embedded:digits", "train")
    assert calls == []  # an embedded set is checked without encoding its images...
    load_split("embedded:digits", "train[:3]")
    assert len(calls) == 3  # ...which building it does
    with pytest.raises(ValueError, match="unknown embedded dataset 'cifar'"):
        check_dataset("embedded:cifar")
    monkeypatch.setattr(emb, "FASHION_MNIST_DIR", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="dataset-fashion-mnist"):
        check_dataset("embedded:fashion_mnist")


def test_unknown_hub_dataset_offline_names_it():
    with pytest.raises((ValueError, FileNotFoundError), match="nobody-here/no-such-data.*embedded:digits"):
        load_split("nobody-here/no-such-data")


def test_parse_split_and_stratified():
    assert parse_split("train[:20%]") == ("train", None, "20%")
    assert parse_split("test") == ("test", None, None)
    with pytest.raises(ValueError, match="not understood"):
        parse_split("train[::2]")
    labels = np.array([0] * 10 + [1] * 3 + [2] * 6)
    idx = stratified_indices(labels, 4, seed=0)
    assert (np.diff(idx) > 0).all()
    assert np.bincount(labels[idx]).tolist() == [4, 3, 4]
    assert not np.array_equal(idx, stratified_indices(labels, 4, seed=1))
