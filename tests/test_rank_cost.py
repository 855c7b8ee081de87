"""Cost next to transferability: parameters, FLOPs per image, the Pareto front, and how they are shown."""
from __future__ import annotations

import torch

from lead_hf.results.summary import assign_pareto, assign_ranks, cost_axis
from lead_hf.extract.cost import forward_flops, model_cost, parameter_count
from lead_hf.results.report import chart_figure, csv_text, notes, terminal_table
from lead_hf.results.schema import DatasetInfo, ModelResult, RankingResults


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, kernel_size=3, bias=False)  # 8x8 -> 6x6
        self.head = torch.nn.Linear(4, 5)

    def forward(self, x):
        f = self.conv(x).mean(dim=(2, 3))
        return f, self.head(f)


def test_parameters_and_flops_are_counted_exactly():
    net = _Net().eval()
    assert parameter_count(net) == 3 * 4 * 9 + 4 * 5 + 5
    # convolution: 2 x (6*6 outputs x 4 channels x 27 multiply-adds); head: 2 x 4 x 5
    assert forward_flops(net, (8, 8)) == 2 * 36 * 4 * 27 + 2 * 4 * 5
    assert forward_flops(net, (10, 10)) == 2 * 64 * 4 * 27 + 2 * 4 * 5  # at the input size given

    class Loaded:
        module, image_size = net, (8, 8)

        def __call__(self, pixels):
            return net(pixels)
    cost = model_cost(Loaded())
    assert cost == {"parameters": 3 * 4 * 9 + 4 * 5 + 5, "flops_per_image": 2 * 36 * 4 * 27 + 40, "input_size": [8, 8]}


def test_a_model_the_counter_cannot_trace_has_no_flops():
    def broken(pixels):
        raise RuntimeError("not traceable")
    assert forward_flops(broken, (8, 8)) is None


def _ranking(rows):
    models = [ModelResult(model=name, scores={"lead": s},
                          cost=None if f is None else {"parameters": int(f / 10), "flops_per_image": f,
                                                       "images_per_second": 100.0, "device": "cpu"})
              for name, s, f in rows]
    r = RankingResults(dataset=DatasetInfo(id="d", split="train", num_samples=10, num_classes=2),
                       scores=["lead"], primary="lead", models=models)
    assign_ranks(r)
    assign_pareto(r)
    return r


def test_pareto_front_keeps_models_that_no_other_beats_at_lower_cost():
    r = _ranking([("big-best", 0.9, 4e9), ("mid-dominated", 0.5, 2e9), ("mid", 0.7, 2e9),
                  ("small", 0.6, 1e9), ("tiny-worst", 0.1, 1e9), ("unknown", 0.95, None)])
    on = {m.model for m in r.models if m.pareto}
    assert on == {"big-best", "mid", "small"}
    assert cost_axis(r) == "flops_per_image"
    table = terminal_table(r)
    assert "GFLOPs" in table and "front" in table
    line = next(ln for ln in table.splitlines() if "mid-dominated" in ln)
    assert "2.000" in line and "yes" not in line
    assert any("yes" in ln for ln in table.splitlines() if " small " in ln)
    assert any("Pareto front of lead vs FLOPs" in n for n in notes(r))
    header = csv_text(r).splitlines()[0].split(",")
    assert {"parameters", "flops_per_image", "images_per_second", "device", "pareto"} <= set(header)


def test_no_front_without_costs_of_two_models():
    r = _ranking([("a", 0.9, None), ("b", 0.5, 3e9)])
    assert cost_axis(r) is None and not any(m.pareto for m in r.models)
    assert "yes" not in terminal_table(r)
    fig = chart_figure(r)
    assert len(fig.axes) == 1  # no score-vs-cost panel


def test_chart_gains_the_score_vs_cost_panel():
    import matplotlib.pyplot as plt

    r = _ranking([("big-best", 0.9, 4e9), ("mid", 0.7, 2e9), ("small", 0.6, 1e9), ("worse", 0.2, 3e9)])
    fig = chart_figure(r)
    try:
        assert len(fig.axes) == 2
        cost_ax = fig.axes[1]
        assert cost_ax.get_xscale() == "log" and cost_ax.get_xlabel().startswith("forward GFLOPs per image")
        assert "3 of 4 models on the Pareto front" in cost_ax.get_title().replace("\n", " ")
        front = [ln for ln in cost_ax.get_lines() if ln.get_label() == "Pareto front"]
        assert len(front) == 1 and list(front[0].get_xdata()) == [1.0, 2.0, 2.0, 4.0, 4.0]
    finally:
        plt.close(fig)


def test_the_cost_axis_of_text_models_counts_flops_per_text():
    import dataclasses

    import matplotlib.pyplot as plt

    r = _ranking([("a", 0.9, 4e9), ("b", 0.7, 2e9)])
    r.models = [dataclasses.replace(m, modality="text") for m in r.models]
    fig = chart_figure(r)
    try:
        assert fig.axes[1].get_xlabel().startswith("forward GFLOPs per text")
    finally:
        plt.close(fig)
