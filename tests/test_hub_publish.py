"""`lead-hf publish` end to end: the real huggingface_hub client against the local Hub server.

Every test starts a fresh in-memory LocalHub on 127.0.0.1 and publishes RankingResults built here (ranking
itself is tested elsewhere). Users: alice owns the model repos, bob publishes results to them.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

pytest.importorskip("huggingface_hub")

import huggingface_hub  # noqa: E402
from huggingface_hub import HfApi, ModelCard, metadata_load, parse_eval_result_entries  # noqa: E402

from lead_hf.results.summary import assign_ranks
from lead_hf.cli import main as cli_main  # noqa: E402
from lead_hf.hub import PublishError, PublishOptions, publish  # noqa: E402
from lead_hf.hub.cards import eval_results_path  # noqa: E402
from lead_hf.results.schema import DatasetInfo, ModelResult, RankingResults  # noqa: E402
from tests.support.hub_server import LocalHub  # noqa: E402

ALICE, BOB = "hf_alice_write_token_1234567890", "hf_bob_secret_token_0987654321"
DS_REV = "d" * 40
OWNER_CARD = """---
license: apache-2.0
library_name: timm
model-index:
- name: vit-tiny
  results:
  - task:
      type: image-classification
    dataset:
      name: ImageNet-1k
      type: imagenet-1k
      split: validation
    metrics:
    - type: accuracy
      value: 0.752
---
# ViT tiny

Owner's text, kept as is.
"""


def make_results(split: str = "test", values: dict[str, dict[str, float]] | None = None,
                 scores=("lead", "logme")) -> RankingResults:
    values = values or {"alice/vit-tiny": {"lead": -0.3125, "logme": 1.25},
                        "alice/resnet-mini": {"lead": -0.5, "logme": 0.75}}
    models = [ModelResult(model=hub_id, hub_id=hub_id, revision="b" * 40, scores=dict(s),
                          seconds={"extract": 1.0}) for hub_id, s in values.items()]
    models.append(ModelResult(model="./local-checkpoint", hub_id=None, scores={"lead": -0.1, "logme": 2.0}))
    models.append(ModelResult(model="acme/broken", hub_id="acme/broken", status="failed", error="no weights"))
    results = RankingResults(
        dataset=DatasetInfo(id="acme/pets", split=split, revision=DS_REV, num_samples=120, num_classes=4),
        scores=list(scores), primary="lead", models=models, versions={"lead-hf": "0.1.0"},
        created="2025-01-01T00:00:00Z")
    assign_ranks(results)
    return results


@pytest.fixture
def env(monkeypatch, tmp_path):
    """Network allowed (for 127.0.0.1), no ambient token, a private HF cache."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def hub(env):
    with LocalHub(tokens={ALICE: "alice", BOB: "bob", "hf_bob_readonly": ("bob", "read")}) as server:
        server.create_repo("alice/vit-tiny", files={"README.md": OWNER_CARD, "model.safetensors": b"weights"})
        server.create_repo("alice/resnet-mini")  # no card at all
        yield server


def run(hub, env, results=None, **kw):
    kw.setdefault("token", BOB)
    kw.setdefault("cache_dir", str(env / "cache"))
    return publish(results if results is not None else make_results(),
                   PublishOptions(endpoint=hub.url, **kw))


def download(hub, env, repo_id, path, revision="main", repo_type="model") -> Path:
    api = HfApi(endpoint=hub.url, token=ALICE)
    return Path(api.hf_hub_download(repo_id, path, revision=revision, repo_type=repo_type,
                                    cache_dir=str(env / "check-cache")))


def lead_metrics(card_path: Path) -> list:
    card = ModelCard.load(card_path)
    return [r for r in card.data.eval_results or [] if r.metric_type == "lead" and r.dataset_type == "acme/pets"]


