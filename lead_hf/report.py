"""Tables and charts of ranking results: terminal, Markdown, CSV and PNG, all written atomically."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from .io import atomic_path, write_text_atomic
from .results import RankingResults


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.4f}"


def table_rows(results: RankingResults) -> tuple[list[str], list[list[str]]]:
    header = ["rank", "model", *results.scores]
    has_gt = any(m.finetune_accuracy is not None for m in results.models)
    if has_gt:
        header.append("fine-tuned acc")
    header.append("status")
    rows = []
    for m in results.sorted_models():
        row = [str(m.ranks.get(results.primary, "-")), m.model, *[_fmt(m.scores.get(s)) for s in results.scores]]
        if has_gt:
            row.append("-" if m.finetune_accuracy is None else f"{m.finetune_accuracy:.2f}")
        row.append("ok" if m.status == "ok" else f"failed: {(m.error or '').splitlines()[0][:80]}")
        rows.append(row)
    return header, rows


def terminal_table(results: RankingResults) -> str:
    header, rows = table_rows(results)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) if i < 2 or i == len(cells) - 1 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    out = [line(header), "  ".join("-" * w for w in widths), *[line(r) for r in rows]]
    return "\n".join(out)


def markdown_table(results: RankingResults) -> str:
    header, rows = table_rows(results)
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


def markdown_report(results: RankingResults) -> str:
    ds = results.dataset
    lines = [f"# Transferability ranking on `{ds.id}` ({ds.split})", "",
             f"{ds.num_samples} samples, {ds.num_classes} classes. Sorted by `{results.primary}` "
             "(higher = expected to fine-tune better).", "", markdown_table(results), ""]
    if results.agreement:
        lines += ["## Agreement with the supplied fine-tuned accuracies", "",
                  "| score | weighted tau | Kendall tau | Pearson | top-1 regret |", "|---|---|---|---|---|"]
        for method, a in results.agreement.items():
            lines.append(f"| {method} | {a['weighted_tau']:.3f} | {a['kendall_tau']:.3f} | {a['pearson']:.3f} | "
                         f"{a['top1_regret']:.3f} |")
        lines.append("")
    lines.append(f"Created {results.created} by lead-hf {results.versions.get('lead-hf', '')}"
                 f"{' at commit ' + results.git_commit[:10] if results.git_commit else ''}.")
    return "\n".join(lines) + "\n"


def write_csv(results: RankingResults, path: str | Path) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["model", "hub_id", "status", *results.scores, *[f"rank_{s}" for s in results.scores],
                     "finetune_accuracy", "error"])
    for m in results.sorted_models():
        writer.writerow([m.model, m.hub_id or "", m.status, *[m.scores.get(s, "") for s in results.scores],
                         *[m.ranks.get(s, "") for s in results.scores],
                         "" if m.finetune_accuracy is None else m.finetune_accuracy, m.error or ""])
    return write_text_atomic(path, buf.getvalue())


def write_chart(results: RankingResults, path: str | Path) -> Path | None:
    """Bar chart of the primary score; with ground truth, also every score against the accuracies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [m for m in results.sorted_models() if m.status == "ok" and results.primary in m.scores]
    if not ok:
        return None
    with_gt = [m for m in ok if m.finetune_accuracy is not None]
    panels = 2 if len(with_gt) >= 2 else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 0.45 * len(ok) + 2.2), squeeze=False)
    ax = axes[0][0]
    names = [m.model for m in ok][::-1]
    values = [m.scores[results.primary] for m in ok][::-1]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.15 or abs(hi) * 0.1 or 1.0
    base = lo - pad
    # bars start at the left edge, not at 0: scores can be negative, and a longer bar must mean better
    ax.barh(names, [v - base for v in values], left=base, color="#4C72B0")
    ax.set_xlabel(f"{results.primary} score (higher = better)")
    ax.set_title(f"{results.primary} on {results.dataset.id} ({results.dataset.split})")
    ax.set_xlim(base, hi + pad)
    # enough decimals to tell the closest two scores apart (LEAD values of similar models can be close)
    gaps = [abs(a - b) for a, b in zip(sorted(values), sorted(values)[1:]) if a != b]
    decimals = min(6, max(3, math.ceil(-math.log10(min(gaps))))) if gaps else 3
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.{decimals}f}", va="center", fontsize=8)
    if panels == 2:
        ax2 = axes[0][1]
        acc = [m.finetune_accuracy for m in with_gt]
        for method in results.scores:
            pts = [(m.finetune_accuracy, m.scores[method]) for m in with_gt if method in m.scores]
            if len(pts) < 2:
                continue
            xs, ys = zip(*pts)
            span = (max(ys) - min(ys)) or 1.0
            tau = results.agreement.get(method, {}).get("weighted_tau", float("nan"))
            ax2.plot(xs, [(v - min(ys)) / span for v in ys], "o", label=f"{method} (wtau {tau:.2f})")
        ax2.set_xlabel("fine-tuned accuracy")
        ax2.set_ylabel("score, min-max scaled per method")
        lead_tau = results.agreement.get(results.primary, {}).get("weighted_tau")
        title = "scores vs fine-tuned accuracy"
        if lead_tau is not None:
            title += f"\nweighted Kendall tau of {results.primary}: {lead_tau:.3f}"
        ax2.set_title(title)
        ax2.set_xlim(min(acc) - 0.5, max(acc) + 0.5)
        ax2.legend(fontsize=7, loc="best")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
