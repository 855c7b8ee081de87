"""``embedded:clipart``: colour clip-art drawings in 8 classes, from Debian's ``openclipart-png`` package.

The package (public-domain dedication) holds about 8,000 PNG drawings in category folders under
``/usr/share/openclipart/png/<category>/**.png`` (``$LEAD_HF_OPENCLIPART_DIR`` points elsewhere). The
classes are eight of those folders, each file labelled with the folder it sits in (sub-folders included):
animals, food, geography, office, people, recreation, tools, transportation.

How the rows are chosen (``VERSION``; bump it when any of this changes, it is part of the fingerprint):

1. every ``*.png`` under a class folder, sorted by path; files of more than ``MAX_PIXELS`` pixels (a
   dozen posters of 170-620 megapixels, gigabytes to decode) are left out before decoding;
2. each file is decoded, converted to RGBA (palette and grey images with transparency included) and
   composited onto white, giving RGB;
3. exact duplicates, judged on that decoded content, are dropped: within one class one copy is kept (the
   first path), a content found in two classes (the package links many drawings into several folders)
   is dropped from all of them, since its label is ambiguous;
4. the image is padded to a square with white (centred) and resized to ``SIZE`` px (LANCZOS); one that is
   almost blank (fewer than ``MIN_INK`` of its pixels differ from white by more than ``INK_LEVEL`` in some
   channel, or a single flat colour) is dropped;
5. a ``numpy`` Generator seeded with ``SEED`` draws ``PER_CLASS`` images of each class, class by class in
   ``CLASSES`` order, from the sorted survivors; the first ``TRAIN_PER_CLASS`` drawn are ``train``, the
   rest ``test``; ``all`` is both. Each split lists class by class, by path within a class.

Decoding every candidate takes a minute or two, so the selection (keyed by the candidates' content and
this code's version) and the selected images (keyed by the dataset fingerprint) are cached under
``<lead_hf cache>/embedded/``, each file written atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

VERSION = "clipart-1"
CLASSES = ("animals", "food", "geography", "office", "people", "recreation", "tools", "transportation")
PER_CLASS = 115
TRAIN_PER_CLASS = 75
SIZE = 128
SEED = 0
MAX_PIXELS = 50_000_000
MIN_INK = 0.005
INK_LEVEL = 24
FLAT_STD = 2.0
DESCRIPTION = (f"openclipart colour drawings (Debian openclipart-png), {len(CLASSES)} classes x {PER_CLASS} "
               f"({TRAIN_PER_CLASS} train / {PER_CLASS - TRAIN_PER_CLASS} test), deduplicated, "
               f"{SIZE}x{SIZE} RGB on white")
INSTALL = "sudo apt-get install -y openclipart-png"


def root() -> Path:
    return Path(os.environ.get("LEAD_HF_OPENCLIPART_DIR", "/usr/share/openclipart/png"))


def _cache_dir() -> Path:
    from ..utils.io import default_cache_root
    return default_cache_root() / "embedded"


def candidates() -> list[tuple[str, int]]:
    """(path relative to the root, class index) of every PNG in the class folders, sorted by path; a
    ValueError naming the Debian package when a folder is missing."""
    base = root()
    out = []
    for label, name in enumerate(CLASSES):
        folder = base / name
        if not folder.is_dir():
            raise ValueError(
                f"embedded:clipart needs the Debian package openclipart-png ({str(folder)!r} is missing): "
                f"install it with `{INSTALL}`, or point LEAD_HF_OPENCLIPART_DIR at a folder holding its "
                f"png/<category>/ folders")
        out += [(p.relative_to(base).as_posix(), label) for p in folder.rglob("*.png") if p.is_file()]
    return sorted(out)


def decode(path: Path) -> tuple[str, np.ndarray] | None:
    """(sha256 of the decoded RGB content on white, the SIZE x SIZE uint8 RGB image), or None for a file
    larger than MAX_PIXELS."""
    from PIL import Image

    width, height = png_size(path)
    if width * height > MAX_PIXELS:  # checked before PIL opens it: PIL refuses the largest as "bombs"
        return None
    with Image.open(path) as im:
        rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    full = np.asarray(rgb)
    digest = hashlib.sha256(f"{full.shape}".encode() + full.tobytes()).hexdigest()
    side = max(rgb.size)
    square = Image.new("RGB", (side, side), (255, 255, 255))
    square.paste(rgb, ((side - rgb.width) // 2, (side - rgb.height) // 2))
    small = np.asarray(square.resize((SIZE, SIZE), Image.LANCZOS), dtype=np.uint8)
    return digest, small


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, without decoding."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{str(path)!r} is not a PNG file")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def almost_blank(image: np.ndarray) -> bool:
    ink = (255 - image.astype(np.int16)).max(axis=-1) > INK_LEVEL
    return float(ink.mean()) < MIN_INK or float(image.std()) < FLAT_STD


def _candidates_key(cands: list[tuple[str, int]]) -> str:
    from ..utils.io import file_sha256

    h = hashlib.sha256(VERSION.encode())
    base = root()
    for rel, label in cands:
        h.update(f"|{rel}|{label}|{file_sha256(base / rel)}".encode())
    return h.hexdigest()


def select(cands: list[tuple[str, int]], decoded: dict[str, tuple[str, np.ndarray] | None]) -> dict:
    """The selection from the decoded candidates (steps 3-5 of the module docstring): {"train": [[rel,
    label], ...], "test": [...], "counts": survivors per class, "dropped": {reason: n}}."""
    by_content: dict[str, list[tuple[str, int]]] = {}
    dropped = {"oversized": 0, "duplicate": 0, "ambiguous_duplicate": 0, "almost_blank": 0}
    for rel, label in cands:
        got = decoded[rel]
        if got is None:
            dropped["oversized"] += 1
            continue
        by_content.setdefault(got[0], []).append((rel, label))
    survivors: list[list[str]] = [[] for _ in CLASSES]
    for group in by_content.values():
        if len({label for _, label in group}) > 1:
            dropped["ambiguous_duplicate"] += len(group)
            continue
        dropped["duplicate"] += len(group) - 1
        rel, label = min(group)
        if almost_blank(decoded[rel][1]):
            dropped["almost_blank"] += 1
            continue
        survivors[label].append(rel)
    counts = [len(s) for s in survivors]
    short = [f"{CLASSES[i]} {n}" for i, n in enumerate(counts) if n < PER_CLASS]
    if short:
        raise ValueError(f"embedded:clipart: after removing duplicates and blank images some classes have fewer "
                         f"than {PER_CLASS} images ({', '.join(short)}); is this Debian's openclipart-png?")
    rng = np.random.default_rng(SEED)
    train, test = [], []
    for label, paths in enumerate(survivors):
        paths = sorted(paths)
        picked = [paths[i] for i in rng.choice(len(paths), PER_CLASS, replace=False)]
        train += [[rel, label] for rel in sorted(picked[:TRAIN_PER_CLASS])]
        test += [[rel, label] for rel in sorted(picked[TRAIN_PER_CLASS:])]
    return {"version": VERSION, "train": train, "test": test, "counts": dict(zip(CLASSES, counts)),
            "dropped": dropped}


_SELECTION: dict[str, dict] = {}


def selection() -> dict:
    """The cached selection (see ``select``), decoding every candidate the first time."""
    from ..utils.io import write_json_atomic

    cands = candidates()
    key = _candidates_key(cands)
    if key in _SELECTION:
        return _SELECTION[key]
    path = _cache_dir() / f"clipart-selection-{key[:24]}.json"
    try:
        chosen = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        chosen = None
    if not isinstance(chosen, dict) or chosen.get("version") != VERSION:
        base = root()
        decoded = {rel: decode(base / rel) for rel, _ in cands}
        chosen = select(cands, decoded)
        write_json_atomic(path, chosen)
        _SELECTION[key] = chosen  # before the images: their cache file is named by the fingerprint
        _write_images(chosen, {rel: got[1] for rel, got in decoded.items() if got is not None})
    _SELECTION[key] = chosen
    return chosen


def rows(chosen: dict, split: str) -> list[tuple[str, int]]:
    if split == "all":
        return sorted((rel, label) for rel, label in chosen["train"] + chosen["test"])
    return [(rel, label) for rel, label in chosen[split]]


def files() -> list[Path]:
    """The selected PNGs (their hashes make the dataset fingerprint), in ``all`` order."""
    base = root()
    return [base / rel for rel, _ in rows(selection(), "all")]


def _images_key() -> str:
    """What the cached images depend on: this code's version and the selected files' content."""
    from ..utils.io import file_sha256

    h = hashlib.sha256(VERSION.encode())
    for f in files():
        h.update(file_sha256(f).encode())
    return h.hexdigest()


def _images_path() -> Path:
    return _cache_dir() / f"clipart-images-{_images_key()[:24]}.npz"


def _write_images(chosen: dict, images: dict[str, np.ndarray]) -> None:
    from ..utils.io import atomic_path

    order = rows(chosen, "all")
    with atomic_path(_images_path()) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, paths=np.array([rel for rel, _ in order]),
                     labels=np.array([label for _, label in order], dtype=np.int64),
                     images=np.stack([images[rel] for rel, _ in order]))


def _all_images() -> dict[str, np.ndarray]:
    """Selected path -> SIZE x SIZE RGB image, from the cache (decoding the selected files when it is
    missing)."""
    chosen = selection()
    order = rows(chosen, "all")
    path = _images_path()
    try:
        with np.load(path) as z:
            if list(z["paths"]) == [rel for rel, _ in order]:
                return dict(zip(z["paths"].tolist(), z["images"]))
    except (OSError, ValueError, KeyError):
        pass
    base = root()
    images = {rel: decode(base / rel)[1] for rel, _ in order}
    _write_images(chosen, images)
    return images


def load(split: str) -> tuple[np.ndarray, np.ndarray]:
    """split -> (uint8 RGB images [N, SIZE, SIZE, 3], int64 labels [N])."""
    chosen = selection()
    images = _all_images()
    picked = rows(chosen, split)
    return (np.stack([images[rel] for rel, _ in picked]),
            np.array([label for _, label in picked], dtype=np.int64))
