"""Type stub for the compiled module pyconv._pool (see _pool.pyx and pooling.py).

stubtest (.ci/run) checks it against the compiled module.  The kernels take a C-contiguous
(N, C, H, W) float32 or float64 array whose arguments pooling.py has already checked, and
return new arrays of its dtype (indices: int64).
"""

from typing import Literal, overload

import numpy as np
import numpy.typing as npt

_Floats = npt.NDArray[np.floating]
_Indices = npt.NDArray[np.int64]

@overload
def max_pool2d(
    x: _Floats,
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
    return_indices: Literal[True],
    num_threads: int = 1,
) -> tuple[_Floats, _Indices]: ...
@overload
def max_pool2d(
    x: _Floats,
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
    return_indices: Literal[False],
    num_threads: int = 1,
) -> tuple[_Floats, None]: ...
@overload
def max_pool2d(
    x: _Floats,
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
) -> tuple[_Floats, _Indices | None]: ...
def avg_pool2d(
    x: _Floats,
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
) -> _Floats: ...
@overload
def adaptive_pool2d(
    x: _Floats, Ho: int, Wo: int, is_max: Literal[True], num_threads: int = 1
) -> tuple[_Floats, _Indices]: ...
@overload
def adaptive_pool2d(
    x: _Floats, Ho: int, Wo: int, is_max: Literal[False], num_threads: int = 1
) -> _Floats: ...
@overload
def adaptive_pool2d(
    x: _Floats, Ho: int, Wo: int, is_max: bool, num_threads: int = 1
) -> _Floats | tuple[_Floats, _Indices]: ...
def relu(x: _Floats, out: _Floats, num_threads: int = 1) -> _Floats: ...
def parallel_calls() -> int: ...
def openmp_enabled() -> bool: ...
