"""Memory layouts: any layout of the same values gives the same result as the C-contiguous copy.

Both backends copy the input into a workspace of their own before computing (the cython
kernels into a zero-padded, phase-split buffer, the numpy reference through ``astype`` and
``numpy.pad``), so the layout cannot change the order of any operation: the results are
compared **bit for bit** with those of C-contiguous copies.

Also checked: the caller's arrays are never modified (even when writeable), and the output
is a new C-contiguous ``numpy.ndarray`` that shares no memory with input, weight or bias.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconv
from pyconv import _core
from pyconv.testing import assert_conv_close

# name: (x shape, w shape, has bias, stride, padding, dilation, groups)
PROBLEMS = {
    "dense-k3-p1": ((2, 3, 7, 6), (4, 3, 3, 3), True, 1, 1, 1, 1),
    "grouped-s2-d2": ((2, 4, 11, 9), (6, 2, 3, 2), True, (2, 1), (1, 2), (2, 1), 2),
    "depthwise-same": ((1, 3, 8, 9), (6, 1, 4, 3), False, 1, "same", 1, 3),
    "unbatched-1x1": ((5, 6, 7), (2, 5, 1, 1), True, 1, 0, 1, 1),
}


def _make(name, dtype):
    xs, ws, has_bias, *params = PROBLEMS[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if has_bias else None
    return x, w, b, params


# ---------------------------------------------------------------------------------------
# Layout transforms: each returns an array equal to `a` (same values, same shape) in an
# unusual layout.


def _fortran(a):
    return np.asfortranarray(a)


def _negative_strides(a):
    """Every axis reversed twice: a view with negative strides on all axes."""
    idx = (slice(None, None, -1),) * a.ndim
    return np.ascontiguousarray(a[idx])[idx]


def _reversed_last(a):
    return np.ascontiguousarray(a[..., ::-1])[..., ::-1]


def _strided(a):
    """A view taking every 2nd (3rd on the last axis) element of a bigger array."""
    steps = (2,) * (a.ndim - 1) + (3,)
    big = np.full(tuple(s * k for s, k in zip(a.shape, steps, strict=True)), np.nan, a.dtype)
    idx = tuple(slice(None, None, k) for k in steps)
    big[idx] = a
    return big[idx]


def _channel_step(a):
    """``big[:, ::2]`` (x[::2] for a 1-D bias): the classic non-contiguous channel slice."""
    axis = 1 if a.ndim == 4 else 0
    shape = list(a.shape)
    shape[axis] *= 2
    big = np.full(shape, np.nan, a.dtype)
    idx = [slice(None)] * a.ndim
    idx[axis] = slice(None, None, 2)
    big[tuple(idx)] = a
    return big[tuple(idx)]


def _channels_last(a):
    """NCHW values stored as NHWC (torch's channels_last); 3-D CHW as HWC."""
    if a.ndim < 3:
        return a
    c = a.ndim - 3
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, c, -1)), -1, c)


def _transposed(a):
    """All axes stored in reverse order (a.T of a C-contiguous copy of a.T)."""
    return np.ascontiguousarray(a.T).T


def _readonly(a):
    r = a.copy()
    r.flags.writeable = False
    return r


def _big_endian(a):
    return a.astype(a.dtype.newbyteorder(">"))


def _unaligned(a):
    """The same values in a buffer starting one byte past an aligned address."""
    buf = np.zeros(a.nbytes + 1, np.uint8)
    r = np.ndarray(a.shape, a.dtype, buffer=buf.data, offset=1)
    r[...] = a
    return r


LAYOUTS = {
    "fortran": _fortran,
    "negative-strides": _negative_strides,
    "reversed-last-axis": _reversed_last,
    "strided": _strided,
    "channel-step": _channel_step,
    "channels-last": _channels_last,
    "transposed": _transposed,
    "readonly": _readonly,
    "big-endian": _big_endian,
    "unaligned": _unaligned,
}


