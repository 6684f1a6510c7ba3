"""``pyconv.pad`` against ``torch.nn.functional.pad``: values, limits, errors, copies.

Values must be bit-identical to torch's (padding only moves elements).  Errors: pyconv
raises ``ValueError`` (torch: ``RuntimeError`` / ``NotImplementedError``) or ``TypeError``
with torch's text; where torch's message is an internal one (``narrow(): ...``,
``Trying to create tensor with negative dimension``, ``numel: integer multiplication
overflow``, ...) both must raise and the text is not compared.

One documented pyconv-only refusal: a circular pad larger than what is left of the
dimension after a negative pad (crop) on the other side; torch reads memory it has not
written yet there, pyconv raises ``ValueError``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import pyconv
import pyconv.padding
from pyconv.padding import PAD_MODES

MODES = ["constant", "reflect", "replicate", "circular"]
NON_CONSTANT = ["reflect", "replicate", "circular"]
FLOATS = [np.float32, np.float64]

# torch's messages that are its own readable checks (compared as a prefix of pyconv's);
# anything else torch raises is internal and only "both raise" is checked.
READABLE = (
    "Padding length",
    "Unrecognised padding mode",
    "Padding mode ",
    "Padding size ",
    "Argument #",
    "Padding value causes wrapping",
    "Negative padding value",
    "Expected ",
)


@pytest.fixture(autouse=True)
def _torch_one_thread():
    """torch's pad on tiny arrays: one thread, so a loaded machine does not make it crawl."""
    try:
        import torch
    except ImportError:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _arr(shape, dtype=np.float64, seed=0):
    """Distinct values, so any misplaced element shows."""
    n = int(np.prod(shape))
    rng = np.random.default_rng(seed)
    return np.asarray((rng.permutation(n) + 1).reshape(shape).astype(dtype) * dtype(0.5))


def _torch_pad(torch, x, p, mode, value=None):
    """torch's result as a NumPy array, or the exception it raises."""
    p = list(p) if isinstance(p, tuple) else p  # anything else as given: torch's own error
    try:
        return torch.nn.functional.pad(torch.from_numpy(x), p, mode=mode, value=value).numpy()
    except Exception as exc:  # torch's exception type varies by check
        return exc


def _first_line(exc) -> str:
    return str(exc).splitlines()[0]


def _pyconv_error(x, p, mode, value=None, exc_type=ValueError) -> str:
    with pytest.raises(exc_type) as info:
        pyconv.pad(x, p, mode=mode, value=value)
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value}"
    return str(info.value)


def _assert_same_as_torch(torch, x, p, mode, value=None):
    want = _torch_pad(torch, x, p, mode, value)
    assert not isinstance(want, Exception), f"torch refused: {want!r}"
    got = pyconv.pad(x, p, mode=mode, value=value)
    assert isinstance(got, np.ndarray)
    assert got.dtype == x.dtype
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want, strict=True)
    return got


def _assert_same_error(torch, x, p, mode, value=None, exc_type=ValueError):
    want = _torch_pad(torch, x, p, mode, value)
    assert isinstance(want, Exception), f"torch accepted: shape {want.shape}"
    msg = _pyconv_error(x, p, mode, value, exc_type)
    assert msg.startswith(_first_line(want)), f"\npyconv: {msg}\ntorch:  {want}"


def _torch_supports(mode, ndim, npad) -> bool:
    k = npad // 2
    if mode == "constant":
        return k <= ndim
    return k in (1, 2, 3) and ndim in (k + 1, k + 2)


# --------------------------------------------------------------------------------------
# Values: every mode, rank, dtype and pad length torch supports
# --------------------------------------------------------------------------------------

SHAPES = {2: (3, 5), 3: (2, 5, 6), 4: (2, 3, 5, 6), 5: (1, 2, 4, 5, 6)}
PADS = {
    2: [(0, 0), (1, 1), (2, 0), (0, 3), (1, 2), (4, 4)],
    4: [(1, 1, 1, 1), (0, 2, 1, 0), (2, 1, 0, 3), (0, 0, 0, 0), (4, 3, 2, 4)],
    6: [(1, 1, 1, 1, 1, 1), (0, 1, 2, 0, 1, 2), (1, 0, 0, 3, 2, 1)],
}


