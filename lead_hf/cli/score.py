"""`lead-hf score`: score features you already have (files or an extraction cache entry)."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass


from ..scores.selection import ScoringOptions
from ..utils.constraints import Boolean, PathLike
from .command import Command


@dataclass
class ScoreCommandOptions(ScoringOptions):
    features: str | None = None
    """Features [N, D]: .npy, .npz or .safetensors (arrays 'features', optionally 'labels' and 'logits'),
    or an extraction cache entry folder (from lead-hf extract). Not needed for leep and nce, which read
    only --labels and --source-logits."""
    labels: str | None = None
    """Labels [N] (.npy or a text file, one label per line) when the features file has none."""
    source_logits: str | None = None
    """Source-model logits [N, C] (.npy) for LEEP/NCE when the features file has none."""
    scores: tuple[str, ...] = ("lead",)  # its help: lead_hf.scores.selection.ScoringOptions
    json: bool = False
    """Print the results as JSON (value, options, details, seconds) instead of a table."""

    constraints = {"features": (PathLike(), None), "labels": (PathLike(), None),
                   "source_logits": (PathLike(), None), "json": Boolean()}


def run(opts: ScoreCommandOptions) -> int:
    import numpy as np

    from ..extract.files import load_feature_files
    from ..scores import compute_score, scores_without_features
    from ..results.summary import score_flag
    from ..scores.selection import check_score_options, missing_input, parse_score_options, resolve_methods

    methods = resolve_methods(opts.scores)
    per_method = check_score_options(methods, parse_score_options(opts.score_options, methods))
    if not opts.features:
        free = scores_without_features()
        if not (opts.labels and opts.source_logits):
            raise ValueError("pass --features FILE (and --labels FILE when the features file has no labels); "
                             f"{' and '.join(free)} need no features: --labels FILE --source-logits FILE")
        if not any(m in free for m in methods):
            raise ValueError(f"--scores {','.join(methods)} read the features: pass --features FILE, or "
                             f"choose among {', '.join(free)}, which need only --labels and --source-logits")
    feats, labels, logits = load_feature_files(opts.features, opts.labels, opts.source_logits)
    out = {}
    for method in methods:
        missing = missing_input(method, feats, logits)
        if missing:
            flag = "--source-logits" if missing == "source logits" else "--features"
            print(f"lead-hf score: skipping {method}: it needs {missing} ({flag})", file=sys.stderr)
            continue
        r = compute_score(method, feats, labels, source_logits=logits, device=opts.device, opts=per_method[method])
        flag = score_flag(method, r, len(labels), np.asarray(feats).shape[1]) if feats is not None else None
        out[method] = {"value": r.value, "seconds": r.seconds, "options": r.options, "details": r.details,
                       **({"flag": flag} if flag else {})}
    if opts.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        if feats is not None:
            print(f"{np.asarray(feats).shape[0]} samples, {np.asarray(feats).shape[1]} features; higher = better")
        else:
            print(f"{np.asarray(labels).shape[0]} samples, no features (source logits only); higher = better")
        width = max(len(m) for m in out) if out else 0
        for method, r in out.items():
            star = "*" if "flag" in r else " "
            print(f"  {method:<{width}}  {r['value']:>12.6f}{star}  {r['seconds']:>7.2f} s")
        for method, r in out.items():
            if "flag" in r:
                print(f"  * {method}: {r['flag']}; such a value cannot rank models (more samples than "
                      "feature dimensions, or a score that copes with few samples: lead, logme, hscore_reg)")
    return 0 if out else 1


COMMAND = Command(
    name="score", options=ScoreCommandOptions, run=run,
    description="""Score features you already have.

Examples:
  lead-hf score --features feats.npz                       # arrays 'features' and 'labels' inside
  lead-hf score --features feats.npy --labels labels.npy --scores lead,logme,hscore
  lead-hf score --features ~/.cache/lead_hf/extract/<key> --scores all --json
  lead-hf score --labels labels.npy --source-logits logits.npy --scores leep,nce   # no features needed""")
