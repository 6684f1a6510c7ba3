"""The examples in the docstrings and in docs/*.md run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pathlib

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
MODULES = [
    "pyconv",
    "pyconv.functional",
    "pyconv.grad",
    "pyconv.nn",
    "pyconv.padding",
    "pyconv.image",
    "pyconv.examples",
    "pyconv.testing",
    "pyconv.cli",
]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False)
    assert result.failed == 0


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")) or ["(no docs found)"])
def test_docs_page_examples(page, tmp_path, monkeypatch):
    path = DOCS / page
    if not path.exists():
        pytest.skip("docs/ is not next to the tests (installed test run)")
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    result = doctest.testfile(str(path), module_relative=False, optionflags=FLAGS)
    assert result.failed == 0


def test_docs_pages_have_examples():
    # a page whose examples silently stopped being collected would pass the test above
    pages = {p.name: p.read_text() for p in DOCS.glob("*.md")}
    for name in ("quickstart.md", "tutorial.md"):
        assert name in pages
        assert pages[name].count(">>> ") >= 5, name