def _value_cases():
    cases = []
    for mode, ndim, npad in itertools.product(MODES, SHAPES, PADS):
        if not _torch_supports(mode, ndim, npad):
            continue
        for p in PADS[npad]:
            values = [None, 0.0, -1.5, 7.25] if mode == "constant" else [None]
            for value, dtype in itertools.product(values, FLOATS):
                vid = "" if value is None else f"-v{value}"
                cases.append(
                    pytest.param(
                        SHAPES[ndim],
                        p,
                        mode,
                        value,
                        dtype,
                        id=f"{mode}-{ndim}d-pad{''.join(map(str, p))}{vid}-{dtype.__name__}",
                    )
                )
    return cases


@pytest.mark.parametrize(("shape", "p", "mode", "value", "dtype"), _value_cases())
def test_values_match_torch(torch, shape, p, mode, value, dtype):
    _assert_same_as_torch(torch, _arr(shape, dtype), p, mode, value)


@pytest.mark.parametrize("dtype", FLOATS)
def test_constant_pads_every_dimension_like_torch(torch, dtype):
    # constant accepts any rank and up to 2 * ndim values, also on 1-D and 2-D inputs
    _assert_same_as_torch(torch, _arr((5,), dtype), (2, 1), "constant", 3.0)
    _assert_same_as_torch(torch, _arr((3, 4), dtype), (1, 0, 2, 1), "constant")
    _assert_same_as_torch(torch, _arr((2, 3, 4), dtype), (1, 2, 0, 1, 2, 0), "constant", -2.0)
    _assert_same_as_torch(torch, _arr((2, 3, 4, 2), dtype), (1, 1, 0, 1, 2, 0, 1, 2), "constant")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), -0.0])
def test_constant_special_fill_values(torch, value):
    x = _arr((1, 2, 3), np.float32)
    want = _torch_pad(torch, x, (1, 2, 2, 0), "constant", value)
    got = pyconv.pad(x, (1, 2, 2, 0), mode="constant", value=value)
    np.testing.assert_array_equal(got, want, strict=True)
    if value == 0:
        assert np.array_equal(np.signbit(got), np.signbit(want))


def test_default_mode_is_constant_zero(torch):
    x = _arr((2, 3, 4))
    np.testing.assert_array_equal(pyconv.pad(x, (1, 2)), _torch_pad(torch, x, (1, 2), "constant"))


# --------------------------------------------------------------------------------------
# Limits: reflect pad < dim, circular pad <= dim, replicate unlimited
# --------------------------------------------------------------------------------------


