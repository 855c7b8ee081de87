"""The leaderboard dataset repo: one results JSON per dataset split plus a README with the tables.

Pure text in, text out, like ``cards``: ``update_leaderboard`` takes the results files already in the repo
and the results being published and returns the files to write (README.md rendered from
``lead_hf/hub/templates/leaderboard_README.md`` over ALL the results in the repo, old and new).
"""
from __future__ import annotations

import json
import string
from dataclasses import dataclass, field

from ..results.schema import RankingResults
from .cards import TOOL_URL, _fill, dataset_label, fmt, score_name, slug, split_card

RESULTS_FOLDER = "results"


def results_path(results: RankingResults) -> str:
    return f"{RESULTS_FOLDER}/{slug(results.dataset)}.json"


def results_text(results: RankingResults) -> str:
    return json.dumps(results.to_dict(), indent=2) + "\n"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_table(results: RankingResults, hub_url: str) -> str:
    ds = results.dataset
    methods = list(results.scores)
    with_acc = any(m.finetune_accuracy is not None for m in results.models)
    head = ["Rank", "Model"] + [f"{score_name(m)}{' ★' if m == results.primary else ''}" for m in methods]
    head += ["Fine-tuned acc."] if with_acc else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in results.sorted_models():
        name = f"[{m.hub_id}]({hub_url.rstrip('/')}/{m.hub_id})" if m.hub_id else f"`{_cell(m.model)}`"
        if m.status != "ok":
            row = ["—", f"{name} (failed: {_cell((m.error or 'unknown error')[:80])})"] + ["—"] * len(methods)
        else:
            rank = m.ranks.get(results.primary)
            row = [str(rank) if rank is not None else "—", name]
            row += [fmt(m.scores[k]) if k in m.scores else "—" for k in methods]
        if with_acc:
            row.append(f"{m.finetune_accuracy:.4f}" if m.finetune_accuracy is not None else "—")
        lines.append("| " + " | ".join(row) + " |")
    version = results.versions.get("lead-hf") or results.versions.get("lead_hf")
    facts = [f"revision `{ds.revision}`" if ds.revision else None,
             f"{ds.num_samples} samples" if ds.num_samples else None,
             f"{ds.num_classes} classes" if ds.num_classes else None,
             f"primary score {score_name(results.primary)} (★)",
             f"ranked {results.created}" if results.created else None,
             f"lead-hf {version}" if version else None,
             _agreement(results),
             f"[results file]({results_path(results)})"]
    return f"## {_cell(dataset_label(results.dataset))}\n\n" + " · ".join(f for f in facts if f) + "\n\n" + \
        "\n".join(lines) + "\n"


def _agreement(results: RankingResults) -> str | None:
    """The primary score's agreement with fine-tuned accuracies, when the ranking had ground truth."""
    tau = (getattr(results, "agreement", None) or {}).get(results.primary, {}).get("weighted_tau")
    return f"weighted Kendall τ with fine-tuned accuracy {tau:.3f}" if isinstance(tau, (int, float)) else None


def render_readme(template: string.Template, all_results: list[RankingResults], *, title: str, source_url: str,
                  hub_url: str, unreadable: list[str] = ()) -> str:
    ordered = sorted(all_results, key=lambda r: (r.dataset.id, r.dataset.config or "", r.dataset.split))
    tables = "\n".join(render_table(r, hub_url) for r in ordered)
    if unreadable:
        tables += "\nNot shown (not lead-hf results files): " + ", ".join(f"`{p}`" for p in unreadable) + "\n"
    values = {"title": title, "title_yaml": json.dumps(title), "source_url": source_url, "tool_url": TOOL_URL,
              "num_datasets": len(ordered), "tables": tables.rstrip()}
    text = _fill(template, "leaderboard_README.md", values).rstrip() + "\n"
    split_card(text, "leaderboard_README.md template")  # a template that renders invalid YAML fails here, early
    return text


@dataclass
class LeaderboardFiles:
    files: dict[str, str]  # every file this run writes (unchanged ones included), path -> text
    conflicts: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def update_leaderboard(repo_id: str, existing: dict[str, str], new: list[RankingResults], *,
                       template: string.Template, title: str, source_url: str, hub_url: str,
                       overwrite: bool) -> LeaderboardFiles:
    """``existing``: path -> text of the results files already in the repo. A results file for the same
    dataset split with different content is a conflict unless ``overwrite``; identical content is kept."""
    out = LeaderboardFiles(files={})
    table: dict[str, RankingResults] = {}
    for path, text in sorted(existing.items()):
        try:
            table[path] = RankingResults.from_dict(json.loads(text))
        except (ValueError, TypeError):
            out.unreadable.append(path)
    for results in new:
        path = results_path(results)
        text = results_text(results)
        old = existing.get(path)
        if old is not None:
            try:
                same = json.loads(old) == json.loads(text)
            except ValueError:
                same = False
            if not same and not overwrite:
                out.conflicts.append(f"{repo_id}: {path} already holds different results for "
                                     f"{dataset_label(results.dataset)}")
                continue
            if not same:
                out.replaced.append(path)
            text = old if same else text  # keep the stored bytes when nothing changed
        out.files[path] = text
        table[path] = results
    out.files["README.md"] = render_readme(template, list(table.values()), title=title, source_url=source_url,
                                           hub_url=hub_url, unreadable=out.unreadable)
    return out
