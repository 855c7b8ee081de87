"""Candidate models from the Hub: ``HfApi.list_models`` by task, library, search text and popularity.

``search_models(HubQuery(...))`` is what ``lead-hf rank --hub-search`` calls before any model is loaded:

    >>> from lead_hf.hub.search import HubQuery, search_models
    >>> found = search_models(HubQuery(search="resnet", task="image-classification", limit=5))
    >>> [c.id for c in found]

- One listing request per library (``filter=<library>``: the Hub tags every model with its library), each
  asking for ``limit`` models by ``sort`` (descending, as the Hub sorts); the lists are merged, de-duplicated
  and cut to ``limit`` by the same key, so "the 10 most downloaded timm or transformers models" means that.
- A model must be of a library lead-hf can load (timm, transformers): a repo the Hub lists under the
  ``transformers`` tag but whose ``library_name`` is another one is dropped, and said so in ``skipped``.
- The Hub searched is the one the models are downloaded from: ``HF_ENDPOINT`` (huggingface.co by default),
  read by huggingface_hub at import. ``endpoint=`` overrides it for the listing only (tests, mirrors).

This module imports huggingface_hub only, never torch, models or extraction (docs/architecture.md).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from typing import Any

LIBRARIES = ("timm", "transformers")
"""The model libraries lead-hf loads (lead_hf.models); a Hub search is limited to them."""
SORTS = ("downloads", "likes", "trending_score", "created_at", "last_modified")
"""huggingface_hub's ModelSort_T: the keys the Hub sorts a listing by (most first)."""
ANY = ("", "*")
"""Search texts that match every model id (then task and library alone choose)."""

# the properties asked of the Hub (``expand``): enough to sort the merged lists and to say what was found
_EXPAND = ["downloads", "likes", "trendingScore", "createdAt", "lastModified", "library_name", "pipeline_tag",
           "tags", "sha", "gated", "private"]
_SORT_ATTR = {"downloads": "downloads", "likes": "likes", "trending_score": "trending_score",
              "created_at": "created_at", "last_modified": "last_modified"}


@dataclass(frozen=True)
class HubQuery:
    """What to ask the Hub: models whose id contains ``search`` ('' or '*': any), of ``task`` (a pipeline
    tag; None: any), of one of ``libraries``, the ``limit`` first by ``sort``."""

    search: str = ""
    task: str | None = "image-classification"
    libraries: tuple[str, ...] = LIBRARIES
    sort: str = "downloads"
    limit: int = 10

    def describe(self) -> str:
        """The query in words, for messages: search 'x', task image-classification, library timm or ..."""
        parts = [f"search {self.search!r}" if self.search not in ANY else "any model id",
                 f"task {self.task}" if self.task else "any task",
                 "library " + " or ".join(self.libraries),
                 f"the {self.limit} first by {self.sort}"]
        return ", ".join(parts)


@dataclass
class Candidate:
    """One model the Hub listed: its id (the model spec rank uses) and what the listing said of it."""

    id: str
    library: str | None = None
    pipeline_tag: str | None = None
    downloads: int | None = None
    likes: int | None = None
    sha: str | None = None
    gated: Any = None
    tags: list[str] = field(default_factory=list)


def check_query(query: HubQuery) -> None:
    """Refuse a query that cannot be asked (a clear error naming the option), before any request."""
    if not isinstance(query.search, str):
        raise ValueError(f"--hub-search must be a text (the words a model id contains; '*' for any id), "
                         f"got {query.search!r}")
    bad = [lib for lib in query.libraries if lib not in LIBRARIES]
    if bad or not query.libraries:
        raise ValueError(f"--hub-library {','.join(bad) or '(none)'!s}: lead-hf loads models of "
                         f"{' and '.join(LIBRARIES)} only; pass one or both")
    if query.sort not in SORTS:
        raise ValueError(f"--hub-sort {query.sort!r} is not a Hub sort key; use one of {', '.join(SORTS)}")
    if isinstance(query.limit, bool) or not isinstance(query.limit, int) or query.limit < 1:
        raise ValueError(f"--hub-limit must be a number of models >= 1, got {query.limit!r}")
    if query.task is not None and (not isinstance(query.task, str) or not query.task.strip()):
        raise ValueError(f"--hub-task must be a Hub pipeline tag such as image-classification (none: any "
                         f"task), got {query.task!r}")


