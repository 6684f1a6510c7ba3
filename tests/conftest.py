"""Shared fixtures: the backends under test and PyTorch as the independent reference.

PyTorch is optional: a test that needs it takes the ``torch`` fixture or carries the
``torch`` mark, and without torch it is skipped from one place (:func:`import_torch`), so
that ``-ra`` folds every such skip into one line and the summary counts them.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np
import pytest

import pyconv
from pyconv import _core

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


#: The torch version the tests pin (.ci/run installs it; other versions may word errors
#: differently).
TORCH_PIN = "torch==2.13.0"
TORCH_SKIP = "comparison with PyTorch: torch is not installed"


def import_torch():
    """Return torch, or skip the current test (the one place every torch skip comes from)."""
    try:
        import torch
    except ImportError:
        pytest.skip(TORCH_SKIP)
    return torch


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Skip a test marked ``torch`` or taking the ``torch`` fixture, without torch.

    Skipped here rather than in the fixture: pytest reports a fixture's skip at each test's
    own line, which would spread the torch skips over a hundred lines of ``-ra``.
    """
    if item.get_closest_marker("torch") is not None or "torch" in item.fixturenames:
        import_torch()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Every built-in backend by name."""
    return request.param


@pytest.fixture(params=[name for name, _detail, ok in _core.isas() if ok])
def variant(request):
    """Every kernel variant (ISA) this CPU runs, made the active one for the test."""
    before = _core.isa()
    _core.set_isa(request.param)
    yield request.param
    _core.set_isa(before)


@pytest.fixture(scope="session")
def torch():
    """PyTorch, the reference; tests that need it skip cleanly where it is not installed."""
    return import_torch()


class RaiseSites:
    """Where a module raises, to check that error-message tests reach every ``raise``."""

    @staticmethod
    def lines(module, skip_functions=()) -> set[int]:
        """Line of every ``raise`` of a new exception in ``module`` (from its AST).

        A bare re-raise and ``raise SomeError`` without arguments (a jump to an
        ``except`` in the same function, which raises the real error) are left out, and
        so are the raises inside the functions named in ``skip_functions``.
        """

        def raises(tree) -> set[int]:
            return {
                node.lineno
                for node in ast.walk(tree)
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
            }

        tree = ast.parse(Path(module.__file__).read_text())
        skipped = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in skip_functions:
                skipped |= raises(node)
        return raises(tree) - skipped

    @staticmethod
    def line_of(exc: BaseException, module) -> int | None:
        """Line in ``module`` that ``exc`` was raised from (its innermost frame there)."""
        tb, line = exc.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == module.__file__:
                line = tb.tb_lineno
            tb = tb.tb_next
        return line

    def unreached(self, module, excs, skip_functions=()) -> str:
        """The ``raise`` lines of ``module`` that none of ``excs`` came from, as text."""
        reached = {self.line_of(e, module) for e in excs}
        src = Path(module.__file__).read_text().splitlines()
        return "\n".join(
            f"{module.__name__}:{n}: {src[n - 1].strip()} {src[n].strip()}"
            for n in sorted(self.lines(module, skip_functions) - reached)
        )


@pytest.fixture(scope="session")
def raise_sites() -> RaiseSites:
    """Helpers to check that a table of bad calls reaches every ``raise`` of a module."""
    return RaiseSites()


#: The functions of pyconv._validation whose raises only the rest of the family (conv1d,
#: conv3d, the transposed convolutions, the gradients) reaches: tests/test_errors.py's
#: conv2d cases leave them to tests/test_family_errors.py, which must reach them all.
FAMILY_RAISES = (
    "_read_common", "_check_kernel_positive", "prepare_conv_transpose", "_read_size",
    "_check_grad_output", "_grad_geometry", "prepare_conv_input", "prepare_conv_weight",
    "_check_scalar_types",
)  # fmt: skip
#: Its guards against misuse of its own API (not torch's checks): checked one by one in
#: tests/test_family_errors.py.
API_GUARDS = ("transposed", "_axis", "split_operation")


@pytest.fixture(scope="session")
def family_raises() -> dict[str, tuple[str, ...]]:
    """Which functions of ``_validation`` the conv2d and the family error tests divide."""
    return {"family": FAMILY_RAISES, "guards": API_GUARDS}


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
    """Say how many comparisons with torch did not run; print the fuzzer's counts."""
    skipped = terminalreporter.stats.get("skipped", [])
    n_torch = sum(
        1
        for r in skipped
        if isinstance(r.longrepr, tuple) and len(r.longrepr) == 3 and TORCH_SKIP in r.longrepr[2]
    )
    if n_torch:
        terminalreporter.write_line(
            f"pyconv: {n_torch} comparisons with PyTorch did not run (torch is not "
            f"installed); to run them: python -m pip install {TORCH_PIN} && python -m pytest",
            yellow=True,
            bold=True,
        )
    counts = getattr(config, "pyconv_fuzz_counts", None)
    if counts:
        terminalreporter.section("pyconv fuzzing")
        for key, value in sorted(counts.items(), key=lambda kv: str(kv[0])):
            terminalreporter.line(f"{key}: {value}")
