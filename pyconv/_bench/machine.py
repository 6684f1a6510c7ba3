"""What ``pyconv bench`` needs from the machine: threads, external load, a description."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import sys
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from .. import _core, _registry, _threads
from .._version import __version__

__all__ = [
    "ENV_VARS",
    "LoadMeter",
    "Peak",
    "available_cores",
    "import_torch",
    "machine_info",
    "peak_per_core",
    "pinned_threads",
]

#: Environment variables that change what a benchmark measures; printed and saved.
ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "GLIBC_TUNABLES",
    "OMP_NUM_THREADS",
    "PYCONV_NUM_THREADS",
    "PYCONV_ISA",
    "PYCONV_BACKEND",
    "ONEDNN_MAX_CPU_ISA",
)

#: ``pyconv bench --isa``: the oneDNN ISA cap (read by torch at import) that matches each
#: kernel variant, so that torch is limited as pyconv is.  oneDNN has no SSE2 level:
#: SSE4.1 is the closest below AVX.
ONEDNN_ISA = {"avx512": "AVX512_CORE", "avx2": "AVX2", "baseline": "SSE41"}


def available_cores() -> int:
    """Return the number of cores this process may run on."""
    return _threads._available_cores()


def import_torch() -> tuple[Any, str | None]:
    """Return ``(torch, None)``, or ``(None, why)`` when torch cannot be imported."""
    try:
        import torch
    except ImportError as exc:
        return None, f"torch is not installed ({exc})" if str(exc) else "torch is not installed"
    return torch, None


# ---- peak ----------------------------------------------------------------------------


class Peak(NamedTuple):
    """Peak GFLOP/s per core, the denominator of "% of peak", and where it comes from."""

    float32: float
    float64: float
    source: str


def peak_per_core() -> Peak:
    """Return the peak GFLOP/s of one core, float32 and float64, and its source.

    Measured on this machine for the kernel variant in use (``_core.peak_gflops``:
    independent chains of that variant's vector multiply-adds on one core, about 0.2 s
    in all, the best of three runs), once per variant and process; ``pyconv bench --peak-f32`` and
    ``--peak-f64`` override it.  The one place the bench's peaks come from.
    """
    return _measured_peak(_core.isa())


@functools.cache
def _measured_peak(isa: str) -> Peak:
    f32 = _core.peak_gflops(isa, "float32", seconds=0.05)
    f64 = _core.peak_gflops(isa, "float64", seconds=0.05)
    return Peak(
        round(f32, 1),
        round(f64, 1),
        f"measured here: the {isa} kernels' vector multiply-add rate on one core",
    )


# ---- threads -------------------------------------------------------------------------


@contextlib.contextmanager
def pinned_threads(n: int, torch: Any = None) -> Iterator[str | None]:
    """Run pyconv, torch and the BLAS on ``n`` threads inside the block; restore afterwards.

    Parameters
    ----------
    n : int
        Threads for :func:`pyconv.set_num_threads`, ``torch.set_num_threads`` and the BLAS
        libraries that :mod:`threadpoolctl` finds (NumPy's, SciPy's).
    torch : module, optional
        The torch module, if it is used.

    Yields
    ------
    str or None
        ``None``, or why the BLAS thread count could not be set (threadpoolctl missing).
    """
    old_pyconv = _threads.get_num_threads()
    old_torch = torch.get_num_threads() if torch is not None else None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        blas: contextlib.AbstractContextManager = contextlib.nullcontext()
        note: str | None = "threadpoolctl is not installed, so the BLAS thread count was left alone"
    else:
        blas = threadpool_limits(limits=n, user_api="blas")
        note = None
    try:
        with blas:
            _threads.set_num_threads(n)
            if torch is not None:
                torch.set_num_threads(n)
            yield note
    finally:
        _threads.set_num_threads(old_pyconv)
        if torch is not None:
            torch.set_num_threads(old_torch)


# ---- external load -------------------------------------------------------------------


def _busy_seconds() -> float | None:
    """CPU time spent by every process on the machine since boot (``/proc/stat``)."""
    try:
        with open("/proc/stat") as f:
            line = f.readline()
    except OSError:
        return None
    fields = line.split()
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice, already in user]
    ticks = [int(v) for v in fields[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """User + system CPU time of this process, all its threads."""
    try:
        import resource
    except ImportError:  # not POSIX: 10 ms resolution instead of 1 us
        t = os.times()
        return t.user + t.system
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class LoadMeter:
    """The CPU load of *other* processes while a block runs, in cores.

    Busy time of the whole machine (``/proc/stat``, every core, 10 ms ticks) minus this
    process's own user + system time, divided by the wall time.  0 means nothing else ran;
    1 means another process kept one core busy.  Only Linux has ``/proc/stat``; elsewhere
    :attr:`cores` is ``None``.  Windows shorter than ``min_wall`` seconds are too coarse
    for 10 ms ticks and give ``None`` too.

    Examples
    --------
    >>> with LoadMeter() as load:  # doctest: +SKIP
    ...     run_something()
    >>> load.cores, load.wall  # doctest: +SKIP
    (0.02, 1.3)
    """

    def __init__(self, min_wall: float = 0.25) -> None:
        self.min_wall = min_wall
        self.cores: float | None = None
        self.wall = 0.0

    def __enter__(self) -> LoadMeter:
        self._busy = _busy_seconds()
        self._own = _own_seconds()
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t
        busy = _busy_seconds()
        own = _own_seconds() - self._own
        if busy is None or self._busy is None or self.wall < self.min_wall:
            self.cores = None
            return
        self.cores = max(0.0, (busy - self._busy - own) / self.wall)


def loadavg() -> float | None:
    """Return the 1-minute load average, or None where the platform has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


# ---- description ---------------------------------------------------------------------


def cpu_model() -> str:
    """Return the CPU's model name (``/proc/cpuinfo``, else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _blas() -> list[dict]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "version", "architecture", "num_threads", "filepath")
    out = []
    for d in threadpool_info():
        if d.get("user_api") != "blas":
            continue
        info = {k: d.get(k) for k in keys}
        folder = os.path.basename(os.path.dirname(d.get("filepath") or ""))
        # wheels put their libraries in <package>.libs: say whose BLAS it is
        info["owner"] = folder[: -len(".libs")] if folder.endswith(".libs") else None
        out.append(info)
    return out


def machine_info(torch: Any = None) -> dict:
    """Versions, CPU, kernel ISA, build flags, BLAS and environment, as a JSON-able dict.

    Parameters
    ----------
    torch : module, optional
        The torch module, if it is used (its version and configuration are recorded).
    """
    core = {
        "isa": _core.isa(),
        "cflags": _core.build_cflags(),
        "openmp": _core.openmp_enabled(),
    }
    plugins = {
        b.name: f"{b.distribution} {b.version}"
        for b in _registry.backends()
        if not b.builtin and b.distribution
    }
    return {
        "pyconv": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": None if torch is None else torch.__version__,
        "plugins": plugins,
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu": cpu_model(),
        "cores_available": available_cores(),
        "core": core,
        "blas": _blas(),
        "env": {k: os.environ.get(k) for k in ENV_VARS},
        "loadavg_1min": loadavg(),
    }
