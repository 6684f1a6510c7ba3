"""Shared fixtures: the backends under test and PyTorch as the independent reference."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pyconv

BACKENDS = ["cython", "numpy"]

# Set by .ci/aarch64, which runs the suite on an aarch64 Python under user-mode QEMU
# without binfmt_misc: the kernel cannot execute that interpreter, so a test that starts
# ``sys.executable`` in a subprocess cannot run there (it runs everywhere else).
EMULATED = os.environ.get("PYCONV_EMULATED", "") not in ("", "0")


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked ``spawns_python`` under emulation (PYCONV_EMULATED=1)."""
    if not EMULATED:
        return
    skip = pytest.mark.skip(
        reason="starts sys.executable in a subprocess: not possible under user-mode "
        "emulation without binfmt_misc (PYCONV_EMULATED=1)"
    )
    for item in items:
        if item.get_closest_marker("spawns_python"):
            item.add_marker(skip)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Every built-in backend by name."""
    return request.param


@pytest.fixture(scope="session")
def torch():
    """PyTorch, the reference; tests that need it skip cleanly where it is not installed."""
    return pytest.importorskip("torch")


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator, so failures reproduce."""
    return np.random.default_rng(20261125)


@pytest.fixture(autouse=True)
def _restore_threads():
    """Tests that change the thread count must not leak it into others."""
    n = pyconv.get_num_threads()
    yield
    pyconv.set_num_threads(n)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print what tests/test_fuzz.py counted (cases, configurations, checks per backend)."""
    counts = getattr(config, "pyconv_fuzz_counts", None)
    if counts:
        terminalreporter.section("pyconv fuzzing")
        for key, value in sorted(counts.items(), key=lambda kv: str(kv[0])):
            terminalreporter.line(f"{key}: {value}")
