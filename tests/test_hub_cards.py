"""The pure text side of publishing: card metadata, eval-results files, card section, leaderboard README."""
from __future__ import annotations

import math

import pytest
import yaml
from huggingface_hub import ModelCard, parse_eval_result_entries

from lead_hf.results.summary import assign_ranks
from lead_hf.hub import cards, leaderboard
from lead_hf.hub.publishing import TEMPLATES_DIR, PublishOptions
from lead_hf.results.schema import DatasetInfo, ModelResult, RankingResults

SECTION = cards.load_template(TEMPLATES_DIR, "card_section.md")
BOARD = cards.load_template(TEMPLATES_DIR, "leaderboard_README.md")


def results_for(values: dict[str, float], split="test", config=None, dataset="acme/pets") -> RankingResults:
    r = RankingResults(dataset=DatasetInfo(id=dataset, split=split, config=config, revision="r" * 40,
                                           num_samples=50, num_classes=5),
                       scores=list(values), primary="lead",
                       models=[ModelResult(model="o/m", hub_id="o/m", scores=dict(values))])
    assign_ranks(r)
    return r


def update(readme, eval_texts, *results, overwrite=False):
    entries = [(r, r.models[0]) for r in results]
    return cards.update_model_files("o/m", readme, eval_texts, entries, section=SECTION, source_url="https://x.org",
                                    leaderboard_url=None, overwrite=overwrite)


def test_new_card_parses_with_huggingface_hub_and_a_second_pass_is_identical():
    r = results_for({"lead": -0.25, "logme": 1.5}, config="full")
    first = update(None, {}, r)
    card = ModelCard(first.readme)
    got = {(e.metric_type, e.metric_value, e.dataset_config, e.dataset_split, e.dataset_revision)
           for e in card.data.eval_results}
    assert got == {("lead", -0.25, "full", "test", "r" * 40), ("logme", 1.5, "full", "test", "r" * 40)}
    path = cards.eval_results_path(r.dataset)
    assert path == ".eval_results/lead-hf_acme--pets--full--test.yaml"
    entries = parse_eval_result_entries(yaml.safe_load(first.eval_files[path]))
    assert {(e.task_id, e.value) for e in entries} == {("lead:full:test", -0.25), ("logme:full:test", 1.5)}

    second = update(first.readme, {path: first.eval_files[path]}, r)
    assert second.readme == first.readme and second.eval_files[path] == first.eval_files[path]
    assert second.added == [] and second.conflicts == []


def test_existing_metadata_and_text_survive_and_same_value_keeps_the_bytes():
    readme = ("---\nlicense: mit\ntags:\n- vision\n---\n# Title\n\nBody with a | pipe.\n")
    r = results_for({"lead": -0.5})
    out = update(readme, {}, r)
    meta, body, _ = cards.split_card(out.readme)
    assert list(meta)[:2] == ["license", "tags"] and meta["tags"] == ["vision"]
    assert body.startswith("# Title\n\nBody with a | pipe.\n")
    # A card where the value is already present (written by someone else, other formatting) stays byte-identical
    # when the section exists too.
    again = update(out.readme.replace("value: -0.5", "value: -0.50"), {}, r)
    assert again.readme == out.readme.replace("value: -0.5", "value: -0.50")


def test_different_value_is_a_conflict_in_both_files_and_overwrite_replaces_in_place():
    old = results_for({"lead": -0.5, "logme": 1.0})
    first = update(None, {}, old)
    path = cards.eval_results_path(old.dataset)
    new = results_for({"lead": -0.4, "logme": 1.0})
    refused = update(first.readme, {path: first.eval_files[path]}, new)
    where = sorted((c.file, c.method, c.existing, c.new) for c in refused.conflicts)
    assert where == [(path, "lead", -0.5, -0.4), ("README.md", "lead", -0.5, -0.4)]
    assert any(str(c).startswith("o/m: README.md (model-index) already has lead = -0.5 on acme/pets, split test")
               for c in refused.conflicts)

    replaced = update(first.readme, {path: first.eval_files[path]}, new, overwrite=True)
    assert replaced.conflicts == []
    leads = [e for e in ModelCard(replaced.readme).data.eval_results if e.metric_type == "lead"]
    assert [e.metric_value for e in leads] == [-0.4]
    entries = parse_eval_result_entries(yaml.safe_load(replaced.eval_files[path]))
    assert sorted((e.task_id, e.value) for e in entries) == [("lead:test", -0.4), ("logme:test", 1.0)]
    assert "| LEAD (primary) | `lead` | -0.4000 |" in replaced.readme  # the section follows the new value


