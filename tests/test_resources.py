"""Resources: memory stays flat over many calls; impossible sizes fail cleanly, up front.

- Resident memory (``/proc/self/statm``) and Python's allocated blocks stay flat over
  100,000 small calls and over 100 large ones (the bounds measured are in the constants
  below and in docs/development.md).
- An output that cannot be allocated raises ``MemoryError`` naming its size, before any
  work; sizes whose byte counts overflow 64 bits are refused with a ``ValueError`` naming
  the size, before anything is allocated.
"""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import pyconv

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MiB = 1 << 20

# Measured on the development machine (Linux, glibc 2.36, CPython 3.11, NumPy 2.4): after
# warm-up the resident set grew by 0.000 MiB over 100,000 small calls and by 0.000 MiB
# over 100 large calls (each returns a 16 MiB output and frees a workspace of a few MiB),
# and Python's allocated blocks by 4 and 0.  The bounds leave room for allocator noise
# and still catch a leak of 10 bytes per small call or of one output in 100 large calls.
SMALL_CALLS = 100_000
SMALL_RSS_BOUND = 1 * MiB
LARGE_CALLS = 100
LARGE_RSS_BOUND = 16 * MiB
# Python objects leaked per call show here long before they show in the resident set.
BLOCKS_BOUND = 200


def _asan_loaded() -> bool:
    try:
        with open("/proc/self/maps") as f:
            return "libasan" in f.read()
    except OSError:
        return False


needs_statm = pytest.mark.skipif(
    not os.path.exists("/proc/self/statm"), reason="resident memory is read from /proc"
)
# AddressSanitizer keeps freed memory in quarantine and maps shadow memory: its resident
# set says nothing about leaks (its own leak checker is off for CPython's sake).
not_under_asan = pytest.mark.skipif(
    _asan_loaded(), reason="the resident set is meaningless under AddressSanitizer"
)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _settle() -> tuple[int, int]:
    gc.collect()
    return _rss(), sys.getallocatedblocks()


def _small_calls(rng):
    """Tiny calls over the kinds of argument the front end and the kernel handle."""
    f32, f64 = np.float32, np.float64
    x = rng.standard_normal((1, 3, 5, 5)).astype(f32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(f32)
    b = rng.standard_normal(2).astype(f32)
    xd, wd = x.astype(f64), w.astype(f64)
    xu = x[0, :, ::-1]  # unbatched, negative strides
    dw = rng.standard_normal((3, 1, 2, 2)).astype(f32)
    return [
        lambda: pyconv.conv2d(x, w),
        lambda: pyconv.conv2d(x, w, b, padding=1),
        lambda: pyconv.conv2d(xd, wd, stride=2, padding=1),
        lambda: pyconv.conv2d(xu, w, b, dilation=2),
        lambda: pyconv.conv2d(x, dw, groups=3, padding="same"),
    ]


@needs_statm
@not_under_asan
def test_rss_flat_over_100k_small_calls(rng):
    calls = _small_calls(rng)
    for f in calls * 200:  # warm-up: caches, allocator arenas, the backend's first load
        f()
    rss0, blocks0 = _settle()
    n = len(calls)
    for i in range(SMALL_CALLS):
        calls[i % n]()
    rss1, blocks1 = _settle()
    assert blocks1 - blocks0 < BLOCKS_BOUND, f"{blocks1 - blocks0} Python blocks leaked"
    assert rss1 - rss0 < SMALL_RSS_BOUND, (
        f"resident memory grew by {(rss1 - rss0) / MiB:.2f} MiB over {SMALL_CALLS} small calls"
    )


@needs_statm
@not_under_asan
def test_rss_flat_over_small_failing_calls(rng):
    """The error paths (validation, torch's messages) must not leak either."""
    x = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)  # wrong channel count

    def fail():
        try:
            pyconv.conv2d(x, w)
        except ValueError:
            pass
        else:  # pragma: no cover - the call is invalid
            raise AssertionError("the invalid call succeeded")

    for _ in range(1000):
        fail()
    rss0, blocks0 = _settle()
    for _ in range(SMALL_CALLS // 5):
        fail()
    rss1, blocks1 = _settle()
    assert blocks1 - blocks0 < BLOCKS_BOUND
    assert rss1 - rss0 < SMALL_RSS_BOUND


@needs_statm
@not_under_asan
def test_rss_flat_over_100_large_calls(rng):
    # two calls that each return a 16 MiB output and use a workspace of several MiB
    x = rng.standard_normal((4, 16, 128, 128)).astype(np.float32)
    w = rng.standard_normal((64, 16, 3, 3)).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    xd = rng.standard_normal((2, 16, 130, 130))
    wd = rng.standard_normal((64, 16, 3, 3))
    calls = [
        lambda: pyconv.conv2d(x, w, b, padding=1),
        lambda: pyconv.conv2d(xd, wd, stride=1, dilation=1),
    ]
    for f in calls * 3:
        out = f()
        assert out.nbytes == 16 * MiB
    del out
    rss0, blocks0 = _settle()
    for i in range(LARGE_CALLS):
        calls[i % 2]()
    rss1, blocks1 = _settle()
    assert blocks1 - blocks0 < BLOCKS_BOUND
    assert rss1 - rss0 < LARGE_RSS_BOUND, (
        f"resident memory grew by {(rss1 - rss0) / MiB:.1f} MiB over {LARGE_CALLS} large calls"
    )


# --------------------------------------------------------------------------------------
# Sizes that cannot be allocated, and sizes that cannot even be counted
# --------------------------------------------------------------------------------------

# "Unable to allocate 4.00 PiB for an array with shape (...)" (NumPy's text) or a byte
# count; either way the message must say how much was asked for.
SIZE_IN_MESSAGE = re.compile(r"\d+(\.\d+)? ?[KMGTPE]i?B|\d{6,} bytes")


def _installed(name: str) -> bool:
    return any(b.name == name and b.available for b in pyconv.backends())


def _backends() -> list[str]:
    return [n for n in ("cython", "numpy", "torch", "fft") if _installed(n)]


@pytest.mark.parametrize("backend", _backends())
def test_unallocatable_output_is_a_memory_error_naming_the_size(backend):
    # a 1 x 1 kernel over a 2**20 x 2**20 image (zero strides: no memory) with 1024
    # output channels: a 4 PiB output, beyond any machine's address space
    x = np.broadcast_to(np.float32(1), (1, 1, 1 << 20, 1 << 20))
    w = np.ones((1024, 1, 1, 1), np.float32)
    t0 = time.perf_counter()
    with pytest.raises(MemoryError) as info:
        pyconv.conv2d(x, w, backend=backend)
    assert time.perf_counter() - t0 < 5, "the failure came after work had been done"
    assert SIZE_IN_MESSAGE.search(str(info.value)), str(info.value)


@pytest.mark.parametrize("backend", _backends())
def test_unallocatable_padding_is_a_memory_error_naming_the_size(backend):
    """A tiny input with a huge padding: the output (or the padded copy) is 4 PiB."""
    x = np.ones((1, 1, 3, 3), np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    t0 = time.perf_counter()
    with pytest.raises(MemoryError) as info:
        pyconv.conv2d(x, w, padding=1 << 24, backend=backend)
    assert time.perf_counter() - t0 < 5
    assert SIZE_IN_MESSAGE.search(str(info.value)), str(info.value)


def test_cython_names_the_output_it_cannot_allocate():
    x = np.broadcast_to(np.float64(1), (2, 1, 1 << 20, 1 << 20))
    w = np.ones((512, 1, 1, 1), np.float64)
    with pytest.raises(MemoryError, match=r"8\.00 PiB.*\(2, 512, 1048576, 1048576\)"):
        pyconv.conv2d(x, w, backend="cython")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"padding": (1 << 62) - 1}, r"the padded input would have shape \[1, 1, 922337"),
        ({"padding": (0, 1 << 61)}, r"the padded input would have shape \[1, 1, 3, 4611"),
        ({"padding": 1 << 62}, r"expected padding to be at most 4611686018427387903"),
        ({"stride": 1 << 63}, r"'stride' is 9223372036854775808, which does not fit"),
        ({"dilation": -(1 << 63) - 1}, r"'dilation' is -9223372036854775809"),
        ({"groups": 1 << 64}, r"'groups' is 18446744073709551616"),
        ({"padding": "same", "dilation": 1 << 62, "w": (1, 1, 3, 3)}, r"padded input"),
    ],
    ids=["pad-int64max", "pad-2^61", "pad-torch-limit", "stride", "dilation", "groups", "same"],
)
def test_sizes_that_overflow_64_bits_are_refused(backend, kwargs, message):
    kwargs = dict(kwargs)
    x = np.ones((1, 1, 3, 3), np.float32)
    w = np.ones(kwargs.pop("w", (1, 1, 1, 1)), np.float32)
    with pytest.raises(ValueError, match=message):
        pyconv.conv2d(x, w, backend=backend, **kwargs)


