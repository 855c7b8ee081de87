"""Dependencies point one way: utils <- scores, results <- models, data <- extract <- jobs <- cli
(docs/architecture.md), keyed by folder.

Every ``lead_hf`` module takes the layer of its folder (or top-level module) below; an import scan
(``ast``: module-level and function-level imports alike, since the lazy ones are dependencies too) checks
that no module imports one from a higher layer, that no two modules import each other in a circle, and
that the library never imports the lab (``benchmarks``) or the test support (``tests``).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lead_hf"

# (layer, folders or top-level modules of lead_hf); a module takes the layer of its longest matching prefix
LAYERS = [
    (0, ("lead_hf", "lead_hf.utils")),
    (1, ("lead_hf.scores", "lead_hf.results")),
    (2, ("lead_hf.models", "lead_hf.data")),
    (3, ("lead_hf.extract",)),
    (4, ("lead_hf.rank", "lead_hf.finetune", "lead_hf.benchmark", "lead_hf.hub", "lead_hf.evaluate_metric")),
    (5, ("lead_hf.cli", "lead_hf.__main__")),
]
NAMES = {0: "utils", 1: "scores/results", 2: "models/data", 3: "extract", 4: "jobs", 5: "cli"}
OUTSIDE = ("benchmarks", "tests")
"""The lab and the test support: in the repository, never installed, never imported by the library."""


def layer_of(module: str) -> int | None:
    best = None
    for layer, prefixes in LAYERS:
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > len(best[1]):
                    best = (layer, prefix)
    return None if best is None else best[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path, name: str | None = None, source: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module) of every lead_hf import in ``path`` (or in ``source``, as module ``name``);
    ``from . import x`` yields the submodule ``x`` when it is one, else the package."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(source if source is not None else path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] in ("lead_hf", *OUTSIDE)]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] not in ("lead_hf", *OUTSIDE):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                is_module = (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py").is_file() or \
                    (PACKAGE.parent / Path(*sub.split(".")) / "__init__.py").is_file()
                out.append((node.lineno, sub if is_module else target))
    return out


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = [module_name(p) for p in SOURCES if layer_of(module_name(p)) is None]
    assert not missing, f"give these modules a layer in tests/test_layering.py: {missing}"


@pytest.mark.parametrize("path", SOURCES, ids=[module_name(p) for p in SOURCES])
def test_no_module_imports_a_higher_layer(path):
    name = module_name(path)
    own = layer_of(name)
    bad = []
    for line, target in imported_modules(path):
        if target.split(".")[0] in OUTSIDE:
            bad.append(f"line {line}: {target} (the lab or the test support; the library never imports them)")
            continue
        theirs = layer_of(target)
        if theirs is not None and own is not None and theirs > own:
            bad.append(f"line {line}: {target} ({NAMES[theirs]}) from {NAMES[own]}")
    assert not bad, f"{name} imports a higher layer: " + "; ".join(bad)


def test_the_scan_sees_relative_lazy_and_absolute_imports():
    # the scan itself, on a made-up score module that breaks the rule three ways
    source = ("from ..models import zoo\n"
              "import lead_hf.rank\n"
              "def f():\n"
              "    from ..extract.cache import default_cache_root\n"
              "    from . import validation\n")
    found = [t for _, t in imported_modules(PACKAGE / "scores" / "fake.py", "lead_hf.scores.fake", source)]
    assert found == ["lead_hf.models.zoo", "lead_hf.rank", "lead_hf.extract.cache", "lead_hf.scores.validation"]
    assert [layer_of(t) for t in found] == [2, 4, 3, 1]
    assert layer_of("lead_hf") == 0 and layer_of("lead_hf.cli.rank") == 5


def _import_graph() -> dict[str, set[str]]:
    """module -> the lead_hf modules it imports (a package import counts as its ``__init__``)."""
    names = {module_name(p) for p in SOURCES}
    graph = {}
    for path in SOURCES:
        me = module_name(path)
        graph[me] = {t for _, t in imported_modules(path) if t in names and t != me}
    return graph


def find_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle a depth-first walk of ``graph`` closes (each as the path that closes it)."""
    circles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return circles


def test_no_import_circles():
    circles = find_circles(_import_graph())
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_the_circle_check_sees_a_circle():
    assert find_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_circles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
