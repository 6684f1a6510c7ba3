"""Invalid conv2d calls: the exception type follows Python, the message follows PyTorch.

pyconv raises ``ValueError`` for bad values and shapes and ``TypeError`` for bad types and
dtypes (torch raises ``RuntimeError`` for most of them); the message starts with torch's
text where torch has one, possibly followed by a hint.  Every case here runs the same call
through ``torch.nn.functional.conv2d`` (torch 2.13, as pinned in .ci/run) and compares with
torch's first line, so a change of wording in a future torch shows up here, and
``test_every_raise_is_compared_with_torch`` checks that the cases reach every ``raise`` of
``pyconv/_validation.py``: no message is left to be compared by eye.

torch's message depends on which of its CPU paths it picks.  Its own kernels (float64,
batch 1, unbatched input: most calls) say ``expected scalar type Float but found Double``
and ``dilation should be greater than zero, but got [0, 0]``; for float32 with batch >= 2
it takes oneDNN, whose front end says ``Input type (torch.FloatTensor) and weight type
(torch.DoubleTensor) should be the same or input should be a MKLDNN tensor ...`` and
``non-positive dilation is not supported``, and reports a zero-size kernel as an internal
primitive-descriptor error.  pyconv has one text for each mistake whatever the shape, that
of torch's own kernels, so these tests ask torch with oneDNN switched off
(``test_onednn_words_three_mistakes_differently`` pins the other wording).
"""

from __future__ import annotations

import contextlib
import re
import warnings

import numpy as np
import pytest

import pyconv
import pyconv._validation

F32, F64 = np.float32, np.float64


def z(*shape, dtype=F32):
    return np.zeros(shape, dtype=dtype)


def _torch_message(torch, args, kwargs, expected_type=None) -> str:
    """Run the call through torch's own kernels; return the first line of its error."""
    targs = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
    tkwargs = {
        k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()
    }
    with pytest.raises(Exception) as info, _without_onednn(torch):  # noqa: PT011 - checked below
        torch.nn.functional.conv2d(*targs, **tkwargs)
    if expected_type is not None:
        assert isinstance(info.value, expected_type), info.value
    return str(info.value).splitlines()[0]