def _limit_cases():
    """(shape, npad, position in pad, dimension size) for each padded dimension."""
    cases = []
    for ndim, npad in [(2, 2), (3, 2), (3, 4), (4, 4), (4, 6), (5, 6)]:
        shape = {2: (2, 5), 3: (2, 4, 5), 4: (2, 3, 4, 5), 5: (1, 2, 3, 4, 5)}[ndim]
        for pos in range(npad):
            size = shape[ndim - 1 - pos // 2]
            cases.append(pytest.param(shape, npad, pos, size, id=f"{ndim}d-len{npad}-pos{pos}"))
    return cases


def _one_pad(npad, pos, amount, rest=1):
    p = [rest] * npad
    p[pos] = amount
    return tuple(p)


@pytest.mark.parametrize(("shape", "npad", "pos", "size"), _limit_cases())
def test_reflect_limit(torch, shape, npad, pos, size):
    x = _arr(shape)
    _assert_same_as_torch(torch, x, _one_pad(npad, pos, size - 1), "reflect")
    _assert_same_error(torch, x, _one_pad(npad, pos, size), "reflect")
    # the message names the argument (#4, #6, #8) and the dimension
    msg = _pyconv_error(x, _one_pad(npad, pos, size), "reflect")
    arg = 4 + 2 * (pos // 2)
    dim = len(shape) - 1 - pos // 2
    assert msg.startswith(f"Argument #{arg}: Padding size should be less than the corresponding")
    assert f"at dimension {dim} of input [{', '.join(map(str, shape))}]" in msg


@pytest.mark.parametrize(("shape", "npad", "pos", "size"), _limit_cases())
def test_circular_limit(torch, shape, npad, pos, size):
    x = _arr(shape)
    _assert_same_as_torch(torch, x, _one_pad(npad, pos, size), "circular")
    _assert_same_error(torch, x, _one_pad(npad, pos, size + 1), "circular")
    msg = _pyconv_error(x, _one_pad(npad, pos, size + 1), "circular")
    assert msg == "Padding value causes wrapping around more than once."


@pytest.mark.parametrize(("shape", "npad", "pos", "size"), _limit_cases())
def test_replicate_has_no_limit(torch, shape, npad, pos, size):
    x = _arr(shape)
    _assert_same_as_torch(torch, x, _one_pad(npad, pos, 3 * size), "replicate")


def test_reflect_and_replicate_differ_from_kernel_size_5():
    """Section a.2's trap: a 1-pixel pad cannot tell 'edge repeated' from 'edge mirrored'."""
    x = np.arange(1.0, 26.0).reshape(1, 1, 5, 5)
    # replicate == numpy's 'symmetric' (edge repeated) for a 1-pixel pad ...
    np.testing.assert_array_equal(
        pyconv.pad(x, (1, 1, 1, 1), mode="replicate"),
        np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)], mode="symmetric"),
    )
    # ... but not for the 2-pixel pad of a 5x5 kernel
    two = [(0, 0), (0, 0), (2, 2), (2, 2)]
    rep = pyconv.pad(x, (2, 2, 2, 2), mode="replicate")
    assert not np.array_equal(rep, np.pad(x, two, mode="symmetric"))
    np.testing.assert_array_equal(rep, np.pad(x, two, mode="edge"))
    # torch's reflect is numpy's reflect (edge not repeated), never 'symmetric'
    ref = pyconv.pad(x, (2, 2, 2, 2), mode="reflect")
    np.testing.assert_array_equal(ref, np.pad(x, two, mode="reflect"))
    assert not np.array_equal(ref, rep)
    assert not np.array_equal(ref, np.pad(x, two, mode="symmetric"))
    np.testing.assert_array_equal(ref[0, 0, 2, :3], [3.0, 2.0, 1.0])  # dcb|abcd
    np.testing.assert_array_equal(rep[0, 0, 2, :3], [1.0, 1.0, 1.0])  # aaa|abcd


@pytest.mark.parametrize("mode", NON_CONSTANT)
def test_kernel5_pads_match_torch(torch, mode):
    x = _arr((2, 3, 7, 6), np.float32)
    _assert_same_as_torch(torch, x, (2, 2, 2, 2), mode)
    _assert_same_as_torch(torch, x, (4, 4, 4, 4), mode)  # 5x5 with dilation 2


@pytest.mark.parametrize("mode", MODES)
def test_mode_names_map_to_numpy(mode):
    x = _arr((2, 4, 5))
    got = pyconv.pad(x, (2, 1, 3, 2), mode=mode)
    np.testing.assert_array_equal(
        got, np.pad(x, [(0, 0), (3, 2), (2, 1)], mode=PAD_MODES[mode]), strict=True
    )


# --------------------------------------------------------------------------------------
# Negative pads (crops) that torch accepts
# --------------------------------------------------------------------------------------

NEGATIVE_CASES = [
    # (mode, shape, pad)
    ("constant", (2, 3, 6), (-1, 0)),
    ("constant", (2, 3, 6), (-2, -1)),
    ("constant", (2, 3, 6), (-2, 3)),
    ("constant", (2, 3, 6), (3, -2)),
    ("constant", (2, 3, 6), (-6, 0)),  # crop to nothing
    ("constant", (2, 3, 6), (-3, -3)),
    ("constant", (2, 3, 5, 6), (-1, 2, 2, -3)),
    ("constant", (2, 3, 5, 6), (0, 0, -2, -2, -1, 1)),
    ("constant", (2, 3, 5, 6), (1, -1, 0, 0, 0, 0, -1, 1)),
    ("reflect", (2, 3, 6), (-1, 2)),
    ("reflect", (2, 3, 6), (-3, 5)),
    ("reflect", (2, 3, 6), (2, -1)),
    ("reflect", (2, 3, 6), (-1, -1)),
    ("reflect", (2, 3, 6), (-5, 0)),  # one element left
    ("reflect", (2, 3, 5, 6), (-2, 3, 4, -3)),
    ("reflect", (2, 5, 6), (-2, 3, 4, -3)),
    ("reflect", (1, 2, 4, 5, 6), (-1, 2, 3, -2, -1, -1)),
    ("replicate", (2, 3, 6), (-2, 5)),
    ("replicate", (2, 3, 6), (-3, 1)),
    ("replicate", (2, 3, 6), (9, -5)),
    ("replicate", (2, 3, 5, 6), (-2, 8, 4, -4)),
    ("replicate", (2, 4, 5, 6), (-1, 2, 3, -2, -1, 7)),
    ("circular", (2, 3, 6), (-1, 1)),
    ("circular", (2, 3, 6), (-3, 3)),
    ("circular", (2, 3, 6), (2, -2)),
    ("circular", (2, 3, 6), (-2, -2)),
    ("circular", (2, 3, 6), (-3, -3)),  # crop to nothing
    ("circular", (2, 3, 5, 6), (-1, 2, 2, -1)),
    ("circular", (2, 4, 5, 6), (-1, 1, 2, -2, -1, -1)),
]


