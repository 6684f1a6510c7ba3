"""Threads: results independent of the thread count, the GIL released, concurrent callers.

- The compiled kernels give bitwise identical results on 1, 2 and 3 threads, on shapes
  large enough to go parallel (every way the work is split: batch x output-channel
  blocks, pixel tiles of one big image, depthwise, pointwise, strided and dilated; 3-D
  layers on the channel-lanes path).
- They release the GIL: another Python thread makes measurable progress during calls of
  both dtypes and both thread counts, and never stalls for long.
- Eight Python threads calling ``conv2d`` at once (mixed backends, shapes, dtypes,
  parallel and serial kernel paths) get results bitwise identical to the same calls made
  one after another, and do not change the thread setting.
"""

from __future__ import annotations

import threading
import time
import zlib

import numpy as np
import pytest

import pyconv
from pyconv import _core
from pyconv.testing import assert_conv_close
from tests.test_lanes import lanes_case

# The long call: a batch of this problem, as many images as make about TARGET_S seconds on
# this build (the sanitizer build is many times slower than the optimised one).
# Much arithmetic per byte, so that the images' memory stays small.
PROBE_X, PROBE_W = (1, 16, 128, 128), (32, 16, 31, 31)
TARGET_S = 0.6


def _available(name: str) -> bool:
    return any(b.name == name and b.available for b in pyconv.backends())


def _count_rate(seconds: float = 0.05) -> float:
    """Increments per second of the counting loop below, on this machine, now."""
    counter = [0]
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        counter[0] += 1
    return counter[0] / (time.perf_counter() - t0)


# ---- results do not depend on the thread count ---------------------------------------

# (x shape, w shape, stride, padding, dilation, groups): each at least 1 MFLOP, so the
# kernels open a parallel region (they stay serial below that)
PARALLEL_SHAPES = {
    # batch x output-channel blocks
    "layer-2x32x24x24-k3": ((2, 32, 24, 24), (48, 32, 3, 3), 1, 1, 1, 1),
    "layer-2x16x64x64-32x16x3x3": ((2, 16, 64, 64), (32, 16, 3, 3), 1, 1, 1, 1),
    # one big single-channel image: split over pixel tiles
    "image-1x1x256x256-k7": ((1, 1, 256, 256), (1, 1, 7, 7), 1, 3, 1, 1),
    "single-channel-512x512-5x5": ((1, 1, 512, 512), (1, 1, 5, 5), 1, 2, 1, 1),
    # depthwise, with few channels and with many
    "depthwise-1x3x128x96-k5": ((1, 3, 128, 96), (6, 1, 5, 5), 1, "same", 1, 3),
    "depthwise-1x32x64x64": ((1, 32, 64, 64), (32, 1, 3, 3), 1, 1, 1, 32),
    # strided, dilated, grouped, odd sizes (tails everywhere)
    "mixed-3x12x37x29": ((3, 12, 37, 29), (18, 4, 3, 5), (2, 1), (1, 2), (2, 1), 3),
    "strided-dilated-cout11": ((3, 8, 48, 40), (11, 8, 3, 3), 2, 2, 2, 1),
    "pointwise-1x64x32x32-96": ((1, 64, 32, 32), (96, 64, 1, 1), 1, 0, 1, 1),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(PARALLEL_SHAPES))
def test_results_do_not_depend_on_the_thread_count(name, dtype):
    xs, ws, stride, padding, dilation, groups = PARALLEL_SHAPES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    out = {}
    for n in (1, 2, 3):
        pyconv.set_num_threads(n)
        before = _core.parallel_calls()
        out[n] = pyconv.conv2d(x, w, b, stride, padding, dilation, groups, backend="cython")
        if n > 1 and _core.openmp_enabled():  # the call is big enough to go parallel
            assert _core.parallel_calls() == before + 1
    flops = out[1].size * 2 * ws[1] * ws[2] * ws[3]
    assert flops >= 1 << 20
    np.testing.assert_array_equal(out[1], out[2], err_msg="1 and 2 threads differ")
    np.testing.assert_array_equal(out[1], out[3], err_msg="1 and 3 threads differ")
    assert_conv_close(out[1], x, w, b, stride, padding, dilation, groups)


