"""Type stub for the compiled module pyconv._core (see _core.pyx)."""

import numpy as np
import numpy.typing as npt

def conv2d_forward(
    x: npt.NDArray[np.floating],
    w: npt.NDArray[np.floating],
    bias: npt.NDArray[np.floating] | None,
    stride_h: int,
    stride_w: int,
    pad_top: int,
    pad_bottom: int,
    pad_left: int,
    pad_right: int,
    dil_h: int,
    dil_w: int,
    groups: int,
) -> npt.NDArray[np.floating]: ...
def conv2d_fast(
    input: object,
    weight: object,
    bias: object,
    stride: object,
    padding: object,
    dilation: object,
    groups: object,
) -> npt.NDArray[np.floating] | None: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def parallel_calls() -> int: ...
def workspace_bytes() -> int: ...
def openmp_enabled() -> bool: ...
def openmp_max_threads() -> int: ...
def build_cflags() -> str: ...
def isa() -> str: ...
def set_isa(name: str | None = None) -> str: ...
