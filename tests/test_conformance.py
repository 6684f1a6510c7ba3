"""The conformance suite (pyconv.testing) on every installed backend, and tests of the suite.

The first test is what a third-party backend's own suite would contain; it runs on every
available backend that ``pyconv.backends()`` lists, so an installed plugin (e.g. 'fft') is
checked too.  The rest check the suite itself: deliberately wrong backends are caught, a
backend declaring less gets those cases skipped (not failed), missing data fails loudly.
"""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest

import pyconv
from pyconv import Capabilities
from pyconv._backends.numpy import accumulate
from pyconv._backends.numpy import conv2d as reference
from pyconv.cli import main
from pyconv.testing import (
    ConformanceFailure,
    GoldenDataError,
    _golden,
    accuracy_bound,
    accuracy_report,
    assert_conv_close,
    check_backend,
    collect_cases,
    conformance_cases,
    exact_op,
    load_golden,
    run_case,
)

AVAILABLE = [b.name for b in pyconv.backends() if b.available]


def _all_cases():
    params = []
    for name in AVAILABLE:
        try:
            cases = conformance_cases(name)
        except ImportError as exc:  # listed as available, but it does not load: one failure
            params.append(pytest.param(exc, id=f"{name}:load"))
            continue
        for p in cases:
            params.append(pytest.param(*p.values, id=f"{name}:{p.id}", marks=p.marks))
    return params


@pytest.mark.parametrize("case", _all_cases())
def test_conformance(case):
    if isinstance(case, Exception):
        raise case
    run_case(case)


def test_every_available_backend_is_checked():
    assert "numpy" in AVAILABLE
    names = {p.id.split(":")[0] for p in _all_cases()}
    assert names == set(AVAILABLE)


# ---------------------------------------------------------------------------------------
# The data


def test_golden_data_contents():
    data = load_golden()
    conv2d = [c for c in data.cases if c.op == "conv2d"]
    assert 150 <= len(conv2d) <= 250
    assert len([e for e in data.errors if e.op == "conv2d"]) >= 30
    assert data.torch_version
    assert [f for f, _, _ in data.sources] == ["golden.json", "family.json"]
    assert all(v == data.torch_version for _, v, _ in data.sources)
    ids = {c.id for c in data.cases}
    for must in (
        "golden-article-dark-line",
        "golden-article-decomposition",
        "golden-batch0",
        "golden-same-k2",
        "golden-depthwise-mult2",
        "golden-unbatched",
    ):
        assert must in ids
    dark = data.case("golden-article-dark-line")
    x, w = pyconv.examples.dark_line()
    np.testing.assert_array_equal(dark.x, x)
    np.testing.assert_array_equal(dark.w, w)
    assert dark.expected.tolist() == [[[27, 28, 23], [220, 220, 224], [16, 16, 28]]]
    assert {c.dtype.name for c in data.cases} == {"float32", "float64"}
    assert {e.error for e in data.errors} == {ValueError, TypeError}
    for c in data.cases:
        for a in c.arrays:
            assert a is None or not a.flags.writeable  # shared: never handed on as is
        assert c.expected.dtype == np.float64


def test_family_golden_data_covers_every_operation():
    data = load_golden()
    for op in pyconv.OPERATIONS:
        cases = [c for c in data.cases if c.op == op]
        assert len(cases) >= 3, op
        assert {c.dtype.name for c in cases} == {"float32", "float64"}, op
    assert {e.op for e in data.errors} >= {"conv1d", "conv3d", "conv_transpose2d",
                                             "conv2d_input", "conv2d_weight"}  # fmt: skip
    ids = {c.id for c in data.cases}
    for must in ("golden-ct1d-s3-k2", "golden-ct1d-op-below-dilation", "golden-ct2d-unbatched",
                 "golden-gi2d-s2", "golden-gw2d-batch0", "golden-conv3d-unbatched"):  # fmt: skip
        assert must in ids


def test_family_k_is_the_reduction_length_pyconv_computes():
    # tools/make_golden_family.py computes K on its own; pyconv.testing.reduction_length
    # must agree for every case, and K must be the true count of products of one output
    from pyconv.testing import reduction_length
    from pyconv.testing._cases import OpCall

    for c in load_golden().cases:
        if c.op != "conv2d":
            spec = OpCall(c.op, c.args(), c.params).spec()
            assert reduction_length(spec) == c.K, c.id
    # counted by brute force for a transposed case: stride 3, kernel 2 (phases of 1 and 0
    # taps) and a stride-4 dilation-2 one (2 taps of 4 per phase)
    assert load_golden().case("golden-ct1d-s3-k2").K == 2 * 1
    assert load_golden().case("golden-ct1d-s4-d2").K == 2 * 2


