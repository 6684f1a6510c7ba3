"""Type stub for the compiled module pyconv._pool (see _pool.pyx and pooling.py)."""

import numpy as np
import numpy.typing as npt

def max_pool2d(
    x: npt.NDArray[np.floating],
    kH: int,
    kW: int,
    sH: int,
    sW: int,
    pH: int,
    pW: int,
    dH: int,
    dW: int,
    Ho: int,
    Wo: int,
    return_indices: bool,
    num_threads: int = 1,
) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.int64] | None]: ...
def avg_pool2d(
    x: npt.NDArray[np.floating],
    kH: int,
    kW: int,
    sH: int,
    sW: int,
    pH: int,
    pW: int,
    Ho: int,
    Wo: int,
    count_include_pad: bool,
    divisor: int,
    num_threads: int = 1,
) -> npt.NDArray[np.floating]: ...
def adaptive_pool2d(
    x: npt.NDArray[np.floating],
    Ho: int,
    Wo: int,
    is_max: bool,
    num_threads: int = 1,
) -> npt.NDArray[np.floating] | tuple[npt.NDArray[np.floating], npt.NDArray[np.int64]]: ...
def relu(
    x: npt.NDArray[np.floating], out: npt.NDArray[np.floating], num_threads: int = 1
) -> npt.NDArray[np.floating]: ...
def parallel_calls() -> int: ...
def openmp_enabled() -> bool: ...
