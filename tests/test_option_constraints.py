"""Declared option constraints (lead_hf/constraints.py): the vocabulary, and every job's options checked by
it. The scores' options are probed the same way, over the registry, in tests/test_score_contract.py."""
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

import lead_hf
import lead_hf.cli.extract
import lead_hf.cli.score
import lead_hf.evaluate_metric.install
from lead_hf.benchmark import BenchmarkOptions
from lead_hf.utils.config import options_from, with_overrides
from lead_hf.utils.constraints import Boolean, Constrained, Interval, Items, Mapping, OneOf, OptionError, PathLike, Text, accepts, check_value, declared_constraints, describe, invalid_values, undeclared_fields
from lead_hf.extract import ExtractOptions, extract
from lead_hf.finetune import FinetuneOptions, finetune
from lead_hf.hub.publishing import PublishOptions, publish
from lead_hf.rank import RankOptions



def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


# every options class of the library outside the scores (those: tests/test_score_contract.py), the
# commands' own included
SCORE_OPTIONS = {lead_hf.get_score_spec(name).options for name in lead_hf.available_scores()}
JOB_OPTIONS = sorted({c for c in _subclasses(Constrained) if c.__module__.startswith("lead_hf.")
                      and c not in SCORE_OPTIONS and dataclasses.is_dataclass(c)}, key=lambda c: c.__qualname__)


def test_the_jobs_options_are_all_found():
    assert {ExtractOptions, RankOptions, FinetuneOptions, BenchmarkOptions, PublishOptions,
            lead_hf.cli.extract.ExtractCommandOptions, lead_hf.evaluate_metric.install.MetricInstallOptions} <= set(JOB_OPTIONS)


@pytest.mark.parametrize("spec, allowed, good, bad", [
    (Interval(float, 0, closed="neither"), "a finite number > 0", [1e-9, 3, 2.5], [0, -1, math.nan, math.inf, "1", True]),
    (Interval(int, 1), "an integer >= 1", [1, np.int64(7)], [0, 1.0, 2.5, "3", False]),
    (Interval(float, 0, 1, closed="left"), "a number in [0, 1)", [0, 0.5], [1, -0.1]),
    (Interval(float, 0, 1, closed="right"), "a number in (0, 1]", [1, 0.5], [0, 1.5]),
    (Interval(int), "an integer", [-3, 0], [0.5, None]),
    (Interval(float, None, 10, closed="left"), "a finite number < 10", [-1e9, 9.5], [10, 11, -math.inf]),
    ((Interval(int, 1), None), "an integer >= 1 or None", [None, 4], [0, "none"]),
    ((Interval(float, 0, closed="neither"), "gcv"), "a finite number > 0 or 'gcv'", ["gcv", 0.1], ["loo", 0]),
    ((0, Interval(int, 2)), "0 or an integer >= 2", [0, 2], [1, False, 0.0]),
    (OneOf("a", "b"), "one of 'a', 'b'", ["a"], ["c", None]),
    (Text(r"[^/]+/[^/]+", "an id 'ns/name'"), "an id 'ns/name'", ["a/b"], ["a", "a/b/c", 3]),
    (Text(exclude=("ped",)), "a string", ["logme"], ["ped", 3]),
    (PathLike(), "a path (a string or pathlib.Path)", ["x", Path("x")], [3, None]),
    (Boolean(), "True or False", [True, np.bool_(False)], [1, "yes"]),
    (Mapping(), "a mapping of option: value", [{}], [[1], "a=1"]),
    (Items(Interval(int, 1), min_items=1), "a non-empty list, each an integer >= 1", [(1,), [2, 3]], [(), "1", (0,)]),
    (Items(Interval(int), distinct=True), "a list of distinct items, each an integer", [(), (1, 2)], [(1, 1)]),
])
def test_constraint_vocabulary(spec, allowed, good, bad):
    assert describe(spec) == allowed
    assert all(accepts(spec, v) for v in good), good
    assert not any(accepts(spec, v) for v in bad), bad
    generated = invalid_values(spec)
    assert generated and not any(accepts(spec, v) for v in generated)


def test_a_malformed_declaration_is_a_programming_error():
    with pytest.raises(TypeError):
        Interval(str, 0)
    with pytest.raises(TypeError):
        Interval(int, 0, closed="open")
    # a list constraint whose items accept no example value still generates invalid lists
    assert invalid_values(Items(Text(r"\d+/\d+", "an id 'N/M'"), distinct=True))


