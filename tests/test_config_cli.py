import dataclasses

import pytest

import lead_hf
from lead_hf.cli import build_parser, main
from lead_hf.config import field_docs, load_yaml, options_from
from lead_hf.scores.lead import LeadOptions


def test_options_from_merges_yaml_then_flags_with_types(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("t: 2\nhead-widths: [8, 16]\nclass_aware: 'false'\n")
    opts = options_from(LeadOptions, load_yaml(cfg), {"t": "0.5", "svm_C": "3"})
    assert opts.t == 0.5 and opts.head_widths == (8, 16) and opts.class_aware is False and opts.svm_C == 3.0
    assert options_from(LeadOptions, {"head_widths": "4,5"}).head_widths == (4, 5)
    assert options_from(LeadOptions, {"svm_C": None}).svm_C is None


def test_options_errors_name_the_option(tmp_path):
    with pytest.raises(ValueError, match="unknown option 'bogus'"):
        options_from(LeadOptions, {"bogus": 1})
    with pytest.raises(ValueError, match="samples_per_class"):
        options_from(LeadOptions, {"samples_per_class": "many"})
    with pytest.raises(FileNotFoundError):
        load_yaml(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        load_yaml(tmp_path / "list.yaml")


def test_every_lead_option_has_help_text():
    docs = field_docs(LeadOptions)
    assert {f.name for f in dataclasses.fields(LeadOptions)} == set(docs)
    assert all(len(text) > 10 for text in docs.values())


def test_score_options_defaults_roundtrip():
    defaults = lead_hf.score_options("lead")
    assert defaults["samples_per_class"] == 64 and defaults["head_widths"] == (1024, 2048)


def test_cli_top_level_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for name in ("rank", "extract", "publish", "benchmark"):
        assert name in out


def test_cli_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == lead_hf.__version__
