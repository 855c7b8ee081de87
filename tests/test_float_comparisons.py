"""Guards on how the tests compare floats (issue 10, item 11).

A score reached by two different paths (relabelled classes, another process, a cache or Arrow round
trip) may differ in its last bits from one machine to another, so the suite compares such values to a
few ulps (``helpers.within_ulps``), never with a bare ``==``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from helpers import within_ulps

TESTS = Path(__file__).resolve().parent
# calls whose result is a freshly computed score
SCORE_CALLS = {"score", "compute_score", "expected", "compute", "run_benchmark", "rank_models"}
TOLERANT = {"approx", "within_ulps", "isclose", "allclose"}


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        f = node.func
        return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
    return None


def _computes_a_score(node: ast.AST) -> bool:
    """``score(...)``, ``compute_score(...).value``, ``metric.compute(...)["lead"]`` and the like."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return _call_name(node) in SCORE_CALLS


def bare_score_equalities(source: str) -> list[int]:
    """Lines where a computed score is compared with ``==`` to anything but a tolerance or a literal."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:]):
            if not isinstance(op, ast.Eq):
                continue
            if _call_name(left) in TOLERANT or _call_name(right) in TOLERANT:
                continue
            # a literal on the other side is a value exact by construction (0.0 for a tie, 1.0, ...)
            if any(isinstance(side, ast.Constant) for side in (left, right)):
                continue
            if _computes_a_score(left) or _computes_a_score(right):
                lines.append(node.lineno)
    return lines


def test_the_audit_finds_the_comparison_that_failed_on_a_fresh_clone():
    failing = 'assert lead_hf.score("nleep", f, names, seed=3) == lead_hf.compute_score("nleep", f, y).value\n'
    assert bare_score_equalities(failing) == [1]
    assert bare_score_equalities(failing.replace("== lead_hf", "== within_ulps(lead_hf")[:-1] + ")\n") == []
    assert bare_score_equalities('assert lead_hf.score("nleep", f, names) == r.value\n') == [1]
    assert bare_score_equalities('assert metric.compute(x)["lead"] == ref\n') == [1]
    assert bare_score_equalities('assert lead_hf.score("hscore_reg", x, y, shrinkage=1.0) == 0.0\n') == []
    assert bare_score_equalities('assert lead_hf.score("lead", x, y) != lead_hf.score("lead", x, z)\n') == []


def test_no_test_compares_two_computed_scores_exactly():
    found = {p.name: bare_score_equalities(p.read_text()) for p in sorted(TESTS.glob("test_*.py"))}
    assert {name: lines for name, lines in found.items() if lines} == {}


def test_within_ulps_accepts_last_bit_noise_and_nothing_more():
    # the two values of issue 10 item 11: one run on two machines of the same kind
    a, b = -0.36742032940822533, -0.3674203294082254
    assert a != b and a == within_ulps(b)
    assert a + 1e-12 != within_ulps(b)
    assert float(np.nextafter(1.0, 2.0, dtype=np.float64)) == within_ulps(1.0, ulps=1)
    assert 1.0 + 8 * np.finfo(np.float64).eps != within_ulps(1.0)
    assert 0.0 == within_ulps(0.0) and 1e-300 != within_ulps(0.0)  # no absolute slack around zero
    assert [1.0, 2.0] == within_ulps([1.0, float(np.nextafter(2.0, 3.0))])
    with pytest.raises(AssertionError):
        assert {"lead": 1.0} == within_ulps({"lead": 1.0 + 1e-9})
