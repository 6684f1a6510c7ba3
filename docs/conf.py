"""Sphinx configuration for pyconv's documentation.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (warnings are errors in CI).
The tutorial's pictures are made at build time by ``pyconv demo``, so they always show
what the installed pyconv draws.
"""

import os
import sys

import pyconv

project = "pyconv"
author = "The pyconv developers"
copyright = "2026, The pyconv developers"
release = pyconv.__version__
version = release

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_generated/**/*.md"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
autodoc_typehints = "none"  # numpydoc sections already carry the types
html_theme = "alabaster"
html_static_path: list[str] = []
intersphinx_mapping: dict = {}


# The backends table: generated from the installed backends' own declarations.
def _backends_table() -> str:
    rows = [
        "| backend | distribution | status | dtypes | stride / dilation / groups | padding "
        "| devices | accuracy | deterministic |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for b in pyconv.backends():
        c = b.capabilities
        status = "available" if b.available else f"unavailable: {b.reason}"
        if c is None:
            rows.append(f"| {b.name} | {b.distribution} | {status} | | | | | | |")
            continue
        flags = " / ".join(
            "yes" if getattr(c, f) else "no" for f in ("stride", "dilation", "groups")
        )
        rows.append(
            f"| `{b.name}` | {b.distribution} {b.version or ''} | {status} | "
            f"{', '.join(c.dtypes)} | {flags} | {', '.join(c.padding)} | {', '.join(c.devices)} "
            f"| {c.accuracy} (c = {c.accuracy_c:g}) | {'yes' if c.deterministic else 'no'} |"
        )
    return "\n".join(rows) + "\n"


os.makedirs(os.path.join(os.path.dirname(__file__), "_generated"), exist_ok=True)
with open(os.path.join(os.path.dirname(__file__), "_generated", "backends_table.md"), "w") as _f:
    _f.write(_backends_table())

# Pictures for the tutorial: run the article's demo into _generated/demo.
_here = os.path.dirname(__file__)
_demo = os.path.join(_here, "_generated", "demo")
if os.environ.get("PYCONV_DOCS_SKIP_DEMO") != "1":
    from pyconv.cli import main as _pyconv_main

    _saved = sys.stdout
    try:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - restored in finally
        _status = _pyconv_main(["demo", "--out", _demo])
    finally:
        sys.stdout.close()
        sys.stdout = _saved
    if _status:
        raise RuntimeError(f"pyconv demo failed with status {_status} while building the docs")
