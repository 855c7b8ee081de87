"""A small local stand-in for the Hugging Face Hub HTTP API, for tests and dry experiments.

It speaks the parts of the Hub API that ``huggingface_hub`` (2.x) ``HfApi`` uses to read and write cards and
results, so the real client can be exercised end to end without the network:

- ``GET  /api/whoami-v2``                                  token check (401 for an unknown token)
- ``POST /api/repos/create``                               model / dataset repos (409 when it exists)
- ``GET  /api/{models,datasets}/NS/NAME[/revision/REV]``   repo info: sha, siblings, cardData
- ``GET  /api/models``                                     the model listing ``HfApi.list_models`` reads:
  ``search``, ``author``, ``filter`` (tags), ``pipeline_tag``, ``library``, ``sort`` / ``direction``,
  ``limit``, ``full``, ``cardData``, ``expand``; pages follow the ``Link: <...>; rel="next"`` header
- ``POST /api/validate-yaml``                              README front matter (incl. model-index) check
- ``POST /api/{type}s/NS/NAME/preupload/REV``              every file "regular" (run with HF_HUB_DISABLE_XET=1)
- ``POST /api/{type}s/NS/NAME/commit/REV[?create_pr=1]``   the NDJSON commit, ``parentCommit`` checked (412)
- ``GET  /api/{type}s/NS/NAME/discussions[/N]``            pull requests: listing (filters, pages) and details
- ``POST /api/{type}s/NS/NAME/discussions/N/merge``        merge a pull request (what a repo owner does)
- ``HEAD|GET /[datasets/]NS/NAME/resolve/REV/PATH``        downloads, with X-Repo-Commit and ETag headers

Repos live in memory. Every commit gets a git-like sha (sha1 over parent, message and the files' blob ids);
``main`` and ``refs/pr/N`` are refs to commits. New repos start with one "initial commit" holding
``.gitattributes``, as on the Hub. Writing needs a token whose user owns the namespace (or is a member of
the organisation); opening a pull request needs any valid write token; ``read`` tokens cannot write.
The server binds to 127.0.0.1 only and counts every request (``requests``), so a test can assert that a
dry run sent nothing. Tokens are never logged: only whether a request was authenticated.

Usage::

    with LocalHub(tokens={"hf_alice": "alice"}) as hub:
        api = HfApi(endpoint=hub.url, token="hf_alice")
        ...

or from a shell, for trying ``lead-hf publish --endpoint`` by hand::

    python -m tests.support.hub_server --token hf_alice:alice

and, with tiny random models to find and download (``lead-hf rank --hub-search``; tests.support.tiny_repos)::

    python -m tests.support.hub_server --tiny-models
"""
from __future__ import annotations

import argparse
import base64
import datetime as _dt
import difflib
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

REPO_TYPES = ("model", "dataset")
PAGE_SIZE = 50  # discussions per page, as on the Hub
LISTING_PAGE_SIZE = 1000  # models per listing page at most, as on the Hub (``limit`` is capped to it)
# the listing's sort keys (the Hub's spellings; huggingface_hub maps created_at -> createdAt etc.)
LISTING_SORTS = ("downloads", "likes", "trendingScore", "createdAt", "lastModified", "id")
LISTING_EXPAND = ("author", "cardData", "config", "createdAt", "disabled", "downloads", "gated", "lastModified",
                  "library_name", "likes", "pipeline_tag", "private", "sha", "siblings", "tags", "trendingScore")
_GITATTRIBUTES = b"*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
_FRONT_MATTER = re.compile(r"^\s*---[\r\n]+(.*?)[\r\n]+---(?:[\r\n]|$)", re.DOTALL)