def test_publish_opens_pr_and_the_card_parses_back(hub, env):
    main_before = hub.read("alice/vit-tiny", "README.md")
    report = run(hub, env)
    actions = {c.repo_id: c.action for c in report.changes}
    assert actions == {"alice/vit-tiny": "open-pr", "alice/resnet-mini": "open-pr"}
    assert all(c.url and c.url.endswith("/discussions/1") for c in report.changes)
    # main is untouched: the results wait in the pull request
    assert hub.read("alice/vit-tiny", "README.md") == main_before
    prs = hub.pull_requests("alice/vit-tiny")
    assert [(p.num, p.author, p.status) for p in prs] == [(1, "bob", "open")]
    assert "acme/pets" in prs[0].title

    card_path = download(hub, env, "alice/vit-tiny", "README.md", revision="refs/pr/1")
    card = ModelCard.load(card_path)
    results = {(r.dataset_type, r.metric_type): r for r in card.data.eval_results}
    lead, logme = results[("acme/pets", "lead")], results[("acme/pets", "logme")]
    assert lead.metric_value == -0.3125 and logme.metric_value == 1.25
    assert lead.task_type == "image-classification" and lead.dataset_split == "test"
    assert lead.dataset_revision == DS_REV and lead.source_name == "lead-hf" and lead.source_url
    assert results[("imagenet-1k", "accuracy")].metric_value == 0.752  # the owner's result survives
    meta = metadata_load(card_path)
    assert meta["license"] == "apache-2.0" and meta["library_name"] == "timm"
    assert "Owner's text, kept as is." in card.text and "Transferability to acme/pets" in card.text

    eval_text = download(hub, env, "alice/vit-tiny", eval_results_path(make_results().dataset),
                         revision="refs/pr/1").read_text()
    entries = {e.task_id: e for e in parse_eval_result_entries(yaml.safe_load(eval_text))}
    assert set(entries) == {"lead:test", "logme:test"}
    assert entries["lead:test"].value == -0.3125 and entries["lead:test"].dataset_id == "acme/pets"
    assert entries["lead:test"].dataset_revision == DS_REV and entries["lead:test"].source_name == "lead-hf"

    # a repo without a card gets a valid new one
    new_card = ModelCard.load(download(hub, env, "alice/resnet-mini", "README.md", revision="refs/pr/1"))
    assert {(r.metric_type, r.metric_value) for r in new_card.data.eval_results} == {("lead", -0.5), ("logme", 0.75)}
    # failed models and models without a Hub id are left alone
    with pytest.raises(KeyError):
        hub.repo("acme/broken")


def test_publishing_twice_changes_nothing_and_opens_no_second_pr(hub, env):
    run(hub, env)
    pr_head = hub.repo("alice/vit-tiny").refs["refs/pr/1"]
    again = run(hub, env)
    assert {c.action for c in again.changes} == {"unchanged"}
    assert len(hub.pull_requests("alice/vit-tiny")) == 1
    assert hub.repo("alice/vit-tiny").refs["refs/pr/1"] == pr_head  # no new commit on the PR either

    hub.merge("alice/vit-tiny", 1)
    merged_head = hub.repo("alice/vit-tiny").refs["main"]
    third = run(hub, env)
    vit = next(c for c in third.changes if c.repo_id == "alice/vit-tiny")
    assert vit.action == "unchanged" and vit.base.startswith("main")
    assert hub.repo("alice/vit-tiny").refs["main"] == merged_head
    assert len(hub.pull_requests("alice/vit-tiny")) == 1
    assert len(lead_metrics(download(hub, env, "alice/vit-tiny", "README.md"))) == 1  # no duplicate entry


def test_new_score_for_the_same_dataset_updates_the_open_pr(hub, env):
    run(hub, env)
    extended = make_results(values={"alice/vit-tiny": {"lead": -0.3125, "logme": 1.25, "leep": -1.5},
                                    "alice/resnet-mini": {"lead": -0.5, "logme": 0.75, "leep": -2.0}},
                            scores=("lead", "logme", "leep"))
    report = run(hub, env, extended)
    assert {c.action for c in report.changes} == {"update-pr"}
    assert len(hub.pull_requests("alice/vit-tiny")) == 1
    card = ModelCard.load(download(hub, env, "alice/vit-tiny", "README.md", revision="refs/pr/1"))
    types = sorted(r.metric_type for r in card.data.eval_results if r.dataset_type == "acme/pets")
    assert types == ["lead", "leep", "logme"]


