"""The backend registry: discovery through entry points, selection, capabilities.

Backends register in the entry-point group ``pyconv.backends``.  Each entry point names a
*light spec*: a dict in a module that imports nothing heavy, declaring the backend's name,
the registry API version it was written for, its capabilities, which modules it needs,
where the implementation lives and how to install what is missing.  Listing backends reads
only these specs; an implementation is imported when the backend is first selected.
pyconv's own backends (``cython``, ``numpy``, ``torch``) register exactly this way.

Selection, most explicit first: ``backend=`` on the call; ``use_backend(...)`` (a context
variable, so threads and asyncio tasks do not leak into each other); ``set_backend(...)``;
the ``PYCONV_BACKEND`` environment variable (read at import and by ``refresh_backends``);
the default ``cython`` (``numpy`` with a one-time warning when the compiled module is
missing).  A backend that was named never silently falls back to another one.

The hot path, ``resolve(None, spec)`` with nothing selected, is one context-variable read
and two attribute checks.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._backends import entry_points
from ._validation import ConvSpec

__all__ = [
    "API_VERSION",
    "ENTRY_POINT_GROUP",
    "BackendInfo",
    "BackendUnavailableError",
    "BackendWarning",
    "Capabilities",
    "UnsupportedCallError",
    "backends",
    "refresh_backends",
    "resolve",
    "set_backend",
    "use_backend",
]

log = logging.getLogger("pyconv")

#: The version of the backend interface this pyconv implements.  A backend declares the
#: version it was written for; a different major version makes it unavailable.
API_VERSION = 1
ENTRY_POINT_GROUP = "pyconv.backends"
BUILTIN_NAMES = ("cython", "numpy", "torch")
DEFAULT_BACKEND = "cython"
_OWN_DISTRIBUTION = "pyconv"


class BackendUnavailableError(ImportError):
    """A known backend cannot be loaded (its reason is in the message and ``__cause__``)."""


class UnsupportedCallError(ValueError):
    """The selected backend cannot run this call; the message gives its reason."""


class BackendWarning(UserWarning):
    """Something about the installed backends needs attention (duplicates, fallbacks)."""


_PADDING_KINDS = ("none", "symmetric", "asymmetric")


@dataclass(frozen=True)
class Capabilities:
    """What a backend declares it can run; drives dispatch, conformance and the docs.

    Attributes
    ----------
    dtypes : tuple of str
        ``'float32'``, ``'float64'``.
    stride, dilation, groups : bool
        Whether strides, dilations or groups other than 1 are supported.
    padding : tuple of str
        ``'none'`` (padding 0), ``'symmetric'`` (int or pair), ``'asymmetric'``
        (``padding='same'`` with an even effective kernel).
    devices : tuple of str
        Where it computes: ``'cpu'``, ``'cuda'``.
    accuracy : str
        ``'elementwise'`` (the contract of ``pyconv.testing`` with ``c = accuracy_c``) or
        ``'normwise'`` (transform-based algorithms: the error is bounded relative to the
        largest magnitude of the output, see ``pyconv.testing``).
    accuracy_c : float
        The constant ``c`` of the contract.
    deterministic : bool
        Bitwise identical results for identical calls, whatever the thread count.
    universal : bool
        Derived: every call pyconv validates is covered (dispatch skips the check).
    """

    dtypes: tuple[str, ...] = ("float32", "float64")
    stride: bool = True
    dilation: bool = True
    groups: bool = True
    padding: tuple[str, ...] = _PADDING_KINDS
    devices: tuple[str, ...] = ("cpu",)
    accuracy: str = "elementwise"
    accuracy_c: float = 2.0
    deterministic: bool = True

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Capabilities:
        """Build from a spec's ``capabilities`` dict, rejecting unknown keys and values."""
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown capability keys {sorted(unknown)}")
        kw = dict(d)
        for key in ("dtypes", "padding", "devices"):
            if key in kw:
                kw[key] = tuple(kw[key])
        for key in ("stride", "dilation", "groups", "deterministic"):
            if key in kw and not isinstance(kw[key], bool):
                raise ValueError(f"{key} must be true or false, got {kw[key]!r}")
        if "accuracy_c" in kw and (
            isinstance(kw["accuracy_c"], bool)
            or not isinstance(kw["accuracy_c"], (int, float))
            or not kw["accuracy_c"] > 0
        ):
            raise ValueError(f"accuracy_c must be a positive number, got {kw['accuracy_c']!r}")
        caps = cls(**kw)
        if not set(caps.dtypes) <= {"float32", "float64"}:
            raise ValueError(f"dtypes must be float32 / float64, got {caps.dtypes}")
        if not set(caps.padding) <= set(_PADDING_KINDS):
            raise ValueError(f"padding kinds must be among {_PADDING_KINDS}, got {caps.padding}")
        if caps.accuracy not in ("elementwise", "normwise"):
            raise ValueError(f"accuracy must be 'elementwise' or 'normwise', got {caps.accuracy!r}")
        return caps

    def __post_init__(self) -> None:
        # computed once: dispatch asks on every call
        universal = (
            set(self.dtypes) == {"float32", "float64"}
            and self.stride is True
            and self.dilation is True
            and self.groups is True
            and set(self.padding) == set(_PADDING_KINDS)
        )
        object.__setattr__(self, "universal", universal)

    def check(self, spec: ConvSpec) -> bool | str:
        """Return True if the declaration covers ``spec``, else the reason it does not."""
        if spec.dtype.name not in self.dtypes:
            return f"dtype {spec.dtype.name} is not supported (supports {', '.join(self.dtypes)})"
        if not self.stride and spec.stride != (1, 1):
            return f"stride {spec.stride} is not supported (stride 1 only)"
        if not self.dilation and spec.dilation != (1, 1):
            return f"dilation {spec.dilation} is not supported (dilation 1 only)"
        if not self.groups and spec.groups != 1:
            return f"groups={spec.groups} is not supported (groups=1 only)"
        top, bottom, left, right = spec.padding
        kind = "none" if not any(spec.padding) else "symmetric"
        if top != bottom or left != right:
            kind = "asymmetric"
        if kind not in self.padding:
            return f"{kind} padding {spec.padding} is not supported"
        return True