def test_golden_data_is_small():
    total = sum(p.stat().st_size for p in _golden.DATA_DIR.iterdir())
    assert total < 600_000


def test_float64_golden_results_are_exact():
    # fixed-point inputs: every partial sum is exact in float64, in any order
    for c in load_golden().cases:
        if c.dtype == np.float64 and c.expected.size:
            exact = exact_op(c.op, *c.args(), **c.params)[0]
            np.testing.assert_array_equal(exact.astype(np.float64), c.expected, err_msg=c.id)


# ---------------------------------------------------------------------------------------
# Deliberately wrong backends are caught


class _Base:
    capabilities = Capabilities()

    def conv2d(self, x, w, b, spec):
        return reference(x, w, b, spec)


class FlipsKernel(_Base):
    name = "flips-kernel"

    def conv2d(self, x, w, b, spec):  # a true convolution, not torch's correlation
        return reference(x, w[:, :, ::-1, ::-1], b, spec)


class IgnoresDilation(_Base):
    name = "ignores-dilation"

    def conv2d(self, x, w, b, spec):
        return reference(x, w, b, spec._replace(dilation=(1, 1)))


class Float64Out(_Base):
    name = "float64-out"

    def conv2d(self, x, w, b, spec):
        return accumulate(x, w, b, spec, np.float64)


class ModifiesInput(_Base):
    name = "modifies-input"

    def conv2d(self, x, w, b, spec):
        out = reference(x, w, b, spec)
        if x.size:
            x[(0,) * x.ndim] += 1
        return out


class Float32Inside(_Base):
    name = "float32-inside"

    def conv2d(self, x, w, b, spec):  # float64 calls computed in float32
        out = accumulate(x, w, b, spec, np.float32)
        return out.astype(spec.dtype)


class Nondeterministic(_Base):
    name = "nondeterministic"

    def __init__(self):
        self.calls = 0

    def conv2d(self, x, w, b, spec):
        out = reference(x, w, b, spec)
        self.calls += 1
        if self.calls % 2 and out.size:  # one ulp off on every other call
            out.flat[0] = np.nextafter(out.flat[0], np.inf)
        return out


def _failed(report):
    return {cid for cid, _ in report.failed}


def _needs():
    return {c.id: c.needs for c in collect_cases("numpy")}


def test_flipped_kernel_is_caught():
    r = check_backend(FlipsKernel())
    assert not r.ok
    failed = _failed(r)
    assert {
        "golden-k3x3",
        "golden-k2x5",
        "golden-article-layer",
        "prop-layout-fortran-float32",
    } <= failed
    # a kernel symmetric under the flip (the dark line, 1x1 kernels) is not a witness
    assert "golden-article-dark-line" not in failed
    assert "golden-k1x1" not in failed
    assert not any(cid.startswith("error-") for cid in failed)
    assert "elements exceed the elementwise accuracy bound" in dict(r.failed)["golden-k3x3"]


def test_ignored_dilation_is_caught():
    r = check_backend(IgnoresDilation())
    failed = _failed(r)
    assert "golden-dil2-k3" in failed
    assert "golden-same-k3-dil2" in failed
    needs = _needs()
    assert all("dilation" in needs[cid] for cid in failed)  # nothing else is blamed
    assert "golden-k3x3" in r.passed


def test_wrong_output_dtype_is_caught():
    r = check_backend(Float64Out())
    failed = _failed(r)
    assert "prop-dtype-float32" in failed
    assert "prop-dtype-float64" not in failed
    assert "golden-k3x3" in failed
    assert "golden-k3x3-f64" in r.passed
    assert "dtype float64, expected float32" in dict(r.failed)["golden-k3x3"]
    needs = _needs()
    assert all("float32" in needs[cid] for cid in failed)


def test_modified_input_is_caught():
    r = check_backend(ModifiesInput())
    failed = _failed(r)
    assert {"prop-inputs-unmodified-float32", "prop-inputs-unmodified-float64"} <= failed
    assert "modified its input" in dict(r.failed)["golden-k3x3"]
    assert "prop-layout-read-only-float32" in failed  # writing a read-only array raises
    assert not any(cid.startswith("error-") for cid in failed)
    # and the shared golden data was not damaged on the way
    assert check_backend("numpy").ok