def test_two_splits_get_two_blocks_and_two_sections_replaced_in_place():
    test, val = results_for({"lead": -0.5}, split="test"), results_for({"lead": -0.7}, split="validation")
    both = update(None, {}, test, val)
    blocks = yaml.safe_load(both.readme.split("---")[1])["model-index"][0]["results"]
    assert [b["dataset"]["split"] for b in blocks] == ["test", "validation"]
    assert both.readme.count("<!-- lead-hf:results acme/pets/default/") == 2
    assert set(both.eval_files) == {cards.eval_results_path(test.dataset), cards.eval_results_path(val.dataset)}
    changed = update(both.readme, both.eval_files, results_for({"lead": -0.6}, split="validation"), overwrite=True)
    assert changed.readme.count("<!-- lead-hf:results acme/pets/default/") == 2
    assert "-0.6000" in changed.readme and "-0.7000" not in changed.readme and "-0.5000" in changed.readme


def test_a_new_score_joins_the_existing_lead_hf_block():
    first = update(None, {}, results_for({"lead": -0.5}))
    more = update(first.readme, first.eval_files, results_for({"lead": -0.5, "leep": -2.0}))
    blocks = yaml.safe_load(more.readme.split("---")[1])["model-index"][0]["results"]
    assert len(blocks) == 1 and [m["type"] for m in blocks[0]["metrics"]] == ["lead", "leep"]


def test_the_default_config_is_the_same_dataset_split_as_no_config():
    first = update(None, {}, results_for({"lead": -0.5}, config=None))
    again = update(first.readme, first.eval_files, results_for({"lead": -0.5}, config="default"))
    assert again.added == [] and again.readme == first.readme
    assert cards.eval_results_path(results_for({"lead": 1.0}, config="default").dataset) in first.eval_files
    clash = update(first.readme, first.eval_files, results_for({"lead": -0.6}, config="default"))
    assert len(clash.conflicts) == 2


def test_non_finite_scores_are_left_out():
    r = results_for({"lead": -0.5, "logme": math.nan})
    assert cards.finite_scores(r, r.models[0]) == {"lead": -0.5}
    out = update(None, {}, r)
    assert [e.metric_type for e in ModelCard(out.readme).data.eval_results] == ["lead"]


@pytest.mark.parametrize("readme, message", [
    ("---\nfoo: [unclosed\n---\nbody", "does not parse"),
    ("---\n- a list\n---\nbody", "not a mapping"),
    ("---\nmodel-index: 3\n---\n", "not a list of models"),
    ("<!-- lead-hf:results acme/pets/default/test -->\nno end marker\n", "without its closing"),
])
def test_unreadable_cards_are_refused_with_a_message(readme, message):
    with pytest.raises(ValueError, match=message):
        update(readme, {}, results_for({"lead": -0.5}))


def test_malformed_eval_results_file_is_refused():
    r = results_for({"lead": -0.5})
    with pytest.raises(ValueError, match="is not a YAML list"):
        update(None, {cards.eval_results_path(r.dataset): "a: mapping\n"}, r)


def test_template_with_unknown_placeholder_names_the_valid_ones(tmp_path):
    (tmp_path / "card_section.md").write_text("${nope}\n")
    tpl = cards.load_template(tmp_path, "card_section.md")
    r = results_for({"lead": -0.5})
    with pytest.raises(ValueError, match=r"placeholder 'nope'.*\$\{dataset_id\}"):
        cards.update_model_files("o/m", None, {}, [(r, r.models[0])], section=tpl, source_url="u",
                                 leaderboard_url=None, overwrite=False)
    with pytest.raises(FileNotFoundError, match="--templates-dir"):
        cards.load_template(tmp_path, "leaderboard_README.md")