@pytest.mark.parametrize(
    ("mode", "shape", "p"),
    [pytest.param(*c, id=f"{c[0]}-{len(c[1])}d-{c[2]}") for c in NEGATIVE_CASES],
)
@pytest.mark.parametrize("dtype", FLOATS)
def test_negative_pads_crop_like_torch(torch, mode, shape, p, dtype):
    _assert_same_as_torch(torch, _arr(shape, dtype), p, mode)


@pytest.mark.parametrize(
    ("mode", "shape", "p"),
    [
        pytest.param("constant", (2, 3, 4), (-5, 0), id="constant-crop-past-end"),
        pytest.param("constant", (2, 3, 4), (-5, 1), id="constant-crop-past-end-then-pad"),
        pytest.param("constant", (2, 3, 4), (-3, -2), id="constant-both-sides"),
        pytest.param("reflect", (2, 3, 4), (-3, -4), id="reflect-negative-size"),
        pytest.param("replicate", (2, 3, 4), (-5, 0), id="replicate-negative-size"),
        pytest.param("replicate", (2, 3, 4, 4), (-3, -3, -2, -5), id="replicate-2d-negative"),
        pytest.param("circular", (2, 3, 4), (-2, -3), id="circular-negative-size"),
    ],
)
def test_crop_past_the_dimension_raises_like_torch(torch, mode, shape, p):
    x = _arr(shape)
    want = _torch_pad(torch, x, p, mode)
    assert isinstance(want, Exception)
    with pytest.raises(ValueError):  # noqa: PT011 - torch's text is internal here
        pyconv.pad(x, p, mode=mode)


@pytest.mark.parametrize(
    ("mode", "shape", "p"),
    [
        pytest.param("reflect", (2, 3, 4), (-2, -2), id="reflect-to-zero"),
        pytest.param("reflect", (2, 3, 4), (1, -5), id="reflect-pad-then-crop-to-zero"),
        pytest.param("replicate", (2, 3, 4), (-4, 0), id="replicate-to-zero"),
        pytest.param("replicate", (2, 3, 4), (-5, 1), id="replicate-to-zero-with-pad"),
        pytest.param("replicate", (2, 1, 3), (2, -5, -1, 0), id="replicate-2d-to-zero"),
    ],
)
def test_reflect_replicate_crop_to_empty_raises_like_torch(torch, mode, shape, p):
    """torch: 'input (W: 4) is too small. Calculated output W: 0' (output must be >= 1)."""
    x = _arr(shape)
    want = _torch_pad(torch, x, p, mode)
    assert isinstance(want, Exception)
    assert "is too small" in str(want)
    with pytest.raises(ValueError):  # noqa: PT011 - message not compared (see docstring)
        pyconv.pad(x, p, mode=mode)