def git_blob_sha(data: bytes) -> str:
    """The id git gives a file's content (what the Hub reports as a regular file's oid and ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Commit:
    sha: str
    parent: str | None
    files: dict[str, bytes]
    summary: str
    description: str
    author: str
    date: str


@dataclass
class Discussion:
    num: int
    title: str
    author: str
    is_pull_request: bool
    created_at: str
    status: str = "open"
    ref: str | None = None  # refs/pr/N for pull requests
    base_sha: str | None = None  # main when the PR was opened, for its diff and merge
    events: list[dict[str, Any]] = field(default_factory=list)
    merge_commit: str | None = None


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool
    created_at: str
    commits: dict[str, Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # "main", "refs/pr/1" -> sha
    discussions: list[Discussion] = field(default_factory=list)
    downloads: int = 0  # what the listing reports (the Hub counts the last 30 days; tests set it)
    likes: int = 0

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/")[0]

    def resolve(self, revision: str) -> Commit | None:
        sha = self.refs.get(revision) or self.refs.get(revision.removeprefix("refs/heads/"))
        if sha is None and re.fullmatch(r"[0-9a-f]{40}", revision):
            sha = revision
        return self.commits.get(sha) if sha else None

    def history(self, revision: str = "main") -> list[Commit]:
        """Commits reachable from ``revision``, newest first."""
        out, commit = [], self.resolve(revision)
        while commit is not None:
            out.append(commit)
            commit = self.commits.get(commit.parent) if commit.parent else None
        return out


class HubError(Exception):
    """An HTTP error response, with the Hub's X-Error-Code / X-Error-Message headers."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class HubState:
    """All repos, users and tokens of one server; every method holds the lock."""

    def __init__(self, tokens: dict[str, str | tuple[str, str]], orgs: dict[str, list[str]] | None = None):
        self.lock = threading.RLock()
        self.tokens: dict[str, tuple[str, str]] = {
            tok: (who, "write") if isinstance(who, str) else (who[0], who[1]) for tok, who in tokens.items()}
        self.orgs = {user: list(v) for user, v in (orgs or {}).items()}  # user -> organisations
        self.repos: dict[tuple[str, str], Repo] = {}
        self.counter = 0
        self.listing_page_size = LISTING_PAGE_SIZE  # tests lower it to exercise the listing's pages

    # -- helpers -------------------------------------------------------------------------------------
    def user_for(self, token: str | None) -> tuple[str, str] | None:
        """(user, role) for a token; None without a token; HubError 401 for an unknown one."""
        if token is None:
            return None
        if token not in self.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.tokens[token]

    def can_write(self, user: tuple[str, str] | None, repo_id: str) -> bool:
        if user is None or user[1] != "write":
            return False
        ns = repo_id.split("/")[0]
        return ns == user[0] or ns in self.orgs.get(user[0], [])

    def get_repo(self, repo_type: str, repo_id: str, user: tuple[str, str] | None) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        # Private repos of others look missing, as on the Hub.
        if repo is None or (repo.private and (user is None or not self.can_write((user[0], "write"), repo_id))):
            raise HubError(404, f"{repo_type.capitalize()} {repo_id} not found", "RepoNotFound")
        return repo

    def new_commit(self, repo: Repo, parent: str | None, files: dict[str, bytes], summary: str,
                   description: str, author: str) -> Commit:
        self.counter += 1
        h = hashlib.sha1()
        h.update(f"{parent}\n{summary}\n{description}\n{author}\n{self.counter}\n".encode())
        for path in sorted(files):
            h.update(f"{path} {git_blob_sha(files[path])}\n".encode())
        commit = Commit(h.hexdigest(), parent, dict(files), summary, description, author, _now())
        repo.commits[commit.sha] = commit
        return commit

    def create_repo(self, repo_type: str, repo_id: str, *, author: str, private: bool = False,
                    files: dict[str, bytes | str] | None = None, downloads: int = 0, likes: int = 0) -> Repo:
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"this test server has no {repo_type!r} repos; use one of {REPO_TYPES}")
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id):
            raise HubError(400, f"invalid repo id {repo_id!r}: expected 'namespace/name'")
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                raise HubError(409, "You already created this repo")
            repo = Repo(repo_id, repo_type, private, _now(), downloads=int(downloads), likes=int(likes))
            initial = {".gitattributes": _GITATTRIBUTES}
            initial.update({k: v.encode() if isinstance(v, str) else v for k, v in (files or {}).items()})
            commit = self.new_commit(repo, None, initial, "initial commit", "", author)
            repo.refs["main"] = commit.sha
            self.repos[(repo_type, repo_id)] = repo
            return repo

    # -- commits ---------------------------------------------------------------------------------------
    def commit(self, repo: Repo, revision: str, lines: list[dict[str, Any]], user: tuple[str, str] | None,
               create_pr: bool) -> dict[str, Any]:
        if user is None:
            raise HubError(401, "You must be authenticated to commit")
        if user[1] != "write":
            raise HubError(403, "This token has read access only; it cannot commit or open pull requests")
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the first NDJSON line must be the commit header")
        header = lines[0].get("value") or {}
        summary = str(header.get("summary") or "").strip()
        if not summary:
            raise HubError(400, "commit summary (title) is required")
        with self.lock:
            pr: Discussion | None = None
            if revision.startswith("refs/pr/"):
                pr = next((d for d in repo.discussions if d.ref == revision), None)
                if pr is None:
                    raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
                if pr.status != "open":
                    raise HubError(403, f"Pull request #{pr.num} is {pr.status}; it cannot take new commits")
                if pr.author != user[0] and not self.can_write(user, repo.repo_id):
                    raise HubError(403, f"Only the author of pull request #{pr.num} or a maintainer can push to it")
            elif not (create_pr or self.can_write(user, repo.repo_id)):
                raise HubError(403, f"You don't have the rights to push to {repo.repo_id}; open a pull request "
                                    "instead (create_pr=1)")
            head = repo.resolve(revision)
            if head is None:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            if create_pr and revision.startswith("refs/pr/"):
                raise HubError(400, "create_pr needs a branch as revision, not a pull request ref")
            parent = header.get("parentCommit")
            if parent is not None and parent != head.sha:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(head.files)
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value") or {}
                path = str(value.get("path", ""))
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise HubError(400, f"{path}: only base64 file content is supported")
                    files[path] = base64.b64decode(value.get("content", ""))
                elif key == "deletedFile":
                    if path not in files:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                    del files[path]
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    for name in [p for p in files if p.startswith(prefix)]:
                        del files[name]
                elif key == "lfsFile":
                    raise HubError(400, f"{path}: LFS uploads are not supported by this test server "
                                        "(every file is uploaded as a regular file)")
                else:
                    raise HubError(400, f"unknown commit operation {key!r}")
            commit = self.new_commit(repo, head.sha, files, summary, str(header.get("description") or ""),
                                     user[0])
            prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
            out: dict[str, Any] = {"commitUrl": f"/{prefix}{repo.repo_id}/commit/{commit.sha}",
                                   "commitOid": commit.sha, "success": True}
            if create_pr:
                num = len(repo.discussions) + 1
                pr = Discussion(num, summary, user[0], True, _now(), ref=f"refs/pr/{num}", base_sha=head.sha)
                pr.events.append(self._event("comment", user[0], {
                    "edited": False, "hidden": False, "latest": {"raw": commit.description}}))
                repo.discussions.append(pr)
                repo.refs[pr.ref] = commit.sha
                out["pullRequestUrl"] = f"/{prefix}{repo.repo_id}/discussions/{num}"
            elif pr is not None:
                repo.refs[pr.ref] = commit.sha
            else:
                repo.refs[revision.removeprefix("refs/heads/")] = commit.sha
            if pr is not None:
                pr.events.append(self._event("commit", user[0], {"subject": summary, "oid": commit.sha}))
            return out

    def _event(self, kind: str, author: str, data: dict[str, Any]) -> dict[str, Any]:
        self.counter += 1
        return {"id": f"{self.counter:024x}", "type": kind, "createdAt": _now(), "author": {"name": author},
                "data": data}

    def merge(self, repo: Repo, num: int, user: tuple[str, str] | None) -> Commit:
        """Merge PR ``num`` into main: the files it changed since its base are applied on main's head."""
        with self.lock:
            if not self.can_write(user, repo.repo_id):
                raise HubError(403, f"Only maintainers of {repo.repo_id} can merge pull requests")
            pr = self.discussion(repo, num)
            if not pr.is_pull_request or pr.status != "open":
                raise HubError(400, f"#{num} is not an open pull request")
            base, head, main = repo.commits[pr.base_sha], repo.resolve(pr.ref), repo.resolve("main")
            files = dict(main.files)
            for path in set(base.files) | set(head.files):
                if base.files.get(path) != head.files.get(path):
                    if path in head.files:
                        files[path] = head.files[path]
                    else:
                        files.pop(path, None)
            commit = self.new_commit(repo, main.sha, files, f"Merge pull request #{num}: {pr.title}", "", user[0])
            repo.refs["main"] = commit.sha
            pr.status, pr.merge_commit = "merged", commit.sha
            pr.events.append(self._event("status-change", user[0], {"status": "merged"}))
            return commit

    def discussion(self, repo: Repo, num: int) -> Discussion:
        if not 1 <= num <= len(repo.discussions):
            raise HubError(404, f"Discussion #{num} not found")
        return repo.discussions[num - 1]


