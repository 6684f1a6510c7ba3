"""The backend registry: discovery, availability, selection and its precedence.

Plugins are FAKE INSTALLED DISTRIBUTIONS: a ``<name>-<version>.dist-info`` folder (METADATA,
entry_points.txt with a ``[pyconv.backends]`` section) plus the plugin's modules, in a
temporary folder put on ``sys.path``; ``pyconv.refresh_backends()`` rescans.  After each
test the folder leaves ``sys.path``, its modules leave ``sys.modules`` and the registry is
refreshed again, so nothing leaks into other tests.  Other real plugins (e.g. pyconv-fft)
may or may not be installed: nothing here depends on them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import pyconv
from pyconv import BackendUnavailableError, BackendWarning, Capabilities, UnsupportedCallError
from pyconv._backends.numpy import conv2d as reference
from pyconv._registry import current_backend_name, load_backend, resolve
from pyconv._validation import prepare_conv2d
from pyconv.cli import main

# The implementation module shared by the fake plugins: the numpy reference, counted.
IMPL = """
from pyconv._backends.numpy import conv2d as _reference

CALLS = []


class Backend:
    def __init__(self, scale=1.0):
        self.scale = scale

    def conv2d(self, x, w, b, spec):
        CALLS.append(spec)
        return (_reference(x, w, b, spec) * self.scale).astype(spec.dtype)
"""


def spec(name: str, impl: str = "pyconvtest_impl:Backend", **changes) -> dict:
    """A valid light spec, with ``changes`` applied."""
    d = {
        "name": name,
        "api_version": 1,
        "description": f"the {name} test backend",
        "implementation": impl,
        "requires": [],
        "install_hint": f"pip install pyconvtest-{name}",
        "capabilities": {"dtypes": ["float32", "float64"], "devices": ["cpu"]},
    }
    d.update(changes)
    return d


class Site:
    """A fake site-packages folder on ``sys.path``."""

    def __init__(self, root: Path, monkeypatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self.modules: set[str] = set()
        self.dirs: list[Path] = []

    def folder(self, sub: str = "site") -> Path:
        """A new folder, put first on sys.path."""
        path = self.root / sub
        path.mkdir()
        self.monkeypatch.syspath_prepend(str(path))
        self.dirs.append(path)
        return path

    def install(
        self,
        dist: str,
        backends: dict[str, dict | str],
        *,
        version: str = "1.0",
        modules: dict[str, str] | None = None,
        where: Path | None = None,
        refresh: bool = True,
    ) -> None:
        """Write a distribution registering ``backends`` (name -> spec dict or 'mod:attr').

        A spec dict is written to a module ``pyconvtest_<dist>_<name>`` as ``SPEC``.
        """
        where = where or (self.dirs[0] if self.dirs else self.folder())
        files = {"pyconvtest_impl": IMPL, **(modules or {})}
        eps = {}
        for name, value in backends.items():
            if isinstance(value, dict):
                mod = f"pyconvtest_{dist.replace('-', '_')}_{name}"
                files[mod] = f"SPEC = {value!r}\n"
                value = f"{mod}:SPEC"
            eps[name] = value
        info = where / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(
            "[pyconv.backends]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
        )
        for mod, source in files.items():
            (where / f"{mod}.py").write_text(textwrap.dedent(source))
            self.modules.add(mod)
        if refresh:
            pyconv.refresh_backends()

    def forget(self) -> None:
        for mod in self.modules:
            sys.modules.pop(mod, None)


@pytest.fixture(autouse=True)
def _fresh_registry():
    """Autouse, so set up before (and torn down after) monkeypatch: the final refresh sees
    the restored sys.path and environment."""
    pyconv.set_backend(None)
    pyconv.refresh_backends()
    yield
    pyconv.set_backend(None)
    pyconv.refresh_backends()


@pytest.fixture
def site(tmp_path, monkeypatch):
    s = Site(tmp_path, monkeypatch)
    yield s
    s.forget()


@pytest.fixture
def arrays(rng):
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    return x, w


def spec_of(x, w, groups=1):
    return prepare_conv2d(x, w, None, 1, 0, 1, groups)[3]


def info(name: str):
    return {b.name: b for b in pyconv.backends()}[name]


def calls() -> list:
    return sys.modules["pyconvtest_impl"].CALLS


class Recorder:
    """A backend object: runs the reference and counts its calls."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    def conv2d(self, x, w, b, spec):
        self.calls += 1
        return reference(x, w, b, spec)


# ---- a good plugin ------------------------------------------------------------------------


