"""benchmarks/run_ground_truth.py: the command written next to each result reproduces the sweep's options."""
import importlib.util
import shlex
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run_ground_truth.py"


@pytest.fixture(scope="module")
def sweep():
    spec = importlib.util.spec_from_file_location("run_ground_truth", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("dataset", ["embedded:lfw_faces", "embedded:digits", "embedded:mnist"])
def test_csv_command_parses_back_to_the_sweeps_options(sweep, dataset):
    import dataclasses

    from lead_hf.cli import parse_options
    from lead_hf.finetune import PROTOCOLS, FinetuneOptions

    fields = sweep.DATASETS["ft-v2"][dataset]
    used = FinetuneOptions.preset("ft-v2", dataset=dataset, num_threads=1, **fields)
    flags = sweep._flags({**PROTOCOLS["ft-v2"], **fields, "protocol_name": "ft-v2"}) + " --num-threads 1"
    _, parsed = parse_options(shlex.split(f"finetune zoo:m --dataset {dataset}{flags}"))
    assert dataclasses.replace(parsed, models=()) == used
    assert parsed.protocol_string() == used.protocol_string() and used.protocol_string().startswith("ft-v2 ")


def test_every_ft_v2_dataset_meets_the_protocol_or_says_why(sweep):
    """100 training images per class everywhere except lfw_faces (100 images per class in all)."""
    from lead_hf.finetune import PROTOCOLS

    for dataset, fields in sweep.DATASETS["ft-v2"].items():
        per_class = fields.get("train_per_class", PROTOCOLS["ft-v2"]["train_per_class"])
        assert per_class >= 100 or dataset == "embedded:lfw_faces"
        if fields.get("test_split", "test") == fields.get("train_split", "train"):
            assert fields["train_split"] == "all"  # a disjoint holdout from the one split


def test_a_restart_that_cannot_run_a_model_keeps_its_earlier_row(sweep, tmp_path):
    """Weights not built on this machine must not erase that model's committed result from the CSV."""
    path = tmp_path / "lfw_faces.csv"
    earlier = [{"model": m, "dataset": "embedded:lfw_faces", "accuracy": acc}
               for m, acc in (("zoo:a", "0.9000"), ("zoo:b", "0.8000"), ("zoo:gone", "0.5000"))]
    sweep.write_csv(path, earlier)
    previous = sweep.read_rows(path)
    assert list(previous) == ["zoo:a", "zoo:b", "zoo:gone"]
    fresh = {"zoo:c": {"model": "zoo:c", "accuracy": "0.7000"}, "zoo:a": {"model": "zoo:a", "accuracy": "0.9500"}}
    rows = sweep.merged_rows(previous, fresh, ["zoo:a", "zoo:b", "zoo:c"])
    assert [(r["model"], r["accuracy"]) for r in rows] == [
        ("zoo:a", "0.9500"), ("zoo:b", "0.8000"), ("zoo:c", "0.7000"), ("zoo:gone", "0.5000")]
    assert sweep.read_rows(tmp_path / "missing.csv") == {}


def test_shards_split_the_pairs_between_workers_and_write_no_csv(sweep, tmp_path, monkeypatch):
    import lead_hf.finetune

    zoo = tmp_path / "zoo.txt"
    zoo.write_text("zoo:a\nzoo:b\nzoo:c\n")
    calls = []

    def fake_finetune(spec, options=None, log=None):
        from types import SimpleNamespace

        calls.append((options.dataset, spec))
        if spec == "zoo:c":
            raise ValueError("not built here")  # the sweep reports it and goes on
        return SimpleNamespace(model=spec, accuracy=0.5, accuracy_std=0.0, seed_accuracies=[0.5], image_size=64,
                               best_learning_rate=0.01, trained=0, runs=[{"lr": 0.01, "revision": "sha256:x",
                                                                          "device": "cpu"}])

    monkeypatch.setattr(lead_hf.finetune, "finetune", fake_finetune)
    args = ["--zoo", str(zoo), "--runs-dir", str(tmp_path / "runs")]
    sweep.main(args + ["--out", str(tmp_path / "whole")])
    everything = list(calls)
    assert len(everything) == 3 * len(sweep.DATASETS["ft-v2"])
    rows = sweep.read_rows(tmp_path / "whole" / "mnist.csv")
    assert list(rows) == ["zoo:a", "zoo:b"] and rows["zoo:a"]["revision"] == "sha256:x"
    sweep.main(args + ["--out", str(tmp_path / "whole"), "--models", "zoo:b"])  # re-running one model
    assert list(sweep.read_rows(tmp_path / "whole" / "mnist.csv")) == ["zoo:a", "zoo:b"]  # keeps the zoo order
    calls.clear()
    per_shard = []
    for index in range(3):
        calls.clear()
        sweep.main(args + ["--out", str(tmp_path / "sharded"), "--shard", f"{index}/3"])
        per_shard.append(set(calls))
    assert set().union(*per_shard) == set(everything)
    assert sum(len(s) for s in per_shard) == len(everything)  # disjoint
    assert not (tmp_path / "sharded").exists()


def test_collect_writes_the_finished_pairs_and_trains_nothing(sweep, tmp_path, monkeypatch):
    import lead_hf.finetune

    zoo = tmp_path / "zoo.txt"
    zoo.write_text("zoo:a\nzoo:b\n")

    def fake_finetune(spec, options=None, log=None):
        from types import SimpleNamespace

        assert options.cached_only
        if spec == "zoo:b":
            raise LookupError("zoo:b (lr=0.01, seed=1) is not finished")
        return SimpleNamespace(model=spec, accuracy=0.5, accuracy_std=0.0, seed_accuracies=[0.5], image_size=64,
                               best_learning_rate=0.01, trained=0, runs=[{"lr": 0.01, "revision": "sha256:x",
                                                                          "device": "cpu"}])

    monkeypatch.setattr(lead_hf.finetune, "finetune", fake_finetune)
    sweep.main(["--zoo", str(zoo), "--out", str(tmp_path / "out"), "--datasets", "embedded:digits", "--collect"])
    assert list(sweep.read_rows(tmp_path / "out" / "digits.csv")) == ["zoo:a"]
    with pytest.raises(SystemExit, match="--collect"):
        sweep.main(["--zoo", str(zoo), "--collect", "--shard", "0/2"])


@pytest.mark.parametrize("text", ["3/3", "1", "a/b", "-1/2"])
def test_a_bad_shard_is_refused_before_any_work(sweep, text):
    with pytest.raises(SystemExit, match="--shard"):
        sweep.parse_shard(text)
