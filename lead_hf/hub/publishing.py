"""Publish ranking results to the Hub: model cards (by pull request by default) and a leaderboard dataset.

Every request goes through one ``HfApi(endpoint=..., token=...)``: huggingface_hub's module-level helpers
bind the endpoint at import time, so they would ignore ``--endpoint`` (ecosystem-notes.md).

Order of work, so that nothing is half-published:
1. read: token check (whoami), then for every repo its current files (and our open pull request, if any);
2. plan: the new files of every repo, computed by ``cards`` / ``leaderboard`` (pure functions);
3. refuse everything if any repo has a conflicting value (unless ``overwrite``) or cannot be read;
4. write: one commit per repo that changes (a pull request, a push to our open pull request, or a commit
   on main), each pinned to the commit it was planned on (``parent_commit``), so a repo that changed in
   between is refused by the Hub rather than overwritten.
A dry run stops after step 2 and reads only the local Hugging Face cache: it sends no request at all.
"""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from ..utils.config import with_overrides
from ..utils.constraints import Boolean, Constrained, Items, OptionError, PathLike, Text
from ..results.schema import ModelResult, RankingResults
from . import cards, leaderboard
from .public import public_results

DEFAULT_ENDPOINT = "https://huggingface.co"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
DEFAULT_SOURCE_URL = cards.TOOL_URL
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
"""The card section and leaderboard README templates, shipped inside the package (package data)."""


@dataclass
class PublishOptions(Constrained):
    results: tuple[str, ...] = ()
    """What `lead-hf rank` wrote: results.json files, their folders (results/<dataset>-<split>), or the output
    folder itself (results/: every results.json in it); one per dataset split."""
    leaderboard: str | None = None
    """Dataset repo (namespace/name) that gets the results files and a README with the tables; created if missing."""
    cards: bool = True
    """Add the results to the cards of the ranked models that have a Hub id (--no-cards: leaderboard only)."""
    pr: bool = True
    """Open a pull request on each model repo; --no-pr commits to main instead (needs write access there)."""
    dry_run: bool = False
    """Print the unified diff of every file that would change and send nothing (no HTTP request at all);
    the current files are read from the local Hugging Face cache, when there."""
    overwrite: bool = False
    """Replace an existing different value for the same dataset, split and score (otherwise publishing is refused)."""
    token: str | None = field(default=None, repr=False)
    """Hub token with write access. Prefer HF_TOKEN or the login saved by `hf auth login` (the default), or
    --token-file: a token on the command line is visible to every user of the machine (ps) while publish
    runs. Never printed."""
    token_file: str | None = None
    """A file holding the Hub token (its first line); '-' reads it from standard input."""
    endpoint: str | None = None
    """Hub URL. Default: HF_ENDPOINT, else https://huggingface.co."""
    models: tuple[str, ...] = ()
    """Only publish to the cards of these Hub ids (default: every ranked model with a Hub id)."""
    source_url: str | None = None
    """Link recorded as the results' source in the cards. Default: the leaderboard dataset, else lead-hf's page."""
    leaderboard_private: bool = False
    """Create the leaderboard dataset repo as private (when it does not exist yet)."""
    cache_dir: str | None = None
    """Hugging Face cache folder used to read the current cards (default: HF_HUB_CACHE)."""
    templates_dir: str | None = None
    """Folder with card_section.md and leaderboard_README.md (default: the templates shipped in the package)."""
    dataset_id: str | None = None
    """The Hub dataset (ORG/NAME) the results describe. Required for results computed on local data
    (imagefolder:, parquet files, a folder, embedded:): no local path is ever published."""
    dataset_config: str | None = None
    """With --dataset-id: the dataset's configuration on the Hub, if it has several."""
    dataset_split: str | None = None
    """With --dataset-id: the split on the Hub; none: the split that was ranked."""

    constraints = {
        "results": (PathLike(), Items(PathLike())),
        "leaderboard": (Text(r"[^/]+/[^/]+", "a dataset repo id 'namespace/name'", invalid=("board",)), None),
        "cards": Boolean(), "pr": Boolean(), "dry_run": Boolean(), "overwrite": Boolean(),
        "token": (Text(), None), "token_file": (PathLike(), None),
        "endpoint": (Text(r"https?://.+", "an http(s) URL, e.g. https://huggingface.co",
                          invalid=("huggingface.co",)), None),
        "models": Items(Text(r"[^/]+/[^/]+", "a Hub id 'namespace/name'", invalid=("bert",))),
        "source_url": (Text(), None), "leaderboard_private": Boolean(),
        "cache_dir": (PathLike(), None), "templates_dir": (PathLike(), None),
        "dataset_id": (Text(_HUB_ID.pattern, "a Hub dataset id ORG/NAME, e.g. my-org/my-photos",
                            invalid=("imagefolder:/x",)), None),
        "dataset_config": (Text(), None), "dataset_split": (Text(), None),
    }

    def __post_init__(self):
        super().__post_init__()
        results = (self.results,) if isinstance(self.results, (str, os.PathLike)) else self.results
        self.results = tuple(os.fspath(r) for r in results)
        self.models = tuple(self.models)
        if self.dataset_id is None and (self.dataset_config or self.dataset_split):
            raise OptionError("dataset_id", None,
                              "set with --dataset-config and --dataset-split, which describe the Hub dataset it "
                              "names: pass --dataset-id ORG/NAME too")


