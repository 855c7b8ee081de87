"""The local Hub server itself: the behaviours of the Hub that publishing relies on, via the real client."""
from __future__ import annotations

import socket

import urllib.request

import pytest
import huggingface_hub
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError, RepositoryNotFoundError

from tests.support.hub_server import LocalHub, git_blob_sha, validate_card_yaml


@pytest.fixture
def hub(monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with LocalHub(tokens={"hf_a": "alice", "hf_b": "bob", "hf_r": ("alice", "read")},
                  orgs={"bob": ["team"]}) as server:
        yield server


def test_listens_on_loopback_only_and_stop_frees_the_port(monkeypatch, tmp_path):
    server = LocalHub().start()
    host, port = server._server.server_address[:2]
    assert host == "127.0.0.1" and server.url == f"http://127.0.0.1:{port}"
    server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
    with pytest.raises(RuntimeError, match="not running"):
        server.url


def test_resolve_headers_and_missing_entries(hub, tmp_path):
    hub.create_repo("alice/m", files={"README.md": "hello\n"})
    head = hub.repo("alice/m").refs["main"]
    blob = git_blob_sha(b"hello\n")
    assert blob == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object` of the same bytes
    request = urllib.request.Request(f"{hub.url}/alice/m/resolve/main/README.md", method="HEAD")
    with urllib.request.urlopen(request) as r:
        assert r.status == 200 and r.headers["X-Repo-Commit"] == head and r.read() == b""
        assert r.headers["ETag"] == f'"{blob}"' and r.headers["Content-Length"] == "6"
    with urllib.request.urlopen(f"{hub.url}/alice/m/resolve/{head}/README.md") as r:
        assert r.read() == b"hello\n"
    api = HfApi(endpoint=hub.url)
    with pytest.raises(RemoteEntryNotFoundError):
        api.hf_hub_download("alice/m", "nope.txt", cache_dir=str(tmp_path))
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("alice/nothing")


def test_stale_parent_commit_is_refused_with_412(hub):
    api = HfApi(endpoint=hub.url, token="hf_a")
    api.create_repo("alice/m")
    old = api.model_info("alice/m").sha
    api.create_commit("alice/m", [CommitOperationAdd("a.txt", b"1")], commit_message="one", parent_commit=old)
    with pytest.raises(HfHubHTTPError) as info:
        api.create_commit("alice/m", [CommitOperationAdd("a.txt", b"2")], commit_message="two", parent_commit=old)
    assert info.value.response.status_code == 412
    assert hub.read("alice/m", "a.txt") == b"1"


def test_permissions_read_tokens_orgs_and_private_repos(hub, tmp_path):
    hub.create_repo("alice/secret", private=True, files={"README.md": "x"})
    hub.create_repo("team/shared")
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url, token="hf_b").model_info("alice/secret")
    assert HfApi(endpoint=hub.url, token="hf_a").model_info("alice/secret").private is True
    with pytest.raises(HfHubHTTPError) as info:
        HfApi(endpoint=hub.url, token="hf_r").create_commit(
            "alice/secret", [CommitOperationAdd("a.txt", b"1")], commit_message="m")
    assert info.value.response.status_code == 403
    HfApi(endpoint=hub.url, token="hf_b").create_commit(  # bob writes to his organisation's repo
        "team/shared", [CommitOperationAdd("a.txt", b"1")], commit_message="m")
    assert hub.read("team/shared", "a.txt") == b"1"


def test_pull_requests_listing_pages_details_and_merge(hub, tmp_path):
    hub.create_repo("alice/m", files={"README.md": "v1\n"})
    bob = HfApi(endpoint=hub.url, token="hf_b")
    repo = hub.repo("alice/m")
    for i in range(54):  # more than one page of 50; made directly, the client path is exercised below
        hub.state.commit(repo, "main", [{"key": "header", "value": {"summary": f"pr {i}"}},
                                        {"key": "file", "value": {"path": f"f{i}.txt", "content": "eA==",
                                                                  "encoding": "base64"}}],
                         ("bob", "write"), create_pr=True)
    bob.create_commit("alice/m", [CommitOperationAdd("f54.txt", b"x")], commit_message="pr 54", create_pr=True)
    listed = list(bob.get_repo_discussions("alice/m", discussion_type="pull_request", discussion_status="open",
                                           author="bob"))
    assert len(listed) == 55 and listed[0].num == 55
    assert list(bob.get_repo_discussions("alice/m", author="alice")) == []
    info = bob.create_commit("alice/m", [CommitOperationAdd("README.md", b"v2\n")], commit_message="card",
                             create_pr=True)
    details = bob.get_discussion_details("alice/m", info.pr_num)
    assert details.is_pull_request and details.target_branch == "refs/heads/main"
    assert "-v1\n+v2\n" in details.diff
    HfApi(endpoint=hub.url, token="hf_a").merge_pull_request("alice/m", info.pr_num)
    assert hub.read("alice/m", "README.md") == b"v2\n" and hub.read("alice/m", "f0.txt") is None
    assert bob.get_discussion_details("alice/m", info.pr_num).status == "merged"


def test_yaml_validation_endpoint_rejects_a_broken_model_index(hub):
    api = HfApi(endpoint=hub.url, token="hf_a")
    api.create_repo("alice/m")
    bad = "---\nmodel-index:\n- name: m\n  results:\n  - task: {type: image-classification}\n---\n"
    with pytest.raises(ValueError, match="dataset.type"):
        api.create_commit("alice/m", [CommitOperationAdd("README.md", bad.encode())], commit_message="m")
    assert validate_card_yaml("---\na: [1\n---\n")[0].startswith("Invalid YAML")
    assert validate_card_yaml("---\nlicense: mit\n---\n") == []


def test_requests_are_counted_without_tokens(hub):
    HfApi(endpoint=hub.url, token="hf_a").whoami()
    with pytest.raises(HfHubHTTPError, match="Invalid user token"):
        HfApi(endpoint=hub.url, token="hf_wrong").whoami()
    assert [(r.method, r.path, r.authenticated) for r in hub.requests] == [
        ("GET", "/api/whoami-v2", True), ("GET", "/api/whoami-v2", True)]
    assert "hf_a" not in repr(hub.requests)