def _card_data(files: dict[str, bytes]) -> dict[str, Any] | None:
    import yaml

    match = _FRONT_MATTER.match(files.get("README.md", b"").decode("utf-8", "replace"))
    if not match:
        return None
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def listing_metadata(files: dict[str, bytes]) -> dict[str, Any]:
    """library_name, pipeline_tag and tags of a model repo, as the Hub derives them (simplified).

    - library_name: the card's ``library_name``; else from config.json: ``model_type`` -> transformers,
      ``architecture`` (timm's key) -> timm; else none.
    - pipeline_tag: the card's ``pipeline_tag``; else from the library: a transformers config whose
      ``architectures`` end in ForImageClassification / ForSequenceClassification -> image- /
      text-classification; timm -> image-classification (timm's default); else none.
    - tags: the library, the card's tags, safetensors when a .safetensors file is there, the pipeline tag,
      ``license:X`` and ``dataset:X`` from the card (what ``filter=`` matches).
    """
    card = _card_data(files) or {}
    try:
        config = json.loads(files["config.json"]) if "config.json" in files else {}
    except (ValueError, UnicodeDecodeError):
        config = {}
    config = config if isinstance(config, dict) else {}
    library = card.get("library_name")
    if not isinstance(library, str):
        library = ("transformers" if "model_type" in config else "timm" if "architecture" in config else None)
    task = card.get("pipeline_tag")
    if not isinstance(task, str):
        archs = [a for a in config.get("architectures") or [] if isinstance(a, str)]
        task = ("image-classification" if any(a.endswith("ForImageClassification") for a in archs) else
                "text-classification" if any(a.endswith("ForSequenceClassification") for a in archs) else
                "image-classification" if library == "timm" else None)
    card_tags = card.get("tags") or []
    card_tags = [card_tags] if isinstance(card_tags, str) else [t for t in card_tags if isinstance(t, str)]
    tags = ([library] if library else []) + card_tags
    if any(path.endswith(".safetensors") for path in files):
        tags.append("safetensors")
    if task:
        tags.append(task)
    if isinstance(card.get("license"), str):
        tags.append(f"license:{card['license']}")
    datasets = card.get("datasets") or []
    tags += [f"dataset:{d}" for d in ([datasets] if isinstance(datasets, str) else datasets) if isinstance(d, str)]
    return {"library_name": library, "pipeline_tag": task, "tags": list(dict.fromkeys(tags)), "cardData": card,
            "config": config}