@contextlib.contextmanager
def _without_onednn(torch):
    """torch with its oneDNN path off: the messages of its own kernels (module docstring)."""
    with warnings.catch_warnings():
        # torch warns about TF32 on Intel GPUs whenever the oneDNN flags are set
        warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
        with torch.backends.mkldnn.flags(enabled=False):
            yield


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
        "dilation should be greater than zero, but got [0, 0]",
    ),
    (
        "dilation-(1,0)",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"dilation": (1, 0)},
        ValueError,
        "dilation should be greater than zero, but got [1, 0]",
    ),
    (
        "dilation-0-batch-1",
        (z(1, 4, 7, 9), z(6, 4, 3, 3)),
        {"dilation": 0},
        ValueError,
        "dilation should be greater than zero, but got [0, 0]",
    ),
    (
        "dilation-(0,1)-unbatched",
        (z(4, 7, 9), z(6, 4, 3, 3)),
        {"dilation": (0, 1)},
        ValueError,
        "dilation should be greater than zero, but got [0, 1]",
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
    (
        "padding-2**62",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"padding": (1, 2**62)},
        ValueError,
        "Given padding=4611686018427387904 at dimension 1 , expected padding to be at most "
        "4611686018427387903",
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
    # dtype mismatches, both ways round
    (
        "weight-dtype-f32-f64",
        (z(2, 4, 7, 9), z(6, 4, 3, 3, dtype=F64)),
        {},
        TypeError,
        "expected scalar type Float but found Double",
    ),
    (
        "weight-dtype-f64-f32",
        (z(2, 4, 7, 9, dtype=F64), z(6, 4, 3, 3)),
        {},
        TypeError,
        "expected scalar type Double but found Float",
    ),
    (
        "weight-dtype-batch-1",
        (z(1, 4, 7, 9), z(6, 4, 3, 3, dtype=F64)),
        {},
        TypeError,
        "expected scalar type Float but found Double",
    ),
    (
        "weight-dtype-unbatched",
        (z(4, 7, 9), z(6, 4, 3, 3, dtype=F64)),
        {},
        TypeError,
        "expected scalar type Float but found Double",
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
# Where torch has no text for the mistake, or a misleading one: pyconv's own text, pinned.
# The last field is what torch does with the same call: the exception type it raises too,
# None where it accepts the call (a documented difference, docs/semantics.md), or why it
# is not asked.
# --------------------------------------------------------------------------------------

_3D_WEIGHT = (
    "Expected 4-dimensional weight (out_channels, in_channels/groups, kH, kW) for conv2d, "
    "but got {}-dimensional weight of size {}"
)

PYCONV_ONLY_CASES = [
    # torch: "expected stride to be a single integer value or a list of 1 values ..."
    (
        "weight-3d",
        (z(2, 4, 7, 9), z(6, 4, 3)),
        {},
        ValueError,
        _3D_WEIGHT.format(3, "[6, 4, 3]"),
        RuntimeError,
    ),
    (
        "weight-5d",
        (z(2, 4, 7, 9), z(6, 4, 3, 3, 1)),
        {},
        ValueError,
        _3D_WEIGHT.format(5, "[6, 4, 3, 3, 1]"),
        RuntimeError,
    ),
    ("weight-1d", (z(2, 4, 7, 9), z(6)), {}, ValueError, _3D_WEIGHT.format(1, "[6]"), RuntimeError),
    # torch's argument parser lists every signature of conv2d
    (
        "input-None",
        (None, z(6, 4, 3, 3)),
        {},
        TypeError,
        "conv2d(): argument 'input' must be an array, not None",
        TypeError,
    ),
    (
        "weight-str",
        (z(2, 4, 7, 9), "abc"),
        {},
        TypeError,
        "conv2d(): argument 'weight' must be an array, not str",
        TypeError,
    ),
    (
        "input-ragged-list",
        ([[[1.0, 2.0], [3.0]]], z(1, 1, 1, 1, dtype=F64)),
        {},
        TypeError,
        "conv2d(): argument 'input' could not be converted to an array: ",
        TypeError,
    ),
    # torch computes integer convolutions (wrapping on overflow); pyconv does not
    (
        "input-int64",
        (z(2, 4, 7, 9).astype(np.int64), z(6, 4, 3, 3).astype(np.int64)),
        {},
        TypeError,
        "conv2d(): argument 'input' has dtype int64, but pyconv computes in float32 or float64 "
        "only; convert it first, e.g. input.astype(numpy.float32)",
        None,
    ),
    # torch: "Overflow when unpacking long long", which names no argument
    (
        "stride-2**63",
        (z(2, 4, 7, 9), z(6, 4, 3, 3)),
        {"stride": 2**63},
        ValueError,
        "conv2d(): argument 'stride' is 9223372036854775808, which does not fit in a signed "
        "64-bit integer (torch: Overflow when unpacking long long)",
        ValueError,
    ),
    # torch has no masked tensors here: torch.from_numpy would drop the mask, as
    # numpy.asarray would; pyconv refuses rather than ignore it silently
    (
        "masked-input",
        (np.ma.masked_array(z(2, 4, 7, 9), mask=False), z(6, 4, 3, 3)),
        {},
        TypeError,
        "conv2d(): argument 'input' is a numpy.ma.MaskedArray; pyconv computes on plain arrays "
        "and would ignore its mask. Pass numpy.ma.filled(input, 0) to treat the masked "
        "elements as zeros, or input.data to use the values under the mask",
        "torch takes no masked arrays",
    ),
    (
        "padded-input-overflows-int64",
        (z(1, 1, 1, 1), z(1, 1, 1, 1)),
        {"padding": (2**31, 2**31)},
        ValueError,
        "conv2d(): the padded input would have shape [1, 1, 4294967297, 4294967297]: "
        "18446744082299486209 elements of 4 bytes",
        "torch tries to allocate it (tests/test_resources.py checks pyconv never does)",
    ),
]


@pytest.mark.parametrize(
    ("args", "kwargs", "exc_type", "message", "torch_outcome"),
    [pytest.param(*case[1:], id=case[0]) for case in PYCONV_ONLY_CASES],
)
def test_error_where_torch_message_differs(
    backend, torch, args, kwargs, exc_type, message, torch_outcome
):
    if isinstance(torch_outcome, type):  # torch rejects the call too
        _torch_message(torch, args, kwargs, torch_outcome)
    elif torch_outcome is None:  # torch accepts it: a documented difference
        targs = [torch.from_numpy(a) for a in args]
        with _without_onednn(torch):
            torch.nn.functional.conv2d(*targs, **kwargs)
    got = _pyconv_error(backend, args, kwargs, exc_type)
    assert got.startswith(message), got


@pytest.mark.parametrize(
    ("args", "kwargs", "onednn_text", "case_id"),
    [
        (
            (z(2, 4, 7, 9), z(6, 4, 3, 3, dtype=F64)),
            {},
            "Input type (torch.FloatTensor) and weight type (torch.DoubleTensor) should be the "
            "same or input should be a MKLDNN tensor and weight is a dense tensor",
            "weight-dtype-f32-f64",
        ),
        ((z(2, 4, 7, 9), z(6, 4, 3, 3)), {"dilation": 0}, "non-positive dilation", "dilation-0"),
        ((z(2, 4, 7, 9), z(6, 4, 0, 0)), {}, "could not create a primitive", "kernel-0-batch-2"),
    ],
    ids=["weight-dtype", "dilation-0", "kernel-0"],
)
def test_onednn_words_three_mistakes_differently(torch, args, kwargs, onednn_text, case_id):
    # torch's default path for float32 with batch >= 2; pyconv keeps the text of torch's
    # own kernels (TORCH_CASES[case_id]), which every other call gets.  If a future torch
    # words them alike, this fails and the module docstring can say so.
    targs = [torch.from_numpy(a) for a in args]
    with pytest.raises(RuntimeError, match=re.escape(onednn_text)):
        torch.nn.functional.conv2d(*targs, **kwargs)
    (case,) = [c for c in TORCH_CASES if c[0] == case_id]
    assert _torch_message(torch, args, kwargs).startswith(case[4])


def test_weight_dtype_message_gives_numpy_dtypes_and_a_hint(backend):
    msg = _pyconv_error(backend, (z(2, 4, 7, 9), z(6, 4, 3, 3, dtype=F64)), {}, TypeError)
    assert "float32" in msg
    assert "float64" in msg
    assert "astype" in msg


# --------------------------------------------------------------------------------------
# Bad Python types for the parameters: TypeError naming the argument and what was given.
# torch raises TypeError too, with its long argument-parser listing.
# --------------------------------------------------------------------------------------

PARAM_TYPE_ARGS = (z(2, 4, 7, 9), z(4, 4, 3, 3))
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
    args = PARAM_TYPE_ARGS
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


# --------------------------------------------------------------------------------------
# Completeness: every raise in the front end is reached by a case compared with torch.
# --------------------------------------------------------------------------------------


def test_every_raise_is_compared_with_torch(raise_sites, family_raises):
    module = pyconv._validation
    cases = [c[:4] for c in TORCH_CASES + ORDER_CASES + PYCONV_ONLY_CASES]
    cases += [
        (f"{name}={value!r}", PARAM_TYPE_ARGS, {name: value}, TypeError)
        for name, value, _ in PARAM_TYPE_CASES
    ]
    raised = []
    for _, args, kwargs, exc_type in cases:
        with pytest.raises(exc_type) as info:
            pyconv.conv2d(*args, **kwargs, backend="numpy")
        raised.append(info.value)
    # the other operations' checks are tests/test_family_errors.py's to reach
    skipped = family_raises["family"] + family_raises["guards"]
    unreached = raise_sites.unreached(module, raised, skip_functions=skipped)
    assert not unreached, f"no case compared with torch reaches:\n{unreached}"


@pytest.mark.parametrize("which", ["input", "weight", "bias"])
def test_masked_arrays_are_refused_with_the_way_out(backend, which):
    rng = np.random.default_rng(3)
    arrays = {
        "input": rng.standard_normal((1, 2, 6, 6)),
        "weight": rng.standard_normal((3, 2, 3, 3)),
        "bias": rng.standard_normal(3),
    }
    mask = rng.random(arrays[which].shape) < 0.3
    masked = np.ma.masked_array(arrays[which], mask=mask)
    with pytest.raises(TypeError) as info:
        pyconv.conv2d(**(arrays | {which: masked}), backend=backend)
    msg = str(info.value)
    assert f"argument '{which}' is a numpy.ma.MaskedArray" in msg
    assert "would ignore its mask" in msg
    assert f"numpy.ma.filled({which}, 0)" in msg
    # the two ways out the message names are accepted and mean what it says
    filled = pyconv.conv2d(**(arrays | {which: np.ma.filled(masked, 0)}), backend=backend)
    zeroed = arrays[which] * ~mask
    expected = pyconv.conv2d(**(arrays | {which: zeroed}), backend=backend)
    np.testing.assert_array_equal(filled, expected)
    data = pyconv.conv2d(**(arrays | {which: masked.data}), backend=backend)
    np.testing.assert_array_equal(data, pyconv.conv2d(**arrays, backend=backend))
