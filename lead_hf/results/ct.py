"""Curvature Tuning in a ranking (``rank --ct-betas``): per model, the beta each score prefers, whether a
beta < 1 beats the model as it is, and (with ground-truth accuracies of the steered models) what each
score's choice of beta costs; the table under the ranking and the score-against-beta chart.

Rows of one model are found by name (``MODEL@ct=BETA``, and ``MODEL`` itself as beta = 1), so the summary
is derived from the rows alone, after a fresh rank and after a merge alike."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..utils.steering import format_beta, split_ct_spec
from .schema import ModelResult, RankingResults


@dataclass
class Preference:
    """What one score says about one model's betas."""

    best_beta: float
    best_value: float
    plain_value: float | None
    """The score at beta = 1 (None: that row is missing or failed)."""
    regret: float | None = None
    """Ground truth: accuracy at the accuracy's best beta minus accuracy at this score's best beta."""

    @property
    def steered_wins(self) -> bool | None:
        """Whether a beta < 1 scores above the model as it is (None without the beta = 1 row)."""
        if self.plain_value is None:
            return None
        return self.best_beta < 1.0 and self.best_value > self.plain_value


@dataclass
class ModelBetas:
    """One model's rows over beta, and what every score prefers."""

    model: str
    rows: dict[float, ModelResult]
    """beta -> its row (successful rows only), in increasing beta."""
    preferences: dict[str, Preference] = field(default_factory=dict)
    best_accuracy_beta: float | None = None
    accuracy_gain: float | None = None
    """Accuracy at its best beta minus at beta = 1 (None without both)."""


def beta_of(row: ModelResult) -> float | None:
    """A row's beta: its ct_beta, else the one its name carries, else None (a plain model)."""
    if row.ct_beta is not None:
        return float(row.ct_beta)
    return split_ct_spec(row.model)[1]


def _argmax(values: dict[float, float]) -> float:
    """The beta of the highest value; ties go to the largest beta (the least steering)."""
    top = max(values.values())
    return max(b for b, v in values.items() if v == top)


def model_betas(results: RankingResults) -> list[ModelBetas]:
    """Every model ranked at two betas or more, in the order of the ranking's rows."""
    groups: dict[str, dict[float, ModelResult]] = {}
    steered: set[str] = set()
    for row in results.models:
        base, beta = split_ct_spec(row.model)[0], beta_of(row)
        if beta is not None and beta < 1.0:
            steered.add(base)
        if row.status != "ok":
            continue
        groups.setdefault(base, {})[1.0 if beta is None else beta] = row
    out = []
    for base, rows in groups.items():
        if base not in steered or len(rows) < 2:
            continue
        group = ModelBetas(model=base, rows=dict(sorted(rows.items())))
        for method in results.scores:
            values = {b: r.scores[method] for b, r in group.rows.items()
                      if method in r.scores and math.isfinite(r.scores[method])}
            if len(values) < 2:
                continue
            best = _argmax(values)
            group.preferences[method] = Preference(best, values[best], values.get(1.0))
        acc = {b: r.finetune_accuracy for b, r in group.rows.items() if r.finetune_accuracy is not None}
        if len(acc) >= 2:
            group.best_accuracy_beta = _argmax(acc)
            if 1.0 in acc:
                group.accuracy_gain = acc[group.best_accuracy_beta] - acc[1.0]
            for pref in group.preferences.values():
                if pref.best_beta in acc:
                    pref.regret = acc[group.best_accuracy_beta] - acc[pref.best_beta]
        out.append(group)
    return out


def _cell(pref: Preference | None) -> str:
    if pref is None:
        return "-"
    text = format_beta(pref.best_beta)
    if pref.plain_value is None:
        text += " (no beta=1 row)"
    elif pref.best_beta < 1.0:
        text += f" ({pref.best_value - pref.plain_value:+.4f})"
    else:
        text += " (plain)"
    if pref.regret is not None:
        text += f" r={pref.regret:.3f}"
    return text


def table_rows(results: RankingResults) -> tuple[list[str], list[list[str]]]:
    """The CT table: per model, the betas ranked, each score's preferred beta (its gain over beta = 1, or
    "plain" when beta = 1 scores highest; r = regret with ground truth), and the ground truth's own."""
    groups = model_betas(results)
    truth = any(g.best_accuracy_beta is not None for g in groups)
    header = ["model", "betas", *results.scores, "beta<1 wins"]
    if truth:
        header += ["best beta (acc)", "acc gain"]
    rows = []
    for g in groups:
        wins = [m for m in results.scores if m in g.preferences and g.preferences[m].steered_wins]
        row = [g.model, ",".join(format_beta(b) for b in g.rows), *[_cell(g.preferences.get(m)) for m in results.scores],
               f"{len(wins)}/{len(g.preferences)} scores"]
        if truth:
            row += ["-" if g.best_accuracy_beta is None else format_beta(g.best_accuracy_beta),
                    "-" if g.accuracy_gain is None else f"{g.accuracy_gain:+.4f}"]
        rows.append(row)
    return header, rows


