"""Tables and charts of ranking results: terminal, Markdown, CSV and PNG, all written atomically."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..utils.io import atomic_path, write_text_atomic
from .schema import RankingResults
from .summary import cost_axis


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.4f}"


def _cell(m, method: str, interval: bool = True) -> str:
    text = _fmt(m.scores.get(method))
    text = text + "*" if method in (m.flags or {}) and text != "-" else text
    bounds = (m.intervals or {}).get(method) if interval else None
    return f"{text} [{_fmt(bounds[0])}, {_fmt(bounds[1])}]" if bounds and text != "-" else text


def _data_free(results: RankingResults) -> set[str]:
    """The results' scores that read no data (the static orders by model size)."""
    from ..scores.registry import data_free_scores

    return set(data_free_scores()) & set(results.scores)


def _has_uncertainty(results: RankingResults) -> bool:
    return any(m.p_best for m in results.models)


def _num(value, unit: float, decimals: int) -> str:
    return "-" if value is None else f"{value / unit:.{decimals}f}"


PAIRED_LEAD = 0.95  # P(best) from which overlapping intervals are reported as a likely (paired) lead
CLOSE = 1e-3
"""Relative gap between the top two primary values under which, without a bootstrap, the ranking says that
they may be tied."""


def tie_note(results: RankingResults) -> str | None:
    """Without a bootstrap: the top two by the primary score are within ``CLOSE`` of each other, relative to
    the value, which may be a tie the data cannot resolve."""
    primary = results.primary
    top = [m for m in results.sorted_models() if m.status == "ok" and primary in m.scores][:2]
    if len(top) < 2 or _has_uncertainty(results):
        return None
    a, b = top[0].scores[primary], top[1].scores[primary]
    gap = abs(a - b) / max(abs(a), abs(b), 1e-300)
    if gap >= CLOSE:
        return None
    return (f"The top two by {primary} differ by {100 * gap:.2g}% of the value: that may be a tie; "
            "--bootstrap 20 says whether the data can tell them apart.")


def overlap_note(results: RankingResults) -> str | None:
    """In plain words, whether the primary score tells the two best models apart (their 95% bootstrap
    intervals overlap or not), with their P(best); None without a bootstrap or with fewer than 2 models."""
    primary = results.primary
    top = [m for m in results.sorted_models() if m.status == "ok" and primary in (m.intervals or {})][:2]
    if len(top) < 2:
        return None
    (a, b), (ia, ib) = top, (top[0].intervals[primary], top[1].intervals[primary])
    p = lambda m: f"P(best) {m.p_best.get(primary, 0.0):.2f}"  # noqa: E731
    if ia[0] <= ib[1] and ib[0] <= ia[1]:
        # P(best) compares the models on the same resamples (paired), so it can separate two models whose
        # separate intervals overlap because both move with the resample
        if a.p_best.get(primary, 0.0) >= PAIRED_LEAD:
            return (f"The top two by {primary}, {a.model} ({p(a)}) and {b.model} ({p(b)}), have overlapping "
                    f"95% bootstrap intervals, but on the same resamples {a.model} scores highest in "
                    f"{a.p_best[primary]:.0%} of the draws: likely ahead, not certainly.")
        return (f"The top two by {primary}, {a.model} ({p(a)}) and {b.model} ({p(b)}), have overlapping 95% "
                "bootstrap intervals: this data cannot tell them apart, so treat them as tied.")
    return (f"{a.model} is ahead of {b.model} by {primary} beyond the 95% bootstrap intervals "
            f"({p(a)}, {p(b)}).")


def table_rows(results: RankingResults, intervals: str = "all") -> tuple[list[str], list[list[str]]]:
    """The table's header and rows. ``intervals``: "all" shows every score's 95% interval (results.md),
    "primary" only the primary score's (the terminal: 100-120 columns stay readable)."""
    boot = _has_uncertainty(results)
    shown = {s for s in results.scores if boot and (intervals == "all" or s == results.primary)}
    free = _data_free(results)
    header = ["rank", "model", *[f"{s}{'†' if s in free else ''}{' [95% CI]' if s in shown else ''}"
                                 for s in results.scores]]
    if boot:
        header.append(f"P(best {results.primary})")
    cost = any(m.cost for m in results.models)
    if cost:
        header += ["params M", "GFLOPs", "img/s", "front"]
    has_gt = any(m.finetune_accuracy is not None for m in results.models)
    if has_gt:
        header.append("fine-tuned acc")
    header.append("status")
    rows = []
    for m in results.sorted_models():
        row = [str(m.ranks.get(results.primary, "-")), m.model, *[_cell(m, s, s in shown) for s in results.scores]]
        if boot:
            pb = (m.p_best or {}).get(results.primary)
            row.append("-" if pb is None else f"{pb:.2f}")
        if cost:
            c = m.cost or {}
            row += [_num(c.get("parameters"), 1e6, 2), _num(c.get("flops_per_image"), 1e9, 3),
                    _num(c.get("images_per_second"), 1, 1), "yes" if m.pareto else ""]
        if has_gt:
            row.append("-" if m.finetune_accuracy is None else f"{m.finetune_accuracy:.2f}")
        row.append("ok" if m.status == "ok" else f"failed: {(m.error or '').splitlines()[0][:80]}")
        rows.append(row)
    return header, rows


