"""What of a ranking may leave this machine: the public record, built from an allow-list.

Only the fields named in :data:`PUBLIC_FIELDS` are copied into the record a card or a leaderboard receives;
every other field, including any added to the results schema later, stays private until it is named here on
purpose. Text that can hold a local path (model specs, errors, warnings) has every path cut to its last
component, local models are named by their Hub id or that last component, and results computed on local
data are published only under the Hub dataset id the user names.
"""
from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from ..results.schema import ModelResult, RankingResults

# a path inside text: /abs, ~/x, ./x, ../x, C:\x (not the // of a URL, not the / of an ORG/NAME id)
_PATH_IN_TEXT = re.compile(r"(?<![\w/.~-])(?:~|\.\.?)?/(?!/)[^\s'\",;)\]]+|\b[A-Za-z]:\\[^\s'\",;)\]]+")

PUBLIC_FIELDS: dict[str, Any] = {
    "schema": True,
    "dataset": ("id", "config", "split", "revision", "num_samples", "num_classes", "label_names"),
    "scores": True,
    "primary": True,
    "models": ("model", "hub_id", "revision", "status", "error", "scores", "ranks", "finetune_accuracy",
               "feature_dim", "flags", "intervals", "p_best", "pareto", "modality", "ct_beta"),
    "agreement": True,
    "warnings": True,
    "versions": True,
    "created": True,
}
"""The fields of results.json that are published, by section (True: the whole value; a tuple: only those keys
of the section, or of each of its rows). ``options``, ``candidates``, ``git_commit``, timings, bootstrap
draws, score details and model costs are not published."""

PUBLIC_OPTIONS = {"rank": ("split", "max_per_class", "seed", "bootstrap", "mixed_precision", "scores")}
"""The run options a reader needs to compare results (which samples, which scores); the score options are
published whole (numbers only)."""


def looks_local(dataset_id: str) -> bool:
    """A dataset id that cannot be a Hub id: a scheme (imagefolder:, embedded:), a path, in-memory data."""
    return (":" in dataset_id or dataset_id.startswith(("/", ".", "~", "<")) or "\\" in dataset_id
            or dataset_id.count("/") > 1 or not dataset_id.strip())


def scrub_paths(text: str) -> str:
    """``text`` with every local path cut to its last component (``local-dir:/home/me/m`` -> ``local-dir:m``)."""
    return _PATH_IN_TEXT.sub(lambda m: PurePosixPath(m.group(0).replace("\\", "/")).name or "<local path>", text)


def public_model_name(model: ModelResult) -> str:
    """How a model is named in public: its Hub id, else its spec with any path cut to the last component."""
    if model.hub_id:
        return model.hub_id
    name = scrub_paths(model.model)
    if "/" in name and ":" not in name:  # a relative folder: only its name
        name = PurePosixPath(name).name
    return name


def _scrub(obj):
    if isinstance(obj, str):
        return scrub_paths(obj)
    if isinstance(obj, dict):
        return {k: _scrub(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_scrub(v) for v in obj]
    return obj


def _allowed(value, keys):
    if keys is True:
        return value
    if isinstance(value, list):
        return [_allowed(v, keys) for v in value]
    return {k: value[k] for k in keys if isinstance(value, dict) and k in value}


def public_results(results: RankingResults, dataset_id: str | None = None, dataset_config: str | None = None,
                   dataset_split: str | None = None) -> RankingResults:
    """The copy of ``results`` that may leave this machine (:data:`PUBLIC_FIELDS`), named by a Hub dataset id,
    with no local path anywhere. Results on local data need ``dataset_id``."""
    ds = results.dataset
    local = ds.local if ds.local is not None else looks_local(ds.id)
    if local and not dataset_id:
        raise ValueError(
            f"these results were computed on local data ({ds.id!r}), which has no Hub page and whose "
            "path must not be published. Name the Hub dataset they describe: --dataset-id ORG/NAME (with "
            "--dataset-config and --dataset-split when they differ from the defaults)")
    full = results.to_dict()
    doc = {section: _allowed(full[section], keys) for section, keys in PUBLIC_FIELDS.items() if section in full}
    doc["dataset"]["local"] = False
    if dataset_id:
        doc["dataset"].update(id=dataset_id, config=dataset_config, split=dataset_split or ds.split)
        if local:
            doc["dataset"]["revision"] = None
    for row, model in zip(doc["models"], results.models):
        row["model"] = public_model_name(model)
    options = results.options or {}
    doc["options"] = {"scores": options.get("scores") or {},
                      **{section: _allowed(options.get(section) or {}, keys) for section, keys in PUBLIC_OPTIONS.items()}}
    return RankingResults.from_dict(_scrub(doc))