@pytest.mark.parametrize(
    ("shape", "p"),
    [
        pytest.param((1, 1, 5), (2, -6), id="w-crop6-of-5-pad2"),
        pytest.param((1, 1, 5), (1, -6), id="w-crop6-of-5-pad1"),
        pytest.param((1, 2, 5), (0, 0, 1, -3), id="h-crop3-of-2-pad1"),
        pytest.param((3, 4, 5), (-7, 2), id="w-crop7-of-5-pad2"),
    ],
)
def test_circular_crop_larger_than_dimension(torch, shape, p):
    """A crop past the whole dimension: pyconv must raise or give torch's result, never
    a differently shaped array."""
    x = _arr(shape)
    want = _torch_pad(torch, x, p, "circular")
    try:
        got = pyconv.pad(x, p, mode="circular")
    except ValueError:
        return
    assert not isinstance(want, Exception), (
        f"torch raises {want!r}; pyconv returned shape {got.shape}"
    )
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("shape", "p"),
    [
        pytest.param((2, 3, 4), (-3, 3), id="crop3-of-4-pad3"),
        pytest.param((2, 3, 4), (-2, 3), id="crop2-of-4-pad3"),
        pytest.param((2, 3, 4), (3, -2), id="pad3-crop2-of-4"),
        pytest.param((1, 1, 5), (-5, 1), id="crop-all-pad1"),
        pytest.param((2, 3, 5, 4), (0, 0, -4, 2), id="h-crop4-of-5-pad2"),
    ],
)
def test_circular_wrap_past_what_is_left_is_refused(torch, shape, p):
    """Documented pyconv-only refusal: torch accepts these but reads unwritten memory."""
    x = _arr(shape)
    assert not isinstance(_torch_pad(torch, x, p, "circular"), Exception)
    msg = _pyconv_error(x, p, "circular")
    assert msg.startswith("pad(): circular padding")
    assert "wraps more than once" in msg


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("p", [(1,), (1, 2, 3), (1, 1, 1, 1, 1)], ids=["len1", "len3", "len5"])
def test_odd_pad_length(torch, mode, p):
    _assert_same_error(torch, _arr((2, 3, 4, 5)), p, mode)
    assert _pyconv_error(_arr((2, 3, 4, 5)), p, mode) == "Padding length must be divisible by 2"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("shape", "npad"), [((2, 3, 4), 8), ((5,), 4), ((3, 4), 6), ((), 2)], ids=str
)
def test_pad_too_long(torch, mode, shape, npad):
    _assert_same_error(torch, _arr(shape), (1,) * npad, mode)


@pytest.mark.parametrize("mode", ["zeros", "symmetric", "edge", "wrap", "REFLECT", ""])
def test_unknown_mode(torch, mode):
    _assert_same_error(torch, _arr((2, 3, 4)), (1, 1), mode)


def test_unknown_mode_is_reported_before_the_pad_length(torch):
    # torch parses the mode before it looks at the pad
    _assert_same_error(torch, _arr((2, 3, 4)), (1,), "bogus")


@pytest.mark.parametrize("mode", NON_CONSTANT)
@pytest.mark.parametrize("value", [1.0, -2.5, 1, float("nan")])
def test_value_with_non_constant_mode(torch, mode, value):
    _assert_same_error(torch, _arr((2, 3, 4)), (1, 1), mode, value)
    msg = _pyconv_error(_arr((2, 3, 4)), (1, 1), mode, value)
    assert msg == f'Padding mode "{mode}" doesn\'t take in value argument'


@pytest.mark.parametrize("mode", NON_CONSTANT)
@pytest.mark.parametrize("value", [0.0, 0, -0.0], ids=["0.0", "0", "-0.0"])
def test_zero_value_with_non_constant_mode_accepted_like_torch(torch, mode, value):
    """torch only rejects a *non-zero* value with the other modes."""
    _assert_same_as_torch(torch, _arr((2, 3, 4)), (1, 2), mode, value)


def _rank_cases():
    cases = []
    for mode in NON_CONSTANT:
        for ndim, npad in itertools.product(range(1, 7), (0, 2, 4, 6)):
            if npad // 2 > ndim or _torch_supports(mode, ndim, npad):
                continue
            cases.append(pytest.param(mode, ndim, npad, id=f"{mode}-{ndim}d-len{npad}"))
    return cases


@pytest.mark.parametrize(("mode", "ndim", "npad"), _rank_cases())
def test_unsupported_rank_for_mode(torch, mode, ndim, npad):
    x = _arr((2,) * ndim)
    _assert_same_error(torch, x, (1,) * npad, mode)
    msg = _pyconv_error(x, (1,) * npad, mode)
    assert msg == f"Padding size {npad} is not supported for {ndim}D input tensor."