def test_leaderboard_table_ranks_by_primary_and_lists_failures():
    r = RankingResults(dataset=DatasetInfo(id="acme/pets", split="test", num_samples=9, num_classes=3),
                       scores=["lead", "logme"], primary="lead", models=[
                           ModelResult(model="a/one", hub_id="a/one", scores={"lead": -0.9, "logme": 3.0}),
                           ModelResult(model="a/two", hub_id="a/two", scores={"lead": -0.1, "logme": 1.0},
                                       finetune_accuracy=0.81),
                           ModelResult(model="a/bad", hub_id="a/bad", status="failed", error="oom | crash")])
    assign_ranks(r)
    r.agreement = {"lead": {"weighted_tau": 0.5}}
    table = leaderboard.render_table(r, "https://hub.example")
    assert "weighted Kendall τ with fine-tuned accuracy 0.500" in table
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0] == "| Rank | Model | LEAD ★ | LogME | Fine-tuned acc. |"
    assert rows[1] == "| 1 | [a/two](https://hub.example/a/two) | -0.1000 | 1.0000 | 0.8100 |"
    assert rows[2].startswith("| 2 | [a/one]")
    assert "failed: oom \\| crash" in rows[3]


def test_update_leaderboard_keeps_other_splits_and_flags_changed_results():
    test, val = results_for({"lead": -0.5}, "test"), results_for({"lead": -0.4}, "validation")
    existing = {leaderboard.results_path(test): leaderboard.results_text(test)}
    out = leaderboard.update_leaderboard("me/board", existing, [val], template=BOARD, title="t", source_url="u",
                                         hub_url="h", overwrite=False)
    assert set(out.files) == {"README.md", leaderboard.results_path(val)}
    assert "split test" in out.files["README.md"] and "split validation" in out.files["README.md"]
    meta, _, _ = cards.split_card(out.files["README.md"])
    assert meta["pretty_name"] == "t" and "leaderboard" in meta["tags"]

    changed = results_for({"lead": -0.45}, "test")
    refused = leaderboard.update_leaderboard("me/board", existing, [changed], template=BOARD, title="t: x",
                                             source_url="u", hub_url="h", overwrite=False)
    assert refused.conflicts and leaderboard.results_path(changed) not in refused.files
    same = leaderboard.update_leaderboard("me/board", existing, [test], template=BOARD, title="t", source_url="u",
                                          hub_url="h", overwrite=False)
    assert same.files[leaderboard.results_path(test)] == existing[leaderboard.results_path(test)]


def test_options_validate_repo_ids_and_hide_the_token():
    with pytest.raises(ValueError, match="namespace/name"):
        PublishOptions(leaderboard="no-namespace")
    with pytest.raises(ValueError, match="http"):
        PublishOptions(endpoint="huggingface.co")
    assert "hf_secret" not in repr(PublishOptions(token="hf_secret"))


def test_score_display_names_come_from_the_registry():
    assert [cards.score_name(m) for m in ("lead", "logme", "nleep", "hscore", "transrate")] == \
        ["LEAD", "LogME", "N-LEEP", "H-score", "TransRate"]
    assert cards.score_name("hscore_reg") == "hscore_reg"  # registered without a title: its name, as before
    assert cards.score_name("etran") == "ETran"
    assert cards.score_name("my_plugin_score") == "my_plugin_score"  # not a score of this installation: as written


def test_float_noise_is_the_same_value_and_a_changed_result_is_not():
    """A re-extraction on another machine moves a score by ~1e-7 relative (6e-8 seen): the same value; a
    changed result (1e-5 relative, far below the gap between models) is a different one."""
    from lead_hf.hub.cards import _values_equal

    assert _values_equal(-1.8867, -1.8867 * (1 + 6e-8))
    assert not _values_equal(-1.8867, -1.8867 * (1 + 1e-5))
