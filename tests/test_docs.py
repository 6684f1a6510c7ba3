"""The examples in the docstrings and in docs/*.md run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
MODULES = [
    "pyconv",
    "pyconv.functional",
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


def _variables_read() -> set[str]:
    """Every environment variable the package, the build, the tests and CI read."""
    root = DOCS.parent
    python = [root / "setup.py", root / "docs" / "conf.py"]
    for folder in ("pyconv", "tests", "benchmarks"):
        python += (root / folder).rglob("*.py")
    patterns = [
        r"environ\.get\(\s*\"([A-Z][A-Z0-9_]*)\"",
        r"environ\[\"([A-Z][A-Z0-9_]*)\"\]",
        r"_env_threads\(\s*\"([A-Z][A-Z0-9_]*)\"",
    ]
    found = set()
    for path in python:
        text = path.read_text()
        for pattern in patterns:
            found |= set(re.findall(pattern, text))
    for script in (root / ".ci").glob("*"):
        if script.is_file():
            found |= set(re.findall(r"\$\{?(PYCONV_[A-Z0-9_]+)", script.read_text()))
    # variables pyconv records for benchmark reports without acting on them
    return found - {"OPENBLAS_CORETYPE", "GLIBC_TUNABLES", "PYTHONPATH"}


def test_every_environment_variable_is_documented_in_one_place():
    if not (DOCS / "api.md").exists():
        pytest.skip("docs/ is not next to the tests (installed test run)")
    text = (DOCS / "api.md").read_text()
    section = text.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    read = _variables_read()
    assert {"PYCONV_NUM_THREADS", "PYCONV_ISA", "PYCONV_BACKEND", "OMP_NUM_THREADS"} <= read
    missing = sorted(name for name in read if f"`{name}" not in section)
    assert not missing, f"read but not documented in docs/api.md: {missing}"
