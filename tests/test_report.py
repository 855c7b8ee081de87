"""Tables and the chart of a ranking (issue 10 item 10: the chart must not exaggerate small differences)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lead_hf.results.summary import summarize as finish  # noqa: E402
from lead_hf.results.report import chart_figure, chart_png, notes, short_names, terminal_table  # noqa: E402
from lead_hf.results.schema import DatasetInfo, ModelResult, RankingResults  # noqa: E402

LONG = "hf-hub:some-organisation-with-a-long-name/{}-finetuned-on-something-long"


def ranking(values=(-1.6690, -1.6691, -1.6705, -1.6743), accuracy=(0.81, 0.81, 0.78, 0.74), failed=True,
            name="zoo:model{}"):
    models = [ModelResult(name.format(i), scores={"lead": v, "logme": -v / 4},
                          finetune_accuracy=None if accuracy is None else accuracy[i])
              for i, v in enumerate(values)]
    if failed:
        models.append(ModelResult("nosuch-org/nosuch-model", status="failed", error="OSError: not found\nmore"))
    r = RankingResults(DatasetInfo("embedded:digits", "train", num_samples=1000, num_classes=10),
                       ["lead", "logme"], "lead", models)
    finish(r)
    return r


def test_the_score_axis_is_a_dot_plot_with_the_spread_stated():
    fig = chart_figure(ranking(accuracy=None))
    ax = fig.axes[0]
    assert len(fig.axes) == 1
    assert not ax.patches  # no bars: their length would turn a 0.3% spread into a many-fold difference
    title = " ".join(ax.get_title().split())
    assert "spread best - worst = 0.0053" in title and "0.32% of the largest |value|" in title
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["#1  zoo:model0", "#2  zoo:model1", "#3  zoo:model2", "#4  zoo:model3",
                      "failed  nosuch-org/nosuch-model"]
    texts = [t.get_text() for t in ax.texts]
    assert " -1.6690" in texts and " -1.6691" in texts  # enough decimals to tell the closest two apart
    assert any("OSError: not found" in t for t in texts)  # a failed model is listed with its reason
    plt.close(fig)


def test_long_names_are_shortened_where_they_agree_and_titles_wrap():
    r = ranking(name=LONG.replace("{}", "tf_efficientnet_lite{}.in1k"), accuracy=None)
    fig = chart_figure(r)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "#1  …tf_efficientnet_lite0…" in labels and all(len(t) <= 50 for t in labels)
    assert any("hf-hub:some-organisation-with-a-long-name/" in t.get_text() for t in fig.texts)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:  # nothing is cut at the figure's edges
        box = ax.title.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.bbox.width, ax.get_title()
    plt.close(fig)
    shown, dropped = short_names(["a/x-1-tail", "a/y-2-tail"], width=8)
    assert shown == ["…x-1…", "…y-2…"] and "'a/' before" in dropped and "'-tail' after" in dropped


def test_ground_truth_panels_label_every_point_and_span_the_data():
    fig = chart_figure(ranking())
    assert len(fig.axes) == 3
    scatter, taus = fig.axes[1], fig.axes[2]
    lo, hi = scatter.get_xlim()
    assert 0.7 < lo < 0.74 and 0.81 < hi < 0.85  # the accuracies' range, not 0.2-1.4
    labels = sorted(t.get_text() for t in scatter.texts)
    assert labels == ["#1,#2", "#3", "#4"]  # the two models at accuracy 0.81 share one label
    assert taus.get_xlim() == (-1.0, 1.0) and len(taus.patches) == 2  # weighted tau of lead and logme from 0
    plt.close(fig)


def test_only_failures_still_give_a_chart_and_a_table():
    r = ranking(values=(), accuracy=None)
    assert chart_png(r)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "failed: OSError: not found" in terminal_table(r)


@pytest.mark.parametrize("flagged", [True, False])
def test_flagged_values_are_starred_and_explained(flagged):
    r = ranking(accuracy=None)
    if flagged:
        r.models[0].flags["logme"] = "saturated at its maximum K-1 = 9"
    table = terminal_table(r)
    assert ("*" in table) is flagged
    starred = [line for line in notes(r) if line.startswith("* ")]
    assert bool(starred) is flagged
    if flagged:
        assert starred[0].startswith("* logme: saturated at its maximum K-1 = 9")