def test_a_different_existing_value_is_refused_then_replaced_with_overwrite(hub, env):
    hub.create_repo("alice/convnet", files={"README.md": (
        "---\nmodel-index:\n- name: convnet\n  results:\n  - task: {type: image-classification}\n"
        "    dataset: {name: acme/pets, type: acme/pets, split: test}\n"
        "    metrics:\n    - {type: lead, value: 0.5}\n---\nhand-written\n")})
    values = {"alice/vit-tiny": {"lead": -0.3125, "logme": 1.25}, "alice/convnet": {"lead": -0.25, "logme": 1.0}}
    with pytest.raises(PublishError) as info:
        run(hub, env, make_results(values=values), leaderboard="bob/board")
    message = str(info.value)
    assert "alice/convnet" in message and "0.5" in message and "-0.25" in message and "--overwrite" in message
    # refused as a whole: no pull request anywhere, no leaderboard
    assert hub.pull_requests("alice/convnet") == [] and hub.pull_requests("alice/vit-tiny") == []
    with pytest.raises(KeyError):
        hub.repo("bob/board", "dataset")

    report = run(hub, env, make_results(values=values), overwrite=True)
    conv = next(c for c in report.changes if c.repo_id == "alice/convnet")
    assert conv.action == "open-pr" and conv.replaced
    leads = lead_metrics(download(hub, env, "alice/convnet", "README.md", revision="refs/pr/1"))
    assert [r.metric_value for r in leads] == [-0.25]


def test_dry_run_sends_no_request_and_prints_the_diff(hub, env, capsys):
    cache = env / "cache"
    # The cache knows alice/vit-tiny's card (as after any earlier download); resnet-mini is not cached.
    HfApi(endpoint=hub.url).hf_hub_download("alice/vit-tiny", "README.md", cache_dir=str(cache))
    path = make_results().save(env / "results" / "results.json")
    hub.requests.clear()
    code = cli_main(["publish", str(path), "--dry-run", "--endpoint", hub.url, "--cache-dir", str(cache),
                     "--leaderboard", "bob/board"])
    out = capsys.readouterr().out
    assert code == 0
    assert hub.requests == []  # not a single HTTP request, not even a token check
    assert "would open a pull request" in out
    assert "--- a/alice/vit-tiny/README.md (local cache of main" in out
    assert "+++ b/alice/vit-tiny/README.md" in out
    assert "\n       value: 0.752\n" in out and "\n Owner's text, kept as is.\n" in out  # cached card as context
    assert "\n+    - type: lead\n" in out and "\n+      value: -0.3125\n" in out
    assert "+++ b/alice/vit-tiny/.eval_results/lead-hf_acme--pets--test.yaml" in out
    assert "--- /dev/null" in out and "+++ b/bob/board/README.md" in out
    assert hub.pull_requests("alice/vit-tiny") == []


def test_dry_run_reports_a_conflict_from_the_cached_card(hub, env, capsys):
    cache = env / "cache"
    run(hub, env)
    hub.merge("alice/vit-tiny", 1)
    HfApi(endpoint=hub.url).hf_hub_download("alice/vit-tiny", "README.md", cache_dir=str(cache))
    path = make_results(values={"alice/vit-tiny": {"lead": -0.2, "logme": 1.25}}).save(env / "r.json")
    hub.requests.clear()
    code = cli_main(["publish", str(path), "--dry-run", "--endpoint", hub.url, "--cache-dir", str(cache)])
    out = capsys.readouterr().out
    assert code == 1 and hub.requests == []
    assert "refused: alice/vit-tiny: README.md (model-index) already has lead = -0.3125" in out


def test_bad_token_gives_a_clear_error_and_never_shows_the_token(hub, env, capsys):
    bad = "hf_this_is_not_valid_abcdef123"
    path = make_results().save(env / "results.json")
    code = cli_main(["publish", str(path), "--endpoint", hub.url, "--token", bad, "--cache-dir", str(env / "c")])
    captured = capsys.readouterr()
    assert code == 1
    assert "401" in captured.err and "hf auth login" in captured.err and "--token" in captured.err
    assert bad not in captured.out + captured.err
    assert hub.pull_requests("alice/vit-tiny") == []

    with pytest.raises(PublishError) as info:
        publish(make_results(), PublishOptions(endpoint=hub.url, token=bad))
    assert bad not in str(info.value) and bad not in repr(PublishOptions(token=bad))