def notes(results: RankingResults) -> list[str]:
    """The lines under a table: the bootstrap, then what a starred value means, per score."""
    out = []
    key = cost_axis(results)
    if key:
        devices = sorted({m.cost.get("device") for m in results.models if m.cost and m.cost.get("device")})
        sizes = [m.cost.get("input_size") for m in results.models if m.cost and m.cost.get("input_size")]
        tokens = sorted({s[0] for s in sizes if len(s) == 1})  # text models record [tokens]
        per = (f"per text of {'/'.join(str(t) for t in tokens)} tokens" if sizes and all(len(s) == 1 for s in sizes)
               else "per image at the preprocessing's input size" + (" (per text of a fixed token count for text "
                                                                     "models)" if tokens else ""))
        out.append(f"Cost: parameters; GFLOPs: forward FLOPs {per} "
                   f"(torch.utils.flop_counter); {'img/s' + (' (texts/s for text)' if tokens else '')}: measured "
                   f"extraction throughput"
                   f"{' on ' + ', '.join(devices) if devices else ''} ('-': features from an older cache entry); "
                   f"front: on the Pareto front of {results.primary} vs "
                   f"{'FLOPs' if key == 'flops_per_image' else 'parameters'} (no model scores higher for less).")
    boot = [m for m in results.models if m.bootstrap]
    if boot:
        n = max(len(v) for m in boot for v in m.bootstrap.values())
        cost = {s: sum(m.bootstrap_seconds.get(s, 0.0) for m in boot) for s in results.scores}
        out.append(f"[95% CI]: bootstrap interval over {n} stratified resamples of the training samples (cached "
                   "features, no model re-run; the table in results.md has every score's); P(best): share of "
                   "draws in which the model ranks first. Cost of the draws, all models: "
                   + ", ".join(f"{s} {c:.1f}s" for s, c in cost.items() if c) + ".")
    tie = tie_note(results)
    if tie:
        out.append(tie)
    free = sorted(_data_free(results))
    if free:
        out.append(f"†: data-free ({', '.join(free)}): the model's size, bigger first, whatever the data; a "
                   "reference any score must beat, not a transferability score.")
    skipped = {len(m.skipped_samples) for m in results.models if m.skipped_samples}
    if skipped:
        out.append(f"{max(skipped)} sample(s) could not be read and were left out (--skip-bad-samples; their rows: "
                   "results.json, skipped_samples).")
    for method in results.scores:
        reasons = sorted({m.flags[method] for m in results.models if method in (m.flags or {})})
        if reasons:
            out.append(f"* {method}: {'; '.join(reasons)}. Such values cannot rank the models"
                       f"{': ' + results.warnings[method].split('; ', 1)[-1] if method in results.warnings else ''}.")
    return out


def terminal_table(results: RankingResults) -> str:
    """The table for a terminal: the primary score's interval only (every interval is in results.md)."""
    header, rows = table_rows(results, intervals="primary")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) if i < 2 or i == len(cells) - 1 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    out = [line(header), "  ".join("-" * w for w in widths), *[line(r) for r in rows]]
    from .ct import terminal_lines
    out += terminal_lines(results)  # Curvature Tuning: the beta each score prefers, per model
    return "\n".join(row.rstrip() for row in out)


def markdown_table(results: RankingResults) -> str:
    header, rows = table_rows(results)
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(c.replace("|", "\\|").replace("*", "\\*") for c in r) + " |" for r in rows]
    return "\n".join(out)


