"""Make ``evaluate.load("lead")`` work from any directory, offline: ``python -m lead_hf.evaluate_metric``.

evaluate resolves a bare name as a local folder ``./lead/lead.py``, then as the Hub Space
``evaluate-metric/lead`` and, when that fails (offline, unreachable, or absent), as the newest copy in its
module cache: ``$HF_MODULES_CACHE/evaluate_modules/metrics/evaluate-metric--lead/<hash>/lead.py``. This
module writes the package's ``lead_hf/evaluate_metric/lead/lead.py`` there exactly as evaluate stores a module it downloaded (same
layout, same content hash, same ``lead.json`` record), so the cache route finds it. It is idempotent,
writes each version as a complete folder renamed into place, holds evaluate's own lock while doing so,
and makes the installed version the newest one (evaluate picks by modification time). docs/metric.md
explains why this route was chosen.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..utils.constraints import Boolean, Constrained, PathLike


METRIC_NAME = "lead"
#: The folder name evaluate uses for the canonical Hub module ``evaluate-metric/<name>``.
CACHE_NAME = f"evaluate-metric--{METRIC_NAME}"


@dataclass
class MetricInstallOptions(Constrained):
    source: str | None = None
    """The metric script to install. None: the one shipped inside the package (lead_hf/evaluate_metric/lead/lead.py)."""
    modules_cache: str | None = None
    """evaluate's module cache. None: evaluate's own (HF_MODULES_CACHE, by default $HF_HOME/modules)."""
    prune: bool = True
    """Remove other cached versions of the metric so that the loader cannot pick a stale one."""
    check: bool = False
    """Change nothing: report whether the installed copy is the current one (exit status 1 if not)."""

    constraints = {"source": (PathLike(), None), "modules_cache": (PathLike(), None), "prune": Boolean(),
                   "check": Boolean()}


@dataclass
class MetricInstallResult:
    path: Path
    """The installed script, as the loader will import it."""
    hash: str
    """evaluate's content hash of the script (the version folder's name)."""
    changed: bool
    """False when that version was already installed intact."""
    removed: list[Path] = field(default_factory=list)
    """Stale version folders that were pruned."""


def default_source() -> Path:
    """The metric script shipped inside the package (``lead_hf/evaluate_metric/lead/lead.py``, package data;
    ``metrics/lead`` of the checkout links to the same folder)."""
    return Path(__file__).resolve().parent / METRIC_NAME / f"{METRIC_NAME}.py"


def _resolve(opts: MetricInstallOptions) -> tuple[Path, Path]:
    source = Path(opts.source).expanduser() if opts.source else default_source()
    if not source.is_file():
        raise FileNotFoundError(
            f"metric script {str(source)!r} not found; reinstall lead-hf (its wheel ships the script as package "
            "data), or pass --source path/to/lead.py")
    if source.name != f"{METRIC_NAME}.py":
        raise ValueError(f"the metric script must be named {METRIC_NAME}.py (evaluate imports it by that name), "
                         f"got {source.name!r}")
    return source.resolve(), _resolve_cache(opts)


def _resolve_cache(opts: MetricInstallOptions) -> Path:
    import evaluate.config

    return Path(opts.modules_cache).expanduser() if opts.modules_cache else Path(evaluate.config.HF_MODULES_CACHE)


def _metric_dir(cache: Path) -> Path:
    import evaluate.config

    return cache / evaluate.config.MODULE_NAME_FOR_DYNAMIC_MODULES / "metrics" / CACHE_NAME


def _version_dirs(metric_dir: Path) -> list[Path]:
    # the loader only considers 64-character names (sha256 hex digests)
    if not metric_dir.is_dir():
        return []
    return [p for p in metric_dir.iterdir() if p.is_dir() and len(p.name) == 64]


def _newest(metric_dir: Path) -> Path | None:
    """The version folder evaluate's cache loader would pick (newest script modification time)."""
    candidates = [p for p in _version_dirs(metric_dir) if (p / f"{METRIC_NAME}.py").is_file()]
    return max(candidates, key=lambda p: (p / f"{METRIC_NAME}.py").stat().st_mtime, default=None)


def check_metric(options: MetricInstallOptions | None = None, **overrides) -> tuple[bool, str]:
    """Whether ``evaluate.load("lead")`` would load the current script from the cache, and why (not)."""
    from evaluate.loading import files_to_hash

    opts = _options(options, overrides)
    source, cache = _resolve(opts)
    digest = files_to_hash([str(source)])
    target = _metric_dir(cache) / digest / source.name
    if not target.is_file():
        return False, f"metric {METRIC_NAME!r} (version {digest[:12]}) is not installed in {cache}"
    if target.read_bytes() != source.read_bytes():
        return False, f"the installed copy {target} is damaged (differs from {source})"
    newest = _newest(_metric_dir(cache))
    if newest is None or newest.name != digest:
        return False, f"another cached version ({newest.name[:12] if newest else '?'}) would be loaded first"
    return True, f"metric {METRIC_NAME!r} is installed and current: {target}"