LEGEND = ("Curvature Tuning: the beta each score prefers per model; (+x): its score there minus at beta = 1, the "
          "model as it is; plain: beta = 1 scores highest; beta<1 wins: how many scores prefer a steered model")
TRUTH_LEGEND = ("; r: regret, the ground-truth accuracy at its best beta minus at the score's beta; acc gain: "
                "accuracy at the best beta minus at beta = 1")


def _legend(results: RankingResults) -> str:
    truth = any(g.best_accuracy_beta is not None for g in model_betas(results))
    return LEGEND + (TRUTH_LEGEND if truth else "") + "."


def terminal_lines(results: RankingResults) -> list[str]:
    """The CT table for a terminal (empty without steered rows)."""
    header, rows = table_rows(results)
    if not rows:
        return []
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return ["", _legend(results), fmt(header), "  ".join("-" * w for w in widths), *[fmt(r) for r in rows]]


def markdown_lines(results: RankingResults) -> list[str]:
    """The CT table as a Markdown section (empty without steered rows)."""
    header, rows = table_rows(results)
    if not rows:
        return []
    out = ["## Curvature Tuning", "", _legend(results), "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return out + [""]


def has_ct(results: RankingResults) -> bool:
    return bool(model_betas(results))


# -- the chart ---------------------------------------------------------------------------------------------

def chart_figure(results: RankingResults, max_scores: int = 6):
    """Score against beta, one panel per score (the first ``max_scores``), one line per model, drawn as the
    change from the model's value at beta = 1 (its largest beta), since scores of different models sit at
    different levels; the beta each score prefers is ringed. With ground-truth accuracies, a last panel plots
    them the same way."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    groups = model_betas(results)
    methods = [m for m in results.scores if any(m in g.preferences for g in groups)][:max_scores]
    truth = any(g.best_accuracy_beta is not None for g in groups)
    panels = len(methods) + (1 if truth else 0)
    cols = min(2, panels)  # at most two panels a row, as the ranking's own chart
    nrows = -(-panels // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(6.2 * cols, 4.0 * nrows + 1.3), squeeze=False)
    colours = plt.get_cmap("tab10")
    ds = results.dataset
    betas = sorted({b for g in groups for b in g.rows})
    for i, ax in enumerate(axes.flat):
        if i >= panels:
            ax.set_visible(False)
            continue
        method = methods[i] if i < len(methods) else None
        for k, g in enumerate(groups):
            if method is None:
                pts = {b: r.finetune_accuracy for b, r in g.rows.items() if r.finetune_accuracy is not None}
                best = g.best_accuracy_beta
            else:
                pts = {b: r.scores[method] for b, r in g.rows.items() if method in r.scores
                       and math.isfinite(r.scores[method])}
                best = g.preferences[method].best_beta if method in g.preferences else None
            if not pts:
                continue
            xs = sorted(pts)
            ref = pts[xs[-1]]  # beta = 1 when ranked: every curve then says how far steering moves it
            ax.plot(xs, [pts[b] - ref for b in xs], "o-", ms=4, lw=1.4, color=colours(k % 10), label=g.model)
            if best is not None:
                ax.plot([best], [pts[best] - ref], "o", ms=11, mfc="none", mec=colours(k % 10), mew=1.6)
        ax.axhline(0.0, color="#999", lw=0.8, ls=":")
        ax.set_xlabel("CT beta (1 = the model as it is)")
        what = "accuracy" if method is None else method
        ax.set_ylabel(f"{what}(beta) - {what}(1)")
        ax.set_title(f"{'ground-truth accuracy' if method is None else method} against beta, minus its value at "
                     "beta = 1", fontsize=9.5)
        ax.grid(color="#eeeeee")
        ax.set_xticks(betas, [format_beta(b) for b in betas])  # ticks at the betas ranked, nowhere else
        plain = ScalarFormatter(useOffset=False)  # numbers in full, as the ranking's chart writes them: an
        plain.set_scientific(False)               # offset ("1e-4 + -1.538") reads as another value
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    legend = {}  # every model that any panel draws (a model may lack a score, and so the first panel)
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=min(2, max(1, len(legend))),
               fontsize=8, frameon=False)
    fig.suptitle(f"Curvature Tuning on {ds.id} ({ds.split}), {ds.num_samples} samples: each score against beta, "
                 "per model,\nas its change from beta = 1 (above 0: steering scores higher; ringed: the beta the "
                 "score prefers)", fontsize=10)
    fig.tight_layout(rect=(0, 0.03 + 0.03 * math.ceil(len(legend) / 2) / nrows, 1, 0.95))
    return fig