class PublishError(ValueError):
    """Publishing refused or failed; ``report`` says what was (not) published. The message never holds the token."""

    def __init__(self, message: str, report: "PublishReport | None" = None):
        super().__init__(message)
        self.report = report


@dataclass
class RepoChange:
    """What publishing does (or would do) to one repo."""

    repo_id: str
    repo_type: str  # "model" | "dataset"
    action: str  # "open-pr" | "update-pr" | "commit" | "create" | "unchanged"
    old: dict[str, str | None]  # path -> current text (None: absent)
    new: dict[str, str]  # path -> text to write
    base: str  # what ``old`` is: "main @ 1a2b3c4", "pull request #2 @ ...", "local cache ..."
    title: str = ""
    description: str = ""
    parent: str | None = None
    pr_num: int | None = None
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # values (or results files) in conflict
    url: str | None = None  # after publishing: the pull request or commit
    error: str | None = None
    done: bool = False  # the commit was made

    def counts(self) -> dict[str, int]:
        """Values (model repos) or results files (a leaderboard) by what happens to them. A value lives
        in several files (model-index, eval results); it counts once, as the strongest of refused >
        replaced > added > unchanged over its files."""
        def key(label: str) -> str:
            return label.split(" (")[0]
        state: dict[str, str] = {}
        for kind in ("unchanged", "added", "replaced", "refused"):
            for label in getattr(self, kind):
                state[key(label)] = kind
        return {kind: sum(v == kind for v in state.values()) for kind in ("added", "replaced", "unchanged", "refused")}

    def summary(self) -> str:
        unit = "results file(s)" if self.repo_type == "dataset" else "value(s)"
        counts = self.counts()
        parts = [f"{n} {kind}" for kind, n in counts.items() if n]
        return f"{', '.join(parts)} {unit}" if parts else f"no {unit}"

    @property
    def changed(self) -> list[str]:
        return [p for p, text in self.new.items() if self.old.get(p) != text]

    def diff(self) -> str:
        chunks = []
        for path in self.changed:
            old = self.old.get(path)
            label = f"{self.repo_id}/{path}"
            chunks.append("".join(difflib.unified_diff(
                (old or "").splitlines(keepends=True), _ensure_newline(self.new[path]).splitlines(keepends=True),
                f"a/{label} ({self.base})" if old is not None else "/dev/null", f"b/{label}")))
        return "".join(chunks)


def _ensure_newline(text: str) -> str:
    return text if text.endswith("\n") or not text else text + "\n"


