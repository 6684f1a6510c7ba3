"""Type stub for the compiled module pyconv._core (see _core.pyx)."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

def conv_forward(
    x: npt.NDArray[np.floating],
    w: npt.NDArray[np.floating],
    bias: npt.NDArray[np.floating] | None,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    unbatched: bool = False,
) -> npt.NDArray[np.floating]: ...
def conv_weight_grad(
    x: npt.NDArray[np.floating],
    grad_output: npt.NDArray[np.floating],
    kernel_size: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> npt.NDArray[np.floating]: ...
def gather_taps(
    w: npt.NDArray[np.floating], groups: int, idx: npt.ArrayLike
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
def lanes_calls() -> int: ...
def workspace_bytes() -> int: ...
def openmp_enabled() -> bool: ...
def openmp_max_threads() -> int: ...
def build_cflags() -> str: ...
def isa() -> str: ...
def isas() -> list[tuple[str, str, bool]]: ...
def tile_shapes(name: str | None = None) -> dict[str, dict[str, tuple[int, int]]]: ...
def set_isa(name: str | None = None) -> str: ...
def peak_gflops(
    name: str | None = None, dtype: str = "float32", seconds: float = 0.05
) -> float: ...
def winograd_forward(
    x: npt.NDArray[np.floating],
    w: npt.NDArray[np.floating],
    bias: npt.NDArray[np.floating] | None,
    padding: Sequence[int],
    groups: int,
    tile: int = 4,
    border_check: bool = True,
) -> npt.NDArray[np.floating]: ...
def winograd_border_sides(
    x: npt.NDArray[np.floating], padding: Sequence[int], tile: int = 4, groups: int = 1
) -> tuple[str, ...]: ...