# 3-D layers on the channel-lanes path (tests/test_lanes.py's shapes, batch 4): work items
# are bands of rows of each slice and, in a small volume, shares of the channel blocks
@pytest.mark.parametrize(
    "name", ["3x3x3-partial-block", "strided-dilated-groups", "small-volume-split-blocks"]
)
def test_channel_lanes_results_do_not_depend_on_the_thread_count(name):
    x, w, b, stride, padding, dilation, groups = lanes_case(name, np.float32, batch=4)
    out = {}
    for n in (1, 2, 3):
        pyconv.set_num_threads(n)
        before = _core.lanes_calls()
        out[n] = _core.conv_forward(x, w, b, stride, padding, dilation, groups)
        assert _core.lanes_calls() == before + 1
    np.testing.assert_array_equal(out[1], out[2], err_msg="1 and 2 threads differ")
    np.testing.assert_array_equal(out[1], out[3], err_msg="1 and 3 threads differ")


# ---- the GIL -------------------------------------------------------------------------


def test_gil_is_released_during_the_convolution(rng):
    pyconv.set_num_threads(1)  # a long call, and a core left for the counting thread
    x = rng.standard_normal((1, 1, 2048, 2048))
    w = rng.standard_normal((1, 1, 31, 31))
    counter = [0]
    state = {}
    go = threading.Event()

    def convolve():
        go.wait()  # start only once this thread is counting, so a stall cannot hide
        state["count_before"] = counter[0]
        state["t0"] = time.perf_counter()
        pyconv.conv2d(x, w, backend="cython")
        state["t1"] = time.perf_counter()
        state["count_after"] = counter[0]

    worker = threading.Thread(target=convolve)
    worker.start()
    # Count here and remember the longest pause between two increments: a kernel that
    # holds the GIL stops this loop for the whole call (checked by hand with a C builtin
    # that holds it: the pause is the call's duration).
    max_gap = 0.0
    prev = time.perf_counter()
    go.set()
    while worker.is_alive():
        counter[0] += 1
        now = time.perf_counter()
        max_gap = max(max_gap, now - prev)
        prev = now
    worker.join()

    duration = state["t1"] - state["t0"]
    assert duration > 0.05, f"the call took only {duration:.3f} s: too short to tell"
    assert state["count_after"] > state["count_before"], "no progress during the convolution"
    assert max_gap < duration / 3, (
        f"the counting thread stalled for {max_gap:.3f} s of a {duration:.3f} s convolution"
    )


@pytest.mark.parametrize(("dtype", "num_threads"), [(np.float32, 1), (np.float64, 2)])
def test_another_thread_progresses_during_a_long_call(rng, dtype, num_threads):
    pyconv.set_num_threads(num_threads)
    x1 = rng.standard_normal(PROBE_X).astype(dtype)
    w = rng.standard_normal(PROBE_W).astype(dtype)
    probe = np.inf
    for _ in range(2):  # the first call also pays for page faults
        t0 = time.perf_counter()
        pyconv.conv2d(x1, w, backend="cython")
        probe = min(probe, time.perf_counter() - t0)
    x = np.repeat(x1, int(np.clip(np.ceil(TARGET_S / probe), 1, 64)), axis=0)

    counter = [0]
    state: dict = {}
    started = threading.Event()

    def convolve():
        started.wait()
        state["before"] = counter[0]
        t0 = time.perf_counter()
        state["out"] = pyconv.conv2d(x, w, backend="cython")
        state["duration"] = time.perf_counter() - t0
        state["after"] = counter[0]

    rate = _count_rate()
    worker = threading.Thread(target=convolve)
    worker.start()
    started.set()
    while worker.is_alive():
        counter[0] += 1
    worker.join()

    assert state["out"].shape == (x.shape[0], 32, 98, 98)
    duration, progress = state["duration"], state["after"] - state["before"]
    assert duration > 0.2, f"the call took only {duration:.3f} s: too short to tell"
    # A kernel holding the GIL lets the counter run only around the call's start and end,
    # one switch interval each (5 ms, 0.01 s of counting in all): ask for 5 times that
    # much progress, and at least 10 % of the counting rate over the call.
    need = rate * max(0.05, 0.1 * duration)
    assert progress > need, (
        f"the other thread counted {progress} times during a {duration:.2f} s convolution "
        f"(it counts {rate:.3g} per second alone; {need:.0f} needed): the kernel holds "
        "the GIL"
    )


