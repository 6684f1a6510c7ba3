"""The arrays of the article pyconv started from, verbatim ("[Pytorch] conv2d").

The article builds its tensors with ``torch.tensor([...])``, whose default dtype is
float32, so these functions return float32 arrays.  Each call returns fresh arrays.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dark_line", "layer_input"]


def dark_line() -> tuple[np.ndarray, np.ndarray]:
    """Return the dark-line demo: a (3, 5, 5) image and a (1, 3, 3, 3) kernel.

    Row 2 of every channel holds large values; the kernel's middle row is ones, so each
    output pixel sums the middle row of its 3x3 window over the three channels.  The
    article prints ``F.conv2d(x, weight.unsqueeze(0))`` as
    ``[[[27, 28, 23], [220, 220, 224], [16, 16, 28]]]``.

    Returns
    -------
    x : ndarray, shape (3, 5, 5), float32
        The unbatched input.
    weight : ndarray, shape (1, 3, 3, 3), float32
        The article's (3, 3, 3) kernel with the leading axis it adds by ``unsqueeze(0)``.
    """
    x = np.array(
        [
            [
                [1.0, 4, 1, 4, 5],
                [0, 5, 3, 2, 1],
                [21, 25, 25, 23, 26],
                [5, 2, 5, 2, 5],
                [4, 9, 3, 0, 7],
            ],
            [
                [2, 2, 2, 7, 2],
                [0, 0, 6, 3, 0],
                [24, 25, 25, 23, 27],
                [0, 1, 1, 1, 5],
                [0, 2, 0, 2, 2],
            ],
            [
                [2, 2, 2, 1, 0],
                [7, 2, 4, 3, 1],
                [24, 23, 28, 23, 24],
                [0, 0, 2, 2, 5],
                [5, 2, 4, 5, 2],
            ],
        ],
        dtype=np.float32,
    )
    weight = np.array(
        [
            [
                [0.0, 0, 0],
                [1, 1, 1],
                [0, 0, 0],
            ],
            [
                [0, 0, 0],
                [1, 1, 1],
                [0, 0, 0],
            ],
            [
                [0, 0, 0],
                [1, 1, 1],
                [0, 0, 0],
            ],
        ],
        dtype=np.float32,
    )
    return x, weight[np.newaxis]


def layer_input() -> np.ndarray:
    """Return the (3, 5, 5) input (values 0..231) of the article's ``nn.Conv2d(3, 3, 3)`` demo.

    Returns
    -------
    ndarray, shape (3, 5, 5), float32
    """
    return np.array(
        [
            [
                [231.0, 120, 111, 34, 45],
                [100, 85, 23, 200, 111],
                [31, 45, 100, 103, 220],
                [5, 5, 5, 5, 5],
                [54, 89, 103, 150, 67],
            ],
            [
                [12, 58, 52, 87, 100],
                [200, 140, 86, 23, 10],
                [60, 75, 45, 30, 7],
                [155, 155, 155, 155, 155],
                [0, 122, 0, 0, 12],
            ],
            [
                [12, 12, 12, 11, 10],
                [67, 12, 45, 23, 1],
                [56, 12, 5, 10, 8],
                [0, 0, 0, 0, 0],
                [5, 12, 34, 56, 12],
            ],
        ],
        dtype=np.float32,
    )