def test_layout_transforms_do_what_they_say():
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    for name, f in LAYOUTS.items():
        v = f(a)
        assert v.shape == a.shape, name
        np.testing.assert_array_equal(v, a, err_msg=name)
    assert _fortran(a).flags.f_contiguous
    assert not _fortran(a).flags.c_contiguous
    assert all(s < 0 for s in _negative_strides(a).strides)
    assert _reversed_last(a).strides[-1] < 0
    assert not _strided(a).flags.c_contiguous
    assert not _channel_step(a).flags.c_contiguous
    assert _channels_last(a).strides[1] == a.itemsize  # channels innermost
    assert not _transposed(a).flags.c_contiguous
    assert not _readonly(a).flags.writeable
    assert _big_endian(a).dtype.byteorder == ">"
    assert not _unaligned(a).flags.aligned


TARGETS = ["input", "weight", "bias", "all"]
# every layout on every argument of every problem (bias only where the problem has one)
LAYOUT_CASES = [
    pytest.param(layout, target, problem, id=f"{layout}-{target}-{problem}")
    for layout in LAYOUTS
    for target in TARGETS
    for problem, spec in PROBLEMS.items()
    if target != "bias" or spec[2]
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(("layout", "target", "problem"), LAYOUT_CASES)
def test_layout_gives_bitwise_same_result(backend, layout, target, problem, dtype):
    x, w, b, (stride, padding, dilation, groups) = _make(problem, dtype)
    expected = pyconv.conv2d(x, w, b, stride, padding, dilation, groups, backend=backend)

    f = LAYOUTS[layout]
    xv = f(x) if target in ("input", "all") else x
    wv = f(w) if target in ("weight", "all") else w
    bv = f(b) if target in ("bias", "all") and b is not None else b
    saved = [None if a is None else a.copy() for a in (xv, wv, bv)]
    flags = [None if a is None else a.flags.writeable for a in (xv, wv, bv)]

    out = pyconv.conv2d(xv, wv, bv, stride, padding, dilation, groups, backend=backend)

    assert type(out) is np.ndarray
    assert out.dtype == np.dtype(dtype)  # native byte order, the input's precision
    assert out.dtype.isnative
    assert out.flags.c_contiguous
    assert out.flags.writeable
    np.testing.assert_array_equal(out, expected)
    for orig, after, wflag in zip(saved, (xv, wv, bv), flags, strict=True):
        if orig is None:
            continue
        np.testing.assert_array_equal(after, orig)  # the caller's array is untouched
        assert after.flags.writeable == wflag
        assert not np.shares_memory(out, after)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nhwc_moveaxis_view(backend, rng, dtype):
    # The usual image layout: (N, H, W, C) data, viewed as NCHW without a copy.
    nhwc = rng.standard_normal((2, 9, 8, 3)).astype(dtype)
    x = np.moveaxis(nhwc, -1, 1)
    assert x.shape == (2, 3, 9, 8)
    assert not x.flags.c_contiguous
    # and an HWIO weight (TensorFlow's layout) viewed as OIHW
    hwio = rng.standard_normal((3, 3, 3, 5)).astype(dtype)
    w = np.transpose(hwio, (3, 2, 0, 1))
    out = pyconv.conv2d(x, w, padding=1, backend=backend)
    np.testing.assert_array_equal(
        out,
        pyconv.conv2d(np.ascontiguousarray(x), np.ascontiguousarray(w), padding=1, backend=backend),
    )
    assert_conv_close(out, x, w, None, 1, 1)
    # unbatched HWC image
    hwc = nhwc[0]
    out3 = pyconv.conv2d(np.moveaxis(hwc, -1, 0), w, padding=1, backend=backend)
    np.testing.assert_array_equal(out3, out[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channel_slices_of_a_bigger_batch(backend, rng, dtype):
    big = rng.standard_normal((4, 6, 10, 10)).astype(dtype)
    w = rng.standard_normal((2, 3, 3, 3)).astype(dtype)
    for view in (
        big[:, ::2],
        big[:, 1::2],
        big[::2, 3:],
        big[1:3, :3, 2:-1, ::-1],
        big[::-1, ::-2, ::2, 1::3],
    ):
        out = pyconv.conv2d(view, w, backend=backend)
        np.testing.assert_array_equal(out, pyconv.conv2d(view.copy(), w, backend=backend))
        assert not np.shares_memory(out, big)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_broadcast_zero_stride_arrays(backend, rng, dtype):
    # np.broadcast_to gives read-only views with zero strides
    row = rng.standard_normal(9).astype(dtype)
    x = np.broadcast_to(row, (2, 3, 7, 9))
    assert 0 in x.strides
    w = np.broadcast_to(rng.standard_normal((1, 1, 3, 3)).astype(dtype), (4, 3, 3, 3))
    b = np.broadcast_to(np.asarray(0.5, dtype), (4,))
    assert b.strides == (0,)
    out = pyconv.conv2d(x, w, b, padding=(1, 0), backend=backend)
    expected = pyconv.conv2d(x.copy(), w.copy(), b.copy(), padding=(1, 0), backend=backend)
    np.testing.assert_array_equal(out, expected)
    assert_conv_close(out, x, w, b, 1, (1, 0))
    assert out.flags.c_contiguous
    assert out.flags.writeable
    for a in (x, w, b):
        assert not np.shares_memory(out, a)
    # every row of the input is the same, so every output row between the padded edges is
    inner = out[:, :, 1:-1]
    np.testing.assert_array_equal(inner, np.broadcast_to(out[:, :, 1:2], inner.shape))


def test_big_endian_float64_and_mixed_orders(backend, rng):
    x = rng.standard_normal((1, 2, 6, 6))
    w = rng.standard_normal((3, 2, 2, 2))
    b = rng.standard_normal(3)
    expected = pyconv.conv2d(x, w, b, backend=backend)
    for xv, wv, bv in [
        (x.astype(">f8"), w, b),
        (x, w.astype(">f8"), b.astype(">f8")),
        (x.astype(">f8"), w.astype(">f8"), b.astype(">f8")),
    ]:
        out = pyconv.conv2d(xv, wv, bv, backend=backend)
        assert out.dtype == np.float64
        assert out.dtype.isnative
        np.testing.assert_array_equal(out, expected)


def test_explicit_little_endian_is_native(backend, rng):
    x = rng.standard_normal((1, 2, 5, 5)).astype("<f4")
    w = rng.standard_normal((1, 2, 3, 3)).astype("<f4")
    out = pyconv.conv2d(x, w, backend=backend)
    assert out.dtype == np.float32


# ---------------------------------------------------------------------------------------
# Array-likes


def test_nested_lists_are_converted_like_asarray(backend):
    x = [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]  # (1, 3, 3), Python floats
    w = [[[[1.0, 0.0], [0.0, -1.0]]]]  # (1, 1, 2, 2)
    b = [0.5]
    out = pyconv.conv2d(x, w, b, backend=backend)
    assert type(out) is np.ndarray
    assert out.dtype == np.float64  # numpy.asarray of Python floats
    assert out.shape == (1, 2, 2)
    # hand-computed: x[i, j] - x[i + 1, j + 1] + 0.5 = -4 + 0.5 everywhere
    np.testing.assert_array_equal(out, np.full((1, 2, 2), -3.5))
    np.testing.assert_array_equal(
        out, pyconv.conv2d(np.asarray(x), np.asarray(w), np.asarray(b), backend=backend)
    )


def test_tuples_and_mixed_array_likes(backend, rng):
    x = rng.standard_normal((2, 4, 4))
    w = rng.standard_normal((3, 2, 3, 3))
    b = rng.standard_normal(3)
    expected = pyconv.conv2d(x, w, b, backend=backend)
    as_tuples = tuple(tuple(tuple(r) for r in c) for c in x.tolist())
    out = pyconv.conv2d(as_tuples, w.tolist(), tuple(b.tolist()), backend=backend)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, expected)


def test_list_of_float32_scalars_stays_float32(backend):
    f = np.float32
    x = [[[f(1), f(2)], [f(3), f(4)]]]
    w = np.ones((1, 1, 2, 2), np.float32)
    out = pyconv.conv2d(x, w, backend=backend)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([[[10.0]]], np.float32))


def test_list_input_with_float32_weight_is_a_dtype_mismatch(backend):
    # a list of Python floats is float64 (numpy.asarray); pyconv never converts silently
    with pytest.raises(TypeError, match="expected scalar type Double but found Float"):
        pyconv.conv2d(
            [[[1.0, 2.0], [3.0, 4.0]]], np.ones((1, 1, 1, 1), np.float32), backend=backend
        )


def test_list_of_ints_is_rejected(backend):
    with pytest.raises(TypeError, match="float32 or"):
        pyconv.conv2d([[[1, 2], [3, 4]]], [[[[1]]]], backend=backend)


def test_ndarray_subclass_input_gives_plain_ndarray(backend, rng):
    class Tagged(np.ndarray):
        pass

    x = rng.standard_normal((1, 2, 5, 5)).view(Tagged)
    w = rng.standard_normal((2, 2, 3, 3)).view(Tagged)
    out = pyconv.conv2d(x, w, backend=backend)
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, pyconv.conv2d(np.asarray(x), np.asarray(w), backend=backend))


