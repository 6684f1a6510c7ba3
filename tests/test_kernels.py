"""The compiled kernels' own machinery: the fast entry, the input modes, memory, Ctrl-C.

The values are checked against the NumPy reference backend (and hand-computed results);
the fast entry is checked to give exactly what the full front end gives, and to step
aside (return None) for every call it does not handle, so errors stay the front end's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pyconv
from pyconv import _core
from pyconv._bench.zoo import ZOO, make_case
from pyconv.testing import assert_conv_close


def _full_path(x, w, b, stride, padding, dilation, groups):
    """The same call through the front end's validation (not the fast entry)."""
    from pyconv._backends.cython import conv2d
    from pyconv._validation import prepare_conv2d

    xx, ww, bb, spec = prepare_conv2d(x, w, b, stride, padding, dilation, groups)
    out = conv2d(xx, ww, bb, spec)
    return out[0] if spec.unbatched else out


FAST_CASES = [
    # (input shape, weight shape, bias, stride, padding, dilation, groups)
    ((1, 3, 5, 5), (1, 3, 3, 3), True, 1, 0, 1, 1),
    ((3, 5, 5), (3, 3, 3, 3), True, 1, 1, 1, 1),
    ((2, 4, 9, 7), (6, 2, 3, 2), False, (2, 1), (1, 0), (1, 2), 2),
    ((1, 8, 12, 12), (8, 1, 3, 3), True, 2, 1, 1, 8),
    ((2, 16, 10, 10), (24, 16, 1, 1), False, 1, 0, 1, 1),
    ((1, 1, 40, 33), (1, 1, 5, 5), True, 1, 0, 2, 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", range(len(FAST_CASES)))
def test_fast_entry_equals_the_full_front_end(rng, case, dtype):
    xs, ws, has_b, stride, padding, dilation, groups = FAST_CASES[case]
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if has_b else None
    fast = _core.conv2d_fast(x, w, b, stride, padding, dilation, groups)
    assert fast is not None
    full = _full_path(x, w, b, stride, padding, dilation, groups)
    assert fast.dtype == full.dtype
    assert fast.shape == full.shape
    assert np.array_equal(fast, full)
    ref = pyconv.conv2d(x, w, b, stride, padding, dilation, groups, backend="numpy")
    assert_conv_close(fast, x, w, b, stride, padding, dilation, groups)
    assert ref.shape == fast.shape


def _args():
    x = np.ones((1, 2, 6, 6), np.float32)
    w = np.ones((4, 2, 3, 3), np.float32)
    b = np.ones(4, np.float32)
    return x, w, b


class _Sub(np.ndarray):
    pass


@pytest.mark.parametrize(
    "change",
    [
        {"stride": True},  # bools are not ints to torch's parser
        {"stride": np.int64(1)},  # NumPy ints: valid, but the front end reads them
        {"padding": [1, 1]},  # lists: valid, front end
        {"padding": "same"},
        {"padding": -1},
        {"dilation": 0},
        {"groups": 3},  # does not divide the channels
        {"stride": (1, 2, 3)},
        {"padding": 2**40},  # sizes the front end checks for overflow
        {"input": np.ones((1, 2, 6, 6), np.float16)},
        {"input": np.ones((1, 2, 6, 6), ">f4")},  # byte-swapped
        {"input": np.ones((1, 2, 6, 6), np.float64)},  # dtype mismatch
        {"input": np.ones((1, 2, 6, 6), np.float32).view(_Sub)},
        {"input": [[[[1.0]]]]},
        {"input": np.ones((0, 2, 6, 6), np.float32)},
        {"input": np.ones((1, 2, 2, 2), np.float32)},  # kernel larger than the input
        {"input": np.ones((1, 3, 6, 6), np.float32)},  # channel mismatch
        {"bias": np.ones(3, np.float32)},
        {"bias": np.ones(8, np.float32)[::2]},  # not contiguous: the front end copies
        {"bias": [1.0, 1.0, 1.0, 1.0]},
        {"weight": np.ones((4, 2, 0, 3), np.float32)},
    ],
    ids=lambda c: next(iter(c)) + "=" + repr(next(iter(c.values())))[:30],
)
def test_fast_entry_steps_aside_for_anything_unusual(change):
    x, w, b = _args()
    kwargs = {"input": x, "weight": w, "bias": b, "stride": 1, "padding": 0}
    kwargs.update({"dilation": 1, "groups": 1})
    kwargs.update(change)
    assert _core.conv2d_fast(**kwargs) is None
    # and pyconv.conv2d then behaves as the front end says: a result or its error
    try:
        want = _full_path(*kwargs.values())
    except (TypeError, ValueError) as exc:
        error = exc
    else:
        assert np.array_equal(pyconv.conv2d(*kwargs.values()), want)
        return
    with pytest.raises(type(error)) as got:
        pyconv.conv2d(*kwargs.values())
    assert str(got.value) == str(error)


def test_fast_entry_serves_the_selected_cython_backend_only(rng):
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    want = pyconv.conv2d(x, w, backend="numpy")
    for ctx in (pyconv.use_backend("cython"), pyconv.use_backend("numpy")):
        with ctx:
            assert_conv_close(pyconv.conv2d(x, w), x, w)
    with pyconv.use_backend("numpy"):
        # the reference computes in float64 and rounds once: identical to itself only
        assert np.array_equal(pyconv.conv2d(x, w), want)


# --------------------------------------------------------------------------------------
# Input modes and strides
# --------------------------------------------------------------------------------------


def test_a_stride_far_beyond_the_kernel_packs_only_the_phases_it_reads():
    # padded input 2**21 x 2**21: packing every stride phase would need 16 TB
    x = np.full((1, 1, 1, 1), 3.0, np.float32)
    w = np.full((1, 1, 1, 1), 2.0, np.float32)
    out = pyconv.conv2d(x, w, stride=2**20, padding=2**20)
    want = np.zeros((1, 1, 3, 3), np.float32)
    want[0, 0, 1, 1] = 6.0  # only the middle window sees the pixel
    assert np.array_equal(out, want)
    assert _core.workspace_bytes() < 1 << 20


@pytest.mark.parametrize("threads", [1, 2])
def test_inputs_read_in_place_are_not_read_past_their_end(rng, threads):
    # stride 1, no padding, C-contiguous: the kernels read the caller's array, and the
    # last tiles of the last image would run past its end without the tail scratch.
    # A view at the end of a larger buffer, followed by NaN, would show any overrun.
    pyconv.set_num_threads(threads)
    for h, w_, k, c in [(5, 5, 3, 3), (17, 9, 2, 4), (64, 64, 3, 16), (3, 200, 3, 1)]:
        n = 2
        buf = np.full(n * c * h * w_ + 4096, np.nan, np.float32)
        x = buf[: n * c * h * w_].reshape(n, c, h, w_)
        x[...] = rng.standard_normal(x.shape)
        wt = rng.standard_normal((5, c, k, k)).astype(np.float32)
        out = pyconv.conv2d(x, wt)
        assert np.isfinite(out).all()
        assert_conv_close(out, x, wt)


# --------------------------------------------------------------------------------------
# Memory: the output plus reusable workspace, never an im2col buffer
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [1, 2])
def test_scratch_memory_stays_within_input_plus_weights(threads):
    pyconv.set_num_threads(threads)
    for name in ZOO:
        x, w, b, kw = make_case(name)
        pyconv.conv2d(x, w, b, **kw)
        used = _core.workspace_bytes()
        # the tile margin and tap offsets are a few KiB on top, whatever the size
        assert used <= x.nbytes + w.nbytes + 4096, (name, used, x.nbytes, w.nbytes)
        if ZOO[name][2] == 1:  # stride 1: at most the padded input, no im2col
            assert used < 2.5 * x.nbytes + 4096, (name, used, x.nbytes)


_WORKSPACE_SCRIPT = textwrap.dedent(
    """
    import os, resource, numpy as np, pyconv
    x = np.ones((1, 1, 1, 1), np.float32)
    w = np.ones((1, 1, 2, 2), np.float32)
    # a 2x2 kernel at stride 2 reads all four stride phases of a padded row of 2**30
    # pixels: the output is 2 GiB (never touched), the padded workspace 16 GiB, and the
    # address space allows 4 GiB more than the process has
    vsz = int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vsz + (4 << 30), hard))
    try:
        pyconv.conv2d(x, w, stride=2, padding=(1, 2**29))
        print("no error")
    except MemoryError as exc:
        print("MemoryError:", exc)
    y = pyconv.conv2d(np.ones((1, 1, 4, 4), np.float32), w)  # the process goes on
    print("after", float(y.sum()))
    """
)

_LANES_WORKSPACE_SCRIPT = textwrap.dedent(
    """
    import os, resource, numpy as np, pyconv
    from pyconv import _core
    # the channel-lanes path (3-D, 16 -> 32 channels): a row of 2**20 padded columns,
    # whose output (128 MiB) fits the address space left and whose channels-last copy
    # (64 MiB) then does not
    x = np.ones((1, 16, 1, 1, 1), np.float32)
    w = np.ones((32, 16, 1, 1, 1), np.float32)
    vsz = int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vsz + (160 << 20), hard))
    before = _core.lanes_calls()
    try:
        pyconv.conv3d(x, w, padding=(0, 0, 2**19))
        print("no error")
    except MemoryError as exc:
        print("MemoryError:", exc)
    y = pyconv.conv3d(np.ones((1, 16, 3, 3, 3), np.float32), w, padding=1)  # goes on
    print("after", float(y[0, 0, 1, 1, 1]), _core.lanes_calls() - before)
    """
)


@pytest.mark.spawns_python
@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS semantics are Linux's")
def test_a_workspace_that_cannot_be_allocated_raises_memoryerror_naming_its_size():
    proc = subprocess.run(
        [sys.executable, "-c", _WORKSPACE_SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("MemoryError: pyconv: cannot allocate the "), proc.stdout
    assert "bytes (16 GiB) of workspace" in lines[0]
    assert lines[1] == "after 36.0"


@pytest.mark.spawns_python
@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS semantics are Linux's")
def test_a_channels_last_copy_that_cannot_be_allocated_raises_memoryerror():
    proc = subprocess.run(
        [sys.executable, "-c", _LANES_WORKSPACE_SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("MemoryError: pyconv: cannot allocate the "), proc.stdout
    assert "a channels-last copy of one image" in lines[0]
    # the next call runs on the same path (counted once: the failed one never started):
    # 16 channels of ones through a 1x1x1 kernel of ones
    assert lines[1] == "after 16.0 1", proc.stdout


# --------------------------------------------------------------------------------------
# Ctrl-C
# --------------------------------------------------------------------------------------

_INTERRUPT_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    import numpy as np, pyconv

    pyconv.set_num_threads(int(sys.argv[1]))
    rng = np.random.default_rng(0)
    if sys.argv[2] == "2d":
        x = rng.standard_normal((1, 1, 2048, 2048)).astype(np.float32)
        w = np.ones((1, 1, 111, 111), np.float32)  # about 90 GFLOP: seconds on 2 cores
        conv = pyconv.conv2d
    else:  # the channel-lanes path of 3-D layers, on every variant: about 115 GFLOP
        x = rng.standard_normal((1, 32, 64, 128, 128)).astype(np.float32)
        w = np.ones((64, 32, 3, 3, 3), np.float32)
        conv = pyconv.conv3d
    sent = []

    def interrupt():
        time.sleep(0.4)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt).start()
    t0 = time.perf_counter()
    try:
        conv(x, w)
        print("finished without interruption after", time.perf_counter() - t0)
    except KeyboardInterrupt:
        print(f"interrupted {time.perf_counter() - sent[0]:.4f} s after the signal")
    small = pyconv.conv2d(np.ones((1, 1, 4, 4), np.float32), np.ones((1, 1, 3, 3), np.float32))
    print("usable", small.ravel().tolist())
    """
)


@pytest.mark.spawns_python
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("kind", ["2d", "3d"])
@pytest.mark.parametrize("threads", [1, 2])
def test_ctrl_c_stops_a_long_convolution_quickly(threads, kind):
    proc = subprocess.run(
        [sys.executable, "-c", _INTERRUPT_SCRIPT, str(threads), kind],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first.startswith("interrupted "), proc.stdout
    delay = float(first.split()[1])
    # the sanitizer build (-O1, instrumented) is several times slower per tile
    limit = 1.0 if "-fsanitize" in _core.build_cflags() else 0.25
    assert delay < limit, f"took {delay} s to stop"
    assert second == "usable [9.0, 9.0, 9.0, 9.0]"


# --------------------------------------------------------------------------------------
# Threads: the kernels' pool is the only one they use, and it is sized by the setting
# --------------------------------------------------------------------------------------

_THREADS_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import numpy as np, pyconv

    def threads():
        return len(os.listdir("/proc/self/task"))

    x = np.ones((4, 16, 64, 64), np.float32)
    w = np.ones((32, 16, 3, 3), np.float32)  # 75 MFLOP: parallel
    before = threads()
    for _ in range(3):
        pyconv.conv2d(x, w, padding=1)
    after = threads()
    np.ones((256, 256)) @ np.ones((256, 256))  # NumPy's BLAS has its own pool
    pyconv.conv2d(x, w, padding=1)
    print(before, after, threads())
    """
)


@pytest.mark.spawns_python
@pytest.mark.skipif(sys.platform != "linux", reason="counts threads in /proc")
@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_the_kernels_start_as_many_threads_as_they_are_told(threads):
    env = {**os.environ, "PYCONV_NUM_THREADS": threads}
    proc = subprocess.run(
        [sys.executable, "-c", _THREADS_SCRIPT], capture_output=True, text=True, env=env,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    before, after, last = map(int, proc.stdout.split())
    # OpenMP's pool: the calling thread plus n - 1 workers, created once and reused
    assert after - before == int(threads) - 1
    assert last - before == int(threads) - 1


@pytest.mark.parametrize(
    "case",
    [
        # (input, weight, stride, padding, dilation): padded copies of several MB
        ((1, 8, 300, 310), (5, 8, 3, 3), 1, 1, 1),
        ((2, 4, 257, 400), (6, 4, 5, 3), 2, 2, 1),
        ((1, 8, 200, 600), (8, 8, 3, 3), 1, 3, 2),
        ((1, 3, 1000, 500), (4, 3, 7, 7), 2, 3, 1),
        ((1, 2, 300, 1024), (3, 2, 9, 9), 1, 0, 1),  # rows 4 KiB apart: packed, not direct
    ],
)
def test_large_planes_are_computed_in_bands_of_rows(rng, case):
    xs, ws, stride, padding, dilation = case
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    out = {}
    for n in (1, 2, 3):
        pyconv.set_num_threads(n)
        out[n] = pyconv.conv2d(x, w, b, stride, padding, dilation)
        # each thread packs one band (about 1 MiB), never the whole padded input
        assert _core.workspace_bytes() < n * (2 << 20) + 65536
    assert np.array_equal(out[1], out[2])
    assert np.array_equal(out[1], out[3])
    assert_conv_close(out[1], x, w, b, stride, padding, dilation)


# ---- the depthwise 3x3 kernel ---------------------------------------------------------


@pytest.mark.parametrize("isa", [n for n, _d, ok in _core.isas() if ok])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("H", "W", "padding", "stride", "dilation"),
    [
        (5, 5, 1, 1, 1),
        (7, 7, 1, 1, 1),
        (14, 14, 1, 1, 1),
        (13, 37, 1, 1, 1),
        (3, 70, 1, 1, 1),
        (20, 9, (2, 1), 1, 1),
        (9, 31, 0, 1, 1),
        (14, 14, 1, 2, 1),
        (15, 38, 1, 2, 1),
        (11, 12, 2, (1, 2), 2),
        (17, 9, 0, 3, (2, 1)),
    ],
)
def test_depthwise_3x3_kernels_match_the_generic_tile_bit_for_bit(
    isa, dtype, H, W, padding, stride, dilation
):
    # Two images take the depthwise kernel (one packed problem per image and channel);
    # one image of one channel takes the generic tile (one problem, packed once): the
    # two sum the 9 taps in the same order, so they agree to the last bit.
    before = _core.isa()
    _core.set_isa(isa)
    try:
        rng = np.random.default_rng(H * W)
        x = rng.standard_normal((2, 3, H, W)).astype(dtype)
        w = rng.standard_normal((3, 1, 3, 3)).astype(dtype)
        b = rng.standard_normal(3).astype(dtype)
        kw = {"stride": stride, "padding": padding, "dilation": dilation}
        got = pyconv.conv2d(x, w, b, groups=3, **kw)
        assert_conv_close(got, x, w, b, stride, padding, dilation, 3)
        for c in range(3):
            one = pyconv.conv2d(x[:1, c : c + 1], w[c : c + 1], b[c : c + 1], **kw)
            np.testing.assert_array_equal(got[:1, c : c + 1], one)
    finally:
        _core.set_isa(before)