def test_good_plugin_is_listed_without_importing_its_implementation(site):
    site.install("pyconvtest-good", {"good": spec("good")}, version="2.3.4")
    listed = [b.name for b in pyconv.backends()]
    assert listed[:3] == ["cython", "numpy", "torch"]  # built-ins first
    assert "good" in listed
    b = info("good")
    assert b.available, b.reason
    assert b.reason is None
    assert (b.distribution, b.version) == ("pyconvtest-good", "2.3.4")
    assert b.entry_point == "pyconvtest_pyconvtest_good_good:SPEC"
    assert b.description == "the good test backend"
    assert not b.builtin
    assert b.capabilities == Capabilities(dtypes=("float32", "float64"), devices=("cpu",))
    assert "pyconvtest_pyconvtest_good_good" in sys.modules  # the light spec was read
    assert "pyconvtest_impl" not in sys.modules  # the implementation was not
    pyconv.backends()
    assert "pyconvtest_impl" not in sys.modules
    assert callable(pyconv.backends)  # the subpackage pyconv.backends must not shadow it


def test_good_plugin_is_selectable_every_way(site, arrays, monkeypatch):
    site.install("pyconvtest-good", {"good": spec("good")})
    x, w = arrays
    expected = reference(x, w, None, spec_of(x, w))

    out = pyconv.conv2d(x, w, backend="good")
    assert "pyconvtest_impl" in sys.modules  # imported on first selection
    assert_array_equal(out, expected)
    assert len(calls()) == 1
    assert load_backend("good").name == "good"  # the registry names nameless objects
    assert load_backend("good").capabilities == info("good").capabilities

    with pyconv.use_backend("good"):
        assert_array_equal(pyconv.conv2d(x, w), expected)
    assert len(calls()) == 2

    pyconv.set_backend("good")
    assert_array_equal(pyconv.conv2d(x, w), expected)
    assert len(calls()) == 3
    pyconv.set_backend(None)

    pyconv.Conv2d(2, 3, 3, backend="good")(x)
    assert len(calls()) == 4

    monkeypatch.setenv("PYCONV_BACKEND", "good")
    pyconv.refresh_backends()
    assert current_backend_name() == "good"
    assert_array_equal(pyconv.conv2d(x, w), expected)
    assert len(calls()) == 5


def test_plugin_options_reach_its_constructor(site, arrays):
    site.install("pyconvtest-good", {"good": spec("good")})
    x, w = arrays
    expected = reference(x, w, None, spec_of(x, w))
    with pyconv.use_backend("good", scale=2.0):
        assert_array_equal(pyconv.conv2d(x, w), 2 * expected)
        assert resolve(None, spec_of(x, w)).scale == 2.0
    assert load_backend("good", scale=2.0) is load_backend("good", scale=2.0)  # cached
    assert load_backend("good", scale=3.0) is not load_backend("good", scale=2.0)
    pyconv.set_backend("good", scale=3.0)
    assert_array_equal(pyconv.conv2d(x, w), 3 * expected)


@pytest.mark.parametrize(
    "select",
    [
        lambda: pyconv.use_backend("good", colour="red").__enter__(),
        lambda: pyconv.set_backend("good", colour="red"),
        lambda: load_backend("good", colour="red"),
    ],
    ids=["use_backend", "set_backend", "load_backend"],
)
def test_bad_options_are_a_type_error(site, select):
    site.install("pyconvtest-good", {"good": spec("good")})
    with pytest.raises(TypeError, match=r"backend 'good' rejected the options \{'colour'"):
        select()


def test_torch_options(arrays, torch):
    x, w = arrays
    with pyconv.use_backend("torch", device="cpu"):
        impl = resolve(None, spec_of(x, w))
        assert impl.name == "torch"
        assert impl.device == torch.device("cpu")
        assert_array_equal(pyconv.conv2d(x, w), torch.nn.functional.conv2d(
            torch.from_numpy(x), torch.from_numpy(w)).numpy())  # fmt: skip
    with pytest.raises(TypeError, match="rejected the options"):
        pyconv.use_backend("torch", devcie="cpu").__enter__()
    with pytest.raises(TypeError, match="rejected the options"):
        pyconv.use_backend("numpy", device="cpu").__enter__()


# ---- broken and unusable plugins ---------------------------------------------------------


