"""The article pyconv started from, example by example ("[Pytorch] conv2d", see shared/seed).

1. The dark-line demo: ``F.conv2d(x, weight.unsqueeze(0))`` prints
   ``[[[27, 28, 23], [220, 220, 224], [16, 16, 28]]]``.  Every product is a small integer
   times 0 or 1 and every partial sum is an integer below 2**24, so float32 is exact here
   and the result must equal the printed values bit for bit, in any summation order.
2. ``nn.Conv2d(3, 3, kernel_size=3)`` applied to the second (3, 5, 5) input.
3. How in_channels become out_channels: the output of a convolution is the sum of the
   per-input-channel convolutions.

The arrays are typed out below verbatim from the article and compared with
:mod:`pyconv.examples`, so the shipped examples cannot drift from the text.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconv
from pyconv.testing import assert_conv_close

# ---------------------------------------------------------------------------------------
# The article's literals, copied verbatim (only `torch.tensor(` became `np.array(`).

ARTICLE_DARK_LINE_X = [
    [
        [1.0, 4, 1, 4, 5],
        [0, 5, 3, 2, 1],
        [21,25, 25, 23, 26],
        [5, 2, 5, 2, 5],
        [4, 9, 3, 0, 7]
    ],
    [
        [2, 2, 2, 7, 2],
        [0, 0, 6, 3, 0],
        [24, 25, 25, 23, 27],
        [0, 1, 1, 1, 5],
        [0, 2, 0, 2, 2]
    ],
    [
        [2, 2, 2, 1, 0],
        [7, 2, 4, 3, 1],
        [24, 23, 28, 23, 24],
        [0, 0, 2, 2, 5],
        [5, 2, 4, 5, 2]
    ]
]  # fmt: skip

ARTICLE_DARK_LINE_WEIGHT = [
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
    ]
]  # fmt: skip

# What the article prints for `out`.
ARTICLE_DARK_LINE_OUT = [[[27, 28, 23], [220, 220, 224], [16, 16, 28]]]

ARTICLE_LAYER_X = [
    [
        [231.0, 120, 111, 34, 45],
        [100, 85, 23, 200, 111],
        [31, 45, 100, 103, 220],
        [5, 5, 5, 5, 5],
        [54, 89, 103, 150, 67]
    ],
    [
        [12, 58, 52, 87, 100],
        [200, 140, 86, 23, 10],
        [60, 75, 45, 30, 7],
        [155, 155, 155, 155, 155],
        [0, 122, 0, 0, 12]
    ],
    [
        [12, 12, 12, 11, 10],
        [67, 12, 45, 23, 1],
        [56, 12, 5, 10, 8],
        [0, 0, 0, 0, 0],
        [5, 12, 34, 56, 12]
    ]
]  # fmt: skip


def _torch_f32(torch, a):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


# ---------------------------------------------------------------------------------------
# 1. The dark-line demo


def test_dark_line_example_arrays_are_the_articles():
    x, w = pyconv.examples.dark_line()
    # torch.tensor([...]) with a float literal gives float32
    assert x.dtype == np.float32
    assert w.dtype == np.float32
    assert x.shape == (3, 5, 5)
    assert w.shape == (1, 3, 3, 3)  # the article's weight.unsqueeze(0)
    np.testing.assert_array_equal(x, np.array(ARTICLE_DARK_LINE_X, dtype=np.float32))
    np.testing.assert_array_equal(w[0], np.array(ARTICLE_DARK_LINE_WEIGHT, dtype=np.float32))


def test_dark_line_examples_are_fresh_arrays():
    x1, w1 = pyconv.examples.dark_line()
    x1[...] = -1
    w1[...] = -1
    x2, w2 = pyconv.examples.dark_line()
    np.testing.assert_array_equal(x2, np.array(ARTICLE_DARK_LINE_X, dtype=np.float32))
    np.testing.assert_array_equal(w2[0], np.array(ARTICLE_DARK_LINE_WEIGHT, dtype=np.float32))


def test_dark_line_hand_computation_matches_the_printed_output():
    # Independent of any conv code: the kernel's middle row is ones, so out[0, i, j] is
    # the sum over channels c of x[c, i + 1, j : j + 3].
    x = np.array(ARTICLE_DARK_LINE_X, dtype=np.float64)
    hand = [
        [sum(x[c, i + 1, j + t] for c in range(3) for t in range(3)) for j in range(3)]
        for i in range(3)
    ]
    assert [hand] == ARTICLE_DARK_LINE_OUT


def test_dark_line_demo(backend):
    x, weight = pyconv.examples.dark_line()
    out = pyconv.conv2d(x, weight, bias=None, stride=1, padding=0, backend=backend)
    assert out.shape == (1, 3, 3)  # unbatched in, unbatched out
    assert out.dtype == np.float32
    # exact: integers below 2**24 (see the module docstring)
    np.testing.assert_array_equal(out, np.array(ARTICLE_DARK_LINE_OUT, dtype=np.float32))


def test_dark_line_demo_from_the_verbatim_literals(backend):
    x = np.array(ARTICLE_DARK_LINE_X, dtype=np.float32)
    weight = np.array(ARTICLE_DARK_LINE_WEIGHT, dtype=np.float32)
    out = pyconv.conv2d(x, weight[np.newaxis], backend=backend)
    np.testing.assert_array_equal(out, np.array(ARTICLE_DARK_LINE_OUT, dtype=np.float32))


def test_dark_line_demo_batched(backend):
    x, weight = pyconv.examples.dark_line()
    out = pyconv.conv2d(x[np.newaxis], weight, backend=backend)
    assert out.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(out[0], np.array(ARTICLE_DARK_LINE_OUT, dtype=np.float32))


def test_dark_line_demo_float64(backend):
    x, weight = pyconv.examples.dark_line()
    out = pyconv.conv2d(x.astype(np.float64), weight.astype(np.float64), backend=backend)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.array(ARTICLE_DARK_LINE_OUT, dtype=np.float64))


def test_dark_line_demo_torch_agrees(torch):
    F = torch.nn.functional
    x = torch.tensor(ARTICLE_DARK_LINE_X)
    weight = torch.tensor(ARTICLE_DARK_LINE_WEIGHT)
    out = F.conv2d(x, weight=weight.unsqueeze(0), bias=None, stride=1, padding=0)
    assert out.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy(), np.array(ARTICLE_DARK_LINE_OUT, dtype=np.float32))
    x_np, w_np = pyconv.examples.dark_line()
    np.testing.assert_array_equal(pyconv.conv2d(x_np, w_np), out.numpy())


# ---------------------------------------------------------------------------------------
# 2. nn.Conv2d(3, 3, kernel_size=3) on the second input


def test_layer_input_is_the_articles():
    x = pyconv.examples.layer_input()
    assert x.dtype == np.float32
    assert x.shape == (3, 5, 5)
    np.testing.assert_array_equal(x, np.array(ARTICLE_LAYER_X, dtype=np.float32))
    assert x.min() == 0
    assert x.max() == 231


@pytest.mark.parametrize("seed", [0, 1, 2024])
def test_conv2d_layer_example(backend, torch, seed):
    torch.manual_seed(seed)
    convolutional_layer = torch.nn.Conv2d(3, 3, kernel_size=3, stride=1, padding=0)
    x_t = torch.tensor(ARTICLE_LAYER_X)
    with torch.no_grad():
        out_t = convolutional_layer(x_t).numpy()
    assert tuple(convolutional_layer.weight.shape) == (3, 3, 3, 3)
    assert tuple(convolutional_layer.bias.shape) == (3,)

    weight = convolutional_layer.weight.detach().numpy().copy()
    bias = convolutional_layer.bias.detach().numpy().copy()
    x = pyconv.examples.layer_input()
    out = pyconv.conv2d(x, weight, bias, stride=1, padding=0, backend=backend)

    assert out.shape == out_t.shape == (3, 3, 3)
    assert out.dtype == np.float32
    assert_conv_close(out, x, weight, bias)
    assert_conv_close(out_t, x, weight, bias)  # torch satisfies the same contract
    np.testing.assert_allclose(out, out_t, rtol=1e-5, atol=1e-4)


def test_conv2d_layer_example_float64_is_close_to_exact(backend, torch):
    # In float64 the article's layer is reproduced to ~1e-13 of its magnitude.
    torch.manual_seed(7)
    layer = torch.nn.Conv2d(3, 3, kernel_size=3).double()
    with torch.no_grad():
        out_t = layer(torch.tensor(ARTICLE_LAYER_X, dtype=torch.float64)).numpy()
    w = layer.weight.detach().numpy().copy()
    b = layer.bias.detach().numpy().copy()
    x = pyconv.examples.layer_input().astype(np.float64)
    out = pyconv.conv2d(x, w, b, backend=backend)
    assert out.dtype == np.float64
    assert_conv_close(out, x, w, b)
    np.testing.assert_allclose(out, out_t, rtol=1e-12, atol=1e-10)


# ---------------------------------------------------------------------------------------
# 3. Per-channel decomposition: out = sum over input channels of the one-channel convs


def _assert_decomposition(out, parts, x, w):
    """``out`` equals ``sum(parts)`` within the contract of both sides.

    ``out`` is within ``2 (K + 1) eps A`` of the exact sum (K = C_in kH kW) and part c
    within ``2 (K_c + 1) eps A_c`` of its exact value (K_c = kH kW), with ``sum_c A_c = A``;
    adding the C_in parts in float64 costs at most ``C_in eps A`` more.  So the two sides
    differ by at most ``(2 (K + 1) + 2 (K_c + 1) + C_in) eps A``.
    """
    cin, kh, kw = w.shape[1:]
    eps = np.finfo(out.dtype).eps
    A = pyconv.conv2d(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64), backend="numpy")
    tol = (2 * (cin * kh * kw + 1) + 2 * (kh * kw + 1) + cin) * eps * A
    total = np.sum([p.astype(np.float64) for p in parts], axis=0)
    err = np.abs(out.astype(np.float64) - total)
    assert np.all(err <= tol), f"max err {err.max()} vs tol {tol.ravel()[np.argmax(err)]}"


def _parts(x, w, backend):
    """The one-input-channel convolutions conv2d(x[:, c:c+1], w[:, c:c+1])."""
    return [
        pyconv.conv2d(x[:, c : c + 1], w[:, c : c + 1], backend=backend) for c in range(x.shape[1])
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_per_channel_decomposition_article(backend, rng, dtype):
    # convolutional_layer = torch.nn.Conv2d(2, 3, 3, 1, bias=None); input = randn(1, 2, 4, 4)
    x = rng.standard_normal((1, 2, 4, 4)).astype(dtype)
    w = rng.uniform(-1 / np.sqrt(18), 1 / np.sqrt(18), (3, 2, 3, 3)).astype(dtype)
    out = pyconv.conv2d(x, w, None, stride=1, padding=0, backend=backend)
    out_1 = pyconv.conv2d(x[:, 0:1], w[:, 0:1], bias=None, stride=1, padding=0, backend=backend)
    out_2 = pyconv.conv2d(x[:, 1:2], w[:, 1:2], bias=None, stride=1, padding=0, backend=backend)
    assert out.shape == out_1.shape == out_2.shape == (1, 3, 2, 2)
    assert_conv_close(out, x, w)
    assert_conv_close(out_1, x[:, 0:1], w[:, 0:1])
    assert_conv_close(out_2, x[:, 1:2], w[:, 1:2])
    _assert_decomposition(out, [out_1, out_2], x, w)


@pytest.mark.parametrize("cin", [2, 5, 8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_per_channel_decomposition_more_channels(backend, rng, cin, dtype):
    x = rng.standard_normal((2, cin, 7, 6)).astype(dtype)
    w = rng.standard_normal((4, cin, 3, 3)).astype(dtype)
    out = pyconv.conv2d(x, w, backend=backend)
    parts = _parts(x, w, backend)
    assert len(parts) == cin
    for c, p in enumerate(parts):
        assert_conv_close(p, x[:, c : c + 1], w[:, c : c + 1])
    _assert_decomposition(out, parts, x, w)
    assert_conv_close(out, x, w)


def test_per_channel_decomposition_is_exact_on_integers(backend, rng):
    # Small integers: every sum is exact in float32, so the identity holds bit for bit.
    x = rng.integers(-8, 9, (1, 5, 6, 6)).astype(np.float32)
    w = rng.integers(-4, 5, (3, 5, 3, 3)).astype(np.float32)
    out = pyconv.conv2d(x, w, backend=backend)
    total = np.sum(_parts(x, w, backend), axis=0)  # in float32: exact on these integers
    np.testing.assert_array_equal(out, total)


def test_per_channel_decomposition_matches_torch(backend, torch, rng):
    F = torch.nn.functional
    torch.manual_seed(0)
    convolutional_layer = torch.nn.Conv2d(2, 3, 3, 1, bias=None)
    input = torch.randn(1, 2, 4, 4)
    with torch.no_grad():
        output = convolutional_layer(input)
        weight = convolutional_layer.weight
        out_1 = F.conv2d(
            input[:, 0, :, :].unsqueeze(1),
            weight[:, 0, :, :].unsqueeze(1),
            bias=None,
            stride=1,
            padding=0,
        )
        out_2 = F.conv2d(
            input[:, 1, :, :].unsqueeze(1),
            weight[:, 1, :, :].unsqueeze(1),
            bias=None,
            stride=1,
            padding=0,
        )
    x = input.numpy().copy()
    w = weight.detach().numpy().copy()
    out = pyconv.conv2d(x, w, backend=backend)
    p1 = pyconv.conv2d(x[:, 0:1], w[:, 0:1], backend=backend)
    p2 = pyconv.conv2d(x[:, 1:2], w[:, 1:2], backend=backend)
    np.testing.assert_allclose(out, output.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p1, out_1.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p2, out_2.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p1 + p2, (out_1 + out_2).numpy(), rtol=1e-5, atol=1e-6)
    assert_conv_close(output.numpy(), x, w)


def test_article_functional_signature_defaults(backend):
    # conv2d(input, weight, bias=None, stride=1, padding=0 ('valid'), dilation=1, groups=1)
    x, weight = pyconv.examples.dark_line()
    a = pyconv.conv2d(x, weight, backend=backend)
    b = pyconv.conv2d(x, weight, None, 1, "valid", 1, 1, backend=backend)
    np.testing.assert_array_equal(a, b)