def test_unsupported_rank_message_text():
    msg = _pyconv_error(_arr((3, 4)), (1, 1, 1, 1), "reflect")
    assert msg == "Padding size 4 is not supported for 2D input tensor."


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
@pytest.mark.parametrize(
    ("shape", "p"),
    [
        ((2, 0, 4), (1, 1)),
        ((2, 3, 0), (1, 1)),
        ((3, 0), (1, 1)),
        ((1, 2, 0, 4), (1, 1, 1, 1)),
        ((2, 0, 3, 4), (1, 1, 1, 1)),
        ((0, 3, 4), (1, 1, 1, 1)),  # 3-D with a 2-D pad has no batch dim: C = 0
        ((0, 3), (1, 1)),  # 2-D with a 1-D pad has no batch dim
        ((0, 2, 3, 4), (1, 1, 1, 1, 1, 1)),
        ((1, 0, 2, 3, 4), (1, 1, 1, 1, 1, 1)),
    ],
    ids=str,
)
def test_reflect_replicate_empty_non_batch_dimension(torch, mode, shape, p):
    _assert_same_error(torch, np.zeros(shape), p, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("shape", "p"),
    [((0, 3, 4), (1, 2)), ((0, 2, 3, 4), (1, 2, 2, 1)), ((0, 1, 2, 3, 4), (1, 0, 1, 1, 0, 1))],
    ids=str,
)
def test_empty_batch_is_allowed(torch, mode, shape, p):
    _assert_same_as_torch(torch, np.zeros(shape), p, mode)


@pytest.mark.parametrize(("shape", "p"), [((2, 3, 0), (1, 1)), ((2, 0, 4), (0, 0, 1, 0))], ids=str)
def test_circular_on_empty_dimension(torch, shape, p):
    _assert_same_error(torch, np.zeros(shape), p, "circular")


def test_circular_errors_reported_outer_dimension_first(torch):
    # H would wrap more than once, W would become empty: torch checks H first
    _assert_same_error(torch, _arr((2, 3, 4)), (-5, -1, 4, 0), "circular")
    # the other way round
    _assert_same_error(torch, _arr((2, 3, 4)), (5, 0, -2, -2), "circular")


@pytest.mark.parametrize(
    "p",
    [(1.5, 1), (1, 2.0), (None, 1), ("1", 1), (True, 1)],
    ids=["float", "float-second", "None", "str", "True"],
)
def test_non_int_pad_values_are_type_errors(torch, p):
    x = _arr((2, 3, 4))
    want = _torch_pad(torch, x, p, "constant")
    assert isinstance(want, TypeError)
    msg = _pyconv_error(x, p, "constant", exc_type=TypeError)
    i = next(i for i, v in enumerate(p) if not isinstance(v, int) or isinstance(v, bool))
    fragment = f"must be tuple of ints, but found element of type {type(p[i]).__name__} at pos {i}"
    assert fragment in msg
    assert fragment in str(want) or "failed to unpack" in str(want)


@pytest.mark.parametrize("p", [3, "11", 1.0, None], ids=["int", "str", "float", "None"])
def test_pad_not_a_sequence(torch, p):
    x = _arr((2, 3, 4))
    assert isinstance(_torch_pad(torch, x, p, "constant"), TypeError)
    _pyconv_error(x, p, "constant", exc_type=TypeError)


def test_numpy_integer_pad_values_accepted(torch):
    x = _arr((2, 3, 4))
    p = (np.int64(1), np.int32(2))
    _assert_same_as_torch(torch, x, p, "reflect")
    with pytest.raises(TypeError):
        pyconv.pad(x, (np.float64(1.0), 1))


def test_empty_pad(torch):
    x = _arr((2, 3, 4))
    got = _assert_same_as_torch(torch, x, (), "constant")
    assert not np.shares_memory(got, x)
    _assert_same_error(torch, x, (), "reflect")


def test_zero_dim_input_with_empty_pad(torch):
    x = np.array(2.5)
    _assert_same_as_torch(torch, x, (), "constant")


# --------------------------------------------------------------------------------------
# Copies, dtypes, layouts
# --------------------------------------------------------------------------------------