def test_spec_module_failing_to_import_is_listed_unavailable(site, arrays):
    site.install(
        "pyconvtest-broken",
        {"broken": "pyconvtest_broken_spec:SPEC"},
        modules={"pyconvtest_broken_spec": "raise ImportError('libbroken.so not found')\n"},
    )
    b = info("broken")  # listing works
    assert not b.available
    assert "failed to load" in b.reason
    assert "ImportError: libbroken.so not found" in b.reason
    assert (b.distribution, b.version) == ("pyconvtest-broken", "1.0")
    assert {"cython", "numpy", "torch"} <= {i.name for i in pyconv.backends()}
    x, w = arrays
    for select in (
        lambda: pyconv.conv2d(x, w, backend="broken"),
        lambda: pyconv.use_backend("broken").__enter__(),
        lambda: pyconv.set_backend("broken"),
    ):
        with pytest.raises(BackendUnavailableError, match="'broken' is unavailable") as exc:
            select()
        assert type(exc.value.__cause__) is ImportError
        assert str(exc.value.__cause__) == "libbroken.so not found"
    np.testing.assert_allclose(
        pyconv.conv2d(x, w), reference(x, w, None, spec_of(x, w)), rtol=1e-5, atol=1e-5
    )  # the default still runs


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("raise ImportError('no libgpu')\n", ImportError),
        ("raise RuntimeError('driver too old')\n", RuntimeError),
        ("raise TypeError('bad metaclass')\n", TypeError),
        (
            "class Backend:\n    def __init__(self, **kw):\n        raise OSError('no gpu')\n",
            OSError,
        ),
    ],
    ids=["import-error", "runtime-error", "type-error", "constructor-raises"],
)
@pytest.mark.parametrize("options", [{}, {"scale": 2.0}], ids=["no-options", "options"])
def test_implementation_failing_to_load_chains_the_original_error(
    site, arrays, source, error, options
):
    site.install(
        "pyconvtest-lazy",
        {"lazy": spec("lazy", impl="pyconvtest_lazy_impl:Backend")},
        modules={"pyconvtest_lazy_impl": source},
    )
    assert info("lazy").available  # the spec is fine: the failure shows on selection
    x, w = arrays
    with (
        pytest.raises(BackendUnavailableError, match="'lazy' failed to load") as exc,
        pyconv.use_backend("lazy", **options),
    ):
        pass
    assert type(exc.value.__cause__) is error
    with pytest.raises(BackendUnavailableError) as exc:
        pyconv.conv2d(x, w, backend="lazy")
    assert type(exc.value.__cause__) is error
    assert str(exc.value.__cause__) in str(exc.value)


def test_implementation_without_conv2d_is_unavailable(site):
    site.install(
        "pyconvtest-empty",
        {"empty": spec("empty", impl="pyconvtest_empty_impl:Backend")},
        modules={"pyconvtest_empty_impl": "class Backend:\n    pass\n"},
    )
    with pytest.raises(BackendUnavailableError, match="has no conv2d method"):
        load_backend("empty")


def test_wrong_api_version_is_unavailable_naming_both_versions(site, arrays):
    site.install("pyconvtest-future", {"future": spec("future", api_version=2)})
    b = info("future")
    assert not b.available
    assert "backend API version 2" in b.reason
    assert f"pyconv {pyconv.__version__} implements version 1" in b.reason
    x, w = arrays
    with pytest.raises(BackendUnavailableError, match=r"API version 2.*implements version 1"):
        pyconv.conv2d(x, w, backend="future")
    assert "pyconvtest_impl" not in sys.modules


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("['not', 'a', 'dict']", "is a list, not a spec dict"),
        ({**spec("bad"), "name": "other"}, "the spec's name 'other' differs"),
        ({k: v for k, v in spec("bad").items() if k != "api_version"}, "API version None"),
        ({**spec("bad"), "api_version": "1"}, "API version '1'"),
        ({**spec("bad"), "implementation": "no_colon"}, "'module:attribute'"),
        ({**spec("bad"), "capabilities": {"dtypes": ["float16"]}}, "invalid capabilities"),
        ({**spec("bad"), "capabilities": {"paddding": ["none"]}}, "unknown capability keys"),
        ({**spec("bad"), "capabilities": {"padding": ["reflect"]}}, "padding kinds"),
        ({**spec("bad"), "capabilities": {"accuracy": "roughly"}}, "accuracy must be"),
        ({**spec("bad"), "capabilities": 3}, "invalid capabilities"),
    ],
    ids=[
        "not-a-dict",
        "name-mismatch",
        "no-api-version",
        "api-version-str",
        "implementation",
        "dtype",
        "unknown-key",
        "padding-kind",
        "accuracy",
        "caps-not-a-dict",
    ],
)
def test_invalid_spec_is_unavailable_with_its_reason(site, value, reason):
    if isinstance(value, str):
        modules = {"pyconvtest_bad_spec": f"SPEC = {value}\n"}
        site.install("pyconvtest-bad", {"bad": "pyconvtest_bad_spec:SPEC"}, modules=modules)
    else:
        site.install("pyconvtest-bad", {"bad": value})
    b = info("bad")
    assert not b.available
    assert reason in b.reason
    assert b.capabilities is None
    with pytest.raises(BackendUnavailableError, match="'bad' is unavailable"):
        load_backend("bad")


