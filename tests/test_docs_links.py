"""The README is for a newcomer and short; its Python example runs as written and prints what it shows; every
relative link in the README and docs/ points at a file (and a heading) that exists."""
from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "metrics" / "lead" / "README.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    body = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_anchor(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", body, flags=re.M)}


def relative_links(page: Path) -> list[str]:
    body = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [t for t in LINK.findall(body) if not re.match(r"[a-z]+:", t)]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"


def test_the_link_check_sees_a_broken_link(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# Title\n[ok](#title) [gone](missing.md) [bad anchor](#nope)\n```\n[in code](x.md)\n```\n")
    assert relative_links(page) == ["#title", "missing.md", "#nope"]
    assert _anchors(page) == {"title"}


def test_the_readme_is_short_and_says_what_a_newcomer_needs():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    for heading in ("## Set-up: two commands", "## Python API", "## Command line", "## The `evaluate` metric",
                    "## Publishing to the Hub", "## The scores", "## Where lead-hf departs from the LEAD paper",
                    "## Benchmark", "## Layout"):
        assert heading in text, heading
    assert "make demo" in text and "make test" in text


def test_the_readme_python_example_runs_as_written_and_prints_what_it_shows():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(>>> .*?)```", text, flags=re.S).group(1)
    test = doctest.DocTestParser().get_doctest(block, {}, "README.md", "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0 and runner.tries >= 8