def test_float64_computed_in_float32_is_caught():
    r = check_backend(Float32Inside())
    failed = _failed(r)
    assert "golden-k3x3-f64" in failed
    needs = _needs()
    assert all("float64" in needs[cid] for cid in failed)
    assert "golden-k3x3" in r.passed


def test_nondeterminism_is_caught_only_when_declared():
    r = check_backend(Nondeterministic())
    assert {"prop-deterministic-float32", "prop-deterministic-float64"} <= _failed(r)
    assert "not deterministic" in dict(r.failed)["prop-deterministic-float32"]

    class Honest(Nondeterministic):
        capabilities = Capabilities(deterministic=False)

    r = check_backend(Honest())
    skipped = dict(r.skipped)
    assert "prop-deterministic-float32" in skipped
    assert "deterministic" in skipped["prop-deterministic-float32"]


# ---------------------------------------------------------------------------------------
# Capabilities pick the cases; the declared contract is the one checked


class Limited(_Base):
    name = "limited"
    capabilities = Capabilities(
        dtypes=("float32",),
        stride=False,
        dilation=False,
        groups=False,
        padding=("none",),
        deterministic=False,
    )


def test_undeclared_cases_are_skipped_not_failed():
    r = check_backend(Limited())
    assert r.ok, r.summary()
    skipped = dict(r.skipped)
    for cid in (
        "golden-k3x3-f64",
        "golden-stride2",
        "golden-dil2-k3",
        "golden-groups2",
        "golden-same-k2",
        "golden-pad1",
        "prop-groups-split-groups2",
        "prop-deterministic-float32",
    ):
        assert cid in skipped, cid
    assert "not declared" in skipped["golden-dil2-k3"]
    assert "dilation" in skipped["golden-dil2-k3"]
    for cid in ("golden-k3x3", "golden-article-dark-line", "prop-dtype-float32"):
        assert cid in r.passed
    # error cases never skip: validation is the front end's, the same for every backend
    assert all(
        cid in r.passed
        for cid in (c.id for c in collect_cases("numpy"))
        if cid.startswith("error-")
    )
    assert "skipped" in r.summary()


def test_supports_can_decline_cases():
    class SmallKernels(_Base):
        name = "small-kernels"

        def supports(self, spec):
            return True if max(spec.kernel_size) <= 3 else "kernels up to 3x3 only"

    r = check_backend(SmallKernels())
    assert r.ok
    assert "kernels up to 3x3 only" in dict(r.skipped)["golden-k5x5"]
    assert "golden-k3x3" in r.passed


def _noisy(contract):
    class Noisy(_Base):
        """Errors of half the normwise bound: fine for 'normwise', not for 'elementwise'."""

        name = f"noisy-{contract}"
        capabilities = Capabilities(accuracy=contract, accuracy_c=2.0)

        def conv2d(self, x, w, b, spec):
            out = accumulate(x, w, b, spec, np.float64)
            A = accumulate(np.abs(x), np.abs(w), None if b is None else np.abs(b), spec, np.float64)
            K = w.shape[1] * w.shape[2] * w.shape[3]
            if out.size:
                out += 0.5 * accuracy_bound(A, K, spec.dtype, "normwise", 2.0)
            return out.astype(spec.dtype)

    return Noisy()


def test_the_declared_contract_is_checked():
    r = check_backend(_noisy("normwise"))
    assert r.contract == "normwise"
    assert r.ok, r.summary()
    assert "normwise accuracy contract" in r.summary()
    r = check_backend(_noisy("elementwise"))
    assert r.contract == "elementwise"
    assert "golden-dynamic-range" in _failed(r)


def test_contract_parameters_of_the_helpers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    x[0, 0, :3] *= 1e4  # large dynamic range
    good = pyconv.conv2d(x, w, backend="numpy")
    assert accuracy_report(good, x, w)["contract"] == "elementwise"
    assert_conv_close(good, x, w)  # defaults unchanged
    _, A, K, _ = pyconv.testing.exact_conv2d(x, w)
    off = (good + 0.5 * accuracy_bound(A, K, np.float32, "normwise")).astype(np.float32)
    assert accuracy_report(off, x, w, contract="normwise")["ok"]
    assert not accuracy_report(off, x, w)["ok"]
    with pytest.raises(AssertionError, match="elementwise"):
        assert_conv_close(off, x, w)
    assert_conv_close(off, x, w, contract="normwise", c=2.0)
    with pytest.raises(ValueError, match="contract"):
        accuracy_report(good, x, w, contract="rowwise")


# ---------------------------------------------------------------------------------------
# The pytest helpers