@dataclass
class BackendInfo:
    """One known backend, as ``pyconv.backends()`` lists it."""

    name: str
    distribution: str | None
    version: str | None
    entry_point: str
    available: bool
    reason: str | None = None
    description: str = ""
    implementation: str | None = None
    capabilities: Capabilities | None = None
    requires: tuple[str, ...] = ()
    install_hint: str = ""
    api_version: int | None = None
    builtin: bool = False
    # the exception behind ``reason``, chained when the backend is selected
    error: BaseException | None = field(default=None, repr=False, compare=False)


# ---- discovery -----------------------------------------------------------------------

_infos: dict[str, BackendInfo] | None = None
_loaded: dict[tuple, Any] = {}
_env_choice: str | None = None
_default_obj: Any = None


def _entry_points() -> list:
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)

    # deterministic order whatever sys.path looks like: pyconv first, then by distribution
    def key(ep):
        dist = ep.dist.name if ep.dist is not None else ""
        return (dist != _OWN_DISTRIBUTION, dist.lower(), ep.name, ep.value)

    return sorted(eps, key=key)


def _info_from_spec(ep_name: str, ep_value: str, dist, spec: Any) -> BackendInfo:
    dist_name = dist.name if dist is not None else None
    version = dist.version if dist is not None else None
    info = BackendInfo(
        name=ep_name,
        distribution=dist_name,
        version=version,
        entry_point=ep_value,
        available=False,
        builtin=dist_name == _OWN_DISTRIBUTION and ep_name in BUILTIN_NAMES,
    )
    if not isinstance(spec, Mapping):
        info.reason = f"its entry point {ep_value!r} is a {type(spec).__name__}, not a spec dict"
        return info
    info.description = str(spec.get("description", ""))
    info.install_hint = str(spec.get("install_hint", ""))
    info.implementation = spec.get("implementation")
    info.requires = tuple(spec.get("requires", ()))
    info.api_version = spec.get("api_version")
    if spec.get("name", ep_name) != ep_name:
        info.reason = (
            f"the spec's name {spec.get('name')!r} differs from the entry point {ep_name!r}"
        )
        return info
    if not isinstance(info.api_version, int) or info.api_version != API_VERSION:
        info.reason = (
            f"it declares backend API version {info.api_version!r}, but this pyconv "
            f"{_pyconv_version()} implements version {API_VERSION}"
        )
        return info
    if not isinstance(info.implementation, str) or ":" not in info.implementation:
        info.reason = "its spec has no 'implementation' of the form 'module:attribute'"
        return info
    try:
        info.capabilities = Capabilities.from_dict(spec.get("capabilities", {}))
    except (TypeError, ValueError) as exc:
        info.reason = f"invalid capabilities: {exc}"
        info.error = exc
        return info
    missing = [m for m in info.requires if not _module_exists(m)]
    if missing:
        hint = f" ({info.install_hint})" if info.install_hint else ""
        info.reason = f"{', '.join(missing)} is not installed{hint}"
        return info
    info.available = True
    return info


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _pyconv_version() -> str:
    from ._version import __version__

    return __version__


