"""Selection: which backend runs a call.

Most explicit first: ``backend=`` on the call (a name or a backend object);
:func:`use_backend` (a context variable, so threads and asyncio tasks do not leak into each
other); :func:`set_backend`; the ``PYCONV_BACKEND`` environment variable (read at import and
by :func:`refresh_backends`); the default, ``cython``.  A backend that was named is used or
the call fails with the reason; it never silently falls back to another one.  (A
``PYCONV_BACKEND`` that names no available backend is refused with a warning at import,
as every bad environment variable is: the default is used, not silently.)

Operations: a backend runs the operations it declares (``Capabilities.operations``).  With
nothing selected, an operation runs on the default backend if that declares it, else on
the reference backend ``numpy`` (which implements every operation); a *named* backend
that lacks the operation is an error (:class:`UnsupportedCallError`, naming what it
implements).

The hot path, ``resolve(None, spec)`` with nothing selected, is one context-variable read
and two attribute checks; :func:`fast_path` answers as cheaply, before validation.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from typing import Any

from .._environment import accept, refuse
from .._validation import OPERATIONS, ConvSpec
from . import discovery
from .discovery import load_backend, loaded

__all__ = [
    "DEFAULT_BACKEND",
    "REFERENCE_BACKEND",
    "UnsupportedCallError",
    "backend_name",
    "current_backend_name",
    "fast_path",
    "refresh_backends",
    "resolve",
    "set_backend",
    "supports",
    "use_backend",
]

DEFAULT_BACKEND = "cython"
#: Runs, with nothing selected, the operations the default backend does not declare.
REFERENCE_BACKEND = "numpy"


class UnsupportedCallError(ValueError):
    """The selected backend cannot run this call; the message gives its reason."""


#: A selection: a backend name or object, and the options for loading a name.
_Choice = tuple[Any, tuple]

_context: contextvars.ContextVar[_Choice | None] = contextvars.ContextVar(
    "pyconv_backend", default=None
)
_global: _Choice | None = None
_env_choice: str | None = None
_default_obj: Any = None  # the default backend, once loaded


def _is_backend_object(b: Any) -> bool:
    return any(callable(getattr(b, op, None)) for op in OPERATIONS)


def _check_choice(b: Any) -> Any:
    if isinstance(b, str) or _is_backend_object(b):
        return b
    raise TypeError(
        f"backend must be a backend name (str) or an object with a conv2d method, not "
        f"{type(b).__name__} (or with the method of another operation in pyconv.OPERATIONS)"
    )


def _choice(backend: Any, options: dict[str, Any]) -> _Choice:
    """Check a selection and load it now, so that a bad name fails where it is made."""
    choice = (_check_choice(backend), tuple(sorted(options.items())))
    _as_object(choice)
    return choice


def _as_object(choice: _Choice) -> Any:
    backend, options = choice
    return load_backend(backend, **dict(options)) if isinstance(backend, str) else backend


def supports(obj: Any, spec: ConvSpec) -> bool | str:
    """Return True if backend ``obj`` can run ``spec``, else the reason it cannot."""
    caps = getattr(obj, "capabilities", None)
    if caps is not None:
        ok = caps.implements(spec.op) if caps.universal else caps.check(spec)
        if ok is not True:
            return ok
    elif not callable(getattr(obj, spec.op, None)):  # an object that declares nothing
        return f"it has no {spec.op} method"
    check = getattr(obj, "supports", None)
    return True if check is None else check(spec)


def backend_name(obj: Any) -> str:
    """Return a backend object's name (its class name if it declares none)."""
    return getattr(obj, "name", None) or type(obj).__name__


def _checked(obj: Any, spec: ConvSpec) -> Any:
    ok = supports(obj, spec)
    if ok is not True:
        raise UnsupportedCallError(f"backend {backend_name(obj)!r} cannot run this call: {ok}")
    return obj


def _default() -> Any:
    """Load (once) the backend used when nothing is selected and PYCONV_BACKEND is unset."""
    global _default_obj
    _default_obj = load_backend(DEFAULT_BACKEND)
    return _default_obj