def test_missing_requirement_is_unavailable_with_the_install_hint(site, arrays):
    site.install(
        "pyconvtest-needy",
        {"needy": spec("needy", requires=["pyconvtest_no_such_module"])},
    )
    b = info("needy")
    assert not b.available
    assert b.reason == "pyconvtest_no_such_module is not installed (pip install pyconvtest-needy)"
    x, w = arrays
    with pytest.raises(BackendUnavailableError, match=r"pip install pyconvtest-needy"):
        pyconv.conv2d(x, w, backend="needy")


@pytest.mark.parametrize("first", ["aaa", "zzz"])
def test_duplicate_name_keeps_the_first_distribution_by_name(site, monkeypatch, first):
    dirs = {}
    for prefix in ("aaa", "zzz"):
        dirs[prefix] = site.root / prefix
        dirs[prefix].mkdir()
        site.install(f"{prefix}-dupe", {"dupe": spec("dupe")}, where=dirs[prefix], refresh=False)
    second = "zzz" if first == "aaa" else "aaa"  # the winner does not depend on sys.path
    monkeypatch.setattr(sys, "path", [str(dirs[first]), str(dirs[second]), *sys.path])
    pyconv.refresh_backends()
    with pytest.warns(BackendWarning) as record:
        b = info("dupe")
    assert b.distribution == "aaa-dupe"
    assert b.entry_point == "pyconvtest_aaa_dupe_dupe:SPEC"
    assert b.available
    (msg,) = [str(r.message) for r in record if "registered twice" in str(r.message)]
    assert "backend 'dupe' is registered twice" in msg
    assert "keeping the one from 'aaa-dupe'" in msg
    assert "ignoring the one from 'zzz-dupe'" in msg


def test_third_party_cannot_replace_a_builtin_name(site):
    site.install("pyconvtest-evil", {"cython": spec("cython"), "numpy": spec("numpy")})
    with pytest.warns(BackendWarning) as record:
        listed = pyconv.backends()
    msgs = sorted(str(r.message) for r in record)
    assert len(msgs) == 2
    assert "ignoring backend 'cython' from distribution 'pyconvtest-evil'" in msgs[0]
    assert "ignoring backend 'numpy' from distribution 'pyconvtest-evil'" in msgs[1]
    assert [b.name for b in listed].count("cython") == 1
    assert info("cython").distribution == "pyconv"
    assert info("numpy").distribution == "pyconv"
    assert info("cython").builtin
    assert "pyconvtest_pyconvtest_evil_cython" not in sys.modules  # not even loaded
    assert type(load_backend("cython")).__module__ == "pyconv._backends.cython"


def test_third_party_warning_names_the_distribution(site):
    site.install("pyconvtest-evil", {"torch": spec("torch")})
    with pytest.warns(
        BackendWarning, match=r"'torch' from distribution 'pyconvtest-evil'.*built-in"
    ):
        pyconv.backends()


# ---- capabilities drive dispatch ----------------------------------------------------------

LIMITED = spec(
    "limited",
    capabilities={"dtypes": ["float32"], "groups": False, "devices": ["cpu"]},
)


def test_limited_backend_named_explicitly_raises_with_the_reason(site, arrays):
    site.install("pyconvtest-limited", {"limited": LIMITED})
    b = info("limited")
    assert b.capabilities.dtypes == ("float32",)
    assert not b.capabilities.groups
    assert not b.capabilities.universal
    x, w = arrays
    pyconv.conv2d(x, w, backend="limited")  # supported: runs
    assert len(calls()) == 1
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    msg = r"backend 'limited' cannot run this call: dtype float64 is not supported \(supports"
    with pytest.raises(UnsupportedCallError, match=msg):
        pyconv.conv2d(x64, w64, backend="limited")
    wg = w[:2, :1].copy()
    with pytest.raises(UnsupportedCallError, match=r"groups=2 is not supported \(groups=1 only"):
        pyconv.conv2d(x, wg, groups=2, backend="limited")
    with pyconv.use_backend("limited"), pytest.raises(UnsupportedCallError, match="groups=2"):
        pyconv.conv2d(x, wg, groups=2)
    pyconv.set_backend("limited")
    with pytest.raises(UnsupportedCallError, match="float64"):
        pyconv.conv2d(x64, w64)
    assert len(calls()) == 1  # never ran an unsupported call


