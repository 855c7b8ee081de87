import dataclasses

import pytest

import lead_hf
from lead_hf.cli import build_parser, main
from lead_hf.utils.config import field_docs, load_yaml, options_from
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


# --- issue 10: what a new user hits on the command line ---------------------------------------------------

def test_every_list_option_takes_spaces_or_commas_and_repeats():
    from lead_hf.cli import parse_options

    _, spaced = parse_options(["extract", "--models", "zoo:a", "zoo:b", "--dataset", "embedded:digits"])
    _, commas = parse_options(["extract", "--models", "zoo:a,zoo:b"])
    _, repeated = parse_options(["extract", "--models", "zoo:a", "--models", "zoo:b"])
    assert spaced.models == commas.models == repeated.models == ("zoo:a", "zoo:b")
    _, rank = parse_options(["rank", "zoo:a", "zoo:b", "--scores", "lead", "logme", "--score-options",
                             "lead.t=2", "lead.samples_per_class=32"])
    assert rank.models == ("zoo:a", "zoo:b") and rank.scores == ("lead", "logme")
    assert rank.score_options == ("lead.t=2", "lead.samples_per_class=32")
    _, quoted = parse_options(["rank", "--scores", "lead, logme", "--score-options", "lead.t=2 lead.seed=1"])
    assert quoted.scores == ("lead", "logme") and quoted.score_options == ("lead.t=2", "lead.seed=1")


def test_boolean_flags_only_offer_the_switch_that_changes_the_default(capsys):
    from lead_hf.cli import parse_options

    for command, flags, absent in [("extract", ["--list-zoo", "--no-progress", "--no-use-cache"],
                                    ["--no-list-zoo", "--progress ", "--use-cache "]),
                                   ("publish", ["--dry-run", "--no-pr", "--no-cards"],
                                    ["--no-dry-run", "--pr ", "--cards "]),
                                   ("rank", ["--no-chart"], ["--chart "])]:
        with pytest.raises(SystemExit):
            build_parser(command).parse_args([command, "--help"])
        out = capsys.readouterr().out
        assert all(f in out for f in flags), (command, out)
        assert not any(f in out for f in absent), command
        assert "``" not in out and ":func:" not in out  # no RST markup in the help
    _, opts = parse_options(["publish", "r.json", "--dry-run", "--no-pr"])
    assert opts.dry_run is True and opts.pr is False
    with pytest.raises(SystemExit):
        parse_options(["publish", "r.json", "--no-dry-run"])


def test_list_options_say_how_lists_are_written(capsys):
    with pytest.raises(SystemExit):
        build_parser("rank").parse_args(["rank", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    # models (positional), --hub-library, --scores, --score-options, --plugins, --ct-betas
    assert out.count("separated by spaces or commas") == 6


def test_argparse_errors_print_the_subcommand_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["extract", "--modles", "zoo:a"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert "usage: lead-hf extract" in err and "unrecognized arguments: --modles zoo:a" in err


def test_a_broken_yaml_file_is_a_message_not_a_traceback(tmp_path, capsys):
    cfg = tmp_path / "rank.yaml"
    cfg.write_text("models: [zoo:a, zoo:b\nscores: [lead]\n")
    with pytest.raises(ValueError, match=r"rank.yaml' is not valid YAML at line \d+, column \d+"):
        load_yaml(cfg)
    assert main(["rank", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "not valid YAML" in err and "Traceback" not in err


def test_floating_point_errors_end_with_a_message(monkeypatch, capsys):
    from lead_hf.cli import score as score_command

    def diverge(opts):
        raise FloatingPointError("fine-tuning 'm' diverged (non-finite loss) at lr=10; lower the learning rates")
    monkeypatch.setattr(score_command.COMMAND, "run", diverge)
    assert main(["score", "--features", "x.npy"]) == 2
    assert "error: fine-tuning 'm' diverged" in capsys.readouterr().err


def test_scores_all_keeps_lead_primary_unless_told_otherwise():
    from lead_hf.scores.selection import resolve_methods

    every = resolve_methods(["all"])
    assert every[0] == "lead" and sorted(every) == lead_hf.available_scores()
    assert resolve_methods(["logme", "all"])[:2] == ["logme", "lead"] and len(resolve_methods(["logme", "all"])) == len(every)
    assert resolve_methods(["logme", "lead", "logme"]) == ["logme", "lead"]
    with pytest.raises(ValueError, match="looks like a model: give the models before the options"):
        resolve_methods(["lead", "zoo:mobilenetv2_100.in1k"])


def test_models_are_positional_or_a_flag_and_no_flag_is_taken_for_a_longer_one(capsys):
    """`--models a,b` once read as `--models-file a,b` (argparse's prefix matching) and failed far later."""
    from lead_hf.cli import parse_options

    for argv in (["rank", "zoo:a", "zoo:b"], ["rank", "--models", "zoo:a,zoo:b"], ["rank", "zoo:a", "--models", "zoo:b"]):
        _, opts = parse_options(argv + ["--dataset", "embedded:digits"])
        assert list(opts.models) == ["zoo:a", "zoo:b"] and not opts.models_file
    with pytest.raises(SystemExit):
        parse_options(["rank", "--models-f", "list.txt"])  # no abbreviations
    assert "--models-f" in capsys.readouterr().err


def test_bare_lead_hf_prints_help_and_starts_nothing(capsys, monkeypatch):
    import lead_hf.rank.job as job

    monkeypatch.setattr(job, "rank_models", lambda *a, **k: (_ for _ in ()).throw(AssertionError("the demo ran")))
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: lead-hf" in out and "lead-hf rank" in out


def test_option_errors_name_the_flag_on_the_command_line_and_the_field_in_python(capsys):
    from lead_hf.rank import RankOptions
    from lead_hf.utils.constraints import OptionError

    assert main(["rank", "--seed", "-1"]) == 2
    assert "--seed must be an integer >= 0, got -1" in capsys.readouterr().err
    with pytest.raises(OptionError, match=r"^seed must be an integer >= 0, got -1"):
        RankOptions(seed=-1)


@pytest.mark.parametrize("argv", [["--help"], *[[name, "--help"] for name in
                                                 ("rank", "extract", "score", "publish", "finetune", "benchmark")],
                                  ["rank", "--seed", "-1"], ["rank", "--max-per-class", "0"],
                                  ["benchmark", "--bootstrap", "-2"], ["finetune", "--epochs", "0"]])
def test_help_and_option_errors_import_no_ml_framework(argv):
    """`lead-hf CMD --help` and an option error are instant: no ML framework is imported for them."""
    import subprocess
    import sys

    code = ("import sys, runpy\nsys.argv = ['lead-hf', *%r]\ntry:\n    runpy.run_module('lead_hf', run_name='__main__')\n"
            "except SystemExit as stop:\n    code = stop.code\nprint(sorted(m for m in ('torch', 'transformers', 'timm', "
            "'datasets', 'accelerate') if m in sys.modules))" % (argv,))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "[]", (done.stdout[-500:], done.stderr[-500:])
