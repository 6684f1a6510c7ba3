"""Thread count of the compiled kernels (``set_num_threads``, or the environment)."""

from __future__ import annotations

import operator
import os

from . import _core
from ._environment import accept, refuse

__all__ = ["default_num_threads", "get_num_threads", "set_num_threads"]


def _available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # the cores this process may run on (Linux)
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _env_threads(name: str, instead: str) -> int | None:
    """Read a thread count from the environment: None if unset or refused (warned about)."""
    raw = os.environ.get(name, "")
    env = raw.strip()
    if name == "OMP_NUM_THREADS":
        env = env.split(",")[0].strip()  # OpenMP's nested form "4,2": the outer level
    if not env:
        accept(name)
        return None
    try:
        n = int(env)
    except ValueError:
        n = 0
    if n >= 1:
        accept(name)
        return n
    # OpenMP's runtime already warns about its own variable when it loads
    refuse(
        name,
        raw,
        "expected a positive integer, the number of threads",
        instead=instead,
        warn=name != "OMP_NUM_THREADS",
    )
    return None


def default_num_threads() -> int:
    """``PYCONV_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the cores available.

    OpenMP's own variable is honoured as other OpenMP libraries honour it, so that the
    processes that set it to 1 for their workers (Dask's nanny, job schedulers) do not get
    one pool of threads per worker; a value OpenMP would ignore is ignored here too.  A
    bad value of either is refused with a warning (:mod:`pyconv._environment`), never an
    error: ``import pyconv`` must work for ``pyconv show-config`` to diagnose it.
    """
    n = _env_threads("PYCONV_NUM_THREADS", instead="OMP_NUM_THREADS, else the cores available")
    if n is None:
        n = _env_threads("OMP_NUM_THREADS", instead="the cores available")
    return n if n is not None else _available_cores()


_core.set_num_threads(default_num_threads())


def set_num_threads(n: int) -> None:
    """Set the number of threads the compiled kernels use.

    Parameters
    ----------
    n : int
        Number of threads, >= 1.  Calls too small to gain from threads always run on the
        calling thread.
    """
    try:
        if isinstance(n, bool):
            raise TypeError
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"set_num_threads(): n must be an int, not {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"set_num_threads(): n must be >= 1, but got {n}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Return the number of threads the compiled kernels use."""
    return _core.get_num_threads()
