"""embedded:clipart (lead_hf/data/clipart.py): the selection rules on a small generated package, then the real
Debian openclipart-png (skipped when it is not installed)."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from lead_hf.data import clipart, load_split
from lead_hf.data.embedded import embedded_source, png_bytes, source_fingerprint


# --------------------------------------------------------------------------- a generated package

def _drawing(rng, mode: str) -> Image.Image:
    """A random coloured rectangle on a transparent canvas, as RGBA, palette or grey+alpha."""
    w, h = int(rng.integers(20, 40)), int(rng.integers(20, 40))
    a = np.zeros((h, w, 4), np.uint8)
    y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
    a[y0:y0 + h // 2, x0:x0 + w // 2] = [*rng.integers(0, 200, 3), 255]
    im = Image.fromarray(a, "RGBA")
    return {"RGBA": im, "P": im.convert("P"), "LA": im.convert("LA")}[mode]


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """8 class folders of 9 unique drawings each (in sub-folders too), plus: a within-class copy and a
    symlink (kept once), a drawing copied into two classes (dropped from both), a blank and a
    nearly blank one (dropped). 5 per class are drawn: 3 train, 2 test."""
    root = tmp_path / "png"
    rng = np.random.default_rng(1)
    for c, name in enumerate(clipart.CLASSES):
        folder = root / name / ("sub" if c % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(9):
            _drawing(rng, ("RGBA", "P", "LA")[i % 3]).save(folder / f"d{i}.png")
    first = root / "animals"
    (first / "copy_of_d0.png").write_bytes((first / "d0.png").read_bytes())
    (first / "link_to_d1.png").symlink_to(first / "d1.png")
    shared = _drawing(rng, "RGBA")
    shared.save(first / "shared.png")
    shared.save(root / "food" / "shared.png")
    Image.new("RGBA", (30, 30), (0, 0, 0, 0)).save(first / "blank.png")
    dot = np.zeros((200, 200, 4), np.uint8)
    dot[100:103, 100:103] = [0, 0, 0, 255]
    Image.fromarray(dot, "RGBA").save(first / "dot.png")
    monkeypatch.setenv("LEAD_HF_OPENCLIPART_DIR", str(root))
    monkeypatch.setenv("LEAD_HF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(clipart, "PER_CLASS", 5)
    monkeypatch.setattr(clipart, "TRAIN_PER_CLASS", 3)
    monkeypatch.setattr(clipart, "_SELECTION", {})
    return root


def test_rules_on_a_generated_package(fake_package, tmp_path):
    chosen = clipart.selection()
    assert chosen["counts"] == dict.fromkeys(clipart.CLASSES, 9)
    assert chosen["dropped"] == {"oversized": 0, "duplicate": 2, "ambiguous_duplicate": 2, "almost_blank": 2}
    picked = [rel for rel, _ in chosen["train"] + chosen["test"]]
    assert not any(p.rsplit("/", 1)[1].startswith(("copy_of", "link_to", "shared", "blank", "dot")) for p in picked)
    for split, n in (("train", 3), ("test", 2), ("all", 5)):
        images, labels = clipart.load(split)
        assert images.shape == (8 * n, clipart.SIZE, clipart.SIZE, 3) and images.dtype == np.uint8
        assert np.bincount(labels).tolist() == [n] * 8
    assert {rel for rel, _ in chosen["train"]}.isdisjoint(rel for rel, _ in chosen["test"])
    assert all(not clipart.almost_blank(im) for im in clipart.load("all")[0])


def test_selection_is_deterministic_and_cached(fake_package, tmp_path, monkeypatch):
    first = clipart.selection()
    images = clipart.load("all")[0]
    fp = source_fingerprint(embedded_source("clipart"))
    monkeypatch.setattr(clipart, "_SELECTION", {})
    monkeypatch.setattr(clipart, "decode", lambda path: pytest.fail("decoded again despite the cache"))
    assert clipart.selection() == first and np.array_equal(clipart.load("all")[0], images)
    monkeypatch.undo()
    monkeypatch.setenv("LEAD_HF_OPENCLIPART_DIR", str(fake_package))
    monkeypatch.setenv("LEAD_HF_CACHE", str(tmp_path / "another-cache"))  # from scratch: the same rows
    monkeypatch.setattr(clipart, "PER_CLASS", 5)
    monkeypatch.setattr(clipart, "TRAIN_PER_CLASS", 3)
    monkeypatch.setattr(clipart, "_SELECTION", {})
    assert clipart.selection() == first and np.array_equal(clipart.load("all")[0], images)
    assert source_fingerprint(embedded_source("clipart")) == fp
    assert not list((tmp_path / "another-cache").rglob("*.tmp"))  # written atomically, nothing left over


def test_missing_package_names_the_apt_command(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAD_HF_OPENCLIPART_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setattr(clipart, "_SELECTION", {})
    with pytest.raises(ValueError, match="sudo apt-get install -y openclipart-png"):
        load_split("embedded:clipart", "train")


def test_png_bytes_keeps_grey_images_and_takes_colour_ones():
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    with Image.open(__import__("io").BytesIO(png_bytes(grey))) as im:
        assert im.mode == "RGB" and np.array_equal(np.asarray(im)[..., 0], grey)
    colour = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    with Image.open(__import__("io").BytesIO(png_bytes(colour))) as im:
        assert im.mode == "RGB" and np.array_equal(np.asarray(im), colour)
    with pytest.raises(ValueError, match="uint8"):
        png_bytes(np.zeros((8, 8, 4), np.uint8))


# ----------------------------------------------------------------------------- the real package

@pytest.fixture(scope="module")
def real():
    try:
        clipart.candidates()
    except ValueError as err:
        pytest.skip(str(err))
    return clipart.selection()


def test_real_selection_is_balanced_split_and_disjoint(real):
    train, test = real["train"], real["test"]
    assert np.bincount([label for _, label in train]).tolist() == [clipart.TRAIN_PER_CLASS] * 8 == [75] * 8
    assert np.bincount([label for _, label in test]).tolist() == [clipart.PER_CLASS - 75] * 8 == [40] * 8
    assert {rel for rel, _ in train}.isdisjoint(rel for rel, _ in test)
    assert all(rel.split("/", 1)[0] == clipart.CLASSES[label] for rel, label in train + test)
    assert min(real["counts"].values()) >= clipart.PER_CLASS


def test_real_images_are_rgb_distinct_and_not_blank(real):
    images, labels = clipart.load("all")
    assert images.shape == (8 * 115, 128, 128, 3) and images.dtype == np.uint8
    assert len({hashlib.sha256(im.tobytes()).hexdigest() for im in images}) == len(images)
    assert not any(clipart.almost_blank(im) for im in images)
    assert (images[..., 0] != images[..., 1]).mean() > 0.05  # colour, not grey
    ds = load_split("embedded:clipart", "train[:3]")
    assert ds[0]["image"].mode == "RGB" and ds[0]["image"].size == (128, 128)
    assert ds.features["label"].names == list(clipart.CLASSES)


def test_real_selection_is_the_same_from_scratch(real, tmp_path, monkeypatch):
    """A fresh cache decodes every candidate again (about half a minute) and must draw the same rows."""
    monkeypatch.setenv("LEAD_HF_CACHE", str(tmp_path))
    monkeypatch.setattr(clipart, "_SELECTION", {})
    again = clipart.selection()
    assert json.dumps(again, sort_keys=True) == json.dumps(real, sort_keys=True)