def test_token_from_hf_token_env_and_never_in_outputs_or_files(hub, env, capsys, monkeypatch, caplog):
    monkeypatch.setenv("HF_TOKEN", BOB)
    caplog.set_level(logging.DEBUG)
    path = make_results().save(env / "results.json")
    code = cli_main(["publish", str(path), "--endpoint", hub.url, "--leaderboard", "bob/board",
                     "--cache-dir", str(env / "cache")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "opened pull request" in captured.out
    assert BOB not in captured.out + captured.err + caplog.text
    for repo in hub.state.repos.values():
        for commit in repo.commits.values():
            assert BOB not in commit.summary + commit.description
            assert all(BOB.encode() not in data for data in commit.files.values())
    assert BOB not in path.read_text()


def test_leaderboard_created_updated_in_one_commit_and_noop_when_same(hub, env):
    test_split = make_results("test")
    report = run(hub, env, test_split, cards=False, leaderboard="bob/board")
    assert [(c.repo_id, c.action) for c in report.changes] == [("bob/board", "create")]
    history = hub.history("bob/board", repo_type="dataset")
    assert len(history) == 2  # the Hub's initial commit + ours
    files = history[0].files
    assert set(files) == {".gitattributes", "README.md", "results/acme--pets--test.json"}
    readme = files["README.md"].decode()
    assert RankingResults.from_dict(yaml.safe_load(files["results/acme--pets--test.json"])).dataset.split == "test"
    assert "## acme/pets, split test" in readme and "LEAD ★" in readme
    rows = [line for line in readme.splitlines() if line.startswith("| ")][1:]
    assert rows[0].startswith("| 1 | ") and "`local-checkpoint`" in rows[0]  # best lead: -0.1; no ./ path
    assert "alice/vit-tiny" in rows[1] and "-0.3125" in rows[1]
    assert "failed: no weights" in rows[-1]

    # a second split: one more commit holding its file and a README with both tables
    run(hub, env, make_results("validation"), cards=False, leaderboard="bob/board")
    history = hub.history("bob/board", repo_type="dataset")
    assert len(history) == 3
    assert {"results/acme--pets--test.json", "results/acme--pets--validation.json"} <= set(history[0].files)
    readme = history[0].files["README.md"].decode()
    assert "split test" in readme and "split validation" in readme

    # same results again: no commit at all
    again = run(hub, env, make_results("validation"), cards=False, leaderboard="bob/board")
    assert [c.action for c in again.changes] == ["unchanged"]
    assert len(hub.history("bob/board", repo_type="dataset")) == 3

    # different results for a split already there: refused unless --overwrite
    changed = make_results("test", values={"alice/vit-tiny": {"lead": -0.9, "logme": 0.1}})
    with pytest.raises(PublishError, match="already holds different results"):
        run(hub, env, changed, cards=False, leaderboard="bob/board")
    run(hub, env, changed, cards=False, leaderboard="bob/board", overwrite=True)
    assert len(hub.history("bob/board", repo_type="dataset")) == 4


def test_no_pr_commits_to_main_only_with_write_access(hub, env):
    with pytest.raises(PublishError) as info:
        run(hub, env, pr=False)
    assert "permission denied (403)" in str(info.value) and "alice/" in str(info.value)
    assert "leave out --no-pr" in str(info.value)
    assert len(hub.history("alice/vit-tiny")) == 1

    report = run(hub, env, pr=False, token=ALICE)
    assert {c.action for c in report.changes} == {"commit"}
    assert hub.pull_requests("alice/vit-tiny") == []
    assert len(lead_metrics(download(hub, env, "alice/vit-tiny", "README.md"))) == 1


def test_read_only_token_missing_token_and_missing_repo(hub, env):
    with pytest.raises(PublishError, match="read-only"):
        run(hub, env, token="hf_bob_readonly")
    with pytest.raises(PublishError, match="no Hugging Face token found"):
        run(hub, env, token=None)
    results = make_results(values={"alice/vit-tiny": {"lead": -0.3, "logme": 1.0},
                                   "alice/does-not-exist": {"lead": -0.4, "logme": 1.0}})
    with pytest.raises(PublishError, match="alice/does-not-exist: model repo not found"):
        run(hub, env, results)
    assert hub.pull_requests("alice/vit-tiny") == []  # the readable repo was not published either


def test_unreachable_hub_and_offline_mode_give_clear_errors(env, monkeypatch):
    with LocalHub() as closed:
        url = closed.url  # a port that nothing listens on once stopped
    with pytest.raises(PublishError, match="cannot reach http://127.0.0.1"):
        publish(make_results(), PublishOptions(endpoint=url, token=BOB))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PublishError, match="HF_HUB_OFFLINE"):
        publish(make_results(), PublishOptions(endpoint=url, token=BOB))


def test_a_failed_commit_leaves_that_repo_untouched_and_a_rerun_completes(hub, env):
    hub.fail_once("POST", "/api/models/alice/resnet-mini/commit/", 500)
    with pytest.raises(PublishError) as info:
        run(hub, env)
    message = str(info.value)
    assert "alice/resnet-mini" in message and "published: alice/vit-tiny" in message
    report = info.value.report
    assert [c.repo_id for c in report.failed] == ["alice/resnet-mini"]
    assert hub.pull_requests("alice/resnet-mini") == []
    rerun = run(hub, env)
    assert {c.repo_id: c.action for c in rerun.changes} == {"alice/vit-tiny": "unchanged",
                                                            "alice/resnet-mini": "open-pr"}


def test_models_filter_and_input_errors(hub, env, capsys):
    report = run(hub, env, models=("alice/resnet-mini",))
    assert [c.repo_id for c in report.changes] == ["alice/resnet-mini"]
    assert hub.pull_requests("alice/vit-tiny") == []
    with pytest.raises(ValueError, match="alice/unknown not among"):
        run(hub, env, models=("alice/unknown",))
    with pytest.raises(ValueError, match="nothing to publish"):
        run(hub, env, cards=False)
    both = [make_results(), make_results()]
    with pytest.raises(ValueError, match="one results file per dataset split"):
        run(hub, env, both)
    assert cli_main(["publish", str(env / "missing.json"), "--endpoint", hub.url]) == 2
    assert "do not exist; `lead-hf rank` writes <output-dir>/<dataset>-<split>/results.json" in capsys.readouterr().err


def test_publish_takes_a_results_file_its_folder_or_the_output_folder(tmp_path):
    from lead_hf.results.store import find_results

    one, two = tmp_path / "results" / "a-train", tmp_path / "results" / "b-train"
    for folder in (one, two):
        folder.mkdir(parents=True)
        make_results().save(folder / "results.json")
    assert find_results(one / "results.json") == [one / "results.json"]
    assert find_results(one) == [one / "results.json"]
    assert find_results(tmp_path / "results") == [one / "results.json", two / "results.json"]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"no results.json in .* \(it holds: notes.txt\)"):
        find_results(tmp_path / "empty")