def _backends_under_test() -> list[str]:
    names = ["cython", "numpy"]
    names += [n for n in ("torch", "fft") if _available(n)]
    return names


def _calls(rng) -> list[tuple]:
    """Shapes that take different kernel paths: tiny (serial), large (OpenMP), strided,
    dilated, grouped, depthwise, 'same' with an even kernel, unbatched, both dtypes."""
    specs = [
        ((1, 3, 5, 5), (1, 3, 3, 3), {}, np.float32),
        ((2, 8, 40, 36), (16, 8, 3, 3), {"padding": 1}, np.float32),  # parallel path
        ((2, 8, 40, 36), (16, 8, 3, 3), {"padding": 1}, np.float64),
        ((1, 6, 33, 31), (6, 2, 4, 4), {"padding": "same", "groups": 3}, np.float32),
        ((3, 4, 29, 30), (8, 1, 3, 5), {"stride": (2, 3), "groups": 4}, np.float64),
        ((2, 5, 26, 27), (7, 5, 3, 3), {"dilation": 2, "padding": (2, 1)}, np.float32),
        ((16, 64, 64), (32, 4, 1, 1), {"groups": 4}, np.float32),  # unbatched, 1x1
        ((1, 1, 96, 96), (1, 1, 9, 9), {"padding": 4}, np.float64),
    ]
    out = []
    for xs, ws, kw, dt in specs:
        x = rng.standard_normal(xs).astype(dt)
        w = rng.standard_normal(ws).astype(dt)
        b = rng.standard_normal(ws[0]).astype(dt)
        out.append((x, w, b, kw))
    return out


@pytest.mark.parametrize("num_threads", [1, 2])
def test_eight_threads_get_the_serial_results(rng, num_threads):
    pyconv.set_num_threads(num_threads)
    backends = _backends_under_test()
    calls = _calls(rng)
    jobs = [(be, i) for be in backends for i in range(len(calls))]
    serial = {}
    for be, i in jobs:
        x, w, b, kw = calls[i]
        serial[be, i] = pyconv.conv2d(x, w, b, backend=be, **kw)

    n_threads, rounds = 8, 3
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []
    mismatches: list[str] = []
    done = [0] * n_threads

    def work(k: int) -> None:
        # each thread walks the jobs from its own offset, so that different backends and
        # shapes overlap in time
        order = jobs[k % len(jobs) :] + jobs[: k % len(jobs)]
        try:
            barrier.wait(timeout=60)
            for _ in range(rounds):
                for be, i in order:
                    x, w, b, kw = calls[i]
                    got = pyconv.conv2d(x, w, b, backend=be, **kw)
                    want = serial[be, i]
                    if got.dtype != want.dtype or not np.array_equal(got, want):
                        mismatches.append(f"thread {k}, backend {be}, call {i}")
                    done[k] += 1
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    assert errors == []
    assert mismatches == []
    assert done == [rounds * len(jobs)] * n_threads


def test_concurrent_threads_do_not_change_the_thread_setting(rng):
    """``set_num_threads`` is global; calls in other threads neither read a torn value nor
    reset it."""
    pyconv.set_num_threads(2)
    x = rng.standard_normal((1, 4, 64, 64)).astype(np.float32)
    w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    want = pyconv.conv2d(x, w)
    before = _core.parallel_calls()
    results = []

    def work():
        results.extend(pyconv.conv2d(x, w) for _ in range(5))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pyconv.get_num_threads() == 2
    assert len(results) == 20
    assert all(np.array_equal(r, want) for r in results)
    if _core.openmp_enabled():  # each call big enough for the parallel path took it
        assert _core.parallel_calls() - before == 20