def hub_endpoint(endpoint: str | None = None) -> str:
    from huggingface_hub import constants

    return (endpoint or constants.ENDPOINT).rstrip("/")


def check_online(what: str = "--hub-search") -> None:
    """Offline (HF_HUB_OFFLINE=1, the Makefile's default) a Hub search cannot run: say what to do instead."""
    from huggingface_hub import constants

    if constants.is_offline_mode():
        raise ValueError(f"{what} lists models on the Hub, but offline mode is on (HF_HUB_OFFLINE=1, the "
                         "Makefile's default): run with HF_HUB_OFFLINE=0 to search (the models found are "
                         "then downloaded too), or pass the models with --models / --models-file")


def _sort_value(raw: Any, sort: str):
    value = getattr(raw, _SORT_ATTR[sort], None)
    if isinstance(value, _dt.datetime):
        return value.timestamp()
    return value if isinstance(value, (int, float)) else float("-inf")


def search_models(query: HubQuery, *, endpoint: str | None = None, token: str | bool | None = None,
                  skipped: list[str] | None = None) -> list[Candidate]:
    """The models the Hub lists for ``query``, best first by ``query.sort``, at most ``query.limit``.

    ValueError (with the query in words) when offline, when the Hub cannot be reached or refuses the query,
    and when nothing is found. ``skipped`` (a list) receives why listed models were left out.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    check_query(query)
    check_online()
    url = hub_endpoint(endpoint)
    api = HfApi(endpoint=url, token=token, library_name="lead-hf")
    search = None if query.search.strip() in ANY else query.search.strip()
    merged: dict[str, tuple[Candidate, Any]] = {}
    skipped = [] if skipped is None else skipped
    for library in query.libraries:
        try:
            listed = list(api.list_models(filter=[library], search=search, pipeline_tag=query.task,
                                          sort=query.sort, limit=query.limit, expand=list(_EXPAND)))
        except HfHubHTTPError as err:
            status = getattr(getattr(err, "response", None), "status_code", None)
            raise ValueError(f"the Hub at {url} refused the model search ({query.describe()}): HTTP {status}: "
                             f"{str(err).splitlines()[0][:300]}") from None
        except Exception as err:  # noqa: BLE001 - only transport errors are turned into a message
            # connection refused, DNS, timeouts: OSError, or the HTTP client's own errors (httpx2 in
            # huggingface_hub 2.x, after its retries)
            transport = isinstance(err, OSError) or type(err).__module__.split(".")[0] in ("httpx", "httpx2",
                                                                                           "httpcore")
            if not transport:
                raise
            raise ValueError(f"cannot reach the Hub at {url} to search models ({type(err).__name__}: "
                             f"{str(err)[:200]}); check the network and HF_ENDPOINT, or pass the models with "
                             "--models") from None
        for info in listed:
            if info.id in merged:
                continue
            lib = info.library_name
            if lib is not None and lib not in LIBRARIES:
                skipped.append(f"{info.id}: library {lib}, which lead-hf cannot load (tagged {library})")
                continue
            cand = Candidate(id=info.id, library=lib or library, pipeline_tag=info.pipeline_tag,
                             downloads=info.downloads, likes=info.likes, sha=info.sha, gated=info.gated,
                             tags=list(info.tags or []))
            merged[info.id] = (cand, info)
    ordered = sorted(merged.values(), key=lambda pair: _sort_value(pair[1], query.sort), reverse=True)
    found = [c for c, _ in ordered[:query.limit]]
    if not found:
        left = f" ({len(skipped)} listed model(s) of other libraries were left out)" if skipped else ""
        raise ValueError(f"the Hub search found no model at {url}: {query.describe()}{left}. Use fewer or "
                         "other words in --hub-search ('*' for any id), another --hub-task (none: any), "
                         "or pass the models with --models")
    return found


def candidates_record(query: HubQuery, found: list[Candidate], *, endpoint: str | None = None,
                      skipped: list[str] | None = None, searched: str | None = None) -> dict[str, Any]:
    """How a Hub search chose candidates, as results.json records it (``candidates["hub_search"]``)."""
    return {
        "endpoint": hub_endpoint(endpoint),
        "query": {"search": query.search, "task": query.task, "libraries": list(query.libraries),
                  "sort": query.sort, "limit": query.limit},
        "searched": searched or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "found": [{k: v for k, v in asdict(c).items() if k != "tags"} for c in found],
        "skipped": list(skipped or []),
    }