def test_memmap_input(backend, rng, tmp_path):
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    mm = np.memmap(tmp_path / "x.bin", dtype=np.float32, mode="w+", shape=x.shape)
    mm[...] = x
    mm.flush()
    ro = np.memmap(tmp_path / "x.bin", dtype=np.float32, mode="r", shape=x.shape)
    out = pyconv.conv2d(ro, w, backend=backend)
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, pyconv.conv2d(x, w, backend=backend))
    del mm, ro


# ---------------------------------------------------------------------------------------
# The output


@pytest.mark.parametrize("unbatched", [False, True])
def test_output_is_fresh_every_call(backend, rng, unbatched):
    x = rng.standard_normal((3, 5, 5) if unbatched else (2, 3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 1)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    out1 = pyconv.conv2d(x, w, b, backend=backend)
    out2 = pyconv.conv2d(x, w, b, backend=backend)
    assert out1.flags.c_contiguous
    assert out1.flags.writeable
    assert not np.shares_memory(out1, out2)
    for a in (x, w, b):
        assert not np.shares_memory(out1, a)
    out1[...] = 0  # writing to one result changes nothing else
    np.testing.assert_array_equal(out2, pyconv.conv2d(x, w, b, backend=backend))


def test_identity_kernel_does_not_return_the_input(backend, rng):
    # a 1x1 identity convolution has the input's values but must still be a new array
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    w = np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1)
    out = pyconv.conv2d(x, w, backend=backend)
    np.testing.assert_array_equal(out, x)
    assert out is not x
    assert not np.shares_memory(out, x)
    # unbatched: the output is out[0] of a batched result; it must still not alias x
    out3 = pyconv.conv2d(x[0], w, backend=backend)
    assert not np.shares_memory(out3, x)
    assert out3.flags.c_contiguous