def test_one_message_format_and_the_error_carries_its_parts():
    err = OptionError("tol", -1, "a finite number > 0")
    assert str(err) == "tol must be a finite number > 0, got -1"
    assert (err.option, err.value, err.allowed) == ("tol", -1, "a finite number > 0")
    assert isinstance(err, ValueError)
    with pytest.raises(OptionError, match=r"^batch_size must be an integer >= 0, got -2$"):
        check_value(ExtractOptions, "batch_size", -2)


def test_subclasses_inherit_and_extend_the_constraints():
    assert declared_constraints(RankOptions)["batch_size"] is declared_constraints(ExtractOptions)["batch_size"]
    assert "bootstrap" in declared_constraints(RankOptions) and "bootstrap" not in declared_constraints(ExtractOptions)


def test_a_constraint_on_a_field_that_does_not_exist_is_a_programming_error():
    @dataclasses.dataclass
    class Typo(Constrained):
        size: int = 1
        constraints = {"sise": Interval(int, 1)}

    with pytest.raises(TypeError, match="sise"):
        Typo()


@pytest.mark.parametrize("cls", JOB_OPTIONS, ids=lambda c: c.__name__)
def test_every_job_option_is_declared_and_its_default_allowed(cls):
    assert issubclass(cls, Constrained)
    assert undeclared_fields(cls) == []
    cls()   # the defaults pass their own check


JOB_CASES = [(cls, f.name) for cls in JOB_OPTIONS for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("cls, option", JOB_CASES, ids=[f"{c.__name__}.{o}" for c, o in JOB_CASES])
def test_invalid_job_option_values_are_refused_with_a_message_naming_them(cls, option):
    spec = declared_constraints(cls)[option]
    for bad in invalid_values(spec):
        with pytest.raises(OptionError) as err:
            cls(**{option: bad})
        assert str(err.value) == f"{option} must be {describe(spec)}, got {bad!r}"


def test_rules_between_options_use_the_same_format():
    with pytest.raises(OptionError, match=r"^repeat_seeds must be seeds other than seed=1, got \(1, 2\)$"):
        FinetuneOptions(seed=1, repeat_seeds=(1, 2))
    with pytest.raises(OptionError, match=r"^lr_search_steps must be 0 with fewer than 2 learning rates"):
        FinetuneOptions(learning_rates=(0.1,), lr_search_steps=1)
    with pytest.raises(OptionError, match=r"^dataset_id must be set with --dataset-config .*, got None$"):
        PublishOptions(dataset_config="default")


def test_overrides_are_converted_like_cli_and_yaml_values(tmp_path):
    opts = with_overrides(ExtractOptions(), {"batch_size": "8", "max_per_class": "none", "cache_dir": tmp_path})
    assert (opts.batch_size, opts.max_per_class, opts.cache_dir) == (8, None, str(tmp_path))
    assert with_overrides(opts, {}) is opts
    assert options_from(ExtractOptions, {"chunk_size": "4"}, base=opts).batch_size == 8
    ft = with_overrides(FinetuneOptions(), {"learning_rates": "0.1,0.2", "repeat_seeds": ["1", "2"]})
    assert ft.learning_rates == (0.1, 0.2) and ft.repeat_seeds == (1, 2)
    with pytest.raises(ValueError, match="unknown option 'bacth_size'"):
        with_overrides(ExtractOptions(), {"bacth_size": 8})


def test_extract_finetune_and_publish_take_their_overrides_through_that_route():
    # each fails on the option, before it resolves a model or reads a results file
    with pytest.raises(OptionError, match=r"^batch_size must be an integer >= 0, got 'many'$"):
        extract("zoo:no-such-model", "embedded:digits", batch_size="many")
    with pytest.raises(OptionError, match="^epochs must be an integer >= 1, got 0$"):
        finetune("zoo:no-such-model", epochs="0")
    with pytest.raises(OptionError, match=r"^dry_run must be True or False, got 'perhaps'$"):
        publish(["no-such-results.json"], dry_run="perhaps")
    with pytest.raises(OptionError, match="^endpoint must be an http"):
        publish(["no-such-results.json"], endpoint="huggingface.co")