COPY_PADS = [(0, 0), (0, 0, 0, 0), (1, 2), (2, 1, 1, 0), (-1, 0), (-1, -1, 0, -1), (-1, 2)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("p", COPY_PADS, ids=str)
def test_input_untouched_output_new(mode, p):
    x = _arr((2, 3, 4, 5) if len(p) == 4 else (3, 4, 5))
    before = x.copy()
    x.flags.writeable = False  # any write would raise
    out = pyconv.pad(x, p, mode=mode)
    np.testing.assert_array_equal(x, before)
    assert not np.shares_memory(out, x)
    assert out.flags.writeable
    out[...] = -1  # writing the result leaves the input alone
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("mode", MODES)
def test_non_contiguous_input(torch, mode):
    base = _arr((2, 6, 5, 8))
    for x in (base[:, ::2, :, 1::2], base.transpose(0, 1, 3, 2), np.asfortranarray(base)):
        _assert_same_as_torch(torch, x, (2, 1, 1, 2), mode)


INT_DTYPES = [np.int8, np.uint8, np.int16, np.int32, np.int64, np.float16]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: d.__name__)
def test_other_dtypes_kept_like_numpy_and_torch(torch, mode, dtype):
    x = (np.arange(2 * 4 * 5) % 100).reshape(2, 4, 5).astype(dtype)
    got = pyconv.pad(x, (2, 1, 3, 1), mode=mode)
    assert got.dtype == dtype
    np.testing.assert_array_equal(
        got, np.pad(x, [(0, 0), (3, 1), (2, 1)], mode=PAD_MODES[mode]), strict=True
    )
    _assert_same_as_torch(torch, x, (2, 1, 3, 1), mode)


def test_integer_fill_value_converted_like_torch(torch):
    x = np.arange(12, dtype=np.int32).reshape(1, 3, 4)
    for value in (2.7, -2.7, 5):
        _assert_same_as_torch(torch, x, (1, 1, 1, 0), "constant", value)


@pytest.mark.parametrize("mode", ["constant", "circular"])
def test_bool_input(torch, mode):
    x = np.array([[[True, False, True]]])
    _assert_same_as_torch(torch, x, (1, 2), mode)


def test_array_like_input():
    got = pyconv.pad([[[1.0, 2.0, 3.0]]], (2, 1), mode="reflect")
    np.testing.assert_array_equal(got, [[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]], strict=True)


# --------------------------------------------------------------------------------------
# Random shapes, pads and modes
# --------------------------------------------------------------------------------------


@st.composite
def _pad_calls(draw):
    mode = draw(st.sampled_from(MODES))
    ndim = draw(st.integers(1, 5))
    dims = st.integers(0, 5) | st.integers(1, 5) | st.integers(1, 5)
    shape = tuple(draw(dims) for _ in range(ndim))
    npad = 2 * draw(st.integers(0, 3))
    p = tuple(draw(st.integers(-6, 6)) for _ in range(npad))
    dtype = draw(st.sampled_from(FLOATS))
    return mode, shape, p, dtype


