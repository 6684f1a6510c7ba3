"""The build and the runtime configuration: OpenMP, portable flags, ISA dispatch, the thread
setting, show_config, the shipped typing files.

A Linux build that silently lost OpenMP (scikit-image once shipped a serial ``prange``
for a release) or one compiled with ``-march=native`` must fail here, and every kernel
variant this CPU can run (AVX-512, AVX2, the portable fallback) is checked against the
accuracy contract and against PyTorch.  Thread-count determinism and the GIL are
``tests/test_threads.py``'s; that ``import pyconv`` stays light, ``tests/test_registry.py``'s.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import pyconv
from pyconv import _core
from pyconv.testing import assert_conv_close, exact_conv2d

IS_LINUX = sys.platform.startswith("linux")
ISA_NAMES = ("avx512", "avx2", "baseline")


def _run_python(code: str, **env_overrides: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter, with no PYCONV_* variables but the ones given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYCONV_")}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _check_ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


# --------------------------------------------------------------------------------------
# OpenMP and compiler flags
# --------------------------------------------------------------------------------------


@pytest.mark.skipif(not IS_LINUX, reason="OpenMP is required of Linux builds only")
def test_linux_build_has_openmp():
    assert _core.openmp_enabled() is True, (
        "pyconv._core was built without OpenMP: the kernels run on one thread. "
        f"Build flags: {_core.build_cflags()!r}"
    )


def test_openmp_max_threads_is_positive():
    n = _core.openmp_max_threads()
    assert isinstance(n, int)
    assert n >= 1


def test_build_flags_are_portable():
    flags = _core.build_cflags()
    assert isinstance(flags, str)
    words = flags.split()
    assert "-march=native" not in words, flags
    assert "-mtune=native" not in words, flags
    # AVX2 / AVX-512 belong in target attributes chosen at run time, not global flags
    assert not [
        f for f in words if f.startswith(("-mavx", "-march=x86-64-v3", "-march=x86-64-v4"))
    ], flags


@pytest.mark.skipif(not IS_LINUX, reason="OpenMP is required of Linux builds only")
def test_linux_build_flags_have_fopenmp():
    assert "-fopenmp" in _core.build_cflags().split()


# --------------------------------------------------------------------------------------
# show_config
# --------------------------------------------------------------------------------------


def test_show_config_prints_the_essentials(capsys):
    assert pyconv.show_config() is None
    out = capsys.readouterr().out
    assert pyconv.__version__ in out
    assert _core.build_cflags() in out
    assert "OpenMP" in out
    assert ("enabled" if _core.openmp_enabled() else "DISABLED") in out
    assert _core.isa() in out
    threads_line = next(line for line in out.splitlines() if "threads" in line)
    assert str(pyconv.get_num_threads()) in threads_line
    for name in ("cython", "numpy"):
        assert any(name in line and "backend" in line for line in out.splitlines()), out


def test_show_config_follows_set_num_threads(capsys):
    pyconv.set_num_threads(1)
    assert pyconv.show_config(as_dict=True)["threads"] == 1
    pyconv.show_config()
    threads_line = next(line for line in capsys.readouterr().out.splitlines() if "threads" in line)
    assert threads_line.split()[1] == "1"


def test_show_config_as_dict():
    cfg = pyconv.show_config(as_dict=True)
    assert isinstance(cfg, dict)
    assert cfg["pyconv"] == pyconv.__version__
    assert cfg["threads"] == pyconv.get_num_threads()
    core = cfg["core"]
    assert core["cflags"] == _core.build_cflags()
    assert core["openmp"] is _core.openmp_enabled()
    assert core["isa"] == _core.isa()
    assert set(cfg["backends"]) >= {"cython", "numpy"}
    assert cfg["backends"]["cython"] is None  # available
    assert cfg["backends"]["numpy"] is None


# --------------------------------------------------------------------------------------
# ISA dispatch
# --------------------------------------------------------------------------------------


@pytest.fixture
def restore_isa():
    """Tests that switch the kernel variant put back the one in use before."""
    before = _core.isa()
    yield
    _core.set_isa(before)


def _select_or_skip(name: str) -> None:
    try:
        _core.set_isa(name)
    except ValueError:
        if name == "baseline":
            raise  # the portable fallback runs everywhere
        pytest.skip(f"this CPU does not run the {name} variant")


def test_isa_is_a_known_variant():
    assert _core.isa() in ISA_NAMES


def test_set_isa_rejects_unknown_names(restore_isa):
    before = _core.isa()
    for bad in ("nonsense", "sse2", "neon", "avx"):
        with pytest.raises(ValueError, match=f"unknown ISA variant '{bad}'"):
            _core.set_isa(bad)
        assert _core.isa() == before  # a failed selection changes nothing


def test_set_isa_ignores_case_and_spaces(restore_isa):
    assert _core.set_isa(" BaseLine ") == "baseline"


def test_every_variant_has_consistent_tile_shapes():
    for name, _detail, _ok in _core.isas():
        for dtype, lanes_min in (("float32", 4), ("float64", 2)):
            t = _core.tile_shapes(name)[dtype]
            assert t["block"][0] == t["wide"][0] > 1, (name, dtype, t)  # one channel block
            assert t.get("alt", (2, 0))[0] > 1
            assert t["single"][0] == t["narrow"][0] == 1, (name, dtype, t)
            assert t["wide"][1] >= t["block"][1]
            assert t["narrow"][1] <= t["single"][1]
            lanes = t.pop("lanes")
            assert all(px % lanes_min == 0 for _, px in t.values()), (name, dtype, t)
            assert lanes[0] % lanes_min == 0, (name, dtype, lanes)
            assert lanes[0] > lanes_min, (name, dtype, lanes)
            assert lanes[1] >= 2, (name, dtype, lanes)


def test_set_isa_returns_the_variant(restore_isa):
    assert _core.set_isa("baseline") == "baseline"
    assert _core.isa() == "baseline"
    best = _core.set_isa()
    assert best in ISA_NAMES
    assert _core.isa() == best
    assert _core.set_isa(None) == best


def _numpy_cpu_features() -> dict:
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # pragma: no cover - private numpy API
        pytest.skip("numpy does not expose its CPU feature table")
    return __cpu_features__


@pytest.mark.skipif(not IS_LINUX or os.uname().machine != "x86_64", reason="x86-64 dispatch")
def test_default_isa_is_the_best_this_cpu_runs(restore_isa):
    feats = _numpy_cpu_features()
    if feats.get("AVX512F") and feats.get("AVX2") and feats.get("FMA3"):
        expected = "avx512"
    elif feats.get("AVX2") and feats.get("FMA3"):
        expected = "avx2"
    else:
        expected = "baseline"
    assert _core.set_isa() == expected


# (input shape, weight shape, bias?, stride, padding, dilation, groups)
ISA_SHAPES = {
    "cout8-block": ((2, 3, 17, 19), (8, 3, 3, 3), True, 1, 1, 1, 1),
    "cout11-remainder-strided": ((2, 4, 16, 15), (11, 4, 3, 3), True, 2, (1, 2), 1, 1),
    "cout1-dilated-same": ((1, 5, 20, 21), (1, 5, 5, 3), False, 1, "same", (2, 1), 1),
    "depthwise": ((2, 6, 13, 14), (6, 1, 3, 3), True, 1, 1, 1, 6),
    "groups2-all": ((1, 8, 12, 12), (12, 4, 3, 3), True, (2, 1), 2, 2, 2),
    "pointwise": ((2, 16, 9, 9), (24, 16, 1, 1), False, 1, 0, 1, 1),
    "wide-7x7": ((1, 2, 40, 70), (9, 2, 7, 7), True, 1, 3, 1, 1),
    "tiny-plane": ((3, 3, 2, 3), (17, 3, 2, 2), True, 1, 0, 1, 1),
    # a 7x7 plane with 20 channels: the AVX2 variant takes its 6x2 tile, two channels left
    "alt-tile-7x7": ((2, 16, 7, 7), (20, 16, 3, 3), True, 1, 1, 1, 1),
    "stride-3-valid": ((1, 3, 23, 29), (16, 3, 4, 5), False, 3, "valid", 1, 1),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape_id", list(ISA_SHAPES))
@pytest.mark.parametrize("isa_name", ISA_NAMES)
def test_every_isa_variant_is_accurate(restore_isa, torch, rng, isa_name, shape_id, dtype):
    _select_or_skip(isa_name)
    xs, ws, has_bias, stride, padding, dilation, groups = ISA_SHAPES[shape_id]
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if has_bias else None
    params = (stride, padding, dilation, groups)

    got = pyconv.conv2d(x, w, b, *params, backend="cython")
    assert _core.isa() == isa_name
    assert got.dtype == dtype
    assert got.flags.c_contiguous
    assert_conv_close(got, x, w, b, *params)

    tb = None if b is None else torch.from_numpy(b)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), tb, *params).numpy()
    assert got.shape == ref.shape
    # both within the contract of the exact result, hence within twice of each other
    exact, magnitude, K, _ = exact_conv2d(x, w, b, *params)
    bound = 2 * 2.0 * (K + 1) * np.finfo(dtype).eps * magnitude
    diff = np.abs(got.astype(exact.dtype) - ref.astype(exact.dtype))
    assert (diff <= bound).all(), f"max |pyconv - torch| = {diff.max()}"


@pytest.mark.spawns_python
def test_pyconv_isa_env_selects_baseline():
    proc = _run_python(
        """
        import numpy as np, pyconv
        from pyconv import _core
        from pyconv.testing import assert_conv_close
        assert _core.isa() == "baseline", _core.isa()
        rng = np.random.default_rng(0)
        for dt in (np.float32, np.float64):
            x = rng.standard_normal((2, 4, 19, 23)).astype(dt)
            w = rng.standard_normal((22, 2, 3, 3)).astype(dt)  # 11 per group
            b = rng.standard_normal(22).astype(dt)
            got = pyconv.conv2d(x, w, b, stride=(1, 2), padding=1, dilation=(2, 1), groups=2)
            assert_conv_close(got, x, w, b, (1, 2), 1, (2, 1), 2)
            ref = pyconv.conv2d(x, w, b, (1, 2), 1, (2, 1), 2, backend="numpy")
            np.testing.assert_allclose(got, ref, rtol=1e-4 if dt == np.float32 else 1e-10,
                                       atol=1e-4 if dt == np.float32 else 1e-10)
        assert _core.isa() == "baseline"
        print("isa", _core.isa())
        """,
        PYCONV_ISA="baseline",
    )
    assert "isa baseline" in _check_ok(proc)


@pytest.mark.spawns_python
@pytest.mark.parametrize("value", ["nonsense", "avx1024"])
def test_pyconv_isa_env_with_a_bad_value_warns_and_falls_back(value):
    code = """
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import pyconv
    from pyconv import _core