def validate_card_yaml(content: str) -> list[str]:
    """Errors the Hub would report for a README's front matter (YAML syntax and the model-index shape)."""
    import yaml

    match = _FRONT_MATTER.match(content)
    if not match:
        return []
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as err:
        return [f"Invalid YAML in README.md front matter: {err}"]
    if data is None:
        return []
    if not isinstance(data, dict):
        return ["README.md metadata must be a YAML mapping"]
    errors: list[str] = []
    model_index = data.get("model-index")
    if model_index is None:
        return errors
    if not isinstance(model_index, list):
        return ['"model-index" must be an array']
    for i, model in enumerate(model_index):
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            errors.append(f'"model-index[{i}].name" is required and must be a string')
            continue
        for j, result in enumerate(model.get("results") or []):
            where = f"model-index[{i}].results[{j}]"
            if not isinstance(result, dict):
                errors.append(f'"{where}" must be an object')
                continue
            if not isinstance((result.get("task") or {}).get("type"), str):
                errors.append(f'"{where}.task.type" is required')
            dataset = result.get("dataset") or {}
            for key in ("type", "name"):
                if not isinstance(dataset.get(key), str):
                    errors.append(f'"{where}.dataset.{key}" is required')
            metrics = result.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                errors.append(f'"{where}.metrics" must be a non-empty array')
                continue
            for k, metric in enumerate(metrics):
                if not isinstance(metric, dict) or not isinstance(metric.get("type"), str) or "value" not in metric:
                    errors.append(f'"{where}.metrics[{k}]" needs a "type" and a "value"')
    return errors


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the httpx client expects
    server: "_Server"

    # -- plumbing ------------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet; requests are recorded in LocalHub.requests instead (without tokens)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json", head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        return auth[7:].strip() if auth.lower().startswith("bearer ") else None

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        segments = [unquote(s) for s in split.path.split("/")[1:]]
        self._query_lists = parse_qs(split.query)  # every value of a repeated parameter (the listing's filter)
        query = {k: v[-1] for k, v in self._query_lists.items()}
        token = self._token()
        self.server.hub.record(method, split.path, authenticated=token is not None)
        body = self._body() if method in ("POST", "PUT") else b""
        status = self.server.hub.take_failure(method, split.path)
        if status is not None:
            self._json(status, {"error": f"injected failure {status}"}, {"X-Error-Message": "injected failure"})
            return
        try:
            user = self.server.state.user_for(token)
            self._route(method, segments, query, body, user)
        except HubError as err:
            headers = {"X-Error-Message": err.message, **err.headers}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._send(err.status, b"" if method == "HEAD" else json.dumps({"error": err.message}).encode(),
                       headers, head=method == "HEAD")

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    # -- routes --------------------------------------------------------------------------------------
    def _route(self, method: str, seg: list[str], query: dict[str, str], body: bytes, user) -> None:
        state = self.server.state
        if seg[:1] == ["api"]:
            rest = seg[1:]
            if rest == ["whoami-v2"] and method == "GET":
                return self._whoami(user)
            if rest == ["repos", "create"] and method == "POST":
                return self._create(json.loads(body or b"{}"), user)
            if rest == ["models"] and method == "GET":
                return self._list_models(self._query_lists, user)
            if rest == ["validate-yaml"] and method == "POST":
                payload = json.loads(body or b"{}")
                errors = validate_card_yaml(str(payload.get("content", "")))
                status = 400 if errors else 200
                return self._json(status, {"errors": [{"message": e} for e in errors], "warnings": []})
            if len(rest) >= 3 and rest[0] in ("models", "datasets"):
                repo_type = rest[0][:-1]
                repo_id, tail = "/".join(rest[1:3]), rest[3:]
                repo = state.get_repo(repo_type, repo_id, user)
                if not tail and method == "GET":
                    return self._info(repo, "main")
                if len(tail) >= 2 and tail[0] == "revision" and method == "GET":
                    return self._info(repo, "/".join(tail[1:]))
                if len(tail) >= 2 and tail[0] == "preupload" and method == "POST":
                    return self._preupload(repo, "/".join(tail[1:]), json.loads(body or b"{}"), user)
                if len(tail) >= 2 and tail[0] == "commit" and method == "POST":
                    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                    out = state.commit(repo, "/".join(tail[1:]), lines, user, query.get("create_pr") == "1")
                    for key in ("commitUrl", "pullRequestUrl"):
                        if key in out:
                            out[key] = self.server.hub.url + out[key]
                    return self._json(200, out)
                if tail == ["discussions"] and method == "GET":
                    return self._discussions(repo, query)
                if len(tail) == 2 and tail[0] == "discussions" and method == "GET":
                    return self._discussion(repo, int(tail[1]))
                if len(tail) == 3 and tail[0] == "discussions" and tail[2] == "merge" and method == "POST":
                    state.merge(repo, int(tail[1]), user)
                    return self._json(200, {"success": True})
        else:
            repo_type, rest = ("dataset", seg[1:]) if seg[:1] == ["datasets"] else ("model", seg)
            if len(rest) >= 5 and rest[2] == "resolve" and method in ("GET", "HEAD"):
                repo = state.get_repo(repo_type, "/".join(rest[:2]), user)
                return self._resolve(repo, rest[3], "/".join(rest[4:]), head=method == "HEAD")
        raise HubError(404, f"this test server does not serve {method} {self.path.split('?')[0]}")

    def _whoami(self, user) -> None:
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        name, role = user
        orgs = [{"type": "org", "name": o} for o in self.server.state.orgs.get(name, [])]
        self._json(200, {"type": "user", "id": hashlib.sha1(name.encode()).hexdigest()[:24], "name": name,
                         "fullname": name, "orgs": orgs,
                         "auth": {"type": "access_token",
                                  "accessToken": {"displayName": "test", "role": role}}})

    def _create(self, payload: dict[str, Any], user) -> None:
        if user is None:
            raise HubError(401, "You must be authenticated to create a repo")
        name, org = payload.get("name"), payload.get("organization")
        repo_id = f"{org or user[0]}/{name}"
        if not self.server.state.can_write(user, repo_id):
            raise HubError(403, f"You don't have the rights to create a repo under {org or user[0]!r}")
        private = payload.get("private") or payload.get("visibility") == "private"
        self.server.state.create_repo(payload.get("type") or "model", repo_id, author=user[0],
                                      private=bool(private))
        prefix = "" if (payload.get("type") or "model") == "model" else f"{payload['type']}s/"
        self._json(200, {"url": f"{self.server.hub.url}/{prefix}{repo_id}", "name": repo_id})

    def _info(self, repo: Repo, revision: str) -> None:
        with self.server.state.lock:
            commit = repo.resolve(revision)
            if commit is None:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            info: dict[str, Any] = {
                "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id,
                "author": repo.namespace, "sha": commit.sha, "private": repo.private, "gated": False,
                "disabled": False, "downloads": repo.downloads, "likes": repo.likes, "tags": [],
                "createdAt": repo.created_at,
                "lastModified": commit.date,
                "siblings": [{"rfilename": p} for p in sorted(commit.files)],
            }
            card = _card_data(commit.files)
            if card is not None:
                info["cardData"] = card
        self._json(200, info)

    def _list_models(self, params: dict[str, list[str]], user) -> None:
        """``GET /api/models``: the model repos matching every given parameter, sorted, one page.

        search: case-insensitive part of the id; author: the namespace; filter (repeatable, or
        comma-separated): tags that must all be there; pipeline_tag, library: equal. sort (one of
        LISTING_SORTS) is descending unless direction is given and is not -1. limit: models per page (at
        most LISTING_PAGE_SIZE); the next page, when there is one, is in the Link header (cursor=OFFSET).
        Private repos are listed only to a token that may write them. Without full or expand an item has
        the Hub's short shape (_id, id, modelId, likes, trendingScore, private, downloads, tags,
        pipeline_tag, library_name, createdAt); expand keeps only the properties asked for.
        """
        state = self.server.state
        one = {k: v[-1] for k, v in params.items()}
        sort = one.get("sort")
        if sort is not None and sort not in LISTING_SORTS:
            raise HubError(400, f"Invalid sort parameter {sort!r}; expected one of {', '.join(LISTING_SORTS)}")
        expand = [e for v in params.get("expand", []) for e in v.split(",") if e]
        unknown = [e for e in expand if e not in LISTING_EXPAND]
        if unknown:
            raise HubError(400, f"Invalid expand value(s) {unknown}; expected some of {', '.join(LISTING_EXPAND)}")
        if expand and any(k in one for k in ("full", "cardData", "config")):
            raise HubError(400, "expand cannot be combined with full, cardData or config")
        try:
            limit = min(int(one.get("limit", state.listing_page_size)), state.listing_page_size)
            offset = int(base64.urlsafe_b64decode(one["cursor"].encode()).decode()) if "cursor" in one else 0
        except (ValueError, TypeError) as err:
            raise HubError(400, f"Invalid limit or cursor: {err}") from None
        if limit < 1:
            raise HubError(400, "limit must be a positive number")
        wanted = {t for v in params.get("filter", []) for t in v.split(",") if t}
        search = one.get("search", "").lower()
        truthy = lambda key: one.get(key, "").lower() in ("1", "true")  # noqa: E731
        rows = []
        with state.lock:
            for (kind, repo_id), repo in state.repos.items():
                if kind != "model" or (repo.private and not state.can_write(
                        (user[0], "write") if user else None, repo_id)):
                    continue
                head = repo.resolve("main")
                meta = listing_metadata(head.files)
                if (search not in repo_id.lower() or ("author" in one and repo.namespace != one["author"])
                        or not wanted <= set(meta["tags"])
                        or ("pipeline_tag" in one and meta["pipeline_tag"] != one["pipeline_tag"])
                        or ("library" in one and meta["library_name"] != one["library"])):
                    continue
                every = {"_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id,
                         "author": repo.namespace, "cardData": meta["cardData"], "config": meta["config"],
                         "createdAt": repo.created_at, "disabled": False, "downloads": repo.downloads,
                         "gated": False, "lastModified": head.date, "library_name": meta["library_name"],
                         "likes": repo.likes, "pipeline_tag": meta["pipeline_tag"], "private": repo.private,
                         "sha": head.sha, "siblings": [{"rfilename": p} for p in sorted(head.files)],
                         "tags": meta["tags"], "trendingScore": 0}
                rows.append(every)
        if sort is not None:
            descending = one.get("direction", "-1") == "-1"
            rows.sort(key=lambda r: r[sort], reverse=descending)  # ISO dates sort as text
        page = rows[offset:offset + limit]
        if expand:
            keys = ["_id", "id", *expand]
        else:
            keys = ["_id", "id", "likes", "trendingScore", "private", "downloads", "tags", "pipeline_tag",
                    "library_name", "createdAt"]
            if truthy("full"):
                keys += ["author", "sha", "lastModified", "gated", "disabled", "siblings"]
            if truthy("cardData"):
                keys += ["cardData"]
            if truthy("config"):
                keys += ["config"]
        items = []
        for row in page:
            item = {k: row[k] for k in keys if not (k in ("pipeline_tag", "library_name", "cardData") and not row[k])}
            if not expand:
                item["modelId"] = row["id"]
            items.append(item)
        headers = {}
        if offset + limit < len(rows):
            rest = [(k, v) for k, vs in params.items() if k != "cursor" for v in vs]
            rest.append(("cursor", base64.urlsafe_b64encode(str(offset + limit).encode()).decode()))
            headers["Link"] = f'<{self.server.hub.url}/api/models?{urlencode(rest)}>; rel="next"'
        self._json(200, items, headers)

    def _preupload(self, repo: Repo, revision: str, payload: dict[str, Any], user) -> None:
        if user is None:
            raise HubError(401, "You must be authenticated to upload")
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        files = []
        for f in payload.get("files", []):
            existing = commit.files.get(f["path"])
            files.append({"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                          "oid": git_blob_sha(existing) if existing is not None else None})
        self._json(200, {"files": files, "commitOid": commit.sha})

    def _discussion_json(self, repo: Repo, d: Discussion) -> dict[str, Any]:
        return {"num": d.num, "title": d.title, "status": d.status, "createdAt": d.created_at,
                "isPullRequest": d.is_pull_request, "author": {"name": d.author},
                "repo": {"name": repo.repo_id, "type": repo.repo_type}, "numComments": 1, "pinned": False}

    def _discussions(self, repo: Repo, query: dict[str, str]) -> None:
        kind, status, author = query.get("type", "all"), query.get("status", "all"), query.get("author")
        page = int(query.get("p", 0))
        with self.server.state.lock:
            found = [d for d in reversed(repo.discussions)
                     if (kind == "all" or (kind == "pull_request") == d.is_pull_request)
                     and (status == "all" or d.status == status)
                     and (author is None or d.author == author)]
        chunk = found[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
        self._json(200, {"discussions": [self._discussion_json(repo, d) for d in chunk], "count": len(found),
                         "start": page * PAGE_SIZE, "numClosedDiscussions": 0})

    def _discussion(self, repo: Repo, num: int) -> None:
        with self.server.state.lock:
            d = self.server.state.discussion(repo, num)
            out = self._discussion_json(repo, d)
            out["events"] = list(d.events)
            if d.is_pull_request:
                out["changes"] = {"base": "refs/heads/main", "mergeCommitId": d.merge_commit}
                out["filesWithConflicts"] = []
                out["diff"] = _diff(repo.commits[d.base_sha].files, repo.resolve(d.ref).files)
        self._json(200, out)

    def _resolve(self, repo: Repo, revision: str, path: str, head: bool) -> None:
        with self.server.state.lock:
            commit = repo.resolve(revision)
            if commit is None:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            if path not in commit.files:
                raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.sha})
            data = commit.files[path]
        self._send(200, data, {"X-Repo-Commit": commit.sha, "ETag": f'"{git_blob_sha(data)}"',
                               "Accept-Ranges": "none"}, content_type="application/octet-stream", head=head)


def _diff(old: dict[str, bytes], new: dict[str, bytes]) -> str:
    out = []
    for path in sorted(set(old) | set(new)):
        if old.get(path) != new.get(path):
            a = old.get(path, b"").decode("utf-8", "replace").splitlines(keepends=True)
            b = new.get(path, b"").decode("utf-8", "replace").splitlines(keepends=True)
            out.extend(difflib.unified_diff(a, b, f"a/{path}", f"b/{path}"))
    return "".join(out)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: HubState
    hub: "LocalHub"


@dataclass
class Request:
    method: str
    path: str
    authenticated: bool


class LocalHub:
    """A Hub API server on 127.0.0.1 with a random free port; use as a context manager (or start/stop).

    ``tokens`` maps token -> user name (write access) or -> (user, "read"|"write"); ``orgs`` maps a user to
    the organisations whose repos they may write. ``fail_once`` makes one matching request fail (to test
    error handling).
    """

    def __init__(self, tokens: dict[str, str | tuple[str, str]] | None = None,
                 orgs: dict[str, list[str]] | None = None, port: int = 0):
        self.port = port  # 0: a free port chosen by the system
        self.state = HubState(tokens or {}, orgs)
        self.requests: list[Request] = []
        self._failures: list[tuple[str, str, int]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> "LocalHub":
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.state, server.hub = self.state, self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="lead-hf-local-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> "LocalHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local hub is not running: call start() or use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_once(self, method: str, path_contains: str, status: int = 500) -> None:
        """The next ``method`` request whose path contains ``path_contains`` gets ``status`` instead."""
        with self.state.lock:
            self._failures.append((method.upper(), path_contains, status))

    def take_failure(self, method: str, path: str) -> int | None:
        with self.state.lock:
            for i, (m, part, status) in enumerate(self._failures):
                if m == method and part in path:
                    del self._failures[i]
                    return status
        return None

    def record(self, method: str, path: str, authenticated: bool) -> None:
        with self.state.lock:
            self.requests.append(Request(method, path, authenticated))

    # -- direct access for tests (no HTTP) -------------------------------------------------------------
    def create_repo(self, repo_id: str, *, repo_type: str = "model", author: str | None = None,
                    private: bool = False, files: dict[str, bytes | str] | None = None, downloads: int = 0,
                    likes: int = 0) -> Repo:
        """Create a repo whose first commit holds ``files`` (plus .gitattributes). ``downloads`` and
        ``likes`` are what the model listing reports (and sorts by)."""
        return self.state.create_repo(repo_type, repo_id, author=author or repo_id.split("/")[0],
                                      private=private, files=files, downloads=downloads, likes=likes)

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        try:
            return self.state.repos[(repo_type, repo_id)]
        except KeyError:
            raise KeyError(f"no {repo_type} repo {repo_id!r} on this local hub") from None

    def read(self, repo_id: str, path: str, *, revision: str = "main", repo_type: str = "model") -> bytes | None:
        commit = self.repo(repo_id, repo_type).resolve(revision)
        return None if commit is None else commit.files.get(path)

    def history(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> list[Commit]:
        return self.repo(repo_id, repo_type).history(revision)

    def pull_requests(self, repo_id: str, repo_type: str = "model") -> list[Discussion]:
        return [d for d in self.repo(repo_id, repo_type).discussions if d.is_pull_request]

    def merge(self, repo_id: str, num: int, *, repo_type: str = "model") -> Commit:
        repo = self.repo(repo_id, repo_type)
        return self.state.merge(repo, num, (repo.namespace, "write"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.hub_server",
        description="Run a local stand-in for the Hugging Face Hub API on 127.0.0.1 (in memory; Ctrl-C stops "
                    "it). Point clients at it with HF_ENDPOINT=<printed url> or `lead-hf publish --endpoint`.")
    parser.add_argument("--token", action="append", default=[], metavar="TOKEN:USER",
                        help="accept TOKEN as USER with write access (repeatable)")
    parser.add_argument("--repo", action="append", default=[], metavar="[dataset:]NS/NAME",
                        help="create this empty repo at start (repeatable)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--tiny-models", action="store_true",
                        help="serve tiny random timm and transformers models under lead-hf-demo/, to try "
                             "`lead-hf rank --hub-search` (tests.support.tiny_repos; needs torch)")
    args = parser.parse_args(argv)
    tokens = {}
    for item in args.token:
        tok, sep, user = item.partition(":")
        if not sep or not tok or not user:
            parser.error(f"--token expects TOKEN:USER, got {item!r}")
        tokens[tok] = user
    hub = LocalHub(tokens, port=args.port).start()
    for item in args.repo:
        kind, _, repo_id = item.rpartition(":")
        hub.create_repo(repo_id, repo_type=kind or "model")
    if args.tiny_models:
        from .tiny_repos import add_tiny_model_repos

        print("serving " + ", ".join(add_tiny_model_repos(hub)), flush=True)
    print(f"local hub listening on {hub.url}  (HF_ENDPOINT={hub.url} HF_HUB_DISABLE_XET=1)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        hub.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
