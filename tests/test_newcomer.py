"""What a new user hits (issue 21): help that says what a flag does, your own data files, the results folder,
and output that reads in a terminal and a chart that reads at a glance."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lead_hf.cli import build_parser, main
from lead_hf.results import DatasetInfo, ModelResult, RankingResults
from lead_hf.results.summary import summarize


def _help(command: str, capsys) -> str:
    with pytest.raises(SystemExit):
        build_parser(command).parse_args([command, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_off_switches_say_they_turn_something_off_and_values_are_named_by_kind(capsys):
    text = _help("rank", capsys)
    assert "--no-chart turn off (on by default): write chart.png" in text
    assert "--no-progress turn off (on by default): show a progress bar" in text
    assert "--max-per-class N" in text and "--cache-dir PATH" in text and "--mixed-precision {no,fp16,bf16}" in text
    assert not __import__("re").search(r"--[\w-]+ VALUE", text)  # every value is named by its kind


@pytest.mark.parametrize("spec, suffix", [("{dir}/reviews.csv", ".csv"), ("csv:{dir}/reviews.csv", ".csv"),
                                          ("{dir}/reviews.jsonl", ".jsonl"), ("json:{dir}/reviews.jsonl", ".jsonl")])
def test_your_own_csv_and_json_files_load_like_parquet(tmp_path, spec, suffix):
    from lead_hf.data import load_split

    rows = [("great film", "pos"), ("awful", "neg"), ("loved it", "pos"), ("boring", "neg"), ("superb", "pos"),
            ("bad", "neg")]
    if suffix == ".csv":
        (tmp_path / "reviews.csv").write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    else:
        (tmp_path / "reviews.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    ds = load_split(spec.format(dir=tmp_path), "train")
    assert len(ds) == 6 and ds.features["label"].names == ["neg", "pos"] and "text" in ds.column_names


def test_a_label_column_message_names_the_flag_and_the_field(tmp_path):
    from lead_hf.data import load_split

    (tmp_path / "r.csv").write_text("text,sentiment\na,x\nb,y\nc,x\n")
    with pytest.raises(ValueError, match=r"--label-column \(label_column= in Python\)"):
        load_split(str(tmp_path / "r.csv"))


def test_more_bootstrap_draws_keep_the_earlier_table():
    from lead_hf.results.store import incomparable

    def ranking(draws):
        return RankingResults(DatasetInfo("d", "train", num_samples=10), ["lead"], "lead", [ModelResult("m")],
                              options={"rank": {"bootstrap": draws, "max_per_class": 100}})

    assert incomparable(ranking(0), ranking(20)) == []
    assert incomparable(ranking(0), RankingResults(DatasetInfo("d", "train", num_samples=10), ["lead"], "lead",
                                                   [ModelResult("m")], options={"rank": {"max_per_class": 50}}))


def test_a_mistyped_zoo_name_is_refused_before_any_work_with_a_suggestion(capsys, tmp_path, monkeypatch):
    import lead_hf.rank.job as job

    monkeypatch.setattr(job, "score_model", lambda *a, **k: pytest.fail("a model was extracted"))
    assert main(["rank", "zoo:mobilenetv2_100", "--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown zoo model 'mobilenetv2_100'; did you mean zoo:mobilenetv2_100.in1k" in err
    assert not list(tmp_path.rglob("results.json"))


def test_extract_takes_ranks_samples_per_class_by_default():
    from lead_hf.cli import parse_options

    _, extract_opts = parse_options(["extract"])
    _, rank_opts = parse_options(["rank"])
    assert extract_opts.max_per_class == rank_opts.max_per_class == 100


def _ranking(values, boot=False, flags=None):
    rows = []
    for i, v in enumerate(values):
        m = ModelResult(f"zoo:m{i}", scores={"lead": v, "logme": 0.1 * i, "leep": -v, "nce": v / 2},
                        flags=dict(flags or {}) if i == 0 else {})
        if boot:
            m.bootstrap = {s: [x + 0.001 * j for j in range(5)] for s, x in m.scores.items()}
        rows.append(m)
    return summarize(RankingResults(DatasetInfo("embedded:digits", "train", num_samples=100, num_classes=10),
                                    ["lead", "logme", "leep", "nce"], "lead", rows))


def test_the_terminal_table_fits_a_terminal_with_the_bootstrap_and_results_md_has_every_interval():
    from lead_hf.results.report import markdown_table, terminal_table

    r = _ranking([-1.8867, -1.8894, -1.8939, -1.9011], boot=True)
    text = terminal_table(r)
    assert max(len(line) for line in text.splitlines()) <= 120
    assert "lead [95% CI]" in text and "logme [95% CI]" not in text
    assert markdown_table(r).count("[95% CI]") == 4


def test_a_close_top_two_without_a_bootstrap_say_it_may_be_a_tie():
    from lead_hf.results.report import notes

    assert any("may be a tie" in line for line in notes(_ranking([-1.53800, -1.53810, -1.6])))
    assert not any("may be a tie" in line for line in notes(_ranking([-1.5, -1.6, -1.7])))


def test_the_chart_writes_numbers_in_full_names_what_it_cannot_place_and_stays_narrow():
    import io

    from PIL import Image

    from lead_hf.results.report import chart_figure, chart_png

    rows = []
    for i, v in enumerate([-1.53800, -1.53810, -1.53830, -1.53850]):
        cost = {"parameters": 3e6, "flops_per_image": 0.6e9 + i * 1e8 if i < 3 else None, "input_size": [224, 224]}
        rows.append(ModelResult(f"zoo:m{i}", scores={"lead": v}, cost=cost, finetune_accuracy=0.9 - i / 100))
    r = summarize(RankingResults(DatasetInfo("d", "train", num_samples=10, num_classes=2), ["lead"], "lead", rows))
    fig = chart_figure(r)
    fig.canvas.draw()
    titles = [ax.get_title() for ax in fig.axes]
    assert any("1 without FLOPs, not shown: #4" in t for t in titles)
    for ax in fig.axes:  # no offset notation ("1e-4 + -1.538")
        assert ax.yaxis.get_offset_text().get_text() == "" and ax.xaxis.get_offset_text().get_text() == ""
    assert Image.open(io.BytesIO(chart_png(r))).size[0] <= 1540


def test_score_flags_a_saturated_value_and_aligns_its_columns(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "f.npz", features=rng.normal(size=(30, 64)), labels=np.arange(30) % 3)
    assert main(["score", "--features", str(tmp_path / "f.npz"), "--scores", "logme", "hscore"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [ln for ln in lines if ln.startswith("  logme") or ln.startswith("  hscore")]
    assert rows[1].split()[1].endswith("*") and len({ln.index(".") for ln in rows}) == 1
    assert any(ln.startswith("  * hscore: saturated") for ln in lines)


def test_a_rank_says_a_saturated_score_once(tmp_path, capsys, monkeypatch):
    from lead_hf.cli import rank as rank_command

    r = _ranking([-1.5, -1.6])
    r.models[0].flags = {"lead": "saturated"}
    r.warnings = {"lead": "lead is saturated for 1 of 2 models; use more samples"}
    monkeypatch.setattr("lead_hf.rank.rank_models", lambda opts, log=print: r)
    opts = rank_command.RankOptions(output_dir=str(tmp_path), chart=False)
    assert rank_command.run(opts) == 0
    captured = capsys.readouterr()
    assert (captured.out + captured.err).count("use more samples") == 1


def test_the_metric_loaded_by_path_says_nothing_about_cached_versions(caplog):
    from lead_hf.evaluate_metric.install import load_metric

    with caplog.at_level("WARNING"):
        load_metric()
    assert "Using the latest cached version" not in caplog.text