def test_pytest_helper_marks():
    params = conformance_cases(Limited(), expected_failures={"golden-k3x3": "known bug #12"})
    by_id = {p.id: p for p in params}
    assert len(by_id) == len(params)  # readable, unique ids
    (xfail,) = by_id["golden-k3x3"].marks
    assert xfail.name == "xfail"
    assert xfail.kwargs["strict"] is True
    assert xfail.kwargs["reason"] == "known bug #12"
    (skip,) = by_id["golden-dil2-k3"].marks
    assert skip.name == "skip"
    assert "dilation" in skip.kwargs["reason"]
    assert not by_id["golden-k5x5"].marks


def test_pytest_helper_rejects_unknown_expected_failures():
    with pytest.raises(ValueError, match="golden-no-such-case"):
        conformance_cases("numpy", expected_failures={"golden-no-such-case": "typo"})


def test_run_case_fails_and_skips():
    cases = {c.id: c for c in collect_cases(Limited())}
    with pytest.raises(pytest.skip.Exception, match="dilation"):
        run_case(cases["golden-dil2-k3"])
    run_case(cases["golden-k3x3"])
    bad = {c.id: c for c in collect_cases(FlipsKernel())}
    with pytest.raises(ConformanceFailure, match="accuracy bound"):
        run_case(bad["golden-k3x3"])


def test_backend_objects_need_conv2d_and_no_options():
    with pytest.raises(TypeError, match="conv2d"):
        check_backend(object())
    with pytest.raises(TypeError, match="options"):
        check_backend(_Base(), device="cpu")
    with pytest.raises(ValueError, match="unknown backend"):
        check_backend("nonexistent")


def test_report_is_readable():
    r = check_backend(FlipsKernel())
    text = str(r)
    assert text.startswith("pyconv conformance: backend 'flips-kernel', elementwise")
    assert "FAILED:" in text
    assert "golden-k3x3:" in text
    assert text.rstrip().endswith("case(s) failed")
    assert "passed:" in r.summary(verbose=True)


# ---------------------------------------------------------------------------------------
# The rest of the family: wrong backends are caught, undeclared operations skipped


class _Family:
    """The reference for every operation, declared as such."""

    capabilities = Capabilities(operations=tuple(pyconv.OPERATIONS))

    def __init__(self):
        from pyconv._backends import numpy as ref

        self.ref = ref
        for op in pyconv.OPERATIONS:
            kind = pyconv._validation.split_operation(op)[0]
            if not hasattr(type(self), op):
                setattr(self, op, getattr(ref, kind))


class TransposeIgnoresOutputPadding(_Family):
    name = "ignores-output-padding"

    def conv_transpose2d(self, x, w, b, spec):  # right size, wrong placement of the extra row
        out = self.ref.conv_transpose(x, w, b, spec._replace(output_padding=(0, 0)))
        return np.pad(out, [(0, 0), (0, 0)] + [(o, 0) for o in spec.output_padding])


class WeightGradIgnoresStride(_Family):
    name = "weight-grad-ignores-stride"

    def conv2d_weight(self, x, g, spec):
        return self.ref.conv_weight(x[..., :: spec.stride[0], :: spec.stride[1]], g,
                                    spec._replace(stride=(1, 1)))  # fmt: skip


def test_family_golden_cases_catch_wrong_backends():
    bad = check_backend(TransposeIgnoresOutputPadding())
    assert "golden-ct2d-mixed" in _failed(bad)
    assert all("ct2d" in cid or "conv_transpose2d" in cid for cid in _failed(bad))
    bad = check_backend(WeightGradIgnoresStride())
    assert {"golden-gw2d-s2", "golden-gw2d-s3-k2"} <= _failed(bad)
    assert "golden-gw2d-k3-p1" not in _failed(bad)  # stride 1: right


def test_family_cases_of_undeclared_operations_are_skipped():
    r = check_backend(_Base())  # conv2d only
    assert r.ok
    skipped = dict(r.skipped)
    assert skipped["golden-ct2d-s2-p1"] == (
        "not declared: it does not implement conv_transpose2d (it implements conv2d)"
    )
    assert "golden-conv1d-k3" in skipped
    assert "error-conv1d-rank4" not in skipped  # the front end's errors apply to everyone
    assert "prop-adjoint-conv_transpose2d-float32" in skipped


def test_family_reference_passes_everything():
    r = check_backend(_Family())
    assert r.ok, r.summary()
    assert not r.skipped