print("isa", _core.isa(), "best", [n for n, _, ok in _core.isas() if ok][0])
print("warnings", len(caught))
print(caught[0].category.__name__, caught[0].message)
"""
    out = _check_ok(_run_python(code, PYCONV_ISA=value))
    isa, best = out.split("\n")[0].split()[1::2]
    assert isa == best
    assert "warnings 1" in out
    assert "ConfigWarning" in out
    assert "PYCONV_ISA" in out
    assert repr(value) in out
    assert "this CPU runs: " in out
    assert "baseline" in out.split("this CPU runs: ")[1]


@pytest.mark.spawns_python
def test_pyconv_isa_env_is_matched_in_any_case():
    out = _check_ok(_run_python("import pyconv._core as c; print(c.isa())", PYCONV_ISA="BaseLine"))
    assert out.strip() == "baseline"


def test_set_isa_names_what_this_cpu_runs_when_refusing(restore_isa):
    runs = [n for n, _, ok in _core.isas() if ok]
    unsupported = [n for n, _, ok in _core.isas() if not ok]
    for name in unsupported:  # empty on a CPU that runs every variant
        with pytest.raises(ValueError, match="this CPU cannot run") as exc:
            _core.set_isa(name)
        assert ", ".join(runs) in str(exc.value)
    with pytest.raises(ValueError, match="unknown ISA variant 'sse9'"):
        _core.set_isa("sse9")


# --------------------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------------------


def test_set_num_threads_round_trip():
    pyconv.set_num_threads(1)
    assert pyconv.get_num_threads() == 1
    assert _core.get_num_threads() == 1
    pyconv.set_num_threads(2)
    assert pyconv.get_num_threads() == 2
    assert _core.get_num_threads() == 2
    pyconv.set_num_threads(1)
    assert pyconv.get_num_threads() == 1


@pytest.mark.parametrize("n", [0, -1, -100])
def test_set_num_threads_rejects_non_positive(n):
    before = pyconv.get_num_threads()
    with pytest.raises(ValueError, match=str(n)):
        pyconv.set_num_threads(n)
    assert pyconv.get_num_threads() == before


@pytest.mark.parametrize("n", [1.5, 2.0, True, False, "2", None], ids=repr)
def test_set_num_threads_rejects_non_integers(n):
    before = pyconv.get_num_threads()
    with pytest.raises(TypeError, match=type(n).__name__):
        pyconv.set_num_threads(n)
    assert pyconv.get_num_threads() == before


@pytest.mark.spawns_python
def test_pyconv_num_threads_env():
    out = _check_ok(
        _run_python("import pyconv; print(pyconv.get_num_threads())", PYCONV_NUM_THREADS="1")
    )
    assert out.split() == ["1"]
    out = _check_ok(
        _run_python("import pyconv; print(pyconv.get_num_threads())", PYCONV_NUM_THREADS="3")
    )
    assert out.split() == ["3"]


@pytest.mark.spawns_python
@pytest.mark.parametrize(
    ("env", "want"),
    [
        ({"OMP_NUM_THREADS": "1"}, "1"),  # what Dask's nanny sets in its workers
        ({"OMP_NUM_THREADS": "3,2"}, "3"),  # OpenMP's nested form: the outer level
        ({"OMP_NUM_THREADS": "1", "PYCONV_NUM_THREADS": "2"}, "2"),  # pyconv's own wins
    ],
)
def test_omp_num_threads_is_honoured_after_pyconv_num_threads(env, want):
    out = _check_ok(_run_python("import pyconv; print(pyconv.get_num_threads())", **env))
    assert out.split() == [want]


@pytest.mark.spawns_python
@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs sched_getaffinity")
@pytest.mark.parametrize("omp", ["", "abc", "0"], ids=["unset", "invalid", "zero"])
def test_default_num_threads_is_the_available_cores(omp):
    # an OMP_NUM_THREADS that OpenMP itself would ignore is ignored
    out = _check_ok(
        _run_python(
            "import os, pyconv; print(pyconv.get_num_threads(), len(os.sched_getaffinity(0)))",
            OMP_NUM_THREADS=omp,
        )
    )
    n, cores = out.split()
    assert n == cores


_WARNINGS_AT_IMPORT = """
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import pyconv
for w in caught:
    print("warning", w.category.__name__, w.filename, "|", w.message)
