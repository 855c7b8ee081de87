"""``load_split``: any datasets source or embedded set -> a Dataset with ``image`` and ``label`` columns."""
from __future__ import annotations

import glob
import hashlib
import re
from pathlib import Path

import numpy as np

from ..utils.io import looks_like_local_path
from .columns import cast_class_labels, label_column_of
from .embedded import embedded_source, png_bytes, source_fingerprint
from .sampling import parse_split, slice_indices, stratified_indices

IMAGE_COLUMN_GUESSES = ("image", "img", "images", "picture", "pixel_values")


def load_split(spec, split: str = "train", *, image_column: str | None = None,
               label_column: str | None = None, max_per_class: int | None = None, seed: int = 0,
               name: str | None = None, text_column: str | None = None, modality: str | None = None):
    """Load one split as a ``datasets.Dataset`` with columns ``image`` (``Image``) and ``label``
    (``ClassLabel``), in the source's order; or, for text, ``text`` (string) and ``label``.

    ``spec``: ``embedded:NAME`` (digits, mnist, fashion_mnist, lfw_faces; text: rotten_tomatoes,
    tweets_sentiment), ``imagefolder:DIR``,
    ``parquet:GLOB``, ``csv:GLOB``, ``json:GLOB`` (JSON or JSON lines; or a path ending in .parquet, .csv,
    .tsv, .json, .jsonl), a ``save_to_disk`` directory, a Hub dataset name, or a
    ``datasets.Dataset`` / ``DatasetDict``. ``split`` may carry a slice (``train[:20%]``).
    ``max_per_class``: low-data mode, at most that many samples per class drawn with ``seed`` (stratified).
    ``name``: the dataset configuration (Hub datasets with several).
    ``modality``: ``"image"``, ``"text"`` (what the model takes) or None: images when the dataset has an
    image column, else text when it has a string column (``lead_hf.data.text``). ``text_column``: the
    column to classify, for text (default: the only string column besides the label).
    """
    import datasets

    if modality not in (None, "image", "text"):
        raise ValueError(f"modality must be 'image', 'text' or None, got {modality!r}")
    if max_per_class is not None and max_per_class < 1:
        raise ValueError(f"max_per_class must be >= 1 (or None for every sample), got {max_per_class}")
    if isinstance(spec, str) and spec.startswith("embedded:"):
        return _load_embedded(spec[len("embedded:"):], split, max_per_class, seed)
    label = str(spec) if not isinstance(spec, (datasets.Dataset, datasets.DatasetDict)) else "<in-memory dataset>"
    ds = _load_any(spec, split, name, label)
    ds = normalize_columns(ds, image_column, label_column, label, text_column=text_column, modality=modality)
    if max_per_class is not None:
        ds = ds.select(stratified_indices(np.asarray(ds["label"]), max_per_class, seed))
    if len(ds) == 0:
        check_selection([], split, label)  # the one wording of "selects no sample"
    return ds


