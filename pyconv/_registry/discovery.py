"""Discovery: entry points -> :class:`BackendInfo`; loading a backend by name.

Backends register in the entry-point group ``pyconv.backends``.  Each entry point names a
*light spec*: a dict in a module that imports nothing heavy, declaring the backend's name,
the registry API version it was written for, its capabilities, which modules it needs,
where the implementation lives and how to install what is missing.  Listing backends reads
only these specs; an implementation is imported by :func:`load_backend`, when the backend
is first selected.  pyconv's own backends (``cython``, ``numpy``, ``torch``) register
exactly this way.  Nothing here knows how a backend is selected (:mod:`.selection`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._backends import entry_points
from .capabilities import Capabilities

__all__ = [
    "API_VERSION",
    "ENTRY_POINT_GROUP",
    "BackendInfo",
    "BackendUnavailableError",
    "BackendWarning",
    "backends",
    "forget",
    "load_backend",
    "loaded",
    "loaded_as",
    "unknown_backend_error",
]

#: The version of the backend interface this pyconv implements.  A backend declares the
#: version it was written for; a different major version makes it unavailable.
API_VERSION = 1
ENTRY_POINT_GROUP = "pyconv.backends"
BUILTIN_NAMES = ("cython", "numpy", "torch", "winograd")
_OWN_DISTRIBUTION = "pyconv"


class BackendUnavailableError(ImportError):
    """A known backend cannot be loaded (its reason is in the message and ``__cause__``)."""


class BackendWarning(UserWarning):
    """Something about the installed backends needs attention (a duplicate or shadowed name)."""


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


# what was discovered (None: not yet), until forget()
_infos: dict[str, BackendInfo] | None = None
#: The backends loaded so far, by ``(name, sorted options)``; cleared, never rebound,
#: so that :func:`pyconv._registry.fast_path` may hold it.
loaded: dict[tuple, Any] = {}


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)

    # deterministic order whatever sys.path looks like: pyconv first, then by distribution
    def key(ep: importlib.metadata.EntryPoint) -> tuple:
        dist = ep.dist.name if ep.dist is not None else ""
        return (dist != _OWN_DISTRIBUTION, dist.lower(), ep.name, ep.value)

    return sorted(eps, key=key)


def _info_from_spec(
    ep_name: str, ep_value: str, dist: importlib.metadata.Distribution | None, spec: Any
) -> BackendInfo:
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
    from .._version import __version__

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
    # A source tree built in place and imported without being installed has no entry
    # points: the built-ins still exist.
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


def forget() -> None:
    """Forget what was discovered and loaded (the next question rescans entry points)."""
    global _infos
    _infos = None
    loaded.clear()
    importlib.invalidate_caches()


def unknown_backend_error(name: str) -> ValueError:
    """Return the error for a backend name nobody registered (it lists the known ones)."""
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

    Parameters
    ----------
    name : str
        A registered backend's name.
    **options
        Passed to the backend's constructor; a backend is loaded once per set of
        (hashable) options.

    Returns
    -------
    object
        The backend: a method for each operation it declares (``conv2d``, ...), a
        ``name`` and ``capabilities``.

    Raises
    ------
    ValueError
        No such backend (the message lists the known ones).
    TypeError
        The backend's constructor rejected ``options``.
    BackendUnavailableError
        It is known but cannot be loaded; chained to the original exception.
    """
    key: tuple | None = (name, tuple(sorted(options.items())))
    try:
        hash(key)
    except TypeError:  # unhashable options: load a new object each time
        key = None
    if key is not None and key in loaded:
        return loaded[key]
    info = _all_infos().get(name)
    if info is None:
        raise unknown_backend_error(name)
    if not info.available or info.implementation is None:
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
    except (TypeError, ValueError) as exc:
        # an option the constructor does not take (TypeError) or whose value it refuses
        # (ValueError) is the caller's mistake, reported as such
        if options:
            raise type(exc)(f"backend {name!r} rejected the options {options}: {exc}") from exc
        raise BackendUnavailableError(f"backend {name!r} failed to load: {exc}") from exc
    except Exception as exc:
        raise BackendUnavailableError(
            f"backend {name!r} failed to load its implementation {info.implementation!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    operations = info.capabilities.operations if info.capabilities else ("conv2d",)
    missing = [op for op in operations if not callable(getattr(obj, op, None))]
    if missing:
        raise BackendUnavailableError(
            f"backend {name!r}: its implementation {info.implementation!r} has no "
            f"{', '.join(missing)} method{'s' if len(missing) > 1 else ''} (its capabilities "
            "declare these operations)"
        )
    if getattr(obj, "capabilities", None) is None:
        obj.capabilities = info.capabilities
    if getattr(obj, "name", None) is None:
        obj.name = name
    if key is not None:
        loaded[key] = obj
    return obj


def loaded_as(obj: Any) -> tuple[str, tuple] | None:
    """Return ``(name, options)`` under which ``obj`` was loaded, or None.

    Lets a caller that must rebuild the same backend elsewhere (a Dask worker process)
    send its name and options instead of the object.
    """
    for key, candidate in list(loaded.items()):
        if candidate is obj:
            return key
    return None
