"""``pyconv.grad`` against ``torch.autograd``: the gradients of a real forward call.

For random forward calls of conv1d, conv2d and conv3d (strides, padding, dilation,
groups, batch), torch's autograd differentiates ``sum(conv(x, w, b) * g)`` and pyconv's
gradients must agree: ``conv{n}d_input`` with ``x.grad``, ``conv{n}d_weight`` with
``w.grad`` and ``conv_bias_grad`` with ``b.grad``, each within the accuracy contract of
its operation (``pyconv.testing.assert_op_close``; autograd's own result satisfies it
too), on every backend that declares the operation.  ``tests/test_family_against_torch.py``
compares the same functions with ``torch.nn.grad``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyconv
import pyconv.grad
from pyconv.testing import assert_op_close

torch = pytest.importorskip("torch")

BACKENDS = [b.name for b in pyconv.backends() if b.builtin and b.available]


def _declares(backend: str, op: str) -> bool:
    info = next(b for b in pyconv.backends() if b.name == backend)
    return op in info.capabilities.operations


@st.composite
def forward_calls(draw):
    n = draw(st.sampled_from([1, 2, 3]))
    groups, cig, cog = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kernel = tuple(draw(st.integers(1, 3 if n == 3 else 5)) for _ in range(n))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(n))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(n))
    size = tuple(
        max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 4 if n == 3 else 9))
        for d, k, p in zip(dilation, kernel, padding, strict=False)
    )
    batch = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    return n, (batch, groups * cig, *size), (groups * cog, cig, *kernel), stride, padding, \
        dilation, groups, dtype, seed  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=forward_calls())
def test_gradients_equal_autograd(call):
    n, xs, ws, stride, padding, dilation, groups, dtype, seed = call
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)

    tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b))
    conv = getattr(torch.nn.functional, f"conv{n}d")
    out = conv(tx, tw, tb, stride, padding, dilation, groups)
    g = rng.standard_normal(tuple(out.shape)).astype(dtype)
    (out * torch.from_numpy(g)).sum().backward()
    want_x, want_w, want_b = (t.grad.numpy() for t in (tx, tw, tb))

    params = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    op_in, op_w = f"conv{n}d_input", f"conv{n}d_weight"
    assert_op_close(want_x, op_in, xs, w, g, **params)  # autograd is within the contract
    assert_op_close(want_w, op_w, x, ws, g, **params)
    for backend in BACKENDS:
        if _declares(backend, op_in):
            got = getattr(pyconv.grad, op_in)(xs, w, g, **params, backend=backend)
            assert got.shape == want_x.shape
            assert got.dtype == dtype
            assert_op_close(got, op_in, xs, w, g, **params)
        if _declares(backend, op_w):
            got = getattr(pyconv.grad, op_w)(x, ws, g, **params, backend=backend)
            assert got.shape == want_w.shape
            assert got.dtype == dtype
            assert_op_close(got, op_w, x, ws, g, **params)
    # the bias gradient: g summed over the batch and the positions (K = N * positions)
    got_b = pyconv.grad.conv_bias_grad(g, ndim=n)
    assert got_b.shape == want_b.shape
    assert got_b.dtype == dtype
    exact = g.astype(np.longdouble).sum(axis=(0, *range(2, n + 2)))
    K = g.size // g.shape[1]
    bound = (
        2
        * (K + 1)
        * np.finfo(dtype).eps
        * np.abs(g).astype(np.float64).sum(axis=(0, *range(2, n + 2)))
    )
    assert np.all(np.abs(got_b - exact) <= bound)
    assert np.all(np.abs(want_b - exact) <= bound)


def test_the_default_runs_every_gradient(rng):
    # with nothing selected a gradient runs on the default backend where it declares the
    # operation, else on the reference backend (never an error)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    g = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    gi = pyconv.grad.conv2d_input(x.shape, w, g)
    gw = pyconv.grad.conv2d_weight(x, w.shape, g)
    np.testing.assert_allclose(gi, pyconv.grad.conv2d_input(x.shape, w, g, backend="numpy"),
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(gw, pyconv.grad.conv2d_weight(x, w.shape, g, backend="numpy"),
                               rtol=1e-5, atol=1e-5)  # fmt: skip


def test_bias_grad_hand_computed():
    g = np.arange(2 * 3 * 2 * 2, dtype=np.float64).reshape(2, 3, 2, 2)
    # channel c sums 4 values in each of 2 images: (4c .. 4c+3) and (12+4c .. 12+4c+3)
    np.testing.assert_array_equal(pyconv.grad.conv_bias_grad(g), [60, 92, 124])
    np.testing.assert_array_equal(pyconv.grad.conv_bias_grad(g[0]), [6, 22, 38])  # unbatched
    np.testing.assert_array_equal(pyconv.grad.conv_bias_grad(g[0, :, :, 0], ndim=1), [2, 10, 18])
    assert pyconv.grad.conv_bias_grad(g.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "text"),
    [
        ((np.zeros((2, 3, 4, 4)),), {"ndim": 1}, ValueError, "expected grad_output of 2"),
        ((np.zeros((3, 4)),), {"ndim": 4}, ValueError, "ndim must be 1, 2 or 3, but got 4"),
        ((np.zeros((3, 4), np.int64),), {"ndim": 1}, TypeError, "has dtype int64"),
        ((np.zeros((3, 4)),), {"ndim": 1.0}, TypeError, "argument 'ndim' must be int"),
    ],
)
def test_bias_grad_errors(args, kwargs, exc, text):
    with pytest.raises(exc, match=text):
        pyconv.grad.conv_bias_grad(*args, **kwargs)


def test_the_compiled_weight_gradient_adapter_calls_the_core_as_specified(monkeypatch, rng):
    # _core.conv_weight_grad(x, grad_output, kernel_size, stride, padding, dilation, groups)
    # is the lead's kernel to come; the cython backend's adapter must hand it batched
    # arrays, the kernel size, one stride / dilation per dimension and two paddings per
    # dimension (as conv_forward takes them), and return its result as is
    from pyconv import _core
    from pyconv._backends import cython
    from pyconv._backends import numpy as reference
    from pyconv._validation import prepare_conv_weight

    seen = []

    def fake(x, go, kernel_size, stride, padding, dilation, groups):
        seen.append((x.shape, go.shape, kernel_size, stride, padding, dilation, groups))
        # the reference, from the arguments alone (what the real kernel must compute)
        *_, spec = prepare_conv_weight(
            x, (go.shape[1], x.shape[1] // groups, *kernel_size), go, stride,
            padding[::2], dilation, groups, ndim=len(kernel_size),
        )  # fmt: skip
        return reference.conv_weight(x, go, spec)

    monkeypatch.setattr(_core, "conv_weight_grad", fake, raising=False)
    x = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
    g = rng.standard_normal((2, 6, 5, 8)).astype(np.float32)
    x_, g_, spec = prepare_conv_weight(x, (6, 2, 3, 2), g, (2, 1), (1, 1), (1, 2), 2)
    got = cython.conv_weight(x_, g_, spec)
    assert seen == [((2, 4, 9, 8), (2, 6, 5, 8), (3, 2), (2, 1), (1, 1, 1, 1), (1, 2), 2)]
    np.testing.assert_array_equal(
        got, pyconv.grad.conv2d_weight(x, (6, 2, 3, 2), g, (2, 1), 1, (1, 2), 2, backend="numpy")
    )
