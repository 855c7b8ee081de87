"""Candidates from the Hub (issue 13 part 3): the local server's /api/models listing, read by the real
huggingface_hub client, lead_hf.hub.search on top of it, and `lead-hf rank --hub-search` end to end."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest
import huggingface_hub
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HfHubHTTPError

from lead_hf.cli import main, parse_options
from lead_hf.hub.search import HubQuery, candidates_record, check_query, search_models
from tests.support.hub_server import LocalHub, listing_metadata


def _timm_config(**extra) -> str:
    return json.dumps({"architecture": "resnet18", "num_classes": 10, **extra})


def _hf_config(arch="ViTForImageClassification", model_type="vit") -> str:
    return json.dumps({"model_type": model_type, "architectures": [arch]})


@pytest.fixture
def hub(monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with LocalHub(tokens={"hf_a": "alice"}) as server:
        yield server


@pytest.fixture
def zoo(hub):
    """timm and transformers image classifiers, plus models that a search for them must not return."""
    hub.create_repo("timm/resnet18.a1_in1k", files={"config.json": _timm_config(), "model.safetensors": b"w"},
                    downloads=50, likes=1)
    hub.create_repo("timm/resnet50.tv_in1k", files={"config.json": _timm_config()}, downloads=5, likes=9)
    hub.create_repo("google/vit-base", files={"config.json": _hf_config()}, downloads=40, likes=3)
    hub.create_repo("facebook/convnext-tiny", files={"config.json": _hf_config("ConvNextForImageClassification",
                                                                               "convnext")}, downloads=20)
    hub.create_repo("someone/bert-sentiment", files={"config.json": _hf_config("BertForSequenceClassification",
                                                                               "bert")}, downloads=1000)
    hub.create_repo("keras-io/resnet-keras", downloads=100, files={
        "README.md": "---\nlibrary_name: keras\npipeline_tag: image-classification\ntags: [transformers]\n---\n"})
    hub.create_repo("alice/private-vit", files={"config.json": _hf_config()}, private=True, downloads=10_000)
    return hub


def _get(hub, query: str, token: str | None = None):
    request = urllib.request.Request(f"{hub.url}/api/models?{query}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as r:
        return json.loads(r.read()), r.headers.get("Link")


# ------------------------------------------------------------------------------------ the server's listing

def test_listing_filters_as_the_hub_does(zoo):
    api = HfApi(endpoint=zoo.url)
    ids = lambda **kw: sorted(m.id for m in api.list_models(**kw))  # noqa: E731
    assert ids(search="RESNET") == ["keras-io/resnet-keras", "timm/resnet18.a1_in1k", "timm/resnet50.tv_in1k"]
    assert ids(author="timm") == ["timm/resnet18.a1_in1k", "timm/resnet50.tv_in1k"]
    assert ids(filter="timm") == ids(author="timm")  # the library is a tag
    assert ids(filter=["transformers", "image-classification"]) == [
        "facebook/convnext-tiny", "google/vit-base", "keras-io/resnet-keras"]  # every filter must match
    assert ids(pipeline_tag="text-classification") == ["someone/bert-sentiment"]
    assert ids(filter="safetensors") == ["timm/resnet18.a1_in1k"]
    # `library=` (the Hub's parameter; this client spells it as a filter) compares library_name, not tags
    items, _ = _get(zoo, "library=transformers")
    assert sorted(i["id"] for i in items) == ["facebook/convnext-tiny", "google/vit-base", "someone/bert-sentiment"]
    assert "alice/private-vit" not in ids()  # private repos are listed to their owner only
    assert "alice/private-vit" in [m.id for m in HfApi(endpoint=zoo.url, token="hf_a").list_models()]


def test_listing_sorts_pages_and_limits(zoo):
    zoo.state.listing_page_size = 2
    api = HfApi(endpoint=zoo.url)
    before = len(zoo.requests)
    listed = list(api.list_models(sort="downloads"))
    assert [m.downloads for m in listed] == [1000, 100, 50, 40, 20, 5]  # most first, over 3 pages
    assert [r.path for r in zoo.requests[before:]] == ["/api/models"] * 3
    assert [m.id for m in api.list_models(sort="likes", limit=2)] == ["timm/resnet50.tv_in1k", "google/vit-base"]
    items, link = _get(zoo, "sort=downloads&direction=1&limit=2")  # direction other than -1: ascending
    assert [i["downloads"] for i in items] == [5, 20] and 'rel="next"' in link
    rest, _ = _get(zoo, link[1:link.index(">")].split("?", 1)[1])
    assert [i["downloads"] for i in rest] == [40, 50]  # the next page keeps the query
    with pytest.raises(HfHubHTTPError) as info:
        list(api.list_models(sort="popularity"))
    assert info.value.response.status_code == 400


def test_listing_items_have_the_shape_huggingface_hub_parses(zoo):
    items, _ = _get(zoo, "search=resnet18")
    assert set(items[0]) == {"_id", "id", "modelId", "likes", "trendingScore", "private", "downloads", "tags",
                             "pipeline_tag", "library_name", "createdAt"}
    assert items[0]["tags"] == ["timm", "safetensors", "image-classification"]
    items, _ = _get(zoo, "search=resnet18&expand=downloads&expand=sha")
    assert set(items[0]) == {"_id", "id", "downloads", "sha"}
    assert items[0]["sha"] == zoo.repo("timm/resnet18.a1_in1k").refs["main"]
    info = next(iter(HfApi(endpoint=zoo.url).list_models(search="resnet18", full=True)))
    assert [s.rfilename for s in info.siblings] == [".gitattributes", "config.json", "model.safetensors"]
    assert info.library_name == "timm" and info.pipeline_tag == "image-classification" and info.downloads == 50
    with pytest.raises(urllib.error.HTTPError) as err:
        _get(zoo, "expand=sha&full=true")
    assert err.value.code == 400


def test_listing_metadata_follows_the_card_then_the_config():
    assert listing_metadata({"config.json": _timm_config().encode()})["library_name"] == "timm"
    meta = listing_metadata({"config.json": _hf_config("BertForSequenceClassification", "bert").encode()})
    assert (meta["library_name"], meta["pipeline_tag"]) == ("transformers", "text-classification")
    card = b"---\nlibrary_name: open_clip\npipeline_tag: zero-shot-image-classification\nlicense: mit\n---\n"
    meta = listing_metadata({"README.md": card, "config.json": _hf_config().encode()})
    assert meta["library_name"] == "open_clip" and meta["pipeline_tag"] == "zero-shot-image-classification"
    assert meta["tags"] == ["open_clip", "zero-shot-image-classification", "license:mit"]
    assert listing_metadata({})["library_name"] is None and listing_metadata({})["tags"] == []


# ---------------------------------------------------------------------------------------- lead_hf.hub.search

def test_search_merges_the_libraries_by_the_sort_key_and_cuts_to_the_limit(zoo):
    skipped: list[str] = []
    found = search_models(HubQuery(search="*", limit=3), endpoint=zoo.url, skipped=skipped)
    # image classifiers of timm or transformers, most downloaded first; BERT (text) and keras are not
    assert [(c.id, c.library, c.downloads) for c in found] == [
        ("timm/resnet18.a1_in1k", "timm", 50), ("google/vit-base", "transformers", 40),
        ("facebook/convnext-tiny", "transformers", 20)]
    assert skipped == ["keras-io/resnet-keras: library keras, which lead-hf cannot load (tagged transformers)"]
    assert found[0].sha == zoo.repo("timm/resnet18.a1_in1k").refs["main"]
    by_likes = search_models(HubQuery(search="", sort="likes", limit=2), endpoint=zoo.url)
    assert [c.id for c in by_likes] == ["timm/resnet50.tv_in1k", "google/vit-base"]
    only_timm = search_models(HubQuery(search="resnet", libraries=("timm",)), endpoint=zoo.url)
    assert [c.id for c in only_timm] == ["timm/resnet18.a1_in1k", "timm/resnet50.tv_in1k"]
    text = search_models(HubQuery(task="text-classification", libraries=("transformers",)), endpoint=zoo.url)
    assert [c.id for c in text] == ["someone/bert-sentiment"]
    record = candidates_record(HubQuery(search="*", limit=3), found, endpoint=zoo.url, skipped=skipped)
    assert record["endpoint"] == zoo.url and record["query"]["libraries"] == ["timm", "transformers"]
    assert [f["id"] for f in record["found"]] == [c.id for c in found] and record["skipped"] == skipped
    json.dumps(record)  # results.json can hold it as it is


def test_a_search_returning_nothing_names_the_query(zoo):
    with pytest.raises(ValueError, match=r"found no model at http://127\.0\.0\.1:\d+: search 'efficientnet', "
                                         r"task image-classification, library timm\b.*--models"):
        search_models(HubQuery(search="efficientnet", libraries=("timm",)), endpoint=zoo.url)
    with pytest.raises(ValueError, match=r"found no model.*any model id, task depth-estimation.*\(1 listed model"):
        zoo.create_repo("x/depth", downloads=1, files={
            "README.md": "---\nlibrary_name: keras\npipeline_tag: depth-estimation\ntags: [transformers]\n---\n"})
        search_models(HubQuery(task="depth-estimation"), endpoint=zoo.url)


def test_offline_the_search_is_refused_before_any_request(zoo, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match=r"offline mode is on \(HF_HUB_OFFLINE=1.*HF_HUB_OFFLINE=0.*--models"):
        search_models(HubQuery(search="resnet"), endpoint=zoo.url)
    assert zoo.requests == []


@pytest.mark.parametrize("error", ["connect", "os"])
def test_a_hub_that_cannot_be_reached_says_so(monkeypatch, error):
    import httpx2

    def refuse(self, **kwargs):
        if error == "connect":
            raise httpx2.ConnectError("[Errno 111] Connection refused")
        raise ConnectionResetError("reset by peer")
        yield  # a generator, as list_models is
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(HfApi, "list_models", refuse)
    with pytest.raises(ValueError, match=r"cannot reach the Hub at http://127\.0\.0\.1:9 to search models "
                                         r"\((ConnectError|ConnectionResetError): .*HF_ENDPOINT.*--models"):
        search_models(HubQuery(search="resnet"), endpoint="http://127.0.0.1:9")


@pytest.mark.parametrize("query, message", [
    (HubQuery(libraries=("keras",)), r"--hub-library keras: lead-hf loads models of timm and transformers only"),
    (HubQuery(libraries=()), r"--hub-library \(none\)"),
    (HubQuery(sort="popularity"), r"--hub-sort 'popularity' is not a Hub sort key; use one of downloads, likes"),
    (HubQuery(limit=0), r"--hub-limit must be a number of models >= 1, got 0"),
    (HubQuery(task="  "), r"--hub-task must be a Hub pipeline tag"),
])
def test_a_query_that_cannot_be_asked_is_refused(query, message):
    with pytest.raises(ValueError, match=message):
        check_query(query)


def test_the_search_and_the_server_do_not_import_torch():
    code = ("import sys, lead_hf.hub.search, tests.support.hub_server; "
            "print(sorted(m for m in ('torch', 'timm', 'transformers', 'lead_hf.models') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


# -------------------------------------------------------------------------------------- lead-hf rank

def test_the_options_are_shared_by_the_cli_and_yaml(tmp_path):
    _, opts = parse_options(["rank", "--hub-search", "convnext", "--hub-library", "timm", "--hub-limit", "3",
                             "--hub-task", "none", "--hub-sort", "likes"])
    assert (opts.hub_search, opts.hub_library, opts.hub_limit, opts.hub_task, opts.hub_sort) == (
        "convnext", ("timm",), 3, None, "likes")
    config = tmp_path / "rank.yaml"
    config.write_text("hub_search: vit\nhub_library: [transformers]\nhub_limit: 5\n")
    _, opts = parse_options(["rank", "--config", str(config), "--hub-limit", "2"])
    assert (opts.hub_search, opts.hub_library, opts.hub_limit, opts.hub_task) == (
        "vit", ("transformers",), 2, "image-classification")


def _no_work(monkeypatch):
    """Loading a model or a dataset fails the test: a Hub search error must come first."""
    from lead_hf.models import base
    import lead_hf.data

    def boom(*args, **kwargs):
        raise AssertionError("work started before the Hub search was checked")
    monkeypatch.setattr(base.ModelRef, "load", boom)
    monkeypatch.setattr(lead_hf.data, "check_dataset", boom)


def test_rank_offline_says_what_to_do_before_loading_anything(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    _no_work(monkeypatch)
    code = main(["rank", "--hub-search", "resnet", "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "lead-hf rank: error: --hub-search lists models on the Hub, but offline mode is on" in err
    assert "HF_HUB_OFFLINE=0" in err and "--models" in err
    assert not (tmp_path / "out").exists()


def test_rank_with_a_search_returning_nothing_fails_naming_it(zoo, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(constants, "ENDPOINT", zoo.url)
    _no_work(monkeypatch)
    code = main(["rank", "--hub-search", "no-such-model", "--hub-library", "timm",
                 "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and f"the Hub search found no model at {zoo.url}: search 'no-such-model'" in err
    assert [r.path for r in zoo.requests] == ["/api/models"]


@pytest.fixture(scope="module")
def image_folder_dataset(tmp_path_factory):
    import datasets
    from PIL import Image

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 8)
    imgs = [Image.fromarray(np.clip(rng.normal(60 + 70 * y, 30, (24, 24, 3)), 0, 255).astype(np.uint8))
            for y in labels]
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"])})
    out = tmp_path_factory.mktemp("hub-search-data") / "data"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"image": imgs, "label": labels.tolist()},
                                                              features=feats)}).save_to_disk(str(out))
    return str(out)


def test_rank_hub_search_end_to_end_downloads_and_ranks_what_it_found(hub, image_folder_dataset, tmp_path):
    """A separate process, as a user runs it: HF_ENDPOINT is the local Hub, which lists tiny random models and
    serves their files; rank searches, downloads and ranks them, after the model named with --models."""
    from tests.support.tiny_repos import add_tiny_model_repos

    add_tiny_model_repos(hub)
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
           "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_XET": "1", "LEAD_HF_CACHE": str(tmp_path / "cache"),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("HF_TOKEN", None)
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "lead_hf", "rank", "lead-hf-demo/tiny-resnet-b", "--hub-search", "tiny",
         "--hub-limit", "3", "--dataset", image_folder_dataset, "--max-per-class", "none", "--num-workers", "0",
         "--batch-size", "8", "--scores", "lead", "logme", "--score-options", "lead.head_widths=16,16",
         "lead.samples_per_class=4", "--no-progress", "--no-chart", "--output-dir", str(out)],
        env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Hub search (search 'tiny', task image-classification, library timm or transformers, the 3 first " \
           "by downloads): 3 model(s)" in run.stderr
    results = json.loads(next(out.glob("*/results.json")).read_text())
    # --models first, then what the search found that was not named already, most downloaded first;
    # tiny-bert-sentiment (text, 1000 downloads) and tiny-keras-classifier (keras) are not candidates
    assert [m["model"] for m in results["models"]] == [
        "lead-hf-demo/tiny-resnet-b", "lead-hf-demo/tiny-resnet-a", "lead-hf-demo/tiny-vit"]
    for m in results["models"]:
        assert m["status"] == "ok" and m["hub_id"] == m["model"], m
        assert m["revision"] == hub.repo(m["model"]).refs["main"]  # the local Hub's commit
        assert all(math.isfinite(m["scores"][s]) for s in ("lead", "logme"))
    cand = results["candidates"]
    assert cand["given"] == ["lead-hf-demo/tiny-resnet-b"] and cand["embedded_zoo"] is False
    assert cand["hub_search"]["endpoint"] == hub.url
    assert cand["hub_search"]["query"] == {"search": "tiny", "task": "image-classification",
                                           "libraries": ["timm", "transformers"], "sort": "downloads", "limit": 3}
    assert [(f["id"], f["library"], f["downloads"]) for f in cand["hub_search"]["found"]] == [
        ("lead-hf-demo/tiny-resnet-a", "timm", 300), ("lead-hf-demo/tiny-resnet-b", "timm", 200),
        ("lead-hf-demo/tiny-vit", "transformers", 100)]
    assert results["options"]["rank"]["hub_search"] == "tiny"
    fetched = {r.path for r in hub.requests}  # every model's weights came from the local Hub
    for name in ("tiny-resnet-a", "tiny-resnet-b"):
        assert f"/lead-hf-demo/{name}/resolve/main/model.safetensors" in fetched
    assert any(p.startswith("/lead-hf-demo/tiny-vit/resolve/") and p.endswith("/model.safetensors") for p in fetched)
    assert not any("tiny-bert" in p or "tiny-keras" in p for p in fetched)