def test_output_bytes_overflowing_64_bits_are_refused():
    # 2**20 x 2**20 pixels x 2**22 channels x 4 bytes = 2**64 bytes: the element count
    # fits in 64 bits, the byte count does not
    x = np.broadcast_to(np.float32(1), (1, 1, 1 << 20, 1 << 20))
    w = np.broadcast_to(np.float32(1), (1 << 22, 1, 1, 1))
    with pytest.raises(ValueError, match=r"the output would have shape \[1, 4194304, 1048576"):
        pyconv.conv2d(x, w)


def test_a_huge_padding_no_longer_wraps_to_a_small_result():
    """Before the front end checked sizes, padding 2**63-1 wrapped the kernel's int64
    arithmetic around and returned a 1 x 1 output instead of failing."""
    with pytest.raises(ValueError, match="padded input"):
        pyconv.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 1, 1)), padding=(1 << 62) - 1)


def test_pad_refuses_overflowing_sizes():
    x = np.ones((1, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match="pad\\(\\): the output would have shape"):
        pyconv.pad(x, (1 << 62, 0))
    with pytest.raises(ValueError, match="'pad' is 9223372036854775808"):
        pyconv.pad(x, (1 << 63, 0))


# --------------------------------------------------------------------------------------
# Huge strides: the workspace holds only the stride phases some tap reads, and the
# kernels' size arithmetic must not overflow near 2**63 (both once crashed or asked
# for tens of GB).
# --------------------------------------------------------------------------------------


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.spawns_python
@pytest.mark.parametrize("stride", [1 << 31, (1 << 63) - 1])
def test_huge_stride_on_a_small_image(stride):
    proc = _run(
        f"""
        import numpy as np, pyconv
        out = pyconv.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 1, 1)), stride={stride})
        assert out.shape == (1, 1, 1, 1) and out[0, 0, 0, 0] == 1.0, out
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_workspace_does_not_grow_with_the_stride():
    x = np.ones((1, 1, 3, 3), np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    out = pyconv.conv2d(x, w, stride=100_000, backend="cython")
    np.testing.assert_array_equal(out, np.ones((1, 1, 1, 1), np.float32))