def markdown_report(results: RankingResults) -> str:
    ds = results.dataset
    lines = [f"# Transferability ranking on `{ds.id}` ({ds.split})", "",
             f"{ds.num_samples} samples, {ds.num_classes} classes. Sorted by `{results.primary}` "
             "(higher = expected to fine-tune better).", "", markdown_table(results), ""]
    if overlap_note(results):
        lines += [overlap_note(results), ""]
    from .ct import markdown_lines
    lines += markdown_lines(results)  # Curvature Tuning: the beta each score prefers, per model
    lines += [n.replace("*", "\\*", 1) for n in notes(results)] + ([""] if notes(results) else [])
    if results.warnings:
        lines += ["## Warnings", ""] + [f"- {text}" for text in results.warnings.values()] + [""]
    if results.agreement:
        lines += ["## Agreement with the supplied fine-tuned accuracies", "",
                  "| score | weighted tau | Kendall tau | Pearson | top-1 regret |", "|---|---|---|---|---|"]
        for method, a in results.agreement.items():
            lines.append(f"| {method} | {a['weighted_tau']:.3f} | {a['kendall_tau']:.3f} | {a['pearson']:.3f} | "
                         f"{a['top1_regret']:.3f} |")
        lines.append("")
    rows_from = sorted({m.ranked for m in results.models if m.ranked})
    if len(rows_from) > 1:
        lines += [f"Rows from {len(rows_from)} runs ({rows_from[0]} to {rows_from[-1]}): a model re-ranked later "
                  "replaces its row.", ""]
    lines.append(f"Created {results.created} by lead-hf {results.versions.get('lead-hf', '')}"
                 f"{' at commit ' + results.git_commit[:10] if results.git_commit else ''}.")
    return "\n".join(lines) + "\n"


COST_COLUMNS = ("parameters", "flops_per_image", "images_per_second", "device")


def csv_text(results: RankingResults) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["model", "hub_id", "status", *results.scores, *[f"rank_{s}" for s in results.scores],
                     *[f"{s}_{k}" for s in results.scores for k in ("ci_low", "ci_high", "p_best")],
                     *COST_COLUMNS, "pareto", "finetune_accuracy", "flags", "error"])
    for m in results.sorted_models():
        ci = lambda s, i: (m.intervals or {}).get(s, ["", ""])[i]  # noqa: E731
        writer.writerow([m.model, m.hub_id or "", m.status, *[m.scores.get(s, "") for s in results.scores],
                         *[m.ranks.get(s, "") for s in results.scores],
                         *[x for s in results.scores for x in (ci(s, 0), ci(s, 1), (m.p_best or {}).get(s, ""))],
                         *[("" if (m.cost or {}).get(k) is None else m.cost[k]) for k in COST_COLUMNS],
                         int(m.pareto),
                         "" if m.finetune_accuracy is None else m.finetune_accuracy,
                         "; ".join(f"{k}: {v}" for k, v in (m.flags or {}).items()), m.error or ""])
    return buf.getvalue()


def write_csv(results: RankingResults, path: str | Path) -> Path:
    return write_text_atomic(path, csv_text(results))


# -- the chart ---------------------------------------------------------------------------------------------