@dataclass
class PublishReport:
    changes: list[RepoChange]
    dry_run: bool
    endpoint: str
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[RepoChange]:
        return [c for c in self.changes if c.error]

    def render(self, diffs: bool | None = None) -> str:
        """Human-readable summary; with the diffs in a dry run (or when ``diffs``). Counts are exact:
        what was (or, in a dry run, would be) added, replaced, left unchanged and refused."""
        diffs = self.dry_run if diffs is None else diffs
        lines = [f"lead-hf publish{' --dry-run' if self.dry_run else ''} -> {self.endpoint}"]
        for note in self.notes:
            lines.append(f"  note: {note}")
        refused = bool(self.conflicts)
        for c in self.changes:
            kind = "dataset" if c.repo_type == "dataset" else "model"
            files = ", ".join(c.changed)
            if c.action == "unchanged" and not c.refused:
                status = f"unchanged ({c.base}): {c.summary()}"
            elif c.error:
                status = f"NOT published: {c.error} ({c.summary()} not written)"
            elif self.dry_run:
                verb = {"open-pr": "would open a pull request", "update-pr": f"would push to pull request #{c.pr_num}",
                        "commit": "would commit to main", "create": "would create the repo and commit",
                        "unchanged": "nothing to write"}[c.action]
                status = f"{verb}{' changing ' + files if files else ''}: {c.summary()}"
                if refused:
                    status += " (but publishing would be refused, see below)"
            elif not c.done:
                status = f"NOT published (publishing was refused, see below): {c.summary()}"
            else:
                verb = {"open-pr": "opened pull request", "update-pr": f"updated pull request #{c.pr_num}",
                        "commit": "committed to main", "create": "created and committed"}[c.action]
                status = f"{verb} {c.url or ''} changing {files}: {c.summary()}"
            lines.append(f"  {kind} {c.repo_id}: {status}")
        for conflict in self.conflicts:
            lines.append(f"  refused: {conflict}")
        if diffs:
            for c in self.changes:
                if c.action != "unchanged":
                    lines.append("")
                    lines.append(c.diff().rstrip("\n"))
        return "\n".join(lines) + "\n"

    __str__ = render


# -- reading repos ------------------------------------------------------------------------------------
@dataclass
class _State:
    sha: str | None
    files: dict[str, str | None]
    listing: list[str] | None  # every path in the repo, when known
    label: str


def _token_from_file(path: str | None) -> str | None:
    """The token in ``path``'s first line ('-': standard input); None without a path."""
    if path is None:
        return None
    if path == "-":
        import sys
        line = sys.stdin.readline()
    else:
        try:
            line = Path(path).expanduser().read_text().splitlines()[0] if Path(path).expanduser().stat().st_size else ""
        except OSError as err:
            raise ValueError(f"--token-file {path!r} cannot be read ({err.strerror or err})") from None
    token = line.strip()
    if not token:
        raise ValueError(f"--token-file {path!r} holds no token (its first line is empty)")
    return token


def _describe_source(opts: PublishOptions) -> str:
    if opts.token:
        return "--token"
    if opts.token_file:
        return "--token-file"
    if os.environ.get("HF_TOKEN"):
        return "HF_TOKEN"
    return "your saved login (`hf auth login`)"


