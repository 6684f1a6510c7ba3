"""Shared fixtures: the backends under test and PyTorch as the independent reference."""

from __future__ import annotations

import numpy as np
import pytest

import pyconv

BACKENDS = ["cython", "numpy"]


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