def test_per_call_supports_reason(arrays):
    class Small(Recorder):
        def supports(self, spec):
            return True if spec.kernel_size[0] <= 1 else "kernels larger than 1x1"

    x, w = arrays
    small = Small("small")
    with pytest.raises(UnsupportedCallError, match="'small' cannot run this call: kernels"):
        pyconv.conv2d(x, w, backend=small)
    pyconv.conv2d(x, w[:, :, :1, :1].copy(), backend=small)
    assert small.calls == 1


# ---- names and objects -------------------------------------------------------------------


def test_unknown_name_lists_the_installed_backends_and_how_to_get_others(site, arrays):
    site.install("pyconvtest-needy", {"needy": spec("needy", requires=["pyconvtest_nope"])})
    x, w = arrays
    for select in (
        lambda: pyconv.conv2d(x, w, backend="nosuch"),
        lambda: pyconv.use_backend("nosuch").__enter__(),
        lambda: pyconv.set_backend("nosuch"),
    ):
        with pytest.raises(ValueError, match="unknown backend 'nosuch'") as exc:
            select()
        msg = str(exc.value)
        assert not isinstance(exc.value, UnsupportedCallError)
        assert "the installed backends are: cython, numpy, torch" in msg
        assert "needy (unavailable: pyconvtest_nope is not installed" in msg
        assert "'pyconv.backends' entry-point group" in msg
        assert "pip install" in msg


def test_backend_objects_can_be_passed_directly(arrays):
    x, w = arrays
    obj = Recorder("mine")
    expected = reference(x, w, None, spec_of(x, w))
    assert_array_equal(pyconv.conv2d(x, w, backend=obj), expected)
    with pyconv.use_backend(obj):
        pyconv.conv2d(x, w)
        assert current_backend_name() == "mine"
    pyconv.set_backend(obj)
    pyconv.conv2d(x, w)
    pyconv.Conv2d(2, 3, 3, backend=obj)(x)
    assert obj.calls == 4
    limited = Recorder("lim")
    limited.capabilities = Capabilities(dtypes=("float64",))
    with pytest.raises(UnsupportedCallError, match="'lim' cannot run this call: dtype float32"):
        pyconv.conv2d(x, w, backend=limited)


@pytest.mark.parametrize(
    "bad", [42, 1.5, object(), b"numpy", np.zeros(3), ["numpy", "cython"]], ids=repr
)
def test_not_a_backend_is_a_type_error(arrays, bad):
    x, w = arrays
    msg = (
        "backend must be a backend name .* or an object with a conv2d method, not "
        + type(bad).__name__
    )
    with pytest.raises(TypeError, match=msg):
        pyconv.conv2d(x, w, backend=bad)
    with pytest.raises(TypeError, match=msg):
        pyconv.use_backend(bad).__enter__()
    with pytest.raises(TypeError, match=msg):
        pyconv.set_backend(bad)


# ---- selection precedence, scoping ---------------------------------------------------------


def test_precedence_call_then_context_then_global_then_env_then_default(arrays, monkeypatch):
    x, w = arrays
    s = spec_of(x, w)
    call, ctx, glob = Recorder("call"), Recorder("ctx"), Recorder("glob")
    cython, numpy = load_backend("cython"), load_backend("numpy")
    assert resolve(None, s) is cython
    assert current_backend_name() == "cython"
    monkeypatch.setenv("PYCONV_BACKEND", "numpy")
    assert resolve(None, s) is cython  # read at import and by refresh_backends only
    pyconv.refresh_backends()
    numpy = load_backend("numpy")
    assert resolve(None, s) is numpy
    assert current_backend_name() == "numpy"
    pyconv.set_backend(glob)
    assert resolve(None, s) is glob
    with pyconv.use_backend(ctx):
        assert resolve(None, s) is ctx
        assert resolve(call, s) is call
        assert resolve("cython", s) is load_backend("cython")
        pyconv.conv2d(x, w, backend=call)
        pyconv.conv2d(x, w)
    assert (call.calls, ctx.calls, glob.calls) == (1, 1, 0)
    assert resolve(None, s) is glob
    pyconv.set_backend(None)
    assert resolve(None, s) is numpy
    monkeypatch.delenv("PYCONV_BACKEND")
    pyconv.refresh_backends()
    assert resolve(None, s) is load_backend("cython")


def test_set_backend_none_restores_the_default(arrays):
    x, w = arrays
    pyconv.set_backend("numpy")
    assert current_backend_name() == "numpy"
    pyconv.set_backend(None)
    assert current_backend_name() == "cython"
    assert resolve(None, spec_of(x, w)) is load_backend("cython")