class _Guard:
    """Turns huggingface_hub / network exceptions into PublishError messages that name the repo, say what to
    do, and never contain the token."""

    def __init__(self, token: str | None, endpoint: str, token_source: str):
        self.token, self.endpoint, self.token_source = token, endpoint, token_source

    def scrub(self, text: str) -> str:
        return text.replace(self.token, "<token>") if self.token else text

    def message(self, err: Exception, repo: str, doing: str) -> str:
        from huggingface_hub.errors import (HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled,
                                            RepositoryNotFoundError, RevisionNotFoundError)

        status = getattr(getattr(err, "response", None), "status_code", None)
        if isinstance(err, OfflineModeIsEnabled):
            return (f"cannot {doing} {repo}: offline mode is on (HF_HUB_OFFLINE=1); publishing needs the network: "
                    "run with HF_HUB_OFFLINE=0, or use --dry-run")
        if isinstance(err, LocalTokenNotFoundError):
            return ("no Hugging Face token found: run `hf auth login`, set HF_TOKEN, or pass --token "
                    "(publishing needs a token with write access; --dry-run needs none)")
        if isinstance(err, RevisionNotFoundError):
            return f"cannot {doing} {repo}: the revision does not exist any more (closed pull request?); run again"
        if isinstance(err, RepositoryNotFoundError):
            return (f"cannot {doing} {repo}: repo not found on {self.endpoint} (or private and invisible to "
                    f"this token); check the repo id (ModelResult.hub_id in the results file) and the token")
        if status == 401:
            return (f"cannot {doing} {repo}: the Hub rejected the token from {self.token_source} (401 "
                    "Unauthorized); log in again with `hf auth login`, set HF_TOKEN, or pass --token")
        if status == 403:
            return (f"cannot {doing} {repo}: permission denied (403); use a token with write access to {repo}"
                    + (", or leave out --no-pr to open a pull request instead" if doing.startswith("commit") else ""))
        if status == 412:
            return (f"cannot {doing} {repo}: it changed on the Hub while publishing (412); run `lead-hf publish` "
                    "again (it re-reads the repo and only adds what is missing)")
        if isinstance(err, ValueError) and str(err).startswith("Invalid metadata in README.md"):
            return (f"cannot {doing} {repo}: the Hub rejected the README.md metadata lead-hf wrote "
                    f"({self.scrub(str(err)).splitlines()[-1].strip('- ')}); if you use --templates-dir, check "
                    "its YAML, otherwise please report this")
        if isinstance(err, HfHubHTTPError):
            first = self.scrub(str(err)).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return f"cannot {doing} {repo}: the Hub answered {status or 'an error'}: {first}"
        if isinstance(err, (ConnectionError, TimeoutError, OSError)) or type(err).__module__.split(".")[0] in (
                "httpx", "httpx2", "httpcore", "requests", "urllib3"):
            return (f"cannot {doing} {repo}: cannot reach {self.endpoint} ({type(err).__name__}); check the network "
                    "or --endpoint / HF_ENDPOINT, then run again (nothing was written by this step)")
        raise err

    def call(self, fn, *args, repo: str, doing: str, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PublishError:
            raise
        except Exception as err:  # noqa: BLE001 - classified in message(); unknown kinds are re-raised
            raise PublishError(self.message(err, repo, doing)) from None


def _snapshot_commit(local_path: str, filename: str) -> str:
    return Path(local_path).parents[len(PurePosixPath(filename).parts) - 1].name


class _HubReader:
    def __init__(self, api, guard: _Guard, cache_dir: str | None):
        self.api, self.guard, self.cache_dir = api, guard, cache_dir

    def state(self, repo_id: str, repo_type: str, paths: Iterable[str], revision: str = "main",
              prefix: str | None = None) -> _State | None:
        from huggingface_hub.errors import RepositoryNotFoundError

        try:
            info = self.api.repo_info(repo_id, repo_type=repo_type, revision=revision)
        except RepositoryNotFoundError:
            return None
        except Exception as err:  # noqa: BLE001
            raise PublishError(self.guard.message(err, repo_id, "read")) from None
        listing = [s.rfilename for s in (info.siblings or [])]
        wanted = set(paths) | {p for p in listing if prefix and p.startswith(prefix)}
        files: dict[str, str | None] = {}
        for path in sorted(wanted):
            files[path] = self._download(repo_id, repo_type, path, revision, info.sha) if path in listing else None
        where = "main" if revision == "main" else f"pull request #{revision.rsplit('/', 1)[-1]}"
        return _State(info.sha, files, listing, f"{where} @ {info.sha[:7]}")

    def _download(self, repo_id: str, repo_type: str, path: str, revision: str, sha: str) -> str:
        local = self.guard.call(self.api.hf_hub_download, repo_id, path, repo_type=repo_type, revision=revision,
                                cache_dir=self.cache_dir, repo=repo_id, doing=f"download {path} from")
        if _snapshot_commit(local, path) != sha:
            # The branch moved between the two calls (or a stale cached copy was served): read the exact commit.
            local = self.guard.call(self.api.hf_hub_download, repo_id, path, repo_type=repo_type, revision=sha,
                                    cache_dir=self.cache_dir, repo=repo_id, doing=f"download {path} from")
        return Path(local).read_text(encoding="utf-8")


class _CacheReader:
    """Dry-run reader: the files of the snapshot the local cache records for main. No request at all."""

    def __init__(self, cache_dir: str | None):
        from huggingface_hub import constants

        self.root = Path(cache_dir or constants.HF_HUB_CACHE)

    def state(self, repo_id: str, repo_type: str, paths: Iterable[str], revision: str = "main",
              prefix: str | None = None) -> _State | None:
        from huggingface_hub.file_download import repo_folder_name

        folder = self.root / repo_folder_name(repo_id=repo_id, repo_type=repo_type)
        ref = folder / "refs" / revision
        if not ref.is_file():
            return _State(None, {p: None for p in paths}, None,
                          "not in the local cache: shown against an empty repo")
        sha = ref.read_text().strip()
        snap = folder / "snapshots" / sha
        wanted = set(paths)
        if prefix and (snap / prefix).is_dir():
            wanted |= {str(p.relative_to(snap).as_posix()) for p in (snap / prefix).rglob("*") if p.is_file()}
        files = {p: (snap / p).read_text(encoding="utf-8") if (snap / p).is_file() else None for p in sorted(wanted)}
        return _State(sha, files, None, f"local cache of main @ {sha[:7]}; files not downloaded before count as absent")


# -- planning ----------------------------------------------------------------------------------------------
def _load_results(items) -> list[RankingResults]:
    from ..results.store import find_results

    if isinstance(items, (RankingResults, str, Path)):
        items = [items]
    loaded: list[RankingResults] = []
    for item in items:
        loaded += [item] if isinstance(item, RankingResults) else [RankingResults.load(p) for p in find_results(item)]
    if not loaded:
        raise ValueError("no results to publish: pass what `lead-hf rank` wrote, e.g. "
                         "`lead-hf publish results/embedded_digits-train` (a results.json, its folder, or results/)")
    for r in loaded:
        if r.primary not in r.scores:
            raise ValueError(f"results for {cards.dataset_label(r.dataset)}: primary score {r.primary!r} is not "
                             f"among its scores {r.scores}")
    return loaded


def _check_distinct(all_results: list[RankingResults]) -> list[RankingResults]:
    seen: dict[str, int] = {}
    for i, r in enumerate(all_results):
        key = cards.dataset_key(r.dataset)
        if key in seen:
            raise ValueError(f"results {seen[key] + 1} and {i + 1} are both for {cards.dataset_label(r.dataset)}; "
                             "publish one results file per dataset split")
        seen[key] = i
    return all_results


Entries = list[tuple[RankingResults, ModelResult]]


def _model_entries(all_results: list[RankingResults], only: tuple[str, ...]) -> dict[str, Entries]:
    by_repo: dict[str, Entries] = {}
    for results in all_results:
        for m in results.models:
            if m.status != "ok" or not m.hub_id or not cards.finite_scores(results, m):
                continue
            if only and m.hub_id not in only:
                continue
            if m.hub_id.count("/") != 1:
                raise ValueError(f"model {m.model!r}: hub_id {m.hub_id!r} is not 'namespace/name'; "
                                 "fix the results file")
            by_repo.setdefault(m.hub_id, []).append((results, m))
    missing = sorted(set(only) - set(by_repo))
    if missing:
        raise ValueError(f"models: {', '.join(missing)} not among the successfully ranked models with a Hub id in "
                         "these results")
    return by_repo


def _pr_title(entries: Entries) -> str:
    labels = sorted({cards.dataset_label(r.dataset) for r, _ in entries})
    return "Add lead-hf transferability results: " + "; ".join(labels)


def _pr_description(repo_id: str, entries, files: cards.ModelFiles, source_url: str,
                    leaderboard_url: str | None) -> str:
    rows = []
    for results, model in entries:
        for method, value in cards.finite_scores(results, model).items():
            rank = model.ranks.get(method)
            n_ok = sum(m.status == "ok" for m in results.models)
            rows.append(f"| {cards.dataset_label(results.dataset)} | {cards.score_name(method)} | {cards.fmt(value)} | "
                        f"{f'{rank} of {n_ok}' if rank else '—'} |")
    lines = [
        f"This pull request adds transferability results for `{repo_id}`, computed with [lead-hf]({source_url}) "
        "from the model's frozen features without fine-tuning. Higher scores mean the model is predicted to "
        "fine-tune better on the dataset; they rank candidate models and are not accuracies.",
        "", "| Dataset | Score | Value | Rank among the models compared |", "|---|---|---|---|", *rows, "",
        "Changes: the `model-index` metadata and a results section in README.md, and "
        + ", ".join(f"`{p}`" for p in files.eval_files) + " (the Hub's eval-results format). Nothing else in "
        "the card is modified.",
    ]
    if leaderboard_url:
        lines += ["", f"Full ranking: {leaderboard_url}"]
    return "\n".join(lines)


def publish(results=None, options: PublishOptions | None = None, **overrides: Any) -> PublishReport:
    """Publish ranking results to model cards and/or a leaderboard dataset; see :class:`PublishOptions`.

    ``results``: RankingResults objects or paths (default: ``options.results``). Returns a
    :class:`PublishReport`; raises :class:`PublishError` when publishing is refused (conflicting values,
    unreadable repos, authentication) or a commit fails (the report lists what did get published).
    Every repo is read and its change planned (:func:`_plan`) before anything is written (:func:`_apply`).
    """
    return _apply(_plan(results, with_overrides(options or PublishOptions(), overrides)))


@dataclass
class _Publication:
    """A planned publish run: the report of what every repo would become, and the connection that sends
    it (none in a dry run)."""

    opts: PublishOptions
    report: PublishReport
    api: Any = None
    guard: Any = None


def _plan(results, opts: PublishOptions) -> _Publication:
    """Read every target repo and plan its change; nothing is written."""
    loaded = _load_results(results if results is not None else opts.results)
    all_results = _check_distinct([public_results(r, opts.dataset_id, opts.dataset_config, opts.dataset_split)
                                   for r in loaded])
    if not opts.cards and not opts.leaderboard:
        raise ValueError("nothing to publish: --no-cards was given without --leaderboard REPO_ID")
    by_repo = _model_entries(all_results, opts.models) if opts.cards else {}
    if not by_repo and not opts.leaderboard:
        raise ValueError("no ranked model has a Hub id (ModelResult.hub_id) to publish to; pass --leaderboard "
                         "REPO_ID to publish the results as a leaderboard dataset instead")
    templates = Path(opts.templates_dir) if opts.templates_dir else TEMPLATES_DIR
    section_tpl = cards.load_template(templates, "card_section.md")
    board_tpl = cards.load_template(templates, "leaderboard_README.md") if opts.leaderboard else None

    endpoint = (opts.endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    leaderboard_url = f"{endpoint}/datasets/{opts.leaderboard}" if opts.leaderboard else None
    source_url = opts.source_url or leaderboard_url or DEFAULT_SOURCE_URL
    report = PublishReport(changes=[], dry_run=opts.dry_run, endpoint=endpoint)

    if opts.dry_run:
        reader: Any = _CacheReader(opts.cache_dir)
        api = user = guard = None
        report.notes.append("dry run: nothing is sent; current files come from the local Hugging Face cache "
                            "and open pull requests are not looked at")
    else:
        api, user, guard = _connect(opts, endpoint)
        reader = _HubReader(api, guard, opts.cache_dir)

    blockers: list[str] = []
    for repo_id, entries in sorted(by_repo.items()):
        change = _plan_model_repo(repo_id, entries, reader, api, guard, user, opts, section_tpl, source_url,
                                  leaderboard_url, endpoint, blockers)
        if change is not None:
            report.changes.append(change)
    if opts.leaderboard:
        report.changes.append(_plan_leaderboard(opts, reader, all_results, board_tpl, source_url, endpoint,
                                                blockers))
    report.conflicts = blockers
    return _Publication(opts, report, api, guard)


def _plan_model_repo(repo_id, entries, reader, api, guard, user, opts: PublishOptions, section_tpl, source_url,
                     leaderboard_url, endpoint, blockers: list[str]) -> RepoChange | None:
    """The change to one model repo's card and eval results (on our open pull request when there is one);
    its conflicts go to ``blockers``. None when the repo cannot be read (said in ``blockers``)."""
    paths = ["README.md"] + sorted({cards.eval_results_path(r.dataset) for r, _ in entries})
    main = reader.state(repo_id, "model", paths)
    if main is None:
        blockers.append(f"{repo_id}: model repo not found on {endpoint} (or private and invisible to this "
                        "token); fix its hub_id in the results file or leave it out with --models")
        return None
    plan = cards.update_model_files(
        repo_id, main.files["README.md"], {p: main.files.get(p) for p in paths[1:]}, entries,
        section=section_tpl, source_url=source_url, leaderboard_url=leaderboard_url,
        overwrite=opts.overwrite, hub_url=endpoint)
    title = _pr_title(entries)
    conflicts = [str(c) for c in plan.conflicts]
    refused = [c.value for c in plan.conflicts]
    base, action, pr = main, "open-pr" if opts.pr else "commit", None
    if opts.pr and api is not None:
        pr = _find_open_pr(api, guard, repo_id, user, title)
        pr_state = reader.state(repo_id, "model", paths, revision=f"refs/pr/{pr}") if pr is not None else None
        if pr_state is not None:
            # Our open PR is what this run updates: plan on its files, so that what it already
            # proposes counts as unchanged (or, if different, as a conflict), not as added again.
            plan = cards.update_model_files(
                repo_id, pr_state.files["README.md"], {p: pr_state.files.get(p) for p in paths[1:]},
                entries, section=section_tpl, source_url=source_url, leaderboard_url=leaderboard_url,
                overwrite=opts.overwrite, hub_url=endpoint)
            conflicts += [f"{c} (in open pull request #{pr})" for c in plan.conflicts]
            refused += [c.value for c in plan.conflicts]
            base, action = pr_state, "update-pr"
    new = {"README.md": plan.readme, **plan.eval_files}
    change = RepoChange(repo_id, "model", action, dict(base.files), new, base.label, title=title,
                        description=_pr_description(repo_id, entries, plan, source_url, leaderboard_url),
                        parent=base.sha, pr_num=pr if action == "update-pr" else None,
                        added=plan.added, replaced=plan.replaced, unchanged=plan.unchanged,
                        refused=sorted(set(refused)))
    if not change.changed:
        change.action = "unchanged"
    blockers += conflicts
    return change


def _apply(pub: _Publication) -> PublishReport:
    """Refuse everything on any conflict; else one commit (or pull request) per changed repo. A dry run
    returns the plan."""
    opts, report = pub.opts, pub.report
    if report.conflicts and not opts.dry_run:
        hint = ("\npass --overwrite to replace the existing values"
                if any(" already " in b for b in report.conflicts) else "")
        raise PublishError("nothing was published:\n  " + "\n  ".join(report.conflicts) + hint, report)
    if opts.dry_run:
        return report
    for change in report.changes:
        if change.action == "unchanged":
            continue
        try:
            _write(pub.api, pub.guard, change, opts)
        except PublishError as err:
            change.error = str(err)
    if report.failed:
        done = [c.repo_id for c in report.changes if c.action != "unchanged" and not c.error]
        raise PublishError(
            "publishing failed for " + ", ".join(c.repo_id for c in report.failed) + ":\n  "
            + "\n  ".join(c.error for c in report.failed)
            + (f"\npublished: {', '.join(done)}" if done else "\nnothing was published")
            + "\nrunning the same command again only adds what is missing", report)
    return report


def _connect(opts: PublishOptions, endpoint: str):
    from huggingface_hub import HfApi, constants, get_token

    token = opts.token or _token_from_file(opts.token_file) or get_token()
    guard = _Guard(token, endpoint, _describe_source(opts))
    if constants.is_offline_mode():
        raise PublishError("publishing needs the network but HF_HUB_OFFLINE=1 is set: run with HF_HUB_OFFLINE=0 "
                           "(or use --dry-run, which sends nothing)")
    if not token:
        raise PublishError("no Hugging Face token found: run `hf auth login`, set HF_TOKEN, or pass --token "
                           "(publishing needs a token with write access; --dry-run needs none)")
    api = HfApi(endpoint=endpoint, token=token, library_name="lead-hf")
    who = guard.call(api.whoami, repo=endpoint, doing="check the token on")
    role = ((who.get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise PublishError(f"the token from {guard.token_source} is read-only; publishing needs a token with "
                           "write access (create one at https://huggingface.co/settings/tokens)")
    return api, who.get("name"), guard


def _find_open_pr(api, guard: _Guard, repo_id: str, user: str | None, title: str) -> int | None:
    found = guard.call(lambda: [d.num for d in api.get_repo_discussions(
        repo_id, author=user, discussion_type="pull_request", discussion_status="open") if d.title == title],
        repo=repo_id, doing="list the pull requests of")
    return max(found) if found else None


def _plan_leaderboard(opts, reader, all_results, template, source_url, endpoint, blockers) -> RepoChange:
    repo_id = opts.leaderboard
    paths = ["README.md"] + [leaderboard.results_path(r) for r in all_results]
    state = reader.state(repo_id, "dataset", paths, prefix=leaderboard.RESULTS_FOLDER + "/")
    created = state is None
    if created:
        state = _State(None, {p: None for p in paths}, [], "new repo")
    existing = {p: t for p, t in state.files.items()
                if p.startswith(leaderboard.RESULTS_FOLDER + "/") and p.endswith(".json") and t is not None}
    plan = leaderboard.update_leaderboard(repo_id, existing, all_results, template=template,
                                          title=f"lead-hf leaderboard: {repo_id.split('/')[1]}",
                                          source_url=source_url, hub_url=endpoint, overwrite=opts.overwrite)
    blockers += [f"{c}; pass --overwrite to replace it" for c in plan.conflicts]
    change = RepoChange(repo_id, "dataset", "create" if created else "commit", dict(state.files), plan.files,
                        state.label, parent=state.sha, replaced=plan.replaced,
                        title="Update lead-hf leaderboard: " + "; ".join(
                            sorted(cards.dataset_label(r.dataset) for r in all_results)))
    change.added = [p for p in plan.files if p != "README.md" and state.files.get(p) is None]
    change.unchanged = [p for p in plan.files if p != "README.md" and state.files.get(p) == plan.files[p]]
    change.refused = [c.split(": ", 1)[1].split(" already holds")[0] for c in plan.conflicts]
    change.description = ("Results files written by `lead-hf rank` and the README table rendered from them by "
                          "`lead-hf publish`.")
    if not change.changed:
        change.action = "unchanged"
    return change


def _write(api, guard: _Guard, change: RepoChange, opts: PublishOptions) -> None:
    from huggingface_hub import CommitOperationAdd

    repo, kind = change.repo_id, change.repo_type
    if change.action == "create":
        guard.call(api.create_repo, repo, repo_type=kind, private=opts.leaderboard_private, exist_ok=True,
                   repo=repo, doing="create")
        info = guard.call(api.repo_info, repo, repo_type=kind, repo=repo, doing="read")
        if any(s.rfilename in change.new for s in (info.siblings or [])):
            raise PublishError(f"cannot commit to {repo}: it was created by someone else meanwhile; run again")
        change.parent = info.sha
    ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=change.new[p].encode("utf-8")) for p in change.changed]
    kwargs: dict[str, Any] = dict(repo_type=kind, commit_message=change.title or f"lead-hf: update {repo}",
                                  commit_description=change.description, parent_commit=change.parent)
    if change.action == "open-pr":
        info = guard.call(api.create_commit, repo, ops, create_pr=True, repo=repo, doing="open a pull request on",
                          **kwargs)
        change.url, change.pr_num = info.pr_url, info.pr_num
    elif change.action == "update-pr":
        info = guard.call(api.create_commit, repo, ops, revision=f"refs/pr/{change.pr_num}", repo=repo,
                          doing=f"push to pull request #{change.pr_num} of", **kwargs)
        change.url = f"{guard.endpoint}/{'datasets/' if kind == 'dataset' else ''}{repo}/discussions/{change.pr_num}"
    else:
        info = guard.call(api.create_commit, repo, ops, repo=repo, doing="commit to", **kwargs)
        change.url = info.commit_url
    change.done = True