def test_token_from_the_cached_login(hub, env):
    Path(huggingface_hub.constants.HF_TOKEN_PATH).write_text(BOB)  # what `hf auth login` saves
    report = run(hub, env, token=None)
    assert {c.action for c in report.changes} == {"open-pr"}
    assert hub.pull_requests("alice/vit-tiny")[0].author == "bob"


# --- issue 10: publishing leaks nothing local, and reports exactly what it did ----------------------------

HOME = "/home/someone/work"


def local_results() -> RankingResults:
    """What `lead-hf rank` writes for Hub models and a local checkpoint ranked on an image folder."""
    results = make_results()
    results.dataset = DatasetInfo(id=f"imagefolder:{HOME}/photos", split="train", num_samples=120,
                                  num_classes=4, fingerprint="f" * 16, local=True)
    results.models[2].model = f"local-dir:{HOME}/checkpoints/mine"
    results.models[3].error = f"OSError: {HOME}/checkpoints/broken/config.json not found"
    results.options = {"rank": {"dataset": results.dataset.id, "output_dir": f"{HOME}/results",
                                "cache_dir": "~/.cache/lead_hf", "models": [m.model for m in results.models],
                                "max_per_class": 100},
                       "scores": {"lead": {}, "logme": {}}}
    return results


def test_results_on_local_data_need_a_hub_dataset_id(hub, env, capsys):
    path = local_results().save(env / "results.json")
    with pytest.raises(ValueError, match=r"computed on local data .*--dataset-id ORG/NAME"):
        run(hub, env, local_results(), dry_run=True, leaderboard="bob/board")
    assert cli_main(["publish", str(path), "--dry-run", "--endpoint", hub.url, "--leaderboard", "bob/board"]) == 2
    assert "--dataset-id ORG/NAME" in capsys.readouterr().err
    with pytest.raises(ValueError, match="pass --dataset-id ORG/NAME too"):
        PublishOptions(dataset_split="test")
    with pytest.raises(ValueError, match="must be a Hub dataset id ORG/NAME"):
        PublishOptions(dataset_id="imagefolder:/x")


