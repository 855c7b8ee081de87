"""benchmarks/run_ground_truth.py --protocol ft-v3: rows (a dataset and its settings, each with its own CSV),
the ft-v2 recipe with more seeds, and ft-v2's run records found again."""
import dataclasses
import importlib.util
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run_ground_truth.py"


@pytest.fixture(scope="module")
def sweep():
    spec = importlib.util.spec_from_file_location("run_ground_truth", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_in_sweep_order_with_their_seeds(sweep):
    rows = sweep.sweep_rows("ft-v3")
    assert [r for r, _, _ in rows] == ["clipart", "clipart_10pc", "fashion_mnist", "lfw_faces", "digits", "mnist",
                                       "clipart_25pc", "fashion_mnist_10pc", "fashion_mnist_25pc"]
    from lead_hf.finetune import FinetuneOptions
    seeds = {row: (o.seed, *o.repeat_seeds) for row, dataset, fields in rows
             for o in [FinetuneOptions.preset("ft-v3", dataset=dataset, **fields)]}
    assert seeds["clipart"] == seeds["fashion_mnist"] == seeds["mnist"] == tuple(range(6))
    assert seeds["clipart_10pc"] == seeds["clipart_25pc"] == seeds["fashion_mnist_25pc"] == tuple(range(8))
    assert seeds["fashion_mnist_10pc"] == tuple(range(10))  # its 8 seeds' halves agreed under 0.8
    clip = dict(rows[0][2])
    assert (clip["train_split"], clip["train_per_class"], clip["test_split"], clip["test_per_class"]) == \
        ("train", 75, "test", None)
    # the earlier protocols keep one row per dataset, named by its key
    assert sweep.sweep_rows("ft-v2") == [(d.split(":")[1], d, f) for d, f in sweep.DATASETS["ft-v2"].items()]


@pytest.mark.parametrize("row", ["clipart", "clipart_10pc", "fashion_mnist_25pc", "lfw_faces", "digits"])
def test_csv_command_parses_back_to_the_rows_options(sweep, row):
    from lead_hf.cli import parse_options
    from lead_hf.finetune import PROTOCOLS, FinetuneOptions

    dataset, fields = next((d, f) for r, d, f in sweep.sweep_rows("ft-v3") if r == row)
    used = FinetuneOptions.preset("ft-v3", dataset=dataset, num_threads=1, **fields)
    flags = sweep._flags({**PROTOCOLS["ft-v3"], **fields, "protocol_name": "ft-v3"}) + " --num-threads 1"
    _, parsed = parse_options(shlex.split(f"finetune zoo:m --dataset {dataset}{flags}"))
    assert dataclasses.replace(parsed, models=()) == used
    assert used.protocol_string().startswith("ft-v3 ")


@pytest.mark.parametrize("dataset", ["embedded:fashion_mnist", "embedded:mnist", "embedded:digits",
                                     "embedded:lfw_faces"])
def test_v2_datasets_keep_the_run_keys_of_seeds_0_to_2(sweep, dataset):
    """What a run's key hashes is the same under ft-v3 as under ft-v2, so their records are reused."""
    from lead_hf.finetune import FinetuneOptions

    v2 = FinetuneOptions.preset("ft-v2", dataset=dataset, **sweep.DATASETS["ft-v2"][dataset])
    row = next(f for _, d, f in sweep.sweep_rows("ft-v3") if d == dataset and "repeat_seeds" not in f)
    v3 = FinetuneOptions.preset("ft-v3", dataset=dataset, **row)
    assert v3.learning_rates == v2.learning_rates and v3.lr_search_steps == v2.lr_search_steps
    assert v3.repeat_seeds[:2] == v2.repeat_seeds
    for seed in (0, 1, 2):
        for size in (64, 75):
            assert v3.run_protocol(seed, size) == v2.run_protocol(seed, size)


def _fake(calls, fail=()):
    def finetune(spec, options=None, log=None):
        calls.append((options.dataset, options.train_per_class, spec))
        if spec in fail:
            raise LookupError("not finished")
        return SimpleNamespace(model=spec, accuracy=0.5, accuracy_std=0.01, seed_accuracies=[0.5] * 6,
                               image_size=64, best_learning_rate=0.01, trained=0,
                               runs=[{"lr": 0.01, "revision": "sha256:x", "device": "cpu"}])
    return finetune


def test_one_csv_per_row_and_exclusions_by_dataset(sweep, tmp_path, monkeypatch):
    import lead_hf.finetune

    zoo = tmp_path / "zoo.txt"
    zoo.write_text("zoo:a\nzoo:mobilenetv2_100.fashion_mnist-scratch\n")
    calls = []
    monkeypatch.setattr(lead_hf.finetune, "finetune", _fake(calls, fail=("zoo:b",)))
    sweep.main(["--protocol", "ft-v3", "--zoo", str(zoo), "--out", str(tmp_path / "out"),
                "--runs-dir", str(tmp_path / "runs")])
    names = sorted(p.stem for p in (tmp_path / "out").glob("*.csv"))
    assert names == sorted(r for r, _, _ in sweep.sweep_rows("ft-v3"))
    low = sweep.read_rows(tmp_path / "out" / "fashion_mnist_10pc.csv")
    assert list(low) == ["zoo:a"]  # the Fashion-MNIST-trained member is excluded from every fashion_mnist row
    assert low["zoo:a"]["row"] == "fashion_mnist_10pc" and low["zoo:a"]["dataset"] == "embedded:fashion_mnist"
    assert low["zoo:a"]["train_per_class"] == "10" and "--repeat-seeds 1,2,3,4,5,6,7,8,9" in low["zoo:a"]["command"]
    assert list(sweep.read_rows(tmp_path / "out" / "clipart.csv")) == ["zoo:a",
                                                                       "zoo:mobilenetv2_100.fashion_mnist-scratch"]
    header = (tmp_path / "out" / "clipart.csv").read_text().splitlines()[0].split(",")
    assert header == sweep.ROW_COLUMNS and "seed_accuracies" in header
    # --datasets takes row names or a dataset (all its rows), in the order given
    calls.clear()
    sweep.main(["--protocol", "ft-v3", "--zoo", str(zoo), "--out", str(tmp_path / "out2"), "--datasets",
                "digits", "embedded:clipart", "--models", "zoo:a"])
    assert calls == [("embedded:digits", 100, "zoo:a"), ("embedded:clipart", 75, "zoo:a"),
                     ("embedded:clipart", 10, "zoo:a"), ("embedded:clipart", 25, "zoo:a")]
    with pytest.raises(SystemExit, match="no ft-v3 settings"):
        sweep.main(["--protocol", "ft-v3", "--zoo", str(zoo), "--datasets", "cifar"])


def test_collect_writes_the_rows_and_shards_split_them(sweep, tmp_path, monkeypatch, capsys):
    import lead_hf.finetune

    zoo = tmp_path / "zoo.txt"
    zoo.write_text("zoo:a\nzoo:b\nzoo:c\n")
    calls = []
    monkeypatch.setattr(lead_hf.finetune, "finetune", _fake(calls, fail=("zoo:b",)))
    sweep.main(["--protocol", "ft-v3", "--zoo", str(zoo), "--out", str(tmp_path / "out"), "--collect"])
    assert list(sweep.read_rows(tmp_path / "out" / "clipart_25pc.csv")) == ["zoo:a", "zoo:c"]
    summary = capsys.readouterr().out.splitlines()[-1]  # how far each row is
    assert summary.startswith("finished (model, row) pairs: clipart 2 of 3, clipart_10pc 2 of 3")
    everything = set(calls)
    per_shard = []
    for index in range(2):
        calls.clear()
        sweep.main(["--protocol", "ft-v3", "--zoo", str(zoo), "--out", str(tmp_path / "sharded"), "--shard",
                    f"{index}/2"])
        per_shard.append(set(calls))
    assert per_shard[0] | per_shard[1] == everything and not per_shard[0] & per_shard[1]
    assert not (tmp_path / "sharded").exists()


def test_claiming_workers_pass_over_a_pair_another_worker_holds(sweep, tmp_path, monkeypatch, capsys):
    """--claim: a worker runs every pair except the one another live worker holds (its lock file under
    <runs>/claims/); once that is released, the pair is run by whoever comes next."""
    import lead_hf.finetune
    from lead_hf.utils.io import file_lock

    zoo = tmp_path / "zoo.txt"
    zoo.write_text("zoo:a\nzoo:b\n")
    calls = []
    monkeypatch.setattr(lead_hf.finetune, "finetune", _fake(calls))
    argv = ["--protocol", "ft-v3", "--zoo", str(zoo), "--datasets", "clipart", "mnist", "--runs-dir",
            str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--claim"]
    with file_lock(tmp_path / "runs" / "claims" / "mnist--zoo_b.lock"):  # another worker is on it
        sweep.main(argv)
    assert [(d, m) for d, _, m in calls] == [("embedded:clipart", "zoo:a"), ("embedded:clipart", "zoo:b"),
                                             ("embedded:mnist", "zoo:a")]
    assert "embedded:mnist [mnist] zoo:b: another worker is running it" in capsys.readouterr().out
    calls.clear()
    sweep.main(argv)
    assert ("embedded:mnist", 100, "zoo:b") in calls
    assert not (tmp_path / "out").exists()  # workers sharing the pairs leave the CSVs to --collect
    with pytest.raises(SystemExit, match="one"):
        sweep.main([*argv, "--shard", "0/2"])