def _load_any(spec, split: str, name: str | None, label: str):
    import datasets

    if isinstance(spec, datasets.Dataset):
        return _slice_dataset(spec, split)
    if isinstance(spec, datasets.DatasetDict):
        return _from_dict(spec, split, label)
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"dataset spec must be a non-empty string, got {spec!r}; e.g. embedded:digits")
    if looks_like_local_path(spec) and not Path(spec).expanduser().exists():
        raise FileNotFoundError(f"dataset directory {spec!r} does not exist; check the path (a Hub dataset id "
                                "looks like ORG/NAME, without ./ or /)")
    try:
        if spec.startswith("imagefolder:"):
            folder = Path(spec[len("imagefolder:"):]).expanduser()
            if not folder.is_dir():
                raise FileNotFoundError(f"image folder {str(folder)!r} of dataset {label!r} does not exist")
            ds = datasets.load_dataset("imagefolder", data_dir=str(folder), split=split)
            if "label" not in ds.column_names:
                raise ValueError(_one_class_message(folder, label))
            return ds
        builder = file_builder(spec)
        if builder is not None:
            pattern = spec.split(":", 1)[1] if spec.startswith(f"{builder}:") else spec
            files = sorted(glob.glob(str(Path(pattern).expanduser())))
            if not files:
                raise FileNotFoundError(f"no {builder} file matches {pattern!r}")
            base, _, _ = parse_split(split)
            return datasets.load_dataset(builder, data_files={base: files}, split=split)
        path = Path(spec).expanduser()
        if path.is_dir() and ((path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()
                              or (path / "state.json").is_file()):
            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                return _from_dict(loaded, split, label)
            return _slice_dataset(loaded, split)
        if path.is_dir():
            return datasets.load_dataset(str(path), name, split=split)
        return datasets.load_dataset(spec, name, split=split)
    except (FileNotFoundError, ValueError) as err:
        if "single class" in str(err):
            raise
        unknown = _UNKNOWN_SPLIT.search(str(err))
        if unknown:
            raise ValueError(no_split_message(label, unknown.group(1), unknown.group(2))) from None
        if isinstance(err, FileNotFoundError) or "split" not in str(err).lower():
            raise type(err)(_dataset_hint(label, err)) from None
        raise ValueError(f"dataset {label!r}: {err}") from None
    except (ConnectionError, OSError) as err:
        raise ValueError(_dataset_hint(label, err)) from None


FILE_BUILDERS = {"parquet": (".parquet",), "csv": (".csv", ".tsv"), "json": (".json", ".jsonl")}
"""datasets' file builders a spec may name (``csv:FILES``) or imply by its files' extension (``reviews.csv``)."""


def file_builder(spec: str) -> str | None:
    """The datasets builder of data files named ``builder:GLOB`` or by a path with its extension, else None."""
    for builder, suffixes in FILE_BUILDERS.items():
        if spec.startswith(f"{builder}:") or spec.lower().endswith(suffixes):
            return builder
    return None


_UNKNOWN_SPLIT = re.compile(r'Unknown split "([^"]+)"\. Should be one of \[([^\]]*)\]')


def is_hub_dataset(spec) -> bool:
    """Whether a dataset spec names a Hub dataset (ORG/NAME or NAME), not local data: embedded sets, image
    folders, parquet files and existing directories are local."""
    if not isinstance(spec, str) or looks_like_local_path(spec):
        return False
    if spec.startswith(("embedded:", "imagefolder:")) or file_builder(spec) is not None:
        return False
    if Path(spec).expanduser().exists():
        return False
    return re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", spec) is not None


def no_split_message(label: str, split: str, available: str) -> str:
    names = ", ".join(s.strip().strip("'\"") for s in available.split(",") if s.strip()) or "none"
    return (f"dataset {label!r} has no split {split!r}; its splits: {names}. Pass one of those: --split for "
            "rank and extract; for finetune --train-split and --test-split (with one split only, "
            "--test-split equal to --train-split plus --train-per-class N holds out a disjoint test subset)")


def _one_class_message(folder: Path, label: str) -> str:
    subdirs = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    found = (f"it has a single class folder ({subdirs[0]!r})" if len(subdirs) == 1 else
             "its images are not in class sub-folders" if not subdirs else
             f"its sub-folders ({', '.join(subdirs[:5])}) hold no images datasets recognises")
    return (f"image folder {str(folder)!r} of dataset {label!r} holds a single class: {found}. Labels come from "
            "the sub-folder names, and ranking models needs at least 2 classes: put the images in "
            "DIR/<class>/..., e.g. DIR/cat/1.jpg and DIR/dog/2.jpg")


class DatasetSplit:
    """One dataset split resolved once, however many models read it: checked when made (:meth:`check`),
    its identity for the cache keys (:meth:`fingerprint`) and its rows loaded at most once per modality
    (:meth:`load`). ``rank`` makes one and hands it to every model's extraction.

    The arguments are :func:`load_split`'s. Embedded sets are fingerprinted from their source files and
    never decoded for a cache hit; any other source is fingerprinted from the rows selected.
    """

    def __init__(self, spec, split: str = "train", *, image_column: str | None = None,
                 label_column: str | None = None, max_per_class: int | None = None, seed: int = 0,
                 name: str | None = None, text_column: str | None = None):
        self.spec, self.split = spec, split
        self.selection = {"image_column": image_column, "label_column": label_column, "max_per_class": max_per_class,
                          "seed": seed, "name": name, "text_column": text_column}
        self.label = spec if isinstance(spec, str) else "<in-memory dataset>"
        self.embedded = embedded_source(spec[len("embedded:"):]) if self.is_embedded else None
        self._rows: dict[str | None, object] = {}

    @property
    def is_embedded(self) -> bool:
        return isinstance(self.spec, str) and self.spec.startswith("embedded:")

    def check(self) -> "DatasetSplit":
        """Fail now, with load_split's message, when the split cannot be loaded. An embedded set is checked
        without building it (its split, and that its data is installed); any other source is loaded
        (and kept for the extractions)."""
        if self.embedded is not None:
            base, _, _ = parse_split(self.split)
            if base not in self.embedded.splits:
                raise ValueError(no_split_message(self.spec, base, ", ".join(self.embedded.splits)))
            self.embedded.files()  # raises the install hint when the package or files are missing
            sel = self.selection
            _, _, labels, idx = _embedded_rows(self.spec[len("embedded:"):], self.split, sel["max_per_class"],
                                               sel["seed"])
            check_selection(labels[idx], self.split, self.label)
        else:
            check_selection(self.load()["label"], self.split, self.label)
        return self

    def load(self, modality: str | None = None):
        """The selected rows as a ``datasets.Dataset`` for a model of ``modality`` (None: what the data
        holds), loaded once."""
        if modality not in self._rows:
            ds = load_split(self.spec, self.split, modality=modality, **self.selection)
            self._rows[modality] = ds
            self._rows.setdefault("text" if "text" in ds.column_names else "image", ds)
        return self._rows[modality]

    def modality(self) -> str:
        """What the split holds: ``image`` or ``text`` (an embedded set says so; any other source is loaded)."""
        if self.embedded is not None:
            return self.embedded.kind
        return "text" if "text" in self.load().column_names else "image"

    def fingerprint(self, modality: str | None = None) -> str:
        """What the extraction cache keys the data by."""
        if self.embedded is not None:
            return f"embedded:{source_fingerprint(self.embedded)}"
        return self.load(modality)._fingerprint


def check_dataset(spec, split: str = "train", *, image_column: str | None = None, label_column: str | None = None,
                  max_per_class: int | None = None, seed: int = 0, name: str | None = None,
                  text_column: str | None = None) -> DatasetSplit:
    """Fail early, with load_split's message, when the split cannot be loaded; before any model runs.
    Returns the checked :class:`DatasetSplit` (hand it to the extractions, which then do not load it
    again)."""
    return DatasetSplit(spec, split, image_column=image_column, label_column=label_column,
                        max_per_class=max_per_class, seed=seed, name=name, text_column=text_column).check()


def _dataset_hint(label: str, err: Exception) -> str:
    return (f"dataset {label!r} could not be loaded ({type(err).__name__}: {str(err)[:300]}). Offline, only "
            "datasets already in the local cache load by Hub name; otherwise pass imagefolder:DIR, "
            "parquet:FILES, csv:FILES, json:FILES, a save_to_disk directory, or an embedded set (embedded:digits, embedded:mnist, "
            "embedded:fashion_mnist, embedded:lfw_faces; text: embedded:rotten_tomatoes, "
            "embedded:tweets_sentiment)")


def _from_dict(dd, split: str, label: str):
    base, _, _ = parse_split(split)
    if base not in dd:
        raise ValueError(no_split_message(label, base, ", ".join(dd)))
    return _slice_dataset(dd[base], split)


def _slice_dataset(ds, split: str):
    """The rows of ``ds`` that ``split``'s slice (``train[:20%]``) names; all of them without a slice."""
    _, start, stop = parse_split(split)
    if start is None and stop is None:
        return ds
    return ds.select(slice_indices(len(ds), start, stop))


def normalize_columns(ds, image_column: str | None, label_column: str | None, label: str, *,
                      text_column: str | None = None, modality: str | None = None):
    """Keep the image and label columns, renamed ``image`` / ``label``, label cast to ``ClassLabel``; for
    text (``modality="text"``, or a dataset without an image column but with a string one), the text and
    label columns, renamed ``text`` / ``label`` (``lead_hf.data.text.normalize_text_columns``)."""
    import datasets

    from .text import normalize_text_columns

    feats = ds.features
    cols = list(ds.column_names)
    if modality == "text":
        return normalize_text_columns(ds, text_column, label_column, label)
    if image_column is not None and image_column not in cols:
        raise ValueError(f"dataset {label!r} has no image column {image_column!r}; its columns: {', '.join(cols)}")
    if label_column is not None and label_column not in cols:
        raise ValueError(f"dataset {label!r} has no label column {label_column!r}; its columns: {', '.join(cols)}")
    img = image_column or next((c for c in cols if isinstance(feats[c], datasets.Image)), None) \
        or next((c for c in IMAGE_COLUMN_GUESSES if c in cols), None)
    texty = img is None and (text_column is not None or _has_text_besides_label(ds, label_column, label))
    if texty and modality is None:
        return normalize_text_columns(ds, text_column, label_column, label)
    if img is None:
        raise ValueError(f"dataset {label!r} has no image column (no Image feature and none of "
                         f"{', '.join(IMAGE_COLUMN_GUESSES)}); its columns: {', '.join(cols)}; "
                         "name it with --image-column (image_column= in Python)"
                         + ("; it has text columns: rank a text model (e.g. zoo:all-minilm-l6-v2), naming the "
                            "column with --text-column" if texty else ""))
    if not isinstance(feats[img], datasets.Image):
        if isinstance(feats[img], datasets.Value) and feats[img].dtype in ("string", "large_string", "binary"):
            ds = ds.cast_column(img, datasets.Image())  # paths or encoded bytes
        else:
            raise ValueError(f"column {img!r} of dataset {label!r} is {feats[img]}, not images; name the "
                             f"image column with --image-column (image_column= in Python; columns: {', '.join(cols)})")
    lab = label_column_of(ds, label_column, (img,), label)
    if lab == img:
        raise ValueError(f"image_column and label_column are both {img!r} in dataset {label!r}")
    ds = ds.select_columns([img, lab])
    ds = cast_class_labels(ds, lab, label)
    if img != "image" or lab != "label":
        ds = ds.rename_columns({k: v for k, v in ((img, "image"), (lab, "label")) if k != v})
    return ds


def _has_text_besides_label(ds, label_column: str | None, label: str) -> bool:
    """Whether ``ds`` has a string column other than its label column (as label_column_of finds it)."""
    from .text import has_text

    try:
        lab = label_column_of(ds, label_column, (), label)
    except ValueError:
        lab = None
    return has_text(ds, exclude=(lab,))


def _embedded_rows(name: str, split: str, max_per_class: int | None, seed: int):
    """(source, its items, labels, the selected indices) of an embedded split, nothing encoded yet."""
    source = embedded_source(name)
    base, start, stop = parse_split(split)
    if base not in source.splits:
        raise ValueError(no_split_message(f"embedded:{name}", base, ", ".join(source.splits)))
    items, labels = source.load(base)
    idx = slice_indices(len(labels), start, stop)
    if max_per_class is not None:
        idx = idx[stratified_indices(labels[idx], max_per_class, seed)]
    return source, items, labels, idx


def check_selection(labels, split: str, label: str) -> None:
    """The selected rows can be scored: not empty, two classes at least, more samples than classes (every
    score needs N > K). Raised before any model runs."""
    labels = np.asarray(labels)
    n, k = labels.size, np.unique(labels).size
    if n == 0:
        raise ValueError(f"split {split!r} of dataset {label!r} selects no sample; check the split's slice "
                         "(e.g. train[10:50], train[:20%])")
    if k < 2:
        raise ValueError(f"split {split!r} of dataset {label!r} selects a single class ({n} samples); ranking "
                         "needs at least 2 classes: use a larger slice or another split")
    if n <= k:
        raise ValueError(f"split {split!r} of dataset {label!r} selects {n} samples for {k} classes; the scores "
                         "need more samples than classes: raise --max-per-class (max_per_class= in Python) to "
                         "2 or more, or use a larger slice")


def _load_embedded(name: str, split: str, max_per_class: int | None, seed: int):
    import datasets
    from datasets.table import InMemoryTable
    import pyarrow as pa

    source, images, labels, idx = _embedded_rows(name, split, max_per_class, seed)
    if idx.size == 0:
        check_selection([], split, f"embedded:{name}")
    base = parse_split(split)[0]
    h = hashlib.sha256(f"{source_fingerprint(source)}|{split}|{max_per_class}|{seed}".encode())
    if source.kind == "text":
        from .text import text_dataset
        return text_dataset([images[i] for i in idx], labels[idx], source.class_names, split=base,
                            description=source.description, fingerprint=h.hexdigest()[:32])
    features = datasets.Features({"image": datasets.Image(),
                                  "label": datasets.ClassLabel(names=list(source.class_names))})
    table = pa.table({
        "image": pa.array([{"bytes": png_bytes(images[i]), "path": None} for i in idx],
                          type=features["image"].pa_type),
        "label": pa.array(labels[idx], type=pa.int64()),
    })
    table = table.cast(features.arrow_schema)
    info = datasets.DatasetInfo(description=source.description, features=features)
    return datasets.Dataset(InMemoryTable(table), info=info, split=base, fingerprint=h.hexdigest()[:32])
