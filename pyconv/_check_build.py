"""Fail early and clearly when pyconv is imported from a tree whose core was never built.

pyconv's kernels are compiled modules, ``pyconv._core`` and ``pyconv._pool``.  From the
repository root, ``import pyconv`` finds the source directory ``pyconv/`` before any installed copy
(Python puts the current directory first on ``sys.path``), and without this check the
failure would surface later, far from its cause.
"""

from __future__ import annotations

import os
import sys

try:
    from . import _core, _pool  # noqa: F401
except ImportError as _exc:
    _here = os.path.dirname(os.path.abspath(__file__))
    if os.path.exists(os.path.join(_here, "_core.pyx")):
        _how = (
            f"{_here} is pyconv's source tree, and its compiled modules have not been built "
            "there.  Python found this tree first on sys.path (the current directory "
            "comes first).  Either build it in place, from the repository root:\n\n"
            "    python -m pip install -e .\n\n"
            "(what the README's Quick start does; a C compiler is needed), or run Python "
            "from another directory, so that the installed pyconv is imported."
        )
    else:
        _how = (
            "The installation is incomplete: reinstall pyconv with a C compiler available "
            "(python -m pip install --force-reinstall --no-cache-dir pyconv)."
        )
    raise ImportError(
        f"pyconv: cannot import its compiled modules pyconv._core and pyconv._pool (Python "
        f"{sys.version.split()[0]} at {sys.executable}).\n{_how}"
    ) from _exc
