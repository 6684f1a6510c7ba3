"""NumPy's matrix products without waking NumPy's BLAS thread pool.

OpenBLAS's threads busy-wait for a while after each threaded call (up to about 0.1 s).
A network that ends in a ``Linear`` layer then starts its next image's convolutions with
a BLAS thread spinning on a core that pyconv's OpenMP threads need: on 2 cores of a
Zen 3, pyconv's ResNet-18 (examples/resnet18.py) ran slower with 2 threads than with 1
(72 ms against 66; 26 ms with the BLAS kept to one thread).  pyconv's layers therefore
run their matrix products with the BLAS set to one thread for the call (through
threadpoolctl, about 5 us), then restore it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["one_blas_thread"]

_lock = threading.Lock()
_libs: list[Any] | None = None  # threadpoolctl's controllers of the loaded BLAS libraries
_depth = 0  # callers inside one_blas_thread(), over all Python threads
_saved: list[int] = []


def _blas_libraries() -> list[Any]:
    global _libs
    if _libs is None:
        try:
            from threadpoolctl import ThreadpoolController

            _libs = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        except Exception:  # not installed, or a BLAS it cannot drive: leave the BLAS alone
            _libs = []
    return _libs


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the body with NumPy's BLAS on one thread; restore its thread count after.

    Safe from several Python threads: the first to enter saves the counts and the last
    to leave restores them.
    """
    global _depth, _saved
    libs = _blas_libraries()
    if not libs:
        yield
        return
    with _lock:
        if _depth == 0:
            _saved = [lib.get_num_threads() for lib in libs]
            for lib in libs:
                lib.set_num_threads(1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for lib, n in zip(libs, _saved, strict=True):
                    lib.set_num_threads(n)
