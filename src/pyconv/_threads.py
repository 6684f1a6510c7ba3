"""Thread count of the compiled kernels: ``set_num_threads`` / ``PYCONV_NUM_THREADS``."""

from __future__ import annotations

import operator
import os

__all__ = ["default_num_threads", "get_num_threads", "set_num_threads"]


def _available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # the cores this process may run on (Linux)
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_num_threads() -> int:
    """``PYCONV_NUM_THREADS`` if set, else the number of cores available to the process."""
    env = os.environ.get("PYCONV_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(
                f"PYCONV_NUM_THREADS must be a positive integer, but got {env!r}"
            ) from None
        if n < 1:
            raise ValueError(f"PYCONV_NUM_THREADS must be a positive integer, but got {env!r}")
        return n
    return _available_cores()


try:
    from . import _core
except ImportError:  # no compiled module: only the numpy backend runs, on BLAS threads
    _core = None

_fallback_threads = default_num_threads()
if _core is not None:
    _core.set_num_threads(_fallback_threads)


def set_num_threads(n: int) -> None:
    """Set the number of threads the compiled kernels use.

    Parameters
    ----------
    n : int
        Number of threads, >= 1.  Calls too small to gain from threads always run on the
        calling thread.
    """
    global _fallback_threads
    try:
        if isinstance(n, bool):
            raise TypeError
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"set_num_threads(): n must be an int, not {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"set_num_threads(): n must be >= 1, but got {n}")
    _fallback_threads = n
    if _core is not None:
        _core.set_num_threads(n)


def get_num_threads() -> int:
    """Return the number of threads the compiled kernels use."""
    return _core.get_num_threads() if _core is not None else _fallback_threads
