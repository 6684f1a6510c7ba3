"""The backend registry: which backends exist, and which one runs a call.

:mod:`.discovery`
    Entry points (group ``pyconv.backends``) -> :class:`BackendInfo`; loading a backend by
    name (:func:`load_backend`), importing its implementation on first use.
:mod:`.selection`
    ``backend=``, :func:`use_backend`, :func:`set_backend`, ``PYCONV_BACKEND``, the default;
    :func:`resolve` and the hot path's :func:`fast_path`.
:mod:`.capabilities`
    What a backend declares it can run (:class:`Capabilities`), checked against a call.
"""

from .capabilities import Capabilities
from .discovery import (
    API_VERSION,
    ENTRY_POINT_GROUP,
    BackendInfo,
    BackendUnavailableError,
    BackendWarning,
    backends,
    load_backend,
    loaded_as,
    unknown_backend_error,
)
from .selection import (
    DEFAULT_BACKEND,
    REFERENCE_BACKEND,
    UnsupportedCallError,
    backend_name,
    current_backend_name,
    fast_path,
    refresh_backends,
    resolve,
    set_backend,
    supports,
    use_backend,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_BACKEND",
    "ENTRY_POINT_GROUP",
    "REFERENCE_BACKEND",
    "BackendInfo",
    "BackendUnavailableError",
    "BackendWarning",
    "Capabilities",
    "UnsupportedCallError",
    "backend_name",
    "backends",
    "current_backend_name",
    "fast_path",
    "load_backend",
    "loaded_as",
    "refresh_backends",
    "resolve",
    "set_backend",
    "supports",
    "unknown_backend_error",
    "use_backend",
]