def _documented_refusal(shape, p) -> bool:
    """Circular: a pad larger than what the crop on the other side leaves."""
    for i in range(len(p) // 2):
        size = shape[len(shape) - 1 - i]
        before, after = p[2 * i], p[2 * i + 1]
        kept = size + min(before, 0) + min(after, 0)
        if max(before, after) > kept:
            return True
    return False


_HYPOTHESIS = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@_HYPOTHESIS
@given(_pad_calls())
def test_random_calls_match_torch(torch, call):
    mode, shape, p, dtype = call
    x = _arr(shape, dtype)
    want = _torch_pad(torch, x, p, mode)
    try:
        got = pyconv.pad(x, p, mode=mode)
    except (ValueError, TypeError) as exc:
        got = exc
    if isinstance(got, Exception):
        if not isinstance(want, Exception):  # only the documented refusal
            assert mode == "circular", f"pyconv raised {got!r}; torch gave shape {want.shape}"
            assert _documented_refusal(shape, p), f"pyconv raised {got!r}; torch: {want.shape}"
        return
    assert not isinstance(want, Exception), (
        f"torch raised {want!r}; pyconv returned shape {got.shape}"
    )
    assert got.dtype == x.dtype
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert not np.shares_memory(got, x)


@_HYPOTHESIS
@given(_pad_calls())
def test_random_errors_have_torchs_text(torch, call):
    mode, shape, p, dtype = call
    x = _arr(shape, dtype)
    want = _torch_pad(torch, x, p, mode)
    assume(isinstance(want, Exception) and _first_line(want).startswith(READABLE))
    with pytest.raises(ValueError) as info:  # noqa: PT011 - compared below
        pyconv.pad(x, p, mode=mode)
    assert str(info.value).startswith(_first_line(want)), f"\npyconv: {info.value}\ntorch:  {want}"


def test_bools_in_pad_are_refused_anywhere():
    # torch's parser accepts a bool after the first element ((1, 1, 0, False) pads like
    # (1, 1, 0, 0)); pyconv refuses bools wherever they are, a deliberate strictness
    with pytest.raises(TypeError, match="element of type bool at pos 3"):
        pyconv.pad(_arr((2, 3, 4)), (1, 1, 0, False))


def test_masked_array_input_is_refused():
    x = np.ma.masked_array(_arr((1, 3, 4)), mask=np.eye(3, 4, dtype=bool)[np.newaxis])
    with pytest.raises(TypeError, match=r"pad\(\): argument 'input' is a numpy\.ma\.MaskedArray"):
        pyconv.pad(x, (1, 1), mode="reflect")
    # the way out the message names
    got = pyconv.pad(np.ma.filled(x, 0), (1, 1), mode="reflect")
    np.testing.assert_array_equal(got[0, :, 1:-1], np.where(x.mask[0], 0, x.data[0]))


# --------------------------------------------------------------------------------------
# Every error pad() can raise, one call each, compared with torch's for the same call
# (id, input shape, pad, mode, value, pyconv's type, what torch does).  What torch does:
# "same text" (pyconv's message starts with torch's first line), None (torch accepts the
# call: a documented refusal, docs/semantics.md) or why torch is not asked.
# --------------------------------------------------------------------------------------

SAME = "same text"
PAD_ERROR_CASES = [
    ("pad-not-a-sequence", (2, 3, 4), 3, "constant", None, TypeError, SAME),
    ("pad-float-element", (2, 3, 4), (1.0, 1), "constant", None, TypeError, SAME),
    ("unknown-mode", (2, 3, 4), (1, 1), "zeros", None, ValueError, SAME),
    ("odd-length", (2, 3, 4), (1, 1, 1), "constant", None, ValueError, SAME),
    ("too-long", (2, 3), (1, 1, 1, 1, 1, 1), "constant", None, ValueError, SAME),
    ("value-with-reflect", (2, 3, 4), (1, 1), "reflect", 1.0, ValueError, SAME),
    ("rank-for-mode", (4,), (1, 1), "reflect", None, ValueError, SAME),
    ("empty-non-batch-dim", (2, 0, 4), (1, 1), "reflect", None, ValueError, SAME),
    ("reflect-pad-too-big", (2, 3, 4), (4, 1), "reflect", None, ValueError, SAME),
    ("output-overflows-int64", (2, 3, 4), (2**62, 2**62), "constant", None, ValueError,
     "torch tries to allocate it"),
    ("circular-wraps-twice", (2, 3, 4), (5, 1), "circular", None, ValueError, SAME),
    ("circular-crops-to-empty", (2, 3, 4), (-3, -2), "circular", None, ValueError, SAME),
    ("replicate-too-small", (2, 3, 4), (-2, -3), "replicate", None, ValueError, SAME),
    ("constant-crops-negative", (2, 3, 4), (-3, -2), "constant", None, ValueError, SAME),
    ("circular-nothing-to-wrap", (2, 3, 4), (-5, 1), "circular", None, ValueError, None),
    ("circular-wraps-the-crop", (2, 3, 4), (-2, 3), "circular", None, ValueError, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "p", "mode", "value", "exc_type", "torch_does"),
    [pytest.param(*c[1:], id=c[0]) for c in PAD_ERROR_CASES],
)
def test_every_error_compared_with_torch(torch, shape, p, mode, value, exc_type, torch_does):
    x = _arr(shape, np.float32)
    if torch_does == SAME:
        _assert_same_error(torch, x, p, mode, value, exc_type)
        return
    if torch_does is None:  # torch returns an array here; pyconv refuses (documented)
        assert not isinstance(_torch_pad(torch, x, p, mode, value), Exception)
    _pyconv_error(x, p, mode, value, exc_type)


def test_the_error_cases_reach_every_raise(raise_sites):
    raised = []
    for _, shape, p, mode, value, exc_type, _ in PAD_ERROR_CASES:
        with pytest.raises(exc_type) as info:
            pyconv.pad(_arr(shape, np.float32), p, mode=mode, value=value)
        raised.append(info.value)
    with pytest.raises(TypeError) as info:  # compared in test_masked_array_input_is_refused
        pyconv.pad(np.ma.masked_array(_arr((2, 3, 4))), (1, 1))
    raised.append(info.value)
    unreached = raise_sites.unreached(pyconv.padding, raised)
    assert not unreached, f"no case compared with torch reaches:\n{unreached}"