def test_no_local_path_reaches_a_card_or_the_leaderboard(hub, env):
    report = run(hub, env, local_results(), leaderboard="bob/board", dataset_id="acme/photos",
                 dataset_split="test")
    assert {c.action for c in report.changes} == {"open-pr", "create"}
    uploaded = {}
    for repo in hub.state.repos.values():
        for commit in repo.commits.values():
            uploaded.update({f"{repo.repo_id}/{p}": bytes(data) for p, data in commit.files.items()})
            uploaded[f"{repo.repo_id} commit {commit.sha}"] = (commit.summary + commit.description).encode()
        for d in repo.discussions:  # pull request titles and descriptions
            uploaded[f"{repo.repo_id} #{d.num}"] = (d.title + repr(d.events)).encode()
    for name, data in uploaded.items():
        text = data.decode("utf-8", "replace")
        assert HOME not in text and "imagefolder:" not in text and "~/.cache" not in text, name
    card = ModelCard.load(download(hub, env, "alice/vit-tiny", "README.md", revision="refs/pr/1"))
    ours = [r for r in card.data.eval_results if r.metric_type == "lead"]
    assert [(r.dataset_type, r.dataset_name, r.dataset_split) for r in ours] == [("acme/photos", "acme/photos",
                                                                                   "test")]
    assert f"{hub.url}/datasets/acme/photos" in card.text
    board = yaml.safe_load(uploaded["bob/board/results/acme--photos--test.json"])
    assert board["dataset"]["id"] == "acme/photos" and board["dataset"]["local"] is False
    assert "local-dir:mine" in [m["model"] for m in board["models"]]
    assert "output_dir" not in board["options"]["rank"] and board["options"]["rank"]["max_per_class"] == 100


def test_scrub_paths_keeps_urls_and_hub_ids():
    from lead_hf.hub.public import scrub_paths

    assert scrub_paths("local-dir:/home/me/m0") == "local-dir:m0"
    assert scrub_paths("timm:resnet18@/data/w.safetensors") == "timm:resnet18@w.safetensors"
    assert scrub_paths("OSError: ./ckpt/x.bin and ~/y/z.txt missing") == "OSError: x.bin and z.txt missing"
    assert scrub_paths("see https://huggingface.co/acme/pets or acme/pets") == \
        "see https://huggingface.co/acme/pets or acme/pets"


def test_the_summary_counts_added_replaced_unchanged_and_refused(hub, env, capsys):
    first = make_results().save(env / "first.json")
    assert cli_main(["publish", str(first), "--endpoint", hub.url, "--token", BOB, "--cache-dir", str(env / "c")]) == 0
    out = capsys.readouterr().out
    assert "model alice/vit-tiny: opened pull request" in out and "2 added value(s)" in out
    # one value differs, one is the same: refused as a whole, and said so
    changed = make_results(values={"alice/vit-tiny": {"lead": -0.2, "logme": 1.25},
                                   "alice/resnet-mini": {"lead": -0.5, "logme": 0.75}}).save(env / "changed.json")
    args = ["publish", str(changed), "--endpoint", hub.url, "--token", BOB, "--cache-dir", str(env / "c")]
    assert cli_main(args) == 1
    out = capsys.readouterr().out
    assert "updated pull request" not in out and "added" not in out
    assert "model alice/vit-tiny: NOT published (publishing was refused, see below): 1 unchanged, 1 refused value(s)" in out
    assert "model alice/resnet-mini: unchanged" in out and "2 unchanged value(s)" in out
    assert len(hub.history("alice/vit-tiny", revision="refs/pr/1")) == 2  # the PR got no new commit
    # --overwrite replaces the one value in the open pull request
    assert cli_main([*args, "--overwrite"]) == 0
    out = capsys.readouterr().out
    assert "model alice/vit-tiny: updated pull request #1" in out and ": 1 replaced, 1 unchanged value(s)" in out
    # a new score: added to the pull request, the others unchanged
    extended = make_results(values={"alice/vit-tiny": {"lead": -0.2, "logme": 1.25, "leep": -1.5}},
                            scores=("lead", "logme", "leep")).save(env / "extended.json")
    assert cli_main(["publish", str(extended), "--endpoint", hub.url, "--token", BOB, "--cache-dir",
                     str(env / "c")]) == 0
    out = capsys.readouterr().out
    assert "model alice/vit-tiny: updated pull request #1" in out and ": 1 added, 2 unchanged value(s)" in out