print("threads", pyconv.get_num_threads())
print("refused", sorted(pyconv.show_config(as_dict=True)["refused"]))
"""


def _import_warnings(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("warning ")]


@pytest.mark.spawns_python
@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5", " "])
@pytest.mark.parametrize("omp", [None, "1"], ids=["no-omp", "omp-1"])
def test_bad_pyconv_num_threads_env_warns_and_falls_back(value, omp):
    env = {"PYCONV_NUM_THREADS": value} | ({"OMP_NUM_THREADS": omp} if omp else {})
    out = _check_ok(_run_python(_WARNINGS_AT_IMPORT, **env))
    # the fallback: OMP_NUM_THREADS, else the cores this process may run on
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert f"threads {omp or cores}\n" in out
    if not value.strip():  # blank is unset, not refused
        assert _import_warnings(out) == []
        return
    (warning,) = _import_warnings(out)
    # the user's import is where it points, not a line inside pyconv
    assert warning.startswith("warning ConfigWarning <string> | "), warning
    assert f"PYCONV_NUM_THREADS={value!r} is ignored" in warning
    assert "expected a positive integer" in warning
    assert "refused ['PYCONV_NUM_THREADS']" in out


@pytest.mark.spawns_python
def test_bad_omp_num_threads_is_recorded_without_a_warning_of_pyconvs():
    # OpenMP's runtime warns about its own variable ("libgomp: Invalid value ...")
    out = _check_ok(_run_python(_WARNINGS_AT_IMPORT, OMP_NUM_THREADS="abc"))
    assert _import_warnings(out) == []
    assert "refused ['OMP_NUM_THREADS']" in out


@pytest.mark.spawns_python
def test_show_config_lists_every_refused_variable():
    proc = _run_python(
        "from pyconv.cli import main; raise SystemExit(main(['show-config']))",
        PYCONV_NUM_THREADS="many",
        PYCONV_ISA="avx1024",
        PYCONV_BACKEND="nosuch",
    )
    out = _check_ok(proc)
    ignored = [line.split(None, 1)[1] for line in out.splitlines() if "IGNORED" in line]
    assert [line.split("=")[0] for line in ignored] == [
        "PYCONV_BACKEND", "PYCONV_ISA", "PYCONV_NUM_THREADS",
    ]  # fmt: skip
    assert "PYCONV_NUM_THREADS='many': expected a positive integer" in out
    assert "PYCONV_ISA='avx1024': unknown ISA variant" in out
    assert "PYCONV_BACKEND='nosuch': no backend of that name is installed" in out
    assert proc.stderr.count("ConfigWarning") == 3, proc.stderr


# --------------------------------------------------------------------------------------
# Packaging
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("project", [".", "plugins/pyconv-fft"])
def test_build_requirement_reads_the_license_field(project):
    # `license = "BSD-3-Clause"` (an SPDX expression, PEP 639) needs setuptools >= 77: 76.1.0
    # refuses it with a schema error, 77.0.3 builds it (both tried without isolation)
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).resolve().parents[1]
    path = root / project / "pyproject.toml"
    if not path.is_file():
        pytest.skip("not run from a source checkout")
    meta = tomllib.loads(path.read_text())
    floor = next(r for r in meta["build-system"]["requires"] if r.startswith("setuptools"))
    assert isinstance(meta["project"]["license"], str)
    assert floor == "setuptools>=77", floor
    if project == ".":  # setup.py says so clearly where the floor is not enforced
        assert "SETUPTOOLS_MIN = (77, 0)" in (root / "setup.py").read_text()


def test_sdist_ships_every_source_the_extension_build_reads():
    # the sdist takes the package's files from package-data: a .pxi (included by
    # _core.pyx) or .pxd left out there built from a checkout and failed from the sdist
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        pytest.skip("not run from a source checkout")
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["pyconv"]
    sources = [
        p.name
        for p in (root / "pyconv").iterdir()
        if p.suffix in (".pyx", ".pxd", ".pxi", ".h", ".pyi")
    ]
    assert {"_core.pyx", "_kernels.pxd", "_lanes.pxi", "_isa.h"} <= set(sources)
    missed = [n for n in sources if not any(fnmatch.fnmatch(n, pat) for pat in patterns)]
    assert not missed, f"package-data does not ship {missed}"


@pytest.mark.parametrize("name", ["py.typed", "_core.pyi", "__init__.py"])
def test_package_ships_typing_files(name):
    pkg = Path(pyconv.__file__).parent
    assert (pkg / name).is_file(), f"{name} missing from {pkg}"
    assert Path(_core.__file__).parent == pkg


def test_core_stub_lists_the_compiled_functions():
    stub = (Path(pyconv.__file__).parent / "_core.pyi").read_text()
    public = [n for n in dir(_core) if not n.startswith("_") and callable(getattr(_core, n))]
    missing = [n for n in public if f"def {n}(" not in stub]
    assert not missing, f"_core.pyi lacks {missing}"


def test_peak_probe_measures_every_variant_this_cpu_runs():
    for name, _detail, ok in _core.isas():
        if not ok:
            with pytest.raises(ValueError, match="cannot run"):
                _core.peak_gflops(name)
            continue
        f32 = _core.peak_gflops(name, "float32", seconds=0.005)
        f64 = _core.peak_gflops(name, "float64", seconds=0.005)
        # (a measurement: positive and finite; how the two compare is the bench's to show)
        assert 0 < f32 < float("inf"), (name, f32)
        assert 0 < f64 < float("inf"), (name, f64)
    with pytest.raises(ValueError, match="dtype must be"):
        _core.peak_gflops(None, "float16")
    with pytest.raises(ValueError, match="unknown ISA variant 'sse9'"):
        _core.peak_gflops("sse9")


# --------------------------------------------------------------------------------------
# Hot loops in registers (tools/check_spills.py)
# --------------------------------------------------------------------------------------

_TOOLS = Path(__file__).resolve().parent.parent / "tools"


def _check_spills():
    if shutil.which("objdump") is None:
        pytest.skip("objdump (binutils) is not installed")
    sys.path.insert(0, str(_TOOLS))
    try:
        import check_spills
    finally:
        sys.path.remove(str(_TOOLS))
    return check_spills


def test_no_micro_kernel_spills_in_its_hot_loop():
    if "-fsanitize" in _core.build_cflags():  # -O1 and instrumented: says nothing of -O3
        pytest.skip("the sanitizer build's registers are not the release build's")
    check_spills = _check_spills()
    if check_spills.objdump_for(_core.__file__) is None:
        pytest.skip(f"no objdump here reads the {os.uname().machine} build (binutils for it)")
    report = check_spills.spills(_core.__file__)
    assert report, "no micro-kernels found in the disassembly"
    spilled = {name: lines[:3] for name, lines in report.items() if lines}
    assert not spilled, f"hot loops that use the stack: {spilled}"


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="an AVX2 tile")
def test_the_spill_check_finds_a_tile_too_big_for_its_registers(tmp_path):
    check_spills = _check_spills()
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    src = tmp_path / "tiles.c"
    src.write_text(
        '#include "_isa.h"\n'
        "PYCONV_DEFINE_TILE(avx2, f32, 5, 3)  /* 15 + 3 + 1 registers: does not fit */\n"
        "void *keep[] = {(void *)pyconv_tile_avx2_f32_5x3, (void *)&pyconv_isas};\n"
    )
    obj = tmp_path / "tiles.o"
    pkg = Path(pyconv.__file__).parent
    subprocess.run(["gcc", "-O3", "-c", "-I", str(pkg), str(src), "-o", str(obj)], check=True)
    report = check_spills.spills(str(obj))
    assert report["pyconv_tile_avx2_f32_5x3"], "a 5x3 AVX2 tile must spill"
    assert not report["pyconv_tile_avx2_f32_4x3"]


@pytest.mark.spawns_python
def test_importing_an_unbuilt_source_tree_says_how_to_build_it(tmp_path):
    # a copy of the source tree as a fresh clone has it: the Python and Cython sources,
    # no compiled modules; Python run from its parent finds it first on sys.path.  -S
    # leaves out site-packages, whose editable-install finder would map the name to the
    # built checkout (the error must come before pyconv imports anything from there).
    src = Path(pyconv.__file__).parent
    shutil.copytree(src, tmp_path / "pyconv", ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c"))
    assert (tmp_path / "pyconv" / "_core.pyx").exists()
    proc = subprocess.run(
        [sys.executable, "-S", "-c", "import pyconv"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()
    assert any(line.startswith("ImportError: pyconv: cannot import its compiled") for line in last)
    assert "have not been built" in proc.stderr
    assert "python -m pip install -e ." in proc.stderr
    assert str(tmp_path / "pyconv") in proc.stderr
