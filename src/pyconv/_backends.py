"""The backends conv2d can dispatch to, by name.

This is deliberately one small table: the entry-point registry (``pyconv.backends``
group) replaces it.  A backend is a module with ``conv2d(x, w, b, spec) -> ndarray`` that
receives validated arrays (batched, supported dtype) and a :class:`~pyconv._spec.ConvSpec`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["DEFAULT_BACKEND", "available_backends", "get_backend"]

DEFAULT_BACKEND = "cython"

_MODULES = {
    "cython": "pyconv.backends.cython",
    "numpy": "pyconv.backends.numpy",
}
_loaded: dict[str, ModuleType] = {}


def available_backends() -> dict[str, str | None]:
    """Map each known backend name to None if it loads, else the reason it does not."""
    status: dict[str, str | None] = {}
    for name in _MODULES:
        try:
            get_backend(name)
        except ImportError as exc:
            status[name] = str(exc)
        else:
            status[name] = None
    return status


def get_backend(name) -> ModuleType:
    """Return the backend module called ``name``; never falls back to another one.

    Raises
    ------
    ValueError
        ``name`` is not a known backend (the message lists the known ones).
    ImportError
        The backend is known but cannot be loaded (chained to the original error).
    """
    if not isinstance(name, str):
        raise TypeError(f"backend must be a backend name (str), not {type(name).__name__}")
    mod = _loaded.get(name)
    if mod is not None:
        return mod
    if name not in _MODULES:
        known = ", ".join(repr(k) for k in _MODULES)
        raise ValueError(f"unknown backend {name!r}; the backends are: {known}")
    mod = importlib.import_module(_MODULES[name])
    _loaded[name] = mod
    return mod