def _discover() -> dict[str, BackendInfo]:
    infos: dict[str, BackendInfo] = {}
    try:
        eps = _entry_points()
    except Exception as exc:
        warnings.warn(f"pyconv: could not read entry points: {exc}", BackendWarning, stacklevel=3)
        eps = []
    for ep in eps:
        dist = ep.dist
        dist_name = dist.name if dist is not None else None
        if ep.name in BUILTIN_NAMES and dist_name != _OWN_DISTRIBUTION:
            warnings.warn(
                f"pyconv: ignoring backend {ep.name!r} from distribution {dist_name!r}: "
                f"{ep.name!r} is a built-in backend name and cannot be replaced",
                BackendWarning,
                stacklevel=3,
            )
            continue
        if ep.name in infos:
            kept = infos[ep.name]
            warnings.warn(
                f"pyconv: backend {ep.name!r} is registered twice: keeping the one from "
                f"{kept.distribution!r} ({kept.entry_point}), ignoring the one from "
                f"{dist_name!r} ({ep.value})",
                BackendWarning,
                stacklevel=3,
            )
            continue
        try:
            spec = ep.load()
        except Exception as exc:
            info = BackendInfo(
                name=ep.name,
                distribution=dist_name,
                version=dist.version if dist is not None else None,
                entry_point=ep.value,
                available=False,
                reason=f"its entry point {ep.value!r} failed to load: {type(exc).__name__}: {exc}",
                error=exc,
            )
        else:
            info = _info_from_spec(ep.name, ep.value, dist, spec)
        infos[ep.name] = info
    # Running from a source tree without installed metadata: the built-ins still exist.
    for name in BUILTIN_NAMES:
        if name not in infos:
            target = f"pyconv._backends.entry_points:{name.upper()}"
            info = _info_from_spec(name, target, None, entry_points.SPECS[name])
            info.builtin = True
            info.distribution = "pyconv (no installed metadata)"
            infos[name] = info
    return infos


def _all_infos() -> dict[str, BackendInfo]:
    global _infos
    if _infos is None:
        _infos = _discover()
    return _infos


def backends() -> list[BackendInfo]:
    """List every known backend, available or not, with its capabilities.

    Returns
    -------
    list of BackendInfo
        Built-in backends first, then third-party ones by distribution name.  Listing
        imports no backend implementation (``import pyconv; pyconv.backends()`` does not
        import torch).
    """
    return list(_all_infos().values())


def refresh_backends() -> None:
    """Forget what was discovered and loaded; rescan entry points and ``PYCONV_BACKEND``.

    Call it after installing or removing a backend package in a running interpreter.
    """
    global _infos, _env_choice, _default_obj
    _infos = None
    _loaded.clear()
    _default_obj = None
    _env_choice = _read_env()
    importlib.invalidate_caches()


def _read_env() -> str | None:
    value = os.environ.get("PYCONV_BACKEND", "").strip()
    return value or None


# ---- loading -------------------------------------------------------------------------


def _unknown(name: str) -> ValueError:
    infos = _all_infos()
    listed = ", ".join(
        n if i.available else f"{n} (unavailable: {i.reason})" for n, i in infos.items()
    )
    return ValueError(
        f"unknown backend {name!r}; the installed backends are: {listed}. Other backends are "
        f"packages registering in the {ENTRY_POINT_GROUP!r} entry-point group, e.g. "
        f"`pip install ./plugins/pyconv-fft` for 'fft' (see the docs, 'Backends')."
    )