def test_nested_use_backend_restores_each_level(arrays):
    x, w = arrays
    s = spec_of(x, w)
    a, b = Recorder("a"), Recorder("b")
    with pyconv.use_backend(a):
        with pyconv.use_backend(b):
            assert resolve(None, s) is b
            with pyconv.use_backend("numpy"):
                assert resolve(None, s) is load_backend("numpy")
            assert resolve(None, s) is b
        assert resolve(None, s) is a
        with pytest.raises(RuntimeError, match="boom"), pyconv.use_backend(b):
            raise RuntimeError("boom")
        assert resolve(None, s) is a
    assert resolve(None, s) is load_backend("cython")


def test_use_backend_fails_at_the_with_statement_and_changes_nothing():
    with pytest.raises(ValueError, match="unknown backend"), pyconv.use_backend("nosuch"):
        pytest.fail("the block must not run")
    assert current_backend_name() == "cython"


def test_use_backend_is_local_to_each_thread(arrays):
    x, w = arrays
    s = spec_of(x, w)
    objs = [Recorder(f"t{i}") for i in range(4)]
    barrier = threading.Barrier(len(objs) + 1)
    seen: dict[int, object] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            with pyconv.use_backend(objs[i]):
                barrier.wait(timeout=30)  # every thread is inside its block now
                seen[i] = resolve(None, s)
                pyconv.conv2d(x, w)
                barrier.wait(timeout=30)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(objs))]
    for t in threads:
        t.start()
    barrier.wait(timeout=30)
    main_sees = resolve(None, s)  # the main thread is not affected by the others
    barrier.wait(timeout=30)
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert main_sees is load_backend("cython")
    assert seen == dict(enumerate(objs))
    assert [o.calls for o in objs] == [1] * len(objs)


@pytest.mark.skipif(
    getattr(sys.flags, "thread_inherit_context", False),
    reason="threads inherit the context on this interpreter",
)
def test_use_backend_in_the_main_thread_does_not_leak_into_new_threads(arrays):
    x, w = arrays
    seen = []
    with pyconv.use_backend(Recorder("main")):
        t = threading.Thread(target=lambda: seen.append(resolve(None, spec_of(x, w))))
        t.start()
        t.join(timeout=30)
    assert seen == [load_backend("cython")]


def test_set_backend_is_process_wide(arrays):
    x, w = arrays
    glob = Recorder("glob")
    pyconv.set_backend(glob)
    seen = []
    t = threading.Thread(target=lambda: seen.append(resolve(None, spec_of(x, w))))
    t.start()
    t.join(timeout=30)
    assert seen == [glob]


def test_use_backend_is_local_to_each_asyncio_task(arrays):
    x, w = arrays
    s = spec_of(x, w)
    a, b = Recorder("a"), Recorder("b")

    async def main():
        inside = [asyncio.Event(), asyncio.Event()]
        done = asyncio.Event()

        async def chooser(i, obj):
            with pyconv.use_backend(obj):
                inside[i].set()
                await done.wait()  # stay inside while the others look
                return resolve(None, s)

        async def bystander():
            await inside[0].wait()
            await inside[1].wait()
            found = resolve(None, s)
            done.set()
            return found

        return await asyncio.gather(chooser(0, a), chooser(1, b), bystander())

    assert asyncio.run(main()) == [a, b, load_backend("cython")]
    assert resolve(None, s) is load_backend("cython")


