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
# _generated/ holds pieces that pages {include}: not pages of their own
exclude_patterns = ["_build", "_generated/**"]
myst_enable_extensions = ["dollarmath", "deflist"]
myst_heading_anchors = 3
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
autodoc_typehints = "none"  # numpydoc sections already carry the types
html_theme = "alabaster"
html_static_path: list[str] = []
intersphinx_mapping: dict = {}


# The backends table of backends.md: from the built-in backends' declarations only, so the
# page does not depend on what the building machine has installed (_backends_table.py).
sys.path.insert(0, os.path.dirname(__file__))
from _backends_table import backends_table  # noqa: E402 - needs the line above

os.makedirs(os.path.join(os.path.dirname(__file__), "_generated"), exist_ok=True)
with open(os.path.join(os.path.dirname(__file__), "_generated", "backends_table.md"), "w") as _f:
    _f.write(backends_table())

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