def load_backend(name: str, **options: Any) -> Any:
    """Return the backend object called ``name``, importing it on first use.

    Raises
    ------
    ValueError
        No such backend (the message lists the known ones).
    BackendUnavailableError
        It is known but cannot be loaded; chained to the original exception.
    """
    try:
        key = (name, tuple(sorted(options.items())))
        hash(key)
    except TypeError:
        key = None
    if key is not None and key in _loaded:
        return _loaded[key]
    info = _all_infos().get(name)
    if info is None:
        raise _unknown(name)
    if not info.available:
        raise BackendUnavailableError(
            f"backend {name!r} is unavailable: {info.reason}"
        ) from info.error
    module_name, _, attr = info.implementation.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except Exception as exc:  # a TypeError here is a broken module, not a bad option
        raise BackendUnavailableError(
            f"backend {name!r} failed to load its implementation {info.implementation!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    try:
        obj = factory(**options)
    except TypeError as exc:
        if options:
            raise TypeError(f"backend {name!r} rejected the options {options}: {exc}") from exc
        raise BackendUnavailableError(f"backend {name!r} failed to load: {exc}") from exc
    except Exception as exc:
        raise BackendUnavailableError(
            f"backend {name!r} failed to load its implementation {info.implementation!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not hasattr(obj, "conv2d"):
        raise BackendUnavailableError(
            f"backend {name!r}: its implementation {info.implementation!r} has no conv2d method"
        )
    if getattr(obj, "capabilities", None) is None:
        obj.capabilities = info.capabilities
    if getattr(obj, "name", None) is None:
        obj.name = name
    if key is not None:
        _loaded[key] = obj
    return obj


# ---- selection -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Selection:
    """An ordered list of (name or backend object, options); a single choice has one."""

    choices: tuple[tuple[Any, tuple], ...]

    @classmethod
    def make(cls, backend: Any, options: Mapping[str, Any]) -> _Selection:
        if isinstance(backend, (list, tuple)):
            if not backend:
                raise ValueError("use_backend(): the list of backends is empty")
            if options:
                raise TypeError("use_backend(): options apply to a single backend, not a list")
            return cls(tuple((_check_choice(b), ()) for b in backend))
        return cls(((_check_choice(backend), tuple(sorted(options.items()))),))


def _check_choice(b: Any) -> Any:
    if isinstance(b, str):
        return b
    if hasattr(b, "conv2d"):
        return b
    raise TypeError(
        f"backend must be a backend name (str) or an object with a conv2d method, not "
        f"{type(b).__name__}"
    )


_context: contextvars.ContextVar[_Selection | None] = contextvars.ContextVar(
    "pyconv_backend", default=None
)
_global: _Selection | None = None


def _as_object(choice: Any, options: tuple) -> Any:
    return load_backend(choice, **dict(options)) if isinstance(choice, str) else choice


def _supports(obj: Any, spec: ConvSpec) -> bool | str:
    caps = getattr(obj, "capabilities", None)
    if caps is not None and not caps.universal:
        ok = caps.check(spec)
        if ok is not True:
            return ok
    check = getattr(obj, "supports", None)
    return True if check is None else check(spec)


def _name(obj: Any) -> str:
    return getattr(obj, "name", None) or type(obj).__name__


def _from_selection(sel: _Selection, spec: ConvSpec) -> Any:
    if len(sel.choices) == 1:
        obj = _as_object(*sel.choices[0])
        ok = _supports(obj, spec)
        if ok is not True:
            raise UnsupportedCallError(f"backend {_name(obj)!r} cannot run this call: {ok}")
        return obj
    reasons = []
    for choice, options in sel.choices:
        try:
            obj = _as_object(choice, options)
        except (ImportError, ValueError) as exc:
            log.info("pyconv: skipping backend %r: %s", choice, exc)
            reasons.append(f"{choice!r}: {exc}")
            continue
        ok = _supports(obj, spec)
        if ok is True:
            return obj
        log.info("pyconv: skipping backend %r for this call: %s", _name(obj), ok)
        reasons.append(f"{_name(obj)!r}: {ok}")
    raise UnsupportedCallError("no backend in the list can run this call: " + "; ".join(reasons))


def _default() -> Any:
    """Load (once) the backend used when nothing is selected and PYCONV_BACKEND is unset."""
    global _default_obj
    try:
        _default_obj = load_backend(DEFAULT_BACKEND)
    except BackendUnavailableError as exc:
        warnings.warn(
            f"pyconv: the compiled backend is unavailable ({exc}); using the slow 'numpy' "
            "reference backend instead. Reinstall pyconv with a C compiler to fix this.",
            BackendWarning,
            stacklevel=4,
        )
        _default_obj = load_backend("numpy")
    return _default_obj


def loaded_as(obj: Any) -> tuple[str, tuple] | None:
    """Return ``(name, options)`` under which ``obj`` was loaded, or None.

    Lets a caller that must rebuild the same backend elsewhere (a Dask worker process)
    send its name and options instead of the object.
    """
    for key, loaded in list(_loaded.items()):
        if loaded is obj:
            return key
    return None


def fast_path(backend: Any) -> Any:
    """Return the chosen backend's ``_fast_conv2d`` (validation and work in one call).

    Used by :func:`pyconv.conv2d` before validation, so it must be cheap: it answers for
    the default backend when nothing is selected, and for a single backend chosen on the
    call, by :func:`use_backend` or by :func:`set_backend` (once a name has been
    loaded); anything else gets None and takes :func:`resolve`.  The hook is private to
    pyconv's compiled backend: it returns None for any call it does not handle, and then
    the full front end runs.
    """
    if backend is None:
        sel = _context.get() or _global
        if sel is None:
            if _env_choice is None:
                return getattr(_default_obj, "_fast_conv2d", None)
            return None
        if len(sel.choices) != 1:
            return None
        backend, options = sel.choices[0]
        if options:
            return None
    if type(backend) is str:
        return getattr(_loaded.get((backend, ())), "_fast_conv2d", None)
    return getattr(backend, "_fast_conv2d", None)


def resolve(backend: Any, spec: ConvSpec) -> Any:
    """Return the backend object that runs ``spec``, by the selection rules."""
    if backend is None:
        sel = _context.get() or _global
        if sel is None:
            if _env_choice is None:
                obj = _default_obj or _default()
                return obj  # the defaults (cython, numpy) run every valid call
            sel = _Selection.make(_env_choice, {})
        return _from_selection(sel, spec)
    obj = load_backend(backend) if isinstance(backend, str) else _check_choice(backend)
    ok = _supports(obj, spec)
    if ok is not True:
        raise UnsupportedCallError(f"backend {_name(obj)!r} cannot run this call: {ok}")
    return obj


@contextlib.contextmanager
def use_backend(backend: str | Sequence[str] | Any, **options: Any) -> Iterator[None]:
    """Select a backend for the calls made inside a ``with`` block.

    Parameters
    ----------
    backend : str, backend object, or list of them
        A name (``'cython'``, ``'numpy'``, ``'torch'``, a plugin's name), a backend object,
        or an ordered list: each call then uses the first one that is available and
        supports it, logging the skipped ones (logger ``'pyconv'``, level INFO).
    **options
        Passed to the backend's constructor, e.g. ``use_backend('torch', device='cuda')``.

    Notes
    -----
    Built on :mod:`contextvars`: the choice is local to the current thread or asyncio
    task.  The backend is loaded on entry, so an unknown or unavailable name fails at the
    ``with`` statement.
    """
    sel = _Selection.make(backend, options)
    if len(sel.choices) == 1:
        _as_object(*sel.choices[0])  # fail early for a single name
    token = _context.set(sel)
    try:
        yield
    finally:
        _context.reset(token)


def set_backend(backend: str | Sequence[str] | Any | None, **options: Any) -> None:
    """Select the backend for every call in the process (``None`` restores the default).

    ``backend=`` on a call and :func:`use_backend` blocks take precedence.
    """
    global _global
    if backend is None:
        _global = None
        return
    sel = _Selection.make(backend, options)
    if len(sel.choices) == 1:
        _as_object(*sel.choices[0])
    _global = sel


def current_backend_name() -> str:
    """Name of the backend a call with no ``backend=`` would use now (for display)."""
    sel = _context.get() or _global
    if sel is None:
        if _env_choice is not None:
            return _env_choice
        return _name(_default_obj or _default())
    first = sel.choices[0][0]
    return first if isinstance(first, str) else _name(first)


_env_choice = _read_env()