@pytest.mark.spawns_python
def test_env_variable_is_read_at_import():
    code = "import pyconv._registry as r; print(r.current_backend_name())"
    env = {**os.environ, "PYCONV_BACKEND": "numpy"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "numpy"


def _refresh_refusing() -> str:
    """refresh_backends() with a bad PYCONV_BACKEND: the text of its one ConfigWarning."""
    with pytest.warns(pyconv.ConfigWarning) as caught:
        pyconv.refresh_backends()
    (warning,) = caught
    assert warning.filename == __file__  # points at the caller, not into pyconv
    return str(warning.message)


def test_unknown_env_backend_warns_once_and_the_default_runs(arrays, monkeypatch):
    x, w = arrays
    monkeypatch.setenv("PYCONV_BACKEND", "nosuch")
    message = _refresh_refusing()
    assert message.startswith(
        "pyconv: environment variable PYCONV_BACKEND='nosuch' is ignored: no backend of that "
        "name is installed (available backends: cython, numpy"
    ), message
    assert message.endswith("using the default backend, 'cython'")
    assert current_backend_name() == "cython"
    assert_array_equal(pyconv.conv2d(x, w), pyconv.conv2d(x, w, backend="cython"))
    assert pyconv.show_config(as_dict=True)["refused"]["PYCONV_BACKEND"]["value"] == "nosuch"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pyconv.refresh_backends()  # the same value again: no second warning
    monkeypatch.delenv("PYCONV_BACKEND")
    pyconv.refresh_backends()
    assert "PYCONV_BACKEND" not in pyconv.show_config(as_dict=True)["refused"]


def test_env_backend_unavailable_is_refused_with_its_reason(site, monkeypatch):
    site.install(
        "pyconvtest-needy",
        {"needy": spec("needy", requires=["pyconvtest_no_such_module"])},
    )
    monkeypatch.setenv("PYCONV_BACKEND", "needy")
    message = _refresh_refusing()
    assert "backend 'needy' is unavailable: pyconvtest_no_such_module is not installed" in message
    assert current_backend_name() == "cython"
    monkeypatch.delenv("PYCONV_BACKEND")
    pyconv.refresh_backends()


def test_env_backend_is_matched_in_any_case(monkeypatch):
    monkeypatch.setenv("PYCONV_BACKEND", " NumPy ")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pyconv.refresh_backends()
    assert current_backend_name() == "numpy"
    monkeypatch.delenv("PYCONV_BACKEND")
    pyconv.refresh_backends()


# ---- the default ----------------------------------------------------------------------------


def test_cython_listed_available_with_the_compiled_module():
    assert info("cython").available
    assert info("numpy").available
    assert current_backend_name() == "cython"


# ---- import cost and the command line --------------------------------------------------------


def run_python(code: str, pythonpath: Path | None = None) -> str:
    env = dict(os.environ)
    env.pop("PYCONV_BACKEND", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.spawns_python
def test_import_listing_and_cli_do_not_import_torch_and_survive_a_broken_plugin(site):
    site.install(
        "pyconvtest-broken",
        {"broken": "pyconvtest_broken_spec:SPEC"},
        modules={"pyconvtest_broken_spec": "raise ImportError('libbroken.so not found')\n"},
    )
    out = run_python(
        """
        import importlib.util
        import sys
        import numpy as np
        import pyconv
        assert "torch" not in sys.modules, "import pyconv imported torch"
        has_torch = importlib.util.find_spec("torch") is not None
        x, w = np.ones((1, 2, 5, 5), np.float32), np.ones((3, 2, 3, 3), np.float32)
        for backend in ("cython", "numpy"):
            pyconv.conv2d(x, w, backend=backend)
        pyconv.show_config(as_dict=True)
        assert "torch" not in sys.modules, "a conv2d call or show_config imported torch"
        names = {b.name: b.available for b in pyconv.backends()}
        # listed either way: available exactly where torch is installed
        assert names["torch"] == has_torch and not names["broken"], names
        assert callable(pyconv.backends)
        pyconv.backends()
        assert "torch" not in sys.modules, "pyconv.backends() imported torch"
        from pyconv.cli import main
        assert main(["backends"]) == 0
        assert "torch" not in sys.modules, "pyconv backends imported torch"
        print("OK")
        """,
        pythonpath=site.dirs[0],
    )
    assert out.rstrip().endswith("OK")
    assert "broken" in out
    assert "unavailable" in out


def test_cli_backends_table(site, capsys):
    site.install(
        "pyconvtest-broken",
        {"broken": "pyconvtest_broken_spec:SPEC"},
        modules={"pyconvtest_broken_spec": "raise ImportError('libbroken.so not found')\n"},
    )
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert rows["name"].split()[:3] == ["name", "status", "distribution"]
    assert "available" in rows["cython"]
    assert "cython *" in out  # the default
    assert "available" in rows["numpy"]
    assert "cpu,cuda" in rows["torch"]
    assert "unavailable" in rows["broken"]
    assert "pyconvtest-broken 1.0" in rows["broken"]
    assert "broken: its entry point" in out
    assert "ImportError: libbroken.so not found" in out


@pytest.mark.spawns_python
def test_cli_backends_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "pyconv", "backends"], capture_output=True, text=True, check=True
    )
    names = [line.split()[0] for line in proc.stdout.splitlines()[1:4]]
    assert names == ["cython", "numpy", "torch"]


# ---------------------------------------------------------------------------------------
# Operations: what each backend implements, and dispatch by operation


def _caps(**changes) -> dict:
    return {"dtypes": ["float32", "float64"], "devices": ["cpu"], **changes}


def test_builtin_backends_declare_their_operations():
    from pyconv._backends import cython as cython_backend

    ops = {b.name: b.capabilities.operations for b in pyconv.backends() if b.builtin}
    assert set(ops["numpy"]) == set(pyconv.OPERATIONS)
    assert set(ops["torch"]) == set(pyconv.OPERATIONS)
    weight_grads = {"conv1d_weight", "conv2d_weight", "conv3d_weight"}
    # the cython backend declares the weight gradients exactly when the compiled core has
    # their kernel (flip entry_points.CYTHON's operations when _core.conv_weight_grad lands)
    assert (weight_grads <= set(ops["cython"])) == cython_backend.HAS_WEIGHT_GRAD
    assert set(ops["cython"]) | weight_grads == set(pyconv.OPERATIONS)
    for name in ("cython", "numpy"):
        obj = load_backend(name)
        assert all(callable(getattr(obj, op)) for op in ops[name])


