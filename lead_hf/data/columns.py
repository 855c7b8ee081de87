"""Which column holds the labels, and labels as a ``ClassLabel``: shared by image and text loading."""
from __future__ import annotations

LABEL_COLUMN_GUESSES = ("label", "labels", "fine_label", "class", "target", "category", "y")


def label_column_of(ds, label_column: str | None, exclude, label: str) -> str:
    """The label column: ``label_column``, else the first ``ClassLabel`` feature, else the first of
    ``LABEL_COLUMN_GUESSES``; columns in ``exclude`` (the image or text column) are never guessed."""
    import datasets

    feats, cols = ds.features, list(ds.column_names)
    lab = label_column or next((c for c in cols if c not in exclude and isinstance(feats[c], datasets.ClassLabel)),
                               None) \
        or next((c for c in LABEL_COLUMN_GUESSES if c in cols and c not in exclude), None)
    if lab is None:
        raise ValueError(f"dataset {label!r} has no label column (no ClassLabel feature and none of "
                         f"{', '.join(LABEL_COLUMN_GUESSES)}); its columns: {', '.join(cols)}; "
                         "name it with --label-column (label_column= in Python)")
    return lab


def cast_class_labels(ds, lab: str, label: str):
    """Column ``lab`` as a ``ClassLabel``: strings are class-encoded, non-negative integers kept."""
    import datasets

    if not isinstance(ds.features[lab], datasets.ClassLabel):
        feature = ds.features[lab]
        if not isinstance(feature, datasets.Value) or feature.dtype.startswith("float"):
            raise ValueError(f"label column {lab!r} of dataset {label!r} holds {feature}, not class labels; "
                             "name the class column with --label-column (label_column= in Python)")
        if feature.dtype in ("string", "large_string"):
            ds = ds.class_encode_column(lab)
        else:
            values = sorted(set(ds[lab]))
            if values and (values[0] < 0):
                raise ValueError(f"label column {lab!r} of dataset {label!r} has negative labels "
                                 f"({values[0]}); drop unlabelled samples first")
            names = [str(v) for v in range(int(values[-1]) + 1)] if values else []
            ds = ds.cast_column(lab, datasets.ClassLabel(names=names))
    return ds