def test_empty_outputs_are_c_contiguous_arrays(backend):
    x = np.zeros((0, 2, 5, 5), np.float64)
    w = np.zeros((3, 2, 3, 3), np.float64, order="F")
    out = pyconv.conv2d(x, w, backend=backend)
    assert type(out) is np.ndarray
    assert out.shape == (0, 3, 3, 3)
    assert out.flags.c_contiguous


def test_unaligned_arrays_reach_the_backends_aligned():
    """The front end copies data not aligned to its itemsize (kernels may read arrays in
    place, and an unaligned float load is undefined behaviour in C: the sanitizer build
    reported one); aligned views are passed on without a copy."""
    from pyconv._validation import prepare_conv2d

    base = np.arange(2 * 3 * 5 * 5, dtype=np.float32).reshape(2, 3, 5, 5)
    x = _unaligned(base)
    w = _unaligned(np.ones((4, 3, 3, 3), np.float32))
    b = _unaligned(np.ones(4, np.float32))
    px, pw, pb, _ = prepare_conv2d(x, w, b, 1, 0, 1, 1)
    assert all(a.flags.aligned for a in (px, pw, pb))
    np.testing.assert_array_equal(px, base)
    view = base[:, :, 1:, ::2]
    assert np.shares_memory(prepare_conv2d(view, np.asarray(w), None, 1, 0, 1, 1)[0], base)


@pytest.mark.parametrize("which", ["input", "weight", "both"])
def test_misaligned_arrays_are_copied_before_the_kernels_read_them(rng, which):
    # a C-contiguous but misaligned array must not be read in place (UB in C; the
    # sanitizer build reports it), whether it comes through the fast entry or not
    x = rng.standard_normal((1, 8, 32, 32)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    want = pyconv.conv2d(x, w)
    xm = _unaligned(x) if which in ("input", "both") else x
    wm = _unaligned(w) if which in ("weight", "both") else w
    got = _core.conv2d_fast(xm, wm, None, 1, 0, 1, 1)
    assert np.array_equal(got, want)
    copied = (xm is not x) * x.nbytes + (wm is not w) * w.nbytes
    assert _core.workspace_bytes() >= copied
    assert np.array_equal(pyconv.conv2d(xm, wm), want)