def test_a_plugin_that_declares_nothing_implements_conv2d_only(site, arrays):
    site.install("pyconvtest-old", {"old": spec("old")})
    assert info("old").capabilities.operations == ("conv2d",)
    x, w = arrays
    pyconv.conv2d(x, w, backend="old")  # runs
    wt = np.ones((2, 3, 3, 3), np.float32)
    with pytest.raises(
        UnsupportedCallError,
        match=r"backend 'old' cannot run this call: it does not implement conv_transpose2d "
        r"\(it implements conv2d\)",
    ):
        pyconv.conv_transpose2d(x, wt, backend="old")
    with pyconv.use_backend("old"), pytest.raises(UnsupportedCallError, match="conv1d"):
        pyconv.conv1d(x[0, :, 0], w[:, :, 0])  # a named backend never falls back
    pyconv.set_backend("old")
    with pytest.raises(UnsupportedCallError, match="conv2d_weight"):
        pyconv.grad.conv2d_weight(x, w.shape, np.ones((1, 3, 4, 4), np.float32))


def test_declared_operations_need_their_methods(site):
    site.install(
        "pyconvtest-liar",
        {"liar": spec("liar", capabilities=_caps(operations=["conv2d", "conv_transpose2d"]))},
    )
    assert info("liar").available  # listing imports nothing
    with pytest.raises(BackendUnavailableError, match="has no conv_transpose2d method"):
        pyconv.use_backend("liar").__enter__()


@pytest.mark.parametrize(
    ("operations", "text"),
    [
        (["conv2d", "conv4d"], "operations must be among conv1d, conv2d"),
        ([], "operations must be among"),
        ("conv2d", "operations must be a list of names, got 'conv2d'"),
    ],
)
def test_invalid_operations_make_a_plugin_unavailable(site, operations, text):
    site.install("pyconvtest-badops", {"badops": spec("badops", capabilities=_caps(
        operations=operations))})  # fmt: skip
    assert not info("badops").available
    assert text in info("badops").reason


def test_an_object_without_capabilities_runs_the_operations_it_has(rng):
    class OnlyConv1d:
        def conv1d(self, x, w, b, spec):
            return pyconv._backends.numpy.conv(x, w, b, spec)

    x = rng.standard_normal((2, 3, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        pyconv.conv1d(x, w, backend=OnlyConv1d()), pyconv.conv1d(x, w, backend="numpy")
    )
    with pytest.raises(UnsupportedCallError, match="it has no conv2d method"):
        pyconv.conv2d(x[:, :, None], w[:, :, None], backend=OnlyConv1d())


def test_with_nothing_selected_an_operation_the_default_lacks_runs_on_the_reference(
    monkeypatch, rng
):
    # the default (cython) declares conv2d; were it to lack an operation, the reference runs
    # it instead, not an error (and a named cython is an error)
    from pyconv._registry import selection

    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    *_, s = pyconv._validation.prepare_conv_transpose(x[:, :, :2], w.transpose(1, 0, 2, 3))
    default = load_backend("cython")
    assert selection.resolve(None, s) is default
    monkeypatch.setattr(
        default, "capabilities", pyconv.Capabilities(operations=("conv2d",)), raising=False
    )
    assert selection.resolve(None, s) is load_backend("numpy")
    with pytest.raises(UnsupportedCallError, match="does not implement conv_transpose2d"):
        selection.resolve("cython", s)


def test_conv2d_keeps_its_compiled_fast_entry():
    # the hot path is the compiled entry, tried before any validation or dispatch
    from pyconv import _core
    from pyconv._registry import fast_path

    load_backend("cython")
    pyconv.conv2d(np.ones((1, 1, 3, 3), np.float32), np.ones((1, 1, 3, 3), np.float32))
    assert fast_path(None) is _core.conv2d_fast


def test_cli_backends_lists_operations(site, capsys):
    site.install("pyconvtest-old", {"old": spec("old")})
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert rows["name"].split()[-1] == "operations"
    assert rows["numpy"].split()[-1] == (
        "conv{1,2,3}d,conv_transpose{1,2,3}d,conv{1,2,3}d_input,conv{1,2,3}d_weight"
    )
    assert rows["old"].split()[-1] == "conv2d"