def install_metric(options: MetricInstallOptions | None = None, **overrides) -> MetricInstallResult:
    """Install the metric script into evaluate's module cache (see the module docstring)."""
    from evaluate.loading import files_to_hash
    from filelock import FileLock

    opts = _options(options, overrides)
    source, cache = _resolve(opts)
    code = source.read_bytes()
    digest = files_to_hash([str(source)])
    metric_dir = _metric_dir(cache)
    metric_dir.mkdir(parents=True, exist_ok=True)
    # evaluate imports <cache>/evaluate_modules/metrics/<name>/<hash>/lead.py as a dotted module path,
    # so every level needs an __init__.py, as evaluate creates them.
    # An empty file cannot be half-written, and touch() keeps the umask's mode (a temp file would be 0600).
    for pkg in (cache, metric_dir.parent.parent, metric_dir.parent, metric_dir):
        (pkg / "__init__.py").touch(exist_ok=True)

    target_dir = metric_dir / digest
    target = target_dir / source.name
    changed = False
    removed: list[Path] = []
    # the lock evaluate takes around the same folder (loading._copy_script_and_other_resources_in_importable_dir)
    with FileLock(str(metric_dir) + ".lock"):
        intact = target.is_file() and target.read_bytes() == code and (target_dir / "__init__.py").is_file()
        if not intact:
            # not tempfile.mkdtemp: its 0700 mode would hide a shared cache from other users
            staging = metric_dir / f".{digest[:12]}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                staging.mkdir()
                (staging / "__init__.py").write_text("")
                (staging / source.name).write_bytes(code)
                meta = {"original file path": str(source), "local file path": str(target)}
                (staging / f"{METRIC_NAME}.json").write_text(json.dumps(meta), encoding="utf-8")
                if target_dir.exists():  # a damaged copy: os.replace cannot rename onto a non-empty folder
                    shutil.rmtree(target_dir)
                os.replace(staging, target_dir)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            changed = True
        # evaluate loads the cached version whose script is newest: make ours strictly the newest, even
        # against a copy written in the same clock tick
        others = [(p / source.name).stat().st_mtime_ns for p in _version_dirs(metric_dir)
                  if p.name != digest and (p / source.name).is_file()]
        stamp = max([time.time_ns()] + [t + 1_000_000 for t in others])
        os.utime(target, ns=(stamp, stamp))
        if opts.prune:
            for stale in _version_dirs(metric_dir):
                if stale.name != digest:
                    shutil.rmtree(stale, ignore_errors=True)
                    removed.append(stale)
    return MetricInstallResult(path=target, hash=digest, changed=changed, removed=removed)


def load_metric(**load_kwargs):
    """``evaluate.load`` the metric by file path: never touches the network, whatever the environment.

    Uses the script shipped in the package when present, else the copy installed in the module cache.
    ``load_kwargs`` go to ``evaluate.load`` (``num_process``, ``process_id``, ``experiment_id``, ...).
    """
    import evaluate

    modules_cache = load_kwargs.pop("modules_cache", None)  # where to look for an installed copy
    source = default_source()
    if not source.is_file():
        opts = MetricInstallOptions(modules_cache=modules_cache)
        newest = _newest(_metric_dir(_resolve_cache(opts)))
        if newest is None:
            raise FileNotFoundError("the lead metric is neither shipped in this lead-hf package nor installed; "
                                    "run python -m lead_hf.evaluate_metric --source path/to/lead.py")
        source = newest / f"{METRIC_NAME}.py"
    return evaluate.load(str(source), **load_kwargs)


def _options(options: MetricInstallOptions | None, overrides: dict) -> MetricInstallOptions:
    from ..utils.config import options_from, with_overrides

    if options is not None and not isinstance(options, MetricInstallOptions):
        raise ValueError(f"options must be a MetricInstallOptions, got {type(options).__name__}")
    if options is None:
        return options_from(MetricInstallOptions, overrides)
    return with_overrides(options, overrides)


def main(argv: list[str] | None = None) -> int:
    from ..utils.config import add_options_arguments, options_from

    parser = argparse.ArgumentParser(
        prog="python -m lead_hf.evaluate_metric",
        description="Install the 'lead' evaluate metric into evaluate's module cache so that "
                    "evaluate.load('lead') works from any directory, offline. Safe to run again.")
    add_options_arguments(parser, MetricInstallOptions)
    args = vars(parser.parse_args(argv))
    try:
        opts = options_from(MetricInstallOptions, args)
        if opts.check:
            ok, message = check_metric(opts)
            print(message)
            return 0 if ok else 1
        result = install_metric(opts)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    state = "installed" if result.changed else "already installed"
    print(f"{state}: evaluate metric {METRIC_NAME!r} (version {result.hash[:12]}) at {result.path}")
    for stale in result.removed:
        print(f"removed stale version {stale.name[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