def fast_path(backend: Any) -> Any:
    """Return the chosen backend's ``_fast_conv2d`` (validation and work in one call).

    Used by :func:`pyconv.conv2d` before validation, so it must be cheap: it answers for
    the default backend when nothing is selected, and for a backend chosen on the call,
    by :func:`use_backend` or by :func:`set_backend` (once a name has been loaded) without
    options; anything else gets None and takes :func:`resolve`.  The hook is private to
    pyconv's compiled backend: it returns None for any call it does not handle, and then
    the full front end runs.
    """
    if backend is None:
        sel = _context.get() or _global
        if sel is None:
            if _env_choice is None:
                return getattr(_default_obj, "_fast_conv2d", None)
            return None
        backend, options = sel
        if options:
            return None
    if type(backend) is str:
        return getattr(loaded.get((backend, ())), "_fast_conv2d", None)
    return getattr(backend, "_fast_conv2d", None)


def resolve(backend: Any, spec: ConvSpec) -> Any:
    """Return the backend object that runs ``spec``, by the selection rules.

    Raises
    ------
    ValueError
        An unknown backend name.
    TypeError
        ``backend`` is neither a name nor an object with a ``conv2d`` method.
    BackendUnavailableError
        The chosen backend cannot be loaded.
    UnsupportedCallError
        The chosen backend cannot run ``spec`` (the message says why), e.g. a named
        backend that does not implement ``spec.op``.
    """
    if backend is None:
        sel = _context.get() or _global
        if sel is None:
            if _env_choice is None:
                obj = _default_obj or _default()
                if spec.op in obj.capabilities.operations:
                    return obj  # the default runs every valid call of what it declares
                return _checked(load_backend(REFERENCE_BACKEND), spec)
            sel = (_env_choice, ())
        return _checked(_as_object(sel), spec)
    obj = load_backend(backend) if isinstance(backend, str) else _check_choice(backend)
    return _checked(obj, spec)


@contextlib.contextmanager
def use_backend(backend: Any, **options: Any) -> Iterator[None]:
    """Select a backend for the calls made inside a ``with`` block.

    Parameters
    ----------
    backend : str or backend object
        A name (``'cython'``, ``'numpy'``, ``'torch'``, a plugin's name) or a backend
        object (anything with a ``conv2d`` method).
    **options
        Passed to the backend's constructor, e.g. ``use_backend('torch', device='cuda')``.

    Notes
    -----
    Built on :mod:`contextvars`: the choice is local to the current thread or asyncio
    task.  The backend is loaded on entry, so an unknown or unavailable name fails at the
    ``with`` statement.
    """
    token = _context.set(_choice(backend, options))
    try:
        yield
    finally:
        _context.reset(token)


def set_backend(backend: Any, **options: Any) -> None:
    """Select the backend for every call in the process (``None`` restores the default).

    ``backend=`` on a call and :func:`use_backend` blocks take precedence.  The backend is
    loaded now, so an unknown or unavailable name fails here.
    """
    global _global
    _global = None if backend is None else _choice(backend, options)


def current_backend_name() -> str:
    """Name of the backend a call with no ``backend=`` would use now (for display)."""
    sel = _context.get() or _global
    if sel is None:
        if _env_choice is not None:
            return _env_choice
        return backend_name(_default_obj or _default())
    first = sel[0]
    return first if isinstance(first, str) else backend_name(first)


def _read_env() -> str | None:
    """``PYCONV_BACKEND``, if it names a backend that is available (any case), else None.

    A name nobody registered, or a backend whose requirements are missing, is refused
    with a warning and the default is used: a bad variable must not break every call.
    Only the listing is read (no implementation is imported); a backend that is listed
    available but fails to load still fails, with its reason, on first use.
    """
    value = os.environ.get("PYCONV_BACKEND", "")
    name = value.strip()
    if not name:
        accept("PYCONV_BACKEND")
        return None
    infos = {info.name: info for info in discovery.backends()}
    if name not in infos:  # backend names are lower case; accept any case if unambiguous
        same = [n for n in infos if n.lower() == name.lower()]
        name = same[0] if len(same) == 1 else name
    info = infos.get(name)
    if info is not None and info.available:
        accept("PYCONV_BACKEND")
        return name
    if info is None:
        why = "no backend of that name is installed"
    else:
        why = f"backend {name!r} is unavailable: {info.reason}"
    listed = ", ".join(n for n, i in infos.items() if i.available)
    refuse(
        "PYCONV_BACKEND",
        value,
        f"{why} (available backends: {listed}; `pyconv backends` lists them all)",
        instead=f"the default backend, {DEFAULT_BACKEND!r}",
    )
    return None


def refresh_backends() -> None:
    """Forget what was discovered and loaded; rescan entry points and ``PYCONV_BACKEND``.

    Call it after installing or removing a backend package in a running interpreter.
    """
    global _env_choice, _default_obj
    discovery.forget()
    _default_obj = None
    _env_choice = _read_env()


_env_choice = _read_env()