def short_name(name: str, width: int = 38) -> str:
    """A model name cut in the middle to ``width`` characters (both ends identify a model)."""
    if len(name) <= width:
        return name
    keep = width - 1
    return name[: keep // 2] + "…" + name[len(name) - (keep - keep // 2):]


def short_names(names: list[str], width: int = 40) -> tuple[list[str], str]:
    """Tick labels for ``names``: a prefix and a suffix shared by all of them are dropped (cut at a
    separator), then each is cut in the middle to ``width``. Returns (labels, the dropped parts)."""
    if len(names) < 2 or max(map(len, names)) <= width:
        return [short_name(n, width) for n in names], ""
    import os.path
    prefix = os.path.commonprefix(names)
    cut = max(prefix.rfind(c) for c in "/:@") + 1 if any(c in prefix for c in "/:@") else 0
    rev = os.path.commonprefix([n[::-1] for n in names])[::-1]
    tail = min((rev.find(c) for c in "-_." if c in rev), default=len(rev)) if rev else 0
    suffix = rev[tail:] if rev and len(rev) - tail > 3 else ""
    core = [n[cut:len(n) - len(suffix)] if suffix else n[cut:] for n in names]
    if min(map(len, core)) == 0:
        return [short_name(n, width) for n in names], ""
    dropped = " and ".join(x for x in (f"'{names[0][:cut]}' before" if cut else "",
                                       f"'{suffix}' after" if suffix else "") if x)
    return [short_name(("…" if cut else "") + c + ("…" if suffix else ""), width) for c in core], dropped


def _decimals(values) -> int:
    """Enough decimals to tell the closest two different values apart: 4 (as the tables) to 6."""
    ordered = sorted(set(values))
    gaps = [b - a for a, b in zip(ordered, ordered[1:])]
    return min(6, max(4, math.ceil(-math.log10(min(gaps)) - 1e-9))) if gaps else 4


def chart_png(results: RankingResults) -> bytes:
    """:func:`chart_figure` rendered as PNG bytes."""
    import matplotlib.pyplot as plt

    from . import ct
    fig = ct.chart_figure(results) if ct.has_ct(results) else chart_figure(results)  # CT: score against beta
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def chart_figure(results: RankingResults):
    """The ranking as a matplotlib figure, at most two panels a row (at most 1,540 px wide as a PNG).

    First: every model's primary score as a dot on the score axis, best first, rank and value written
    next to it; the axis spans the data, so the title states the spread (best - worst) and how it
    compares with the values, and no bar length suggests a ratio that does not exist. Failed models are
    listed under the ranked ones. With costs, the primary score against FLOPs (or parameters) with the
    Pareto front. With fine-tuned accuracies for two models or more, the primary score against the accuracy
    (each point labelled with its rank; coinciding points share one label) and the weighted Kendall tau of
    every score, bars from 0 on [-1, 1]. Numbers are written in full (no offset notation).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    primary = results.primary
    ok = [m for m in results.sorted_models() if m.status == "ok" and primary in m.scores]
    failed = [m for m in results.models if m not in ok]
    with_gt = [m for m in ok if m.finetune_accuracy is not None]
    truth = len(with_gt) >= 2
    cost_key = cost_axis(results)
    rows = len(ok) + len(failed)
    panel_h = 0.38 * max(rows, 4) + 2.2
    layout = [["score"] + (["cost"] if cost_key else [])] + ([["truth", "tau"]] if truth else [])
    cols = max(len(r) for r in layout)
    fig = plt.figure(figsize=(7.0 * cols, panel_h * len(layout)))
    grid = fig.add_gridspec(len(layout), cols)
    title_width = 66  # characters over one 7-inch panel at the title's font size
    axes = {name: fig.add_subplot(grid[r, c]) for r, names in enumerate(layout) for c, name in enumerate(names)}
    dropped = _score_panel(axes["score"], results, ok, failed, title_width)
    if cost_key:
        _cost_panel(axes["cost"], results, cost_key, ok, title_width)
    if truth:
        _truth_panels(axes["truth"], axes["tau"], results, with_gt, title_width)
    for ax in axes.values():
        _plain_numbers(ax)
    footer = [f"model names without the {dropped} every name shares" if dropped else "",
              f"hollow dot, *: {primary} is saturated for that model (see results.md)"
              if any(primary in (m.flags or {}) for m in ok) else "",
              "bars: 95% bootstrap interval" if any((m.intervals or {}).get(primary) for m in ok) else ""]
    if any(footer):
        fig.text(0.01, 0.005, "; ".join(f for f in footer if f), fontsize=7.5)
    fig.tight_layout(rect=(0, 0.02 if any(footer) else 0, 1, 1))
    return fig


def _plain_numbers(ax) -> None:
    """Tick labels written in full, at most five a linear axis: matplotlib's offset notation ("-1.538 +
    0.0003") reads as another value, and crowded ticks overlap."""
    from matplotlib.ticker import FixedLocator, MaxNLocator, ScalarFormatter

    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if isinstance(axis.get_major_locator(), FixedLocator):
            continue  # ticks that name things (models, scores), not numbers
        formatter = ScalarFormatter(useOffset=False)
        formatter.set_scientific(False)
        if scale == "linear":
            axis.set_major_formatter(formatter)
            axis.set_major_locator(MaxNLocator(nbins=5))
        elif scale == "log":
            axis.set_major_formatter(formatter)
            axis.set_minor_formatter(formatter)


def _score_panel(ax, results: RankingResults, ok, failed, title_width: int) -> str:
    """The left panel: every model's primary score as a dot (its 95% interval and P(best) when known), best
    first, failed models listed under the ranked ones with the start of their error. Returns what the shown
    model names leave out (the prefix every name shares)."""
    import textwrap

    primary, ds = results.primary, results.dataset
    rows = len(ok) + len(failed)
    values = [m.scores[primary] for m in ok]
    shown, dropped = short_names([m.model for m in ok])
    labels = [f"#{m.ranks.get(primary, '-')}  {name}" for m, name in zip(ok, shown)]
    labels += [f"failed  {short_name(m.model)}" for m in failed]
    ys = list(range(rows))[::-1]
    if values:
        lo, hi = min(values), max(values)
        spread = hi - lo
        cis = [(m.intervals or {}).get(primary) for m in ok]
        if any(cis):
            lo, hi = min([lo] + [c[0] for c in cis if c]), max([hi] + [c[1] for c in cis if c])
        pad = (hi - lo) * 0.25 or max(abs(hi) * 0.05, 1e-3)
        # room for the value labels (and P(best)) on the right
        left, right = lo - pad, hi + pad * (3.6 if any(cis) else 2.2)
        decimals = _decimals(values)
        for y, m, v in zip(ys, ok, values):
            flagged = primary in (m.flags or {})
            ax.axhline(y, color="#e4e8ee", lw=0.8, ls=":", zorder=1)  # a guide, not a bar: no length
            ci = (m.intervals or {}).get(primary)
            if ci:
                ax.plot(ci, [y, y], "-", lw=2.5, color="#9aa9c4", zorder=1.5, solid_capstyle="butt")
            ax.plot([v], [y], "o", ms=8, zorder=2, color="#4C72B0", mfc="white" if flagged else "#4C72B0")
            pb = (m.p_best or {}).get(primary)
            ax.text(max(v, ci[1] if ci else v) + pad * 0.15, y, f" {v:.{decimals}f}{'*' if flagged else ''}"
                    + (f"  P(best) {pb:.2f}" if pb is not None else ""), va="center", fontsize=8)
        ax.set_xlim(left, right)
        scale = max(abs(min(values)), abs(max(values)))
        relative = f", {100 * spread / scale:.2g}% of the largest |value|" if scale > 0 and spread > 0 else ""
        spread_text = (f"spread best - worst = {spread:.{decimals}g}{relative}; the axis is cut to the data"
                       if len(values) > 1 else "one model ranked")
    else:
        ax.set_xlim(0, 1)
        ax.set_xticks([])  # no score to place
        spread_text = "no model could be scored"
    for y, m in zip(ys[len(ok):], failed):
        reason = (m.error or "unknown error").splitlines()[0]
        reason = reason if len(reason) <= 80 else reason[:79] + "…"  # the start says what went wrong
        ax.text(ax.get_xlim()[0], y, "  " + reason, va="center", fontsize=7.5, color="#a33")
    ax.set_yticks(ys, labels, fontsize=8.5)
    ax.set_ylim(-0.7, rows - 0.3)
    for tick, m in zip(ax.get_yticklabels()[len(ok):], failed):
        tick.set_color("#a33")
    ax.set_xlabel(f"{primary} score (higher = expected to fine-tune better)")
    title = f"{primary} on {ds.id} ({ds.split}), {ds.num_samples} samples, {ds.num_classes} classes"
    ax.set_title("\n".join(textwrap.wrap(title, title_width) + textwrap.wrap(spread_text, title_width)),
                 fontsize=9.5)
    ax.grid(axis="x", color="#eeeeee", zorder=0)

    return dropped


def _truth_panels(ax, ax_tau, results: RankingResults, with_gt, title_width: int) -> None:
    import textwrap

    primary = results.primary
    acc = [m.finetune_accuracy for m in with_gt]
    score = [m.scores[primary] for m in with_gt]
    a_lo, a_hi = min(acc), max(acc)
    s_lo, s_hi = min(score), max(score)
    # points closer than 3% of either axis would hide each other's labels: one marker, one joint label
    groups: list[tuple[float, float, list[str]]] = []
    for m, a, sc in zip(with_gt, acc, score):
        near = next((g for g in groups if abs(g[0] - a) <= 0.03 * ((a_hi - a_lo) or 1)
                     and abs(g[1] - sc) <= 0.03 * ((s_hi - s_lo) or 1)), None)
        if near is None:
            groups.append((a, sc, [f"#{m.ranks.get(primary, '?')}"]))
        else:
            near[2].append(f"#{m.ranks.get(primary, '?')}")
    for a, sc, names in groups:
        ax.plot([a], [sc], "o", ms=7 + 2 * (len(names) - 1), color="#4C72B0", alpha=0.85)
        ax.annotate(",".join(names), (a, sc), textcoords="offset points", xytext=(6, 4), fontsize=8)
    a_pad = (a_hi - a_lo) * 0.12 or max(abs(a_hi) * 0.02, 0.01)
    s_pad = (s_hi - s_lo) * 0.15 or max(abs(s_hi) * 0.02, 1e-3)
    ax.set_xlim(a_lo - a_pad, a_hi + a_pad * 2)
    ax.set_ylim(s_lo - s_pad, s_hi + s_pad)
    ax.set_xlabel("fine-tuned accuracy")
    ax.set_ylabel(f"{primary} score")
    tau = results.agreement.get(primary, {}).get("weighted_tau")
    title = f"{primary} vs fine-tuned accuracy ({len(with_gt)} models; #n = rank by {primary})"
    if tau is not None:
        title += f", weighted Kendall tau {tau:.3f}"
    ax.set_title("\n".join(textwrap.wrap(title, title_width)), fontsize=9.5)
    ax.grid(color="#eeeeee")

    methods = [m for m in results.scores if m in results.agreement]
    taus = [results.agreement[m]["weighted_tau"] for m in methods]
    ys = list(range(len(methods)))[::-1]
    ax_tau.barh(ys, taus, color=["#4C72B0" if m == primary else "#9aa9c4" for m in methods])
    ax_tau.axvline(0, color="#333", lw=0.8)
    for y, t in zip(ys, taus):
        ax_tau.text(t + (0.03 if t >= 0 else -0.03), y, f"{t:.2f}", va="center", ha="left" if t >= 0 else "right",
                    fontsize=8)
    ax_tau.set_yticks(ys, methods, fontsize=8.5)
    ax_tau.set_xlim(-1, 1)
    ax_tau.set_xlabel("weighted Kendall tau with accuracy")
    ax_tau.set_title("\n".join(textwrap.wrap("agreement of every score with fine-tuning (1 = same order)",
                                             int(title_width * 0.75))), fontsize=9.5)


def _cost_panel(ax, results: RankingResults, key: str, ok, title_width: int) -> None:
    """The primary score against the cost (log axis), each model labelled with its rank; the models on
    the Pareto front are filled and joined by the front's staircase, the others hollow."""
    import textwrap

    primary = results.primary
    per = "text" if ok and all(m.modality == "text" for m in ok) else "image"  # FLOPs of text models: per text
    unit, label = (1e9, f"forward GFLOPs per {per}") if key == "flops_per_image" else (1e6, "parameters (millions)")
    pts = [(m.cost[key] / unit, m.scores[primary], m) for m in ok if m.cost and m.cost.get(key) is not None]
    for x, y, m in pts:
        ax.plot([x], [y], "o", ms=8, color="#C44E52" if m.pareto else "#4C72B0",
                mfc="#C44E52" if m.pareto else "white", zorder=3)
        ax.annotate(f"#{m.ranks.get(primary, '?')}", (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    front = sorted((x, y) for x, y, m in pts if m.pareto)
    if len(front) >= 2:
        xs, ys = [front[0][0]], [front[0][1]]
        for x, y in front[1:]:
            xs += [x, x]
            ys += [ys[-1], y]
        ax.plot(xs, ys, "-", color="#C44E52", lw=1.2, zorder=2, label="Pareto front")
    ax.set_xscale("log")
    lo, hi = min(x for x, _, _ in pts), max(x for x, _, _ in pts)
    ax.set_xlim(lo / 1.35, hi * 1.35 if hi > lo else hi * 2)
    ys_all = [y for _, y, _ in pts]
    pad = (max(ys_all) - min(ys_all)) * 0.15 or max(abs(max(ys_all)) * 0.02, 1e-3)
    ax.set_ylim(min(ys_all) - pad, max(ys_all) + pad)
    ax.set_xlabel(label + " (log scale)")
    ax.set_ylabel(f"{primary} score")
    on = sum(m.pareto for _, _, m in pts)
    missing = [m for m in ok if not (m.cost and m.cost.get(key) is not None)]
    what = "FLOPs" if key == "flops_per_image" else "parameter counts"
    title = (f"{primary} vs cost: {on} of {len(pts)} models on the Pareto front (filled: no model scores higher "
             "for less)" + (f"; {len(missing)} without {what}, not shown: #"
                            + ", #".join(str(m.ranks.get(primary, "?")) for m in missing) if missing else ""))
    ax.set_title("\n".join(textwrap.wrap(title, title_width)), fontsize=9.5)
    ax.grid(color="#eeeeee", which="both")


def write_chart(results: RankingResults, path: str | Path) -> Path:
    """Write :func:`chart_png` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(chart_png(results))
    return Path(path)
