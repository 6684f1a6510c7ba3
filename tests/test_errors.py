"""Invalid conv2d calls: the exception type follows Python, the message follows PyTorch.

pyconv raises ``ValueError`` for bad values and shapes and ``TypeError`` for bad types and
dtypes (torch raises ``RuntimeError`` for most of them); the message starts with torch's
text where torch has one, possibly followed by a hint.  Every case here runs the same call
through ``torch.nn.functional.conv2d`` and compares with torch's first line, so a change of
wording in a future torch shows up here.

torch's message depends on which of its CPU paths it picks.  For float32 with batch >= 2
it takes oneDNN (mkldnn), which checks the dtypes and the dilation in the front end:
``Input type (torch.FloatTensor) and weight type (torch.DoubleTensor) ...`` and
``non-positive dilation is not supported``.  With batch 1 the same mistakes give
``expected scalar type Float but found Double`` and ``dilation should be greater than
zero, but got [0, 0]`` from the slow path; pyconv has one text for each mistake whatever
the shape, so the cases that compare with torch's front-end text use batch 2.  The
opposite holds for a zero-size kernel: batch 1 gives torch's readable message, batch 2 an
internal oneDNN error.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconv

F32, F64 = np.float32, np.float64


def z(*shape, dtype=F32):
    return np.zeros(shape, dtype=dtype)


def _torch_message(torch, args, kwargs, expected_type=None) -> str:
    """Run the call through torch; return the first line of the error it raises."""
    targs = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
    tkwargs = {
        k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()
    }
    with pytest.raises(Exception) as info:  # noqa: PT011 - torch's type varies; checked below
        torch.nn.functional.conv2d(*targs, **tkwargs)
    if expected_type is not None:
        assert isinstance(info.value, expected_type), info.value
    return str(info.value).splitlines()[0]


def _pyconv_error(backend, args, kwargs, exc_type) -> str:
    """Run the call through pyconv; check the type exactly and return the message."""
    with pytest.raises(exc_type) as info:
        pyconv.conv2d(*args, **kwargs, backend=backend)
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value}"
    return str(info.value)


# --------------------------------------------------------------------------------------
# Calls torch rejects with a readable message: pyconv's message starts with torch's.
# (id, args, kwargs, pyconv's exception type, a fragment pinned literally)
# --------------------------------------------------------------------------------------

TORCH_CASES = [
    # input rank
    ("input-1d", (z(9), z(6, 4, 3, 3)), {}, ValueError, "but got input of size: [9]"),
    ("input-0d", (z(), z(6, 4, 3, 3)), {}, ValueError, "but got input of size: []"),
    (
        "input-2d",
        (z(7, 9), z(6, 4, 3, 3)),
        {},
        ValueError,
        "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [7, 9]",
    ),
    (
        "input-5d",
        (z(1, 2, 4, 7, 9), z(6, 4, 3, 3)),
        {},
        ValueError,
        "but got input of size: [1, 2, 4, 7, 9]",
    ),
    # channels
    (
        "channels-batched",
        (z(2, 5, 7, 9), z(6, 4, 3, 3)),
        {},
        ValueError,
        "Given groups=1, weight of size [6, 4, 3, 3], expected input[2, 5, 7, 9] to have 4 "
        "channels, but got 5 channels instead",
    ),
    (
        "channels-unbatched",
        (z(5, 7, 9), z(6, 4, 3, 3)),
        {},
        ValueError,
        "expected input[1, 5, 7, 9] to have 4 channels, but got 5 channels instead",
    ),
    (
        "cin-not-divisible-by-groups",
        (z(2, 5, 7, 9), z(6, 2, 3, 3)),
        {"groups": 2},
        ValueError,
        "Given groups=2, weight of size [6, 2, 3, 3], expected input[2, 5, 7, 9] to have 4 "
        "channels, but got 5 channels instead",
    ),
    # groups
    (
        "groups-not-dividing-cout",
        (z(2, 4, 7, 9), z(6, 1, 3, 3)),
        {"groups": 4},
        ValueError,
        "Given groups=4, expected weight to be divisible by 4 at dimension 0, but got weight of "
        "size [[6, 1, 3, 3]] instead",
    ),
    (
        "groups-greater-than-cout",
        (z(2, 8, 7, 9), z(6, 1, 3, 3)),
        {"groups": 8},
        ValueError,
        "Given groups=8, expected weight to be at least 8 at dimension 0, but got weight of size "
        "[6, 1, 3, 3] instead",
    ),
    (
        "groups-0",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"groups": 0},
        ValueError,
        "non-positive groups is not supported",
    ),
    (
        "groups-negative",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"groups": -1},
        ValueError,
        "non-positive groups is not supported",
    ),
    (
        "cout-0",
        (z(2, 4, 7, 9), z(0, 4, 3, 3)),
        {},
        ValueError,
        "Given groups=1, expected weight to be at least 1 at dimension 0, but got weight of size "
        "[0, 4, 3, 3] instead",
    ),
    # bias shape
    (
        "bias-wrong-length",
        (z(2, 4, 7, 9), z(6, 4, 3, 3), z(5)),
        {},
        ValueError,
        "Given weight of size [6, 4, 3, 3], expected bias to be 1-dimensional with 6 elements, "
        "but got bias of size [5] instead",
    ),
    (
        "bias-2d",
        (z(2, 4, 7, 9), z(6, 4, 3, 3), z(6, 1)),
        {},
        ValueError,
        "but got bias of size [6, 1] instead",
    ),
    (
        "bias-0d",
        (z(2, 4, 7, 9), z(6, 4, 3, 3), z()),
        {},
        ValueError,
        "but got bias of size [] instead",
    ),
    # kernel larger than the padded input (the printed kernel size is the dilated one)
    (
        "kernel-too-large",
        (z(2, 4, 2, 2), z(6, 4, 3, 3)),
        {},
        ValueError,
        "Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). Kernel size "
        "can't be greater than actual input size",
    ),
    (
        "kernel-too-large-dilated",
        (z(2, 4, 5, 5), z(6, 4, 3, 3)),
        {"dilation": 3},
        ValueError,
        "Calculated padded input size per channel: (5 x 5). Kernel size: (7 x 7).",
    ),
    (
        "kernel-too-large-dilated-w",
        (z(2, 4, 7, 7), z(6, 4, 3, 3)),
        {"dilation": (1, 4)},
        ValueError,
        "Calculated padded input size per channel: (7 x 7). Kernel size: (3 x 9).",
    ),
    (
        "kernel-too-large-padded",
        (z(2, 4, 1, 1), z(6, 4, 3, 3)),
        {"padding": (0, 1)},
        ValueError,
        "Calculated padded input size per channel: (1 x 3). Kernel size: (3 x 3).",
    ),
    (
        "kernel-0-batch-1",
        (z(1, 4, 7, 9), z(6, 4, 0, 0)),
        {},
        ValueError,
        "kernel size should be greater than zero, but got kernel_height: 0 kernel_width: 0",
    ),
    (
        "kernel-0x3-batch-1",
        (z(1, 4, 7, 9), z(6, 4, 0, 3)),
        {},
        ValueError,
        "kernel size should be greater than zero, but got kernel_height: 0 kernel_width: 3",
    ),
    # stride, padding, dilation values
    (
        "stride-0",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"stride": 0},
        ValueError,
        "non-positive stride is not supported",
    ),
    (
        "stride-(1,0)",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"stride": (1, 0)},
        ValueError,
        "non-positive stride is not supported",
    ),
    (
        "stride-negative",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"stride": -1},
        ValueError,
        "non-positive stride is not supported",
    ),
    (
        "stride-(2,-1)",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"stride": (2, -1)},
        ValueError,
        "non-positive stride is not supported",
    ),
    (
        "padding-negative",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": -1},
        ValueError,
        "negative padding is not supported",
    ),
    (
        "padding-(0,-2)",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": (0, -2)},
        ValueError,
        "negative padding is not supported",
    ),
    (
        "dilation-0",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"dilation": 0},
        ValueError,
        "non-positive dilation is not supported",
    ),
    (
        "dilation-(1,0)",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"dilation": (1, 0)},
        ValueError,
        "non-positive dilation is not supported",
    ),
    (
        "dilation-negative",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"dilation": -1},
        ValueError,
        "dilation should be greater than zero",
    ),
    (
        "dilation-(1,-2)",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"dilation": (1, -2)},
        ValueError,
        "dilation should be greater than zero",
    ),
    (
        "dilation-(0,-1)",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"dilation": (0, -1)},
        ValueError,
        "dilation should be greater than zero",
    ),
    # stride / padding / dilation of the wrong length
    (
        "stride-3-values",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"stride": (1, 1, 1)},
        ValueError,
        "expected stride to be a single integer value or a list of 2 values to match the "
        "convolution dimensions, but got stride=[1, 1, 1]",
    ),
    (
        "stride-4-values-list",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"stride": [1, 2, 3, 4]},
        ValueError,
        "but got stride=[1, 2, 3, 4]",
    ),
    (
        "stride-0-values",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"stride": ()},
        ValueError,
        "but got stride=[]",
    ),
    (
        "padding-4-values",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": (1, 2, 3, 4)},
        ValueError,
        "expected padding to be a single integer value or a list of 2 values to match the "
        "convolution dimensions, but got padding=[1, 2, 3, 4]",
    ),
    (
        "padding-3-values",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": (1, 1, 1)},
        ValueError,
        "but got padding=[1, 1, 1]",
    ),
    (
        "dilation-3-values",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"dilation": (1, 1, 1)},
        ValueError,
        "expected dilation to be a single integer value or a list of 2 values to match the "
        "convolution dimensions, but got dilation=[1, 1, 1]",
    ),
    (
        "dilation-4-values",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"dilation": (1, 1, 1, 1)},
        ValueError,
        "but got dilation=[1, 1, 1, 1]",
    ),
    # padding strings (case-sensitive)
    (
        "padding-full",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": "full"},
        ValueError,
        "Invalid padding string: 'full'",
    ),
    (
        "padding-SAME",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": "SAME"},
        ValueError,
        "Invalid padding string: 'SAME'",
    ),
    (
        "padding-Valid",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": "Valid"},
        ValueError,
        "Invalid padding string: 'Valid'",
    ),
    (
        "padding-empty-string",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": ""},
        ValueError,
        "Invalid padding string: ''",
    ),
    (
        "same-stride-2",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": "same", "stride": 2},
        ValueError,
        "padding='same' is not supported for strided convolutions",
    ),
    (
        "same-stride-(1,2)",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": "same", "stride": (1, 2)},
        ValueError,
        "padding='same' is not supported for strided convolutions",
    ),
    (
        "same-stride-(2,1)",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": "same", "stride": (2, 1)},
        ValueError,
        "padding='same' is not supported for strided convolutions",
    ),
    # dtype mismatches (batch 2: torch's front-end text, see the module docstring)
    (
        "weight-dtype",
        (z(2, 4, 7, 9), z(6, 4, 3, 3, dtype=F64)),
        {},
        TypeError,
        "Input type (torch.FloatTensor) and weight type (torch.DoubleTensor) should be the same "
        "or input should be a MKLDNN tensor and weight is a dense tensor",
    ),
    (
        "bias-dtype-f32-f64",
        (z(2, 4, 7, 9), z(6, 4, 3, 3), z(6, dtype=F64)),
        {},
        TypeError,
        "Input type (float) and bias type (double) should be the same",
    ),
    (
        "bias-dtype-f64-f32",
        (z(2, 4, 7, 9, dtype=F64), z(6, 4, 3, 3, dtype=F64), z(6)),
        {},
        TypeError,
        "Input type (double) and bias type (float) should be the same",
    ),
    (
        "bias-dtype-unbatched",
        (z(4, 7, 9), z(6, 4, 3, 3), z(6, dtype=F64)),
        {},
        TypeError,
        "Input type (float) and bias type (double) should be the same",
    ),
    # empty spatial dimensions that the padding would cover
    (
        "H-0-padded",
        (z(2, 4, 0, 9), z(6, 4, 3, 3)),
        {"padding": 2},
        ValueError,
        "Only zero batch or zero channel inputs are supported, but got input shape: [2, 4, 0, 9]",
    ),
    (
        "W-0-padded",
        (z(2, 4, 7, 0), z(6, 4, 3, 3)),
        {"padding": 2},
        ValueError,
        "Only zero batch or zero channel inputs are supported, but got input shape: [2, 4, 7, 0]",
    ),
    (
        "H-0-unpadded",
        (z(2, 4, 0, 9), z(6, 4, 3, 3)),
        {},
        ValueError,
        "Calculated padded input size per channel: (0 x 9). Kernel size: (3 x 3).",
    ),
]


@pytest.mark.parametrize(
    ("args", "kwargs", "exc_type", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in TORCH_CASES],
)
def test_error_matches_torch(backend, torch, args, kwargs, exc_type, fragment):
    expected = _torch_message(torch, args, kwargs)
    got = _pyconv_error(backend, args, kwargs, exc_type)
    assert got.startswith(expected), f"\npyconv: {got}\ntorch:  {expected}"
    assert fragment in got
    # the fragment pins the text this suite was written against (torch 2.13)
    assert fragment in expected or expected in fragment


# --------------------------------------------------------------------------------------
# Several problems at once: pyconv reports the one torch reports.
# --------------------------------------------------------------------------------------

ORDER_CASES = [
    # torch checks the bias dtype before anything about shapes
    (
        "bias-dtype-before-ndim",
        (z(7, 9), z(6, 4, 3, 3), z(6, dtype=F64)),
        {},
        TypeError,
        "Input type (float) and bias type (double)",
    ),
    (
        "bias-dtype-before-channels",
        (z(2, 5, 7, 9), z(6, 4, 3, 3), z(6, dtype=F64)),
        {},
        TypeError,
        "Input type (float) and bias type (double)",
    ),
    (
        "bias-dtype-before-stride",
        (z(2, 4, 7, 9), z(6, 4, 3, 3), z(6, dtype=F64)),
        {"stride": 0},
        TypeError,
        "Input type (float) and bias type (double)",
    ),
    (
        "bias-dtype-before-groups",
        (z(2, 4, 7, 9), z(6, 4, 3, 3), z(6, dtype=F64)),
        {"groups": 0},
        TypeError,
        "Input type (float) and bias type (double)",
    ),
    (
        "bias-dtype-before-weight-dtype",
        (z(2, 4, 7, 9), z(6, 4, 3, 3, dtype=F64), z(6, dtype=F64)),
        {},
        TypeError,
        "Input type (float) and bias type (double)",
    ),
    (
        "bias-dtype-before-weight-3d",
        (z(2, 4, 7, 9), z(6, 4, 3), z(6, dtype=F64)),
        {},
        TypeError,
        "Input type (float) and bias type (double)",
    ),
    # the input rank next
    (
        "ndim-before-weight-dtype",
        (z(7, 9), z(6, 4, 3, 3, dtype=F64)),
        {},
        ValueError,
        "Expected 3D (unbatched)",
    ),
    (
        "ndim-before-groups",
        (z(7, 9), z(6, 4, 3, 3)),
        {"groups": 0},
        ValueError,
        "Expected 3D (unbatched)",
    ),
    (
        "ndim-before-padding-string",
        (z(7, 9), z(6, 4, 3, 3)),
        {"padding": "full"},
        ValueError,
        "Expected 3D (unbatched)",
    ),
    ("ndim-before-weight-3d", (z(7, 9), z(6, 4, 3)), {}, ValueError, "Expected 3D (unbatched)"),
    # with an int padding the rank and groups come before the parameters' lengths; with a
    # padding string, the string is checked before the bias dtype
    (
        "ndim-before-stride-length",
        (z(7, 9), z(6, 4, 3, 3)),
        {"stride": (1, 1, 1)},
        ValueError,
        "Expected 3D (unbatched)",
    ),
    (
        "groups-before-stride-length",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"groups": 0, "stride": (1, 1, 1)},
        ValueError,
        "non-positive groups",
    ),
    (
        "groups-before-weight-3d",
        (z(2, 4, 7, 9), z(6, 4, 3)),
        {"groups": 0},
        ValueError,
        "non-positive groups",
    ),
    (
        "bias-dtype-before-stride-length",
        (z(2, 4, 7, 9), z(6, 4, 3, 3), z(6, dtype=F64)),
        {"stride": (1, 1, 1)},
        TypeError,
        "bias type (double)",
    ),
    (
        "padding-string-before-bias-dtype",
        (z(2, 4, 7, 9), z(6, 4, 3, 3), z(6, dtype=F64)),
        {"padding": "full"},
        ValueError,
        "Invalid padding string",
    ),
    (
        "same-stride-before-bias-dtype",
        (z(2, 4, 7, 9), z(6, 4, 3, 3), z(6, dtype=F64)),
        {"padding": "same", "stride": 2},
        ValueError,
        "padding='same' is not supported",
    ),
    # then the parameters
    (
        "groups-before-stride",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"groups": 0, "stride": 0},
        ValueError,
        "non-positive groups",
    ),
    (
        "groups-before-channels",
        (z(2, 5, 7, 9), z(6, 4, 3, 3)),
        {"groups": 0},
        ValueError,
        "non-positive groups",
    ),
    (
        "padding-string-before-channels",
        (z(2, 5, 7, 9), z(6, 4, 3, 3)),
        {"padding": "full"},
        ValueError,
        "Invalid padding string: 'full'",
    ),
    (
        "padding-string-before-same-stride",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": "full", "stride": 2},
        ValueError,
        "Invalid padding string: 'full'",
    ),
    (
        "same-stride-before-dilation",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": "same", "stride": 2, "dilation": 0},
        ValueError,
        "padding='same' is not",
    ),
    (
        "same-stride-before-channels",
        (z(2, 5, 7, 9), z(6, 4, 3, 3)),
        {"padding": "same", "stride": 2},
        ValueError,
        "padding='same' is not",
    ),
    (
        "padding-length-before-stride",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": (1, 2, 3, 4), "stride": 0},
        ValueError,
        "expected padding to be",
    ),
    (
        "padding-before-stride",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": -1, "stride": 0},
        ValueError,
        "negative padding",
    ),
    (
        "padding-before-dilation",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": -1, "dilation": 0},
        ValueError,
        "negative padding",
    ),
    (
        "stride-before-dilation",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"stride": 0, "dilation": 0},
        ValueError,
        "non-positive stride",
    ),
    (
        "stride-before-channels",
        (z(2, 5, 7, 9), z(6, 4, 3, 3)),
        {"stride": 0},
        ValueError,
        "non-positive stride",
    ),
    # then the shapes
    (
        "at-least-before-divisible",
        (z(2, 8, 7, 9), z(6, 1, 3, 3)),
        {"groups": 8},
        ValueError,
        "expected weight to be at least 8",
    ),
    (
        "divisible-before-channels",
        (z(2, 5, 7, 9), z(6, 1, 3, 3)),
        {"groups": 4},
        ValueError,
        "expected weight to be divisible by 4",
    ),
    (
        "cout-0-before-channels",
        (z(2, 5, 7, 9), z(0, 4, 3, 3)),
        {},
        ValueError,
        "expected weight to be at least 1",
    ),
    (
        "channels-before-weight-dtype",
        (z(2, 5, 7, 9), z(6, 4, 3, 3, dtype=F64)),
        {},
        ValueError,
        "expected input[2, 5, 7, 9] to have 4 channels",
    ),
    (
        "channels-before-bias-length",
        (z(2, 5, 7, 9), z(6, 4, 3, 3), z(5)),
        {},
        ValueError,
        "expected input[2, 5, 7, 9] to have 4 channels",
    ),
    (
        "channels-before-kernel-size",
        (z(2, 5, 2, 2), z(6, 4, 3, 3)),
        {},
        ValueError,
        "expected input[2, 5, 2, 2] to have 4 channels",
    ),
    (
        "channels-before-kernel-0",
        (z(2, 5, 7, 9), z(6, 4, 0, 0)),
        {},
        ValueError,
        "weight of size [6, 4, 0, 0], expected input[2, 5, 7, 9] to have 4 channels",
    ),
    (
        "bias-length-before-kernel-size",
        (z(2, 4, 2, 2), z(6, 4, 3, 3), z(5)),
        {},
        ValueError,
        "expected bias to be 1-dimensional",
    ),
    (
        "bias-length-before-kernel-0",
        (z(2, 4, 7, 9), z(6, 4, 0, 0), z(5)),
        {},
        ValueError,
        "expected bias to be 1-dimensional",
    ),
    (
        "kernel-size-before-weight-dtype",
        (z(2, 4, 2, 2), z(6, 4, 3, 3, dtype=F64)),
        {},
        ValueError,
        "Calculated padded input size per channel: (2 x 2)",
    ),
    (
        "kernel-size-before-empty-plane",
        (z(2, 4, 0, 9), z(6, 4, 3, 3)),
        {},
        ValueError,
        "Calculated padded input size per channel: (0 x 9)",
    ),
    (
        "empty-plane-before-weight-dtype",
        (z(2, 4, 0, 9), z(6, 4, 3, 3, dtype=F64)),
        {"padding": 2},
        ValueError,
        "Only zero batch or zero channel inputs",
    ),
]


@pytest.mark.parametrize(
    ("args", "kwargs", "exc_type", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in ORDER_CASES],
)
def test_first_problem_reported_like_torch(backend, torch, args, kwargs, exc_type, fragment):
    expected = _torch_message(torch, args, kwargs)
    got = _pyconv_error(backend, args, kwargs, exc_type)
    assert got.startswith(expected), f"\npyconv: {got}\ntorch:  {expected}"
    assert fragment in got


# --------------------------------------------------------------------------------------
# Where torch's message is unhelpful or path-dependent: pyconv's own text; torch also fails.
# --------------------------------------------------------------------------------------

PYCONV_ONLY_CASES = [
    # torch (oneDNN, batch >= 2) reports an internal primitive-descriptor error here
    (
        "kernel-0-batch-2",
        (z(2, 4, 7, 9), z(6, 4, 0, 0)),
        {},
        ValueError,
        "kernel size should be greater than zero, but got kernel_height: 0 kernel_width: 0",
    ),
    (
        "kernel-3x0-batch-2",
        (z(2, 4, 7, 9), z(6, 4, 3, 0)),
        {},
        ValueError,
        "kernel size should be greater than zero, but got kernel_height: 3 kernel_width: 0",
    ),
    # torch: "expected stride to be a single integer value or a list of 1 values ..."
    (
        "weight-3d",
        (z(2, 4, 7, 9), z(6, 4, 3)),
        {},
        ValueError,
        "Expected 4-dimensional weight (out_channels, in_channels/groups, kH, kW) for conv2d, "
        "but got 3-dimensional weight of size [6, 4, 3]",
    ),
    (
        "weight-5d",
        (z(2, 4, 7, 9), z(6, 4, 3, 3, 1)),
        {},
        ValueError,
        "Expected 4-dimensional weight (out_channels, in_channels/groups, kH, kW) for conv2d, "
        "but got 5-dimensional weight of size [6, 4, 3, 3, 1]",
    ),
    (
        "weight-1d",
        (z(2, 4, 7, 9), z(6)),
        {},
        ValueError,
        "Expected 4-dimensional weight (out_channels, in_channels/groups, kH, kW) for conv2d, "
        "but got 1-dimensional weight of size [6]",
    ),
    # torch's slow path (batch 1): "expected scalar type Float but found Double"
    (
        "weight-dtype-batch-1",
        (z(1, 4, 7, 9), z(6, 4, 3, 3, dtype=F64)),
        {},
        TypeError,
        "Input type (torch.FloatTensor) and weight type (torch.DoubleTensor) should be the same",
    ),
    (
        "weight-dtype-unbatched",
        (z(4, 7, 9), z(6, 4, 3, 3, dtype=F64)),
        {},
        TypeError,
        "Input type (torch.FloatTensor) and weight type (torch.DoubleTensor) should be the same",
    ),
    # torch on the CPU never takes oneDNN for float64: "expected scalar type Double but found Float"
    (
        "weight-dtype-f64-f32",
        (z(2, 4, 7, 9, dtype=F64), z(6, 4, 3, 3)),
        {},
        TypeError,
        "Input type (torch.DoubleTensor) and weight type (torch.FloatTensor) should be the same",
    ),
    # torch's slow path (batch 1): "dilation should be greater than zero, but got [0, 0]"
    (
        "dilation-0-batch-1",
        (z(1, 4, 7, 9), z(6, 4, 3, 3)),
        {"dilation": 0},
        ValueError,
        "non-positive dilation is not supported",
    ),
    (
        "dilation-(0,1)-unbatched",
        (z(4, 7, 9), z(6, 4, 3, 3)),
        {"dilation": (0, 1)},
        ValueError,
        "non-positive dilation is not supported",
    ),
]


@pytest.mark.parametrize(
    ("args", "kwargs", "exc_type", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in PYCONV_ONLY_CASES],
)
def test_error_where_torch_message_differs(backend, torch, args, kwargs, exc_type, message):
    _torch_message(torch, args, kwargs, RuntimeError)  # torch rejects the call too
    got = _pyconv_error(backend, args, kwargs, exc_type)
    assert got.startswith(message), got


def test_weight_dtype_message_gives_numpy_dtypes_and_a_hint(backend):
    msg = _pyconv_error(backend, (z(2, 4, 7, 9), z(6, 4, 3, 3, dtype=F64)), {}, TypeError)
    assert "float32" in msg
    assert "float64" in msg
    assert "astype" in msg


# --------------------------------------------------------------------------------------
# Bad Python types for the parameters: TypeError naming the argument and what was given.
# torch raises TypeError too, with its long argument-parser listing.
# --------------------------------------------------------------------------------------

PARAM_TYPE_CASES = [
    ("stride", 1.5, "float"),
    ("stride", True, "bool"),
    ("stride", np.True_, "bool"),
    ("stride", "2", "str"),
    ("stride", None, "NoneType"),
    ("stride", np.float64(2.0), "float"),
    ("stride", (1, 1.5), "float"),
    # torch accepts a bool inside a tuple (stride=(1, True) runs as (1, 1)) but not a bare
    # bool; pyconv rejects both (see test_bool_inside_a_tuple_is_rejected)
    ("stride", (1, None), "NoneType"),
    ("padding", 1.5, "float"),
    ("padding", None, "NoneType"),
    ("padding", (1.0, 1), "float"),
    ("dilation", 1.5, "float"),
    ("dilation", False, "bool"),
    ("dilation", "1", "str"),
    ("groups", 1.5, "float"),
    ("groups", True, "bool"),
    ("groups", "1", "str"),
    ("groups", None, "NoneType"),
    ("groups", (1,), "tuple"),
]


@pytest.mark.parametrize(
    ("name", "value", "type_name"),
    [pytest.param(*c, id=f"{c[0]}={c[1]!r}") for c in PARAM_TYPE_CASES],
)
def test_parameter_of_wrong_type(backend, torch, name, value, type_name):
    args = (z(2, 4, 7, 9), z(4, 4, 3, 3))
    _torch_message(torch, args, {name: value}, TypeError)
    msg = _pyconv_error(backend, args, {name: value}, TypeError)
    assert f"'{name}'" in msg, msg
    assert type_name in msg, msg


@pytest.mark.parametrize("name", ["stride", "padding", "dilation"])
def test_bool_inside_a_tuple_is_rejected(backend, name):
    msg = _pyconv_error(backend, (z(2, 4, 7, 9), z(4, 4, 3, 3)), {name: (1, True)}, TypeError)
    assert f"'{name}'" in msg, msg
    assert "bool" in msg, msg


@pytest.mark.parametrize("value", [1.5, "2", None], ids=repr)
def test_scalar_parameter_message_shows_the_value(backend, value):
    msg = _pyconv_error(backend, (z(2, 4, 7, 9), z(4, 4, 3, 3)), {"stride": value}, TypeError)
    assert repr(value) in msg, msg


@pytest.mark.parametrize("value", [np.int64(2), np.int32(2), np.array([2, 2])], ids=repr)
def test_numpy_integers_are_accepted(backend, value):
    x = np.ones((1, 1, 5, 5), F32)
    w = np.ones((1, 1, 1, 1), F32)
    assert pyconv.conv2d(x, w, stride=value, backend=backend).shape == (1, 1, 3, 3)


# --------------------------------------------------------------------------------------
# Arrays pyconv cannot compute with: TypeError naming the argument and the dtype.
# --------------------------------------------------------------------------------------

UNSUPPORTED_DTYPES = [np.int64, np.int32, np.uint8, np.bool_, np.float16, np.complex64, object]


@pytest.mark.parametrize("dtype", UNSUPPORTED_DTYPES, ids=lambda d: np.dtype(d).name)
def test_unsupported_input_dtype(backend, dtype):
    x = z(1, 2, 5, 5).astype(dtype)
    msg = _pyconv_error(backend, (x, z(3, 2, 3, 3)), {}, TypeError)
    assert "'input'" in msg
    assert str(np.dtype(dtype)) in msg
    assert "float32" in msg
    assert "astype" in msg


@pytest.mark.parametrize(
    "dtype", [np.int64, np.float16, np.complex128], ids=lambda d: np.dtype(d).name
)
@pytest.mark.parametrize("which", ["weight", "bias"])
def test_unsupported_weight_or_bias_dtype(backend, dtype, which):
    arrays = {"input": z(1, 2, 5, 5), "weight": z(3, 2, 3, 3), "bias": z(3)}
    arrays[which] = arrays[which].astype(dtype)
    with pytest.raises(TypeError) as info:
        pyconv.conv2d(**arrays, backend=backend)
    msg = str(info.value)
    assert f"'{which}'" in msg
    assert str(np.dtype(dtype)) in msg
    assert "astype" in msg


def test_ragged_nested_list(backend):
    ragged = [[[1.0, 2.0], [3.0]]]
    msg = _pyconv_error(backend, (ragged, z(1, 1, 1, 1, dtype=F64)), {}, TypeError)
    assert "'input'" in msg
    assert "could not be converted" in msg


@pytest.mark.parametrize("value", [None, "abc", b"abc"], ids=repr)
@pytest.mark.parametrize("which", ["input", "weight"])
def test_non_array_argument(backend, which, value):
    arrays = {"input": z(1, 2, 5, 5), "weight": z(3, 2, 3, 3)}
    arrays[which] = value
    with pytest.raises(TypeError) as info:
        pyconv.conv2d(**arrays, backend=backend)
    msg = str(info.value)
    assert f"'{which}'" in msg
    assert ("None" if value is None else type(value).__name__) in msg


def test_nested_lists_are_accepted(backend):
    x = [[[1.0, 2.0], [3.0, 4.0]]]  # Python floats: float64, as numpy.asarray does
    w = np.ones((1, 1, 2, 2), F64)
    out = pyconv.conv2d(x, w, backend=backend)
    assert out.dtype == F64
    assert out.tolist() == [[[10.0]]]