# ---------------------------------------------------------------------------------------
# Missing or damaged data fails loudly, and is never regenerated


def test_missing_data_file_fails_loudly(tmp_path, monkeypatch):
    monkeypatch.setattr(_golden, "DATA_DIR", tmp_path)
    with pytest.raises(GoldenDataError, match=r"golden\.json.* is missing.*make_golden\.py"):
        check_backend("numpy")
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_missing_family_data_fails_loudly(tmp_path, monkeypatch):
    shipped = _golden.DATA_DIR
    for name in ("golden.json", "golden.npz"):
        shutil.copy(shipped / name, tmp_path)
    monkeypatch.setattr(_golden, "DATA_DIR", tmp_path)
    with pytest.raises(GoldenDataError, match=r"family\.json.* is missing.*make_golden\.py"):
        check_backend("numpy")
    shutil.copy(shipped / "family.json", tmp_path)
    with pytest.raises(GoldenDataError, match=r"family\.npz.* is missing"):
        check_backend("numpy")


def test_missing_arrays_file_fails_loudly(tmp_path, monkeypatch):
    shutil.copy(_golden.DATA_DIR / "golden.json", tmp_path)
    monkeypatch.setattr(_golden, "DATA_DIR", tmp_path)
    with pytest.raises(GoldenDataError, match=r"golden\.npz.* is missing"):
        conformance_cases("numpy")


def test_damaged_data_fails_loudly(tmp_path, monkeypatch):
    shutil.copy(_golden.DATA_DIR / "golden.json", tmp_path)
    npz = tmp_path / "golden.npz"
    npz.write_bytes((_golden.DATA_DIR / "golden.npz").read_bytes()[:-10])
    monkeypatch.setattr(_golden, "DATA_DIR", tmp_path)
    with pytest.raises(GoldenDataError, match="SHA-256"):
        check_backend("numpy")


def test_unreadable_manifest_fails_loudly(tmp_path, monkeypatch):
    (tmp_path / "golden.json").write_text("{not json")
    monkeypatch.setattr(_golden, "DATA_DIR", tmp_path)
    with pytest.raises(GoldenDataError, match="not valid JSON"):
        check_backend("numpy")


def test_inconsistent_manifest_fails_loudly(tmp_path, monkeypatch):
    m = json.loads((_golden.DATA_DIR / "golden.json").read_text())
    m["cases"][0]["offsets"]["x"] = 10**9
    (tmp_path / "golden.json").write_text(json.dumps(m))
    shutil.copy(_golden.DATA_DIR / "golden.npz", tmp_path)
    monkeypatch.setattr(_golden, "DATA_DIR", tmp_path)
    with pytest.raises(GoldenDataError, match="out of range"):
        check_backend("numpy")


def test_data_ships_as_package_data():
    with zipfile.ZipFile(_golden.DATA_DIR / "golden.npz") as zf:
        assert zf.testzip() is None
    from importlib.resources import files

    assert files("pyconv.testing").joinpath("data/golden.json").is_file()


# ---------------------------------------------------------------------------------------
# pyconv check


def test_cli_check_numpy(capsys):
    assert main(["check", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "backend 'numpy'" in out
    assert "0 failed" in out
    assert out.rstrip().endswith("OK")


def test_cli_check_verbose_lists_passed(capsys):
    assert main(["check", "numpy", "--verbose"]) == 0
    assert "  golden-article-dark-line" in capsys.readouterr().out


def test_cli_check_unknown_backend(capsys):
    assert main(["check", "nonexistent"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyconv: error: unknown backend 'nonexistent'")
    assert err.count("\n") == 1


def test_cli_check_options(capsys):
    assert main(["check", "numpy", "--option", "flavour=1"]) == 2
    assert "rejected the options" in capsys.readouterr().err
    assert main(["check", "numpy", "--option", "novalue"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


@pytest.mark.torch
def test_cli_check_with_an_option(capsys):
    assert main(["check", "torch", "--option", "device=cpu"]) == 0
    assert "skipped" in capsys.readouterr().out  # torch declares no determinism


def test_cli_check_failing_backend_exits_1(capsys, monkeypatch):
    import pyconv.cli

    monkeypatch.setattr(pyconv._registry, "load_backend", lambda name, **o: FlipsKernel())
    assert pyconv.cli.main(["check", "flips"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_cli_check_missing_data_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_golden, "DATA_DIR", tmp_path)
    assert main(["check", "numpy"]) == 1
    err = capsys.readouterr().err
    assert "golden.json" in err
    assert err.count("\n") == 1
