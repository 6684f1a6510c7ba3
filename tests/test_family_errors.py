"""Invalid calls of the rest of the family: Python's exception types, torch 2.13's messages.

As ``tests/test_errors.py`` does for conv2d: every case runs the same call through torch
and pyconv's message must start with torch's first line (pyconv may append a hint).
torch's text depends on its CPU path for a few mistakes (a dtype mismatch, a zero
dilation, a zero-size kernel: oneDNN's front end for float32 with a batch of two or more);
pyconv has one text per mistake for every operation, that of torch's own kernels, so torch
is asked with oneDNN switched off.  Cases torch has no readable message for, or accepts,
pin pyconv's own text.  ``test_every_family_raise_is_reached`` checks that the cases reach
every ``raise`` of ``pyconv/_validation.py`` that the conv2d cases of
``tests/test_errors.py`` leave to this file.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

import pyconv
import pyconv.grad

F32, F64 = np.float32, np.float64


def z(*shape, dtype=F32):
    return np.zeros(shape, dtype=dtype)


def _fn(module, op):
    return getattr(module.nn.grad if "d_" in op else module.nn.functional, op)


def _pyconv_fn(op):
    return getattr(pyconv.grad if "d_" in op else pyconv, op)


# (id, op, args, kwargs, pyconv's exception type, a fragment pinned literally)
CASES = [
    # ---- conv1d / conv3d
    ("conv1d-rank1", "conv1d", (z(5), z(2, 3, 3)), {}, ValueError,
     "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: [5]"),
    ("conv1d-rank4", "conv1d", (z(1, 3, 5, 5), z(2, 3, 3)), {}, ValueError,
     "but got input of size: [1, 3, 5, 5]"),
    ("conv3d-rank3", "conv3d", (z(3, 5, 5), z(2, 3, 3, 3, 3)), {}, ValueError,
     "Expected 4D (unbatched) or 5D (batched) input to conv3d"),
    ("conv1d-channels", "conv1d", (z(1, 4, 5), z(2, 3, 3)), {}, ValueError,
     "Given groups=1, weight of size [2, 3, 3], expected input[1, 4, 5] to have 3 channels, "
     "but got 4 channels instead"),
    ("conv3d-channels-unbatched", "conv3d", (z(4, 5, 5, 5), z(2, 3, 3, 3, 3)), {}, ValueError,
     "expected input[1, 4, 5, 5, 5] to have 3 channels"),
    ("conv1d-stride-pair", "conv1d", (z(1, 3, 5), z(2, 3, 3)), {"stride": (1, 1)}, ValueError,
     "expected stride to be a single integer value or a list of 1 values to match the "
     "convolution dimensions, but got stride=[1, 1]"),
    ("conv3d-padding-pair", "conv3d", (z(1, 3, 5, 5, 5), z(2, 3, 3, 3, 3)), {"padding": (1, 1)},
     ValueError, "a list of 3 values to match the convolution dimensions, but got padding=[1, 1]"),
    ("conv1d-kernel-too-big", "conv1d", (z(1, 3, 2), z(2, 3, 3)), {}, ValueError,
     "Calculated padded input size per channel: (2). Kernel size: (3). Kernel size can't be "
     "greater than actual input size"),
    ("conv3d-kernel-too-big", "conv3d", (z(1, 3, 2, 5, 5), z(2, 3, 3, 3, 3)), {}, ValueError,
     "Calculated padded input size per channel: (2 x 5 x 5). Kernel size: (3 x 3 x 3)."),
    ("conv1d-kernel0", "conv1d", (z(1, 3, 5), z(2, 3, 0)), {}, ValueError,
     "kernel size should be greater than zero, but got kernel_height: 1 kernel_width: 0"),
    ("conv3d-kernel0", "conv3d", (z(1, 3, 5, 5, 5), z(2, 3, 0, 3, 3)), {}, ValueError,
     "kernel size should be greater than zero, but got: 0 x 3 x 3 (TxHxW)"),
    ("conv1d-bias-shape", "conv1d", (z(1, 3, 5), z(2, 3, 3), z(3)), {}, ValueError,
     "Given weight of size [2, 3, 3], expected bias to be 1-dimensional with 2 elements, but "
     "got bias of size [3] instead"),
    ("conv1d-same-stride", "conv1d", (z(1, 3, 5), z(2, 3, 3)), {"padding": "same", "stride": 2},
     ValueError, "padding='same' is not supported for strided convolutions"),
    ("conv3d-groups", "conv3d", (z(1, 4, 5, 5, 5), z(6, 1, 3, 3, 3)), {"groups": 4}, ValueError,
     "Given groups=4, expected weight to be divisible by 4 at dimension 0"),
    ("conv1d-stride0", "conv1d", (z(1, 3, 5), z(2, 3, 3)), {"stride": 0}, ValueError,
     "non-positive stride is not supported"),
    ("conv3d-negative-padding", "conv3d", (z(1, 3, 5, 5, 5), z(2, 3, 3, 3, 3)), {"padding": -1},
     ValueError, "negative padding is not supported"),
    ("conv1d-dilation0", "conv1d", (z(2, 3, 5), z(2, 3, 3)), {"dilation": 0}, ValueError,
     "dilation should be greater than zero, but got [1, 0]"),
    ("conv3d-dilation0", "conv3d", (z(2, 3, 5, 5, 5), z(2, 3, 3, 3, 3)), {"dilation": 0},
     ValueError, "dilation should be greater than zero, but got [0, 0, 0]"),
    ("conv1d-dilation-negative", "conv1d", (z(1, 3, 5), z(2, 3, 3)), {"dilation": -1},
     ValueError, "dilation should be greater than zero"),
    ("conv3d-mixed", "conv3d", (z(2, 3, 5, 5, 5), z(2, 3, 3, 3, 3, dtype=F64)), {},
     TypeError, "expected scalar type Float but found Double"),
    ("conv1d-mixed-bias", "conv1d", (z(1, 3, 5), z(2, 3, 3), z(2, dtype=F64)), {}, TypeError,
     "Input type (float) and bias type (double) should be the same"),
    ("conv1d-zero-length", "conv1d", (z(1, 3, 0), z(2, 3, 1)), {}, ValueError,
     "Calculated padded input size per channel: (0). Kernel size: (1)."),
    # ---- transposed
    ("ct1d-rank4", "conv_transpose1d", (z(1, 3, 5, 5), z(3, 2, 3)), {}, ValueError,
     "Expected 2D (unbatched) or 3D (batched) input to conv_transpose1d, but got input of "
     "size: [1, 3, 5, 5]"),
    ("ct3d-rank3", "conv_transpose3d", (z(3, 5, 5), z(3, 2, 3, 3, 3)), {}, ValueError,
     "Expected 4D (unbatched) or 5D (batched) input to conv_transpose3d"),
    ("ct1d-channels", "conv_transpose1d", (z(1, 4, 5), z(3, 2, 3)), {}, ValueError,
     "Given transposed=1, weight of size [3, 2, 3], expected input[1, 4, 5] to have 3 "
     "channels, but got 4 channels instead"),
    ("ct1d-groups", "conv_transpose1d", (z(1, 4, 5), z(4, 2, 3)), {"groups": 3}, ValueError,
     "Given groups=3, expected weight to be divisible by 3 at dimension 0, but got weight of "
     "size [[4, 2, 3]] instead"),
    ("ct2d-groups-larger", "conv_transpose2d", (z(1, 4, 5, 5), z(4, 2, 3, 3)), {"groups": 8},
     ValueError, "Given groups=8, expected weight to be at least 8 at dimension 0"),
    ("ct1d-output-padding", "conv_transpose1d", (z(1, 3, 5), z(3, 2, 3)),
     {"stride": 2, "output_padding": 2}, ValueError,
     "output padding must be smaller than either stride or dilation, but got "
     "output_padding_height: 0 output_padding_width: 2 stride_height: 1 stride_width: 2 "
     "dilation_height: 1 dilation_width: 1"),
    ("ct2d-output-padding", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 3, 3)),
     {"stride": 2, "output_padding": (1, 2)}, ValueError,
     "output padding must be smaller than either stride or dilation, but got "
     "output_padding_height: 1 output_padding_width: 2 stride_height: 2"),
    ("ct3d-output-padding", "conv_transpose3d", (z(1, 3, 5, 5, 5), z(3, 2, 3, 3, 3)),
     {"stride": 2, "output_padding": (0, 1, 2)}, ValueError,
     "output_padding_depth: 0 output_padding_height: 1 output_padding_width: 2 stride_depth: 2"),
    ("ct2d-output-padding-negative", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 3, 3)),
     {"stride": 2, "output_padding": -1}, ValueError, "negative output_padding is not supported"),
    ("ct2d-output-padding-three", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 3, 3)),
     {"output_padding": (1, 1, 1)}, ValueError,
     "expected output_padding to be a single integer value or a list of 2 values"),
    ("ct2d-padding-negative", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 3, 3)),
     {"padding": -1}, ValueError, "negative padding is not supported"),
    ("ct2d-stride0", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 3, 3)), {"stride": 0},
     ValueError, "non-positive stride is not supported"),
    ("ct2d-groups0", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 3, 3)), {"groups": 0},
     ValueError, "non-positive groups is not supported"),
    ("ct2d-too-small", "conv_transpose2d", (z(1, 3, 2, 2), z(3, 2, 3, 3)), {"padding": 3},
     ValueError, "Given input size per channel: (2 x 2). Calculated output size per channel: "
     "(-2 x -2). Output size is too small"),
    ("ct1d-too-small", "conv_transpose1d", (z(1, 3, 2), z(3, 2, 3)), {"padding": 3},
     ValueError, "Given input size per channel: (1 x 2). Calculated output size per channel: "
     "(1 x -2). Output size is too small"),
    ("ct3d-too-small", "conv_transpose3d", (z(1, 3, 2, 2, 2), z(3, 2, 3, 3, 3)), {"padding": 3},
     ValueError, "Calculated output size per channel: (-2 x -2 x -2)"),
    ("ct2d-bias-shape", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 3, 3), z(3)), {}, ValueError,
     "Given transposed=1, weight of size [3, 2, 3, 3], expected bias to be 1-dimensional with "
     "2 elements, but got bias of size [3] instead"),
    ("ct2d-kernel0", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 0, 3)), {}, ValueError,
     "kernel size should be greater than zero, but got kernel_height: 0 kernel_width: 3"),
    ("ct1d-kernel0", "conv_transpose1d", (z(1, 3, 5), z(3, 2, 0)), {}, ValueError,
     "kernel size should be greater than zero, but got kernel_height: 1 kernel_width: 0"),
    ("ct3d-kernel0", "conv_transpose3d", (z(1, 3, 5, 5, 5), z(3, 2, 0, 3, 3)), {}, ValueError,
     "non-empty 5D (n_output_plane x n_input_plane x kernel_depth x kernel_height x "
     "kernel_width) tensor expected for weight, but got: [3, 2, 0, 3, 3]"),
    ("ct2d-cout0", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 0, 3, 3)), {}, ValueError,
     "non-empty 2D or 4D weight tensor expected, but got: [3, 0, 3, 3]"),
    ("ct1d-cout0", "conv_transpose1d", (z(1, 3, 5), z(3, 0, 3)), {}, ValueError,
     "non-empty 2D or 4D weight tensor expected, but got: [3, 0, 1, 3]"),
    ("ct3d-cout0", "conv_transpose3d", (z(1, 3, 5, 5, 5), z(3, 0, 3, 3, 3)), {}, ValueError,
     "tensor expected for weight, but got: [3, 0, 3, 3, 3]"),
    ("ct2d-cin0", "conv_transpose2d", (z(1, 0, 5, 5), z(0, 2, 3, 3)), {}, ValueError,
     "Given groups=1, expected weight to be at least 1 at dimension 0, but got weight of size "
     "[0, 2, 3, 3] instead"),
    ("ct2d-height0", "conv_transpose2d", (z(1, 3, 0, 5), z(3, 2, 3, 3)), {}, ValueError,
     "Only zero batch or zero channel inputs are supported, but got input shape: [1, 3, 0, 5]"),
    ("ct1d-length0", "conv_transpose1d", (z(1, 3, 0), z(3, 2, 3)), {}, ValueError,
     "Only zero batch or zero channel inputs are supported, but got input shape: [1, 3, 1, 0]"),
    ("ct2d-padding-string", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 3, 3)),
     {"padding": "same"}, TypeError,
     "conv_transpose2d(): argument 'padding' must be tuple of ints, not str"),
    ("ct2d-mixed", "conv_transpose2d", (z(2, 3, 5, 5), z(3, 3, 3, 3, dtype=F64)), {},
     TypeError, "expected scalar type Float but found Double"),
    ("ct2d-dilation0", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 3, 3)), {"dilation": 0},
     ValueError, "dilation should be greater than zero, but got dilation_height: 0, "
     "dilation_width: 0"),
    ("ct1d-dilation0", "conv_transpose1d", (z(1, 3, 5), z(3, 2, 3)), {"dilation": (0,)},
     ValueError, "dilation should be greater than zero, but got dilation_height: 1, "
     "dilation_width: 0"),
    ("ct3d-dilation0", "conv_transpose3d", (z(1, 3, 5, 5, 5), z(3, 2, 3, 3, 3)),
     {"dilation": 0}, ValueError, "dilation_depth: 0, dilation_height: 0, dilation_width: 0"),
    ("ct2d-stride-three", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 3, 3)),
     {"stride": (1, 1, 1)}, ValueError, "expected stride to be a single integer value or a "
     "list of 2 values"),
    ("ct2d-mixed-bias-first", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 3, 3),
     z(2, dtype=F64)), {"stride": 0}, ValueError, "non-positive stride is not supported"),
    # ---- input gradient
    ("g2in-unbatched", "conv2d_input", ((3, 5, 5), z(2, 3, 3, 3), z(2, 3, 3)), {}, ValueError,
     "Expected 4-dimensional input for 4-dimensional weight [2, 3, 3, 3], but got "
     "3-dimensional input of size [3, 5, 5] instead"),
    ("g1in-unbatched", "conv1d_input", ((3, 5), z(2, 3, 3), z(2, 3)), {}, ValueError,
     "Expected 3-dimensional input for 3-dimensional weight [2, 3, 3], but got 2-dimensional"),
    ("g2in-grad-rank", "conv2d_input", ((1, 3, 5, 5), z(2, 3, 3, 3), z(2, 3, 3)), {}, ValueError,
     "Expected input and grad_output to have the same number of dimensions, but got: 4 and 3"),
    ("g2in-grad-size", "conv2d_input", ((1, 3, 5, 5), z(2, 3, 3, 3), z(1, 2, 4, 4)), {},
     ValueError, "Expected a tensor of dimension 4 and tensor.size[2] == 3 but got: dimension 4 "
     "and tensor.size[2] = 4"),
    ("g2in-grad-channels", "conv2d_input", ((1, 3, 5, 5), z(2, 3, 3, 3), z(1, 3, 3, 3)), {},
     ValueError, "Expected a tensor of dimension 4 and tensor.size[1] == 2 but got: dimension 4 "
     "and tensor.size[1] = 3"),
    ("g2in-stride-size", "conv2d_input", ((1, 3, 9, 9), z(2, 3, 3, 3), z(1, 2, 3, 3)),
     {"stride": 2}, ValueError, "tensor.size[2] == 4 but got: dimension 4 and tensor.size[2] = 3"),
    ("g2in-channels", "conv2d_input", ((1, 4, 5, 5), z(2, 3, 3, 3), z(1, 2, 3, 3)), {}, ValueError,
     "Given groups=1, weight of size [2, 3, 3, 3], expected input[1, 4, 5, 5] to have 3 "
     "channels, but got 4 channels instead"),
    ("g2in-kernel-too-big", "conv2d_input", ((1, 3, 2, 2), z(2, 3, 3, 3), z(1, 2, 1, 1)), {},
     ValueError, "Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3)."),
    ("g2in-mixed", "conv2d_input", ((1, 3, 5, 5), z(2, 3, 3, 3, dtype=F64), z(1, 2, 3, 3)), {},
     TypeError, "expected scalar type Float but found Double"),
    ("g2in-stride0", "conv2d_input", ((1, 3, 5, 5), z(2, 3, 3, 3), z(1, 2, 3, 3)), {"stride": 0},
     ValueError, "non-positive stride is not supported"),
    ("g3in-padding-negative", "conv3d_input", ((1, 3, 5, 5, 5), z(2, 3, 3, 3, 3),
     z(1, 2, 3, 3, 3)), {"padding": -1}, ValueError, "negative padding is not supported"),
    ("g2in-kernel0", "conv2d_input", ((1, 3, 5, 5), z(2, 3, 0, 3), z(1, 2, 3, 3)), {}, ValueError,
     "kernel size should be greater than zero, but got kernel_height: 0 kernel_width: 3"),
    ("g2in-dilation0", "conv2d_input", ((1, 3, 5, 5), z(2, 3, 3, 3), z(1, 2, 3, 3)),
     {"dilation": 0}, ValueError, "dilation should be greater than zero, but got [0, 0]"),
    ("g2in-groups0", "conv2d_input", ((1, 3, 5, 5), z(2, 3, 3, 3), z(1, 2, 3, 3)),
     {"groups": 0}, ValueError, "expected groups to be greater than 0, but got groups=0"),
    ("g2in-groups-not-dividing", "conv2d_input", ((1, 4, 5, 5), z(3, 2, 3, 3), z(1, 3, 3, 3)),
     {"groups": 2}, ValueError, "Given groups=2, expected weight to be divisible by 2"),
    ("g2in-zero-height-padded", "conv2d_input", ((1, 3, 0, 5), z(2, 3, 1, 1), z(1, 2, 2, 7)),
     {"padding": 1}, ValueError, "Only zero batch or zero channel inputs are supported, but "
     "got input shape: [1, 3, 0, 5]"),
    ("g2w-zero-height-padded", "conv2d_weight", (z(1, 3, 0, 5), (2, 3, 1, 1), z(1, 2, 2, 7)),
     {"padding": 1}, ValueError, "Only zero batch or zero channel inputs are supported"),
    ("g2in-zero-height", "conv2d_input", ((1, 3, 0, 5), z(2, 3, 1, 1), z(1, 2, 0, 5)), {},
     ValueError, "Calculated padded input size per channel: (0 x 5)"),
    # ---- weight gradient
    ("g2w-unbatched", "conv2d_weight", (z(3, 5, 5), (2, 3, 3, 3), z(2, 3, 3)), {}, ValueError,
     "Expected 4-dimensional input for 4-dimensional weight [2, 3, 3, 3], but got "
     "3-dimensional input of size [3, 5, 5] instead"),
    ("g3w-unbatched", "conv3d_weight", (z(3, 5, 5, 5), (2, 3, 3, 3, 3), z(2, 3, 3, 3)), {},
     ValueError, "Expected 5-dimensional input for 5-dimensional weight [2, 3, 3, 3, 3]"),
    ("g2w-grad-size", "conv2d_weight", (z(1, 3, 5, 5), (2, 3, 3, 3), z(1, 2, 4, 4)), {},
     ValueError, "Expected a tensor of dimension 4 and tensor.size[2] == 3 but got: dimension 4 "
     "and tensor.size[2] = 4"),
    ("g2w-weight-size-channels", "conv2d_weight", (z(1, 3, 5, 5), (2, 4, 3, 3), z(1, 2, 3, 3)),
     {}, ValueError, "Given groups=1, weight of size [2, 4, 3, 3], expected input[1, 3, 5, 5] "
     "to have 4 channels, but got 3 channels instead"),
    ("g2w-weight-size-cout", "conv2d_weight", (z(1, 3, 5, 5), (3, 3, 3, 3), z(1, 2, 3, 3)), {},
     ValueError, "Expected a tensor of dimension 4 and tensor.size[1] == 3 but got: dimension 4 "
     "and tensor.size[1] = 2"),
    ("g2w-mixed", "conv2d_weight", (z(1, 3, 5, 5, dtype=F64), (2, 3, 3, 3), z(1, 2, 3, 3)), {},
     TypeError, "expected scalar type Double but found Float"),
    ("g1w-dilation-negative", "conv1d_weight", (z(1, 3, 9), (2, 3, 3), z(1, 2, 7)),
     {"dilation": -1}, ValueError, "dilation should be greater than zero"),
]  # fmt: skip


@contextlib.contextmanager
def _without_onednn(torch):
    """torch with its oneDNN path off: the messages of its own kernels (module docstring)."""
    with warnings.catch_warnings():
        # torch warns about TF32 on Intel GPUs whenever the oneDNN flags are set
        warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
        with torch.backends.mkldnn.flags(enabled=False):
            yield


def _torch_first_line(torch, op, args, kwargs) -> str:
    def t(a):
        return torch.from_numpy(a) if isinstance(a, np.ndarray) else a

    with pytest.raises(Exception) as info, _without_onednn(torch):  # noqa: PT011 - checked by callers
        _fn(torch, op)(*map(t, args), **kwargs)
    return str(info.value).splitlines()[0]


@pytest.mark.parametrize(
    ("op", "args", "kwargs", "exc", "fragment"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_message_starts_with_torchs(torch, backend, op, args, kwargs, exc, fragment):
    with pytest.raises(exc) as info:
        _pyconv_fn(op)(*args, **kwargs, backend=backend)
    assert type(info.value) is exc
    message = str(info.value)
    assert fragment in message
    assert message.startswith(_torch_first_line(torch, op, args, kwargs))


# Mistakes torch reports with an internal or path-dependent text, or accepts: pyconv's own.
OWN = [
    ("g2in-padding-same", "conv2d_input", ((1, 3, 5, 5), z(2, 3, 3, 3), z(1, 2, 5, 5)),
     {"padding": "same"}, TypeError, "conv2d_input(): argument 'padding' must be tuple of ints, "
     "not str"),
    ("g2w-padding-valid", "conv2d_weight", (z(1, 3, 5, 5), (2, 3, 3, 3), z(1, 2, 3, 3)),
     {"padding": "valid"}, TypeError, "conv2d_weight(): argument 'padding' must be tuple of "
     "ints, not str"),
    # torch 2.13 accepts a grad_output whose batch differs from input_size's
    ("g2in-batch-mismatch", "conv2d_input", ((1, 3, 5, 5), z(2, 3, 3, 3), z(2, 2, 3, 3)), {},
     ValueError, "tensor.size[0] == 1 but got: dimension 4 and tensor.size[0] = 2 (pyconv: "
     "grad_output has shape [2, 2, 3, 3], but conv2d of an input of size [1, 3, 5, 5] gives "
     "[1, 2, 3, 3])"),
    ("g2in-input-size-negative", "conv2d_input", ((1, 3, -5, 5), z(2, 3, 3, 3), z(1, 2, 3, 3)),
     {}, ValueError, "conv2d_input(): argument 'input_size' must hold sizes >= 0, but got "
     "[1, 3, -5, 5]"),
    ("g2in-input-size-float", "conv2d_input", ((1, 3, 5.0, 5), z(2, 3, 3, 3), z(1, 2, 3, 3)),
     {}, TypeError, "conv2d_input(): argument 'input_size' must be int, but got float"),
    ("g2in-input-size-int", "conv2d_input", (5, z(2, 3, 3, 3), z(1, 2, 3, 3)), {}, TypeError,
     "conv2d_input(): argument 'input_size' must be a sequence of ints (a shape), but got int"),
    ("g2w-weight-size-rank", "conv2d_weight", (z(1, 3, 5, 5), (2, 3, 3), z(1, 2, 3, 3)), {},
     ValueError, "Expected 4-dimensional weight_size (out_channels, in_channels/groups, kH, kW) "
     "for conv2d_weight, but got 3-dimensional weight_size [2, 3, 3]"),
    ("ct2d-weight-rank", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 3)), {}, ValueError,
     "Expected 4-dimensional weight (in_channels, out_channels/groups, kH, kW) for "
     "conv_transpose2d, but got 3-dimensional weight of size [3, 2, 3]"),
    ("conv3d-weight-rank", "conv3d", (z(1, 3, 5, 5, 5), z(2, 3, 3, 3)), {}, ValueError,
     "Expected 5-dimensional weight (out_channels, in_channels/groups, kD, kH, kW) for conv3d"),
    ("ct1d-stride-float", "conv_transpose1d", (z(1, 3, 5), z(3, 2, 3)), {"stride": 1.5},
     TypeError, "conv_transpose1d(): argument 'stride' must be an int or a tuple of 1 ints, but "
     "got float (1.5)"),
    ("conv1d-int-input", "conv1d", (z(1, 3, 5, dtype=np.int64), z(2, 3, 3)), {}, TypeError,
     "conv1d(): argument 'input' has dtype int64, but pyconv computes in float32 or float64"),
    ("ct3d-input-none", "conv_transpose3d", (None, z(3, 2, 3, 3, 3)), {}, TypeError,
     "conv_transpose3d(): argument 'input' must be an array, not None"),
    ("g2w-unbatched-input-size", "conv2d_input", ((3, 5, 5), z(2, 3, 3, 3), z(2, 3, 3)), {},
     ValueError, "(pyconv: conv2d_input takes a batch, as torch does: add the batch axis to "
     "input_size)"),
    ("ct2d-masked", "conv_transpose2d", (np.ma.masked_array(z(1, 3, 5, 5)), z(3, 2, 3, 3)), {},
     TypeError, "conv_transpose2d(): argument 'input' is a numpy.ma.MaskedArray"),
    ("g3in-huge-padding", "conv3d_input", ((1, 3, 5, 5, 5), z(2, 3, 3, 3, 3),
     z(1, 2, 3, 3, 3)), {"padding": 2**62}, ValueError, "expected padding to be at most"),
    ("g2w-weight-size-float", "conv2d_weight", (z(1, 3, 5, 5), (2, 3, 3.0, 3), z(1, 2, 3, 3)),
     {}, TypeError, "conv2d_weight(): argument 'weight_size' must be int, but got float"),
    ("ct2d-output-padding-float", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 3, 3)),
     {"output_padding": 0.5}, TypeError, "argument 'output_padding' must be an int or a tuple "
     "of 2 ints"),
    ("ct2d-huge-output", "conv_transpose2d", (z(1, 3, 5, 5), z(3, 2, 3, 3)),
     {"stride": 2**61}, ValueError, "conv_transpose2d(): the padded input would have shape"),
    ("g2w-huge-weight-size", "conv2d_weight", (z(1, 3, 5, 5), (2**62, 3, 3, 3), z(1, 2, 3, 3)),
     {}, ValueError, "Expected a tensor of dimension 4 and tensor.size[1] =="),
]  # fmt: skip


@pytest.mark.parametrize(
    ("op", "args", "kwargs", "exc", "text"),
    [pytest.param(*c[1:], id=c[0]) for c in OWN],
)
def test_pyconvs_own_messages(backend, op, args, kwargs, exc, text):
    with pytest.raises(exc) as info:
        _pyconv_fn(op)(*args, **kwargs, backend=backend)
    assert type(info.value) is exc
    assert text in str(info.value)


def test_torch_accepts_the_batch_mismatch_pyconv_refuses(torch):
    # the documented difference: torch returns a gradient of input_size's shape computed
    # from a grad_output of another batch
    out = torch.nn.grad.conv2d_input((1, 3, 5, 5), torch.zeros(2, 3, 3, 3), torch.zeros(2, 2, 3, 3))
    assert tuple(out.shape) == (1, 3, 5, 5)


@pytest.mark.parametrize("op", ["conv1d", "conv3d", "conv_transpose2d"])
def test_dask_arrays_are_refused_with_the_way_out(op):
    da = pytest.importorskip("dask.array")
    shapes = {"conv1d": ((1, 2, 8), (3, 2, 3)), "conv3d": ((1, 2, 4, 4, 4), (3, 2, 3, 3, 3)),
              "conv_transpose2d": ((1, 2, 4, 4), (2, 3, 3, 3))}[op]  # fmt: skip
    x = da.zeros(shapes[0], dtype=np.float32)
    with pytest.raises(TypeError, match=f"{op}\\(\\): got a dask.array.Array; pyconv computes "
                       "Dask arrays with conv2d"):  # fmt: skip
        _pyconv_fn(op)(x, z(*shapes[1]))


def test_api_guards():
    # pyconv's own API, not torch's checks: misuse says what is wrong
    *_, spec = pyconv._validation.prepare_conv(z(1, 2, 9), z(3, 2, 3), ndim=1)
    with pytest.raises(AttributeError, match="a 1-d conv1d call has no height"):
        _ = spec.height
    assert spec.width == 9
    with pytest.raises(ValueError, match="transposed\\(\\) applies to conv\\{n\\}d_input specs"):
        spec.transposed()
    with pytest.raises(ValueError, match="unknown operation 'conv4d'; the operations are conv1d"):
        pyconv._validation.split_operation("conv4d")


def test_every_family_raise_is_reached(raise_sites, family_raises):
    module = pyconv._validation
    raised = []
    for _, op, args, kwargs, exc_type, _ in CASES + OWN:
        with pytest.raises(exc_type) as info:
            _pyconv_fn(op)(*args, **kwargs, backend="numpy")
        raised.append(info.value)
    for guard in ("height", "transposed", "split"):
        try:
            *_, spec = pyconv._validation.prepare_conv(z(1, 2, 9), z(3, 2, 3), ndim=1)
            if guard == "height":
                _ = spec.height
            elif guard == "transposed":
                spec.transposed()
            else:
                pyconv._validation.split_operation("conv4d")
        except (AttributeError, ValueError) as exc:
            raised.append(exc)
    functions = family_raises["family"] + family_raises["guards"]
    family = raise_sites.lines(module) - raise_sites.lines(module, skip_functions=functions)
    reached = {raise_sites.line_of(e, module) for e in raised}
    src = module.__file__
    unreached = sorted(family - reached)
    assert not unreached, f"no case reaches {src} lines {unreached}"
