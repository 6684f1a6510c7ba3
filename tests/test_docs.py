"""The examples in the docstrings and in docs/*.md run and print what they show."""

from __future__ import annotations

import ast
import contextlib
import doctest
import importlib
import importlib.util
import io
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import pyconv

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
MODULES = [
    "pyconv",
    "pyconv.functional",
    "pyconv.grad",
    "pyconv.nn",
    "pyconv.padding",
    "pyconv.image",
    "pyconv.examples",
    "pyconv.testing",
    "pyconv.cli",
]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


# modules and pages whose examples need an optional dependency: the module it needs
NEEDS = {"pyconv.image": "PIL", "dask.md": "dask.array"}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False)
    assert result.failed == 0


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")) or ["(no docs found)"])
def test_docs_page_examples(page, tmp_path, monkeypatch):
    path = DOCS / page
    if not path.exists():
        pytest.skip("docs/ is not next to the tests (installed test run)")
    if page in NEEDS:
        pytest.importorskip(NEEDS[page])
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    result = doctest.testfile(str(path), module_relative=False, optionflags=FLAGS)
    assert result.failed == 0


def test_docs_pages_have_examples():
    # a page whose examples silently stopped being collected would pass the test above
    pages = {p.name: p.read_text() for p in DOCS.glob("*.md")}
    for name in ("quickstart.md", "tutorial.md"):
        assert name in pages
        assert pages[name].count(">>> ") >= 5, name


def _variables_read() -> set[str]:
    """Every environment variable the package, the build, the tests and CI read."""
    root = DOCS.parent
    python = [root / "setup.py", root / "docs" / "conf.py"]
    for folder in ("pyconv", "tests", "benchmarks"):
        python += (root / folder).rglob("*.py")
    patterns = [
        r"environ\.get\(\s*\"([A-Z][A-Z0-9_]*)\"",
        r"environ\[\"([A-Z][A-Z0-9_]*)\"\]",
        r"_env_threads\(\s*\"([A-Z][A-Z0-9_]*)\"",
    ]
    found = set()
    for path in python:
        text = path.read_text()
        for pattern in patterns:
            found |= set(re.findall(pattern, text))
    for script in (root / ".ci").glob("*"):
        if script.is_file():
            found |= set(re.findall(r"\$\{?(PYCONV_[A-Z0-9_]+)", script.read_text()))
    # variables pyconv records for benchmark reports without acting on them
    return found - {"OPENBLAS_CORETYPE", "GLIBC_TUNABLES", "PYTHONPATH"}


def test_every_environment_variable_is_documented_in_one_place():
    if not (DOCS / "api.md").exists():
        pytest.skip("docs/ is not next to the tests (installed test run)")
    text = (DOCS / "api.md").read_text()
    section = text.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    read = _variables_read()
    assert {"PYCONV_NUM_THREADS", "PYCONV_ISA", "PYCONV_BACKEND", "OMP_NUM_THREADS"} <= read
    missing = sorted(name for name in read if f"`{name}" not in section)
    assert not missing, f"read but not documented in docs/api.md: {missing}"


# --------------------------------------------------------------------------------------
# docs/writing-a-backend.md: its files, as pasted, make a plugin that passes the suite
# --------------------------------------------------------------------------------------


def _guide_files() -> dict[str, str]:
    """The guide's code blocks, by the path their first line names (``# path``)."""
    text = (DOCS / "writing-a-backend.md").read_text()
    files = {}
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", text, flags=re.S):
        first = body.splitlines()[0]
        if lang == "toml":
            files["pyproject.toml"] = body
        elif lang == "python" and first.startswith("# "):
            files[first[2:].split()[0]] = body
    return files


@pytest.mark.spawns_python
def test_writing_a_backend_guide_works_as_pasted(tmp_path):
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    if not (DOCS / "writing-a-backend.md").exists():
        pytest.skip("docs/ is not next to the tests (installed test run)")
    files = _guide_files()
    assert {"pyproject.toml", "src/pyconv_mine/entry_point.py", "src/pyconv_mine/backend.py",
            "tests/test_conformance.py", "bench_mine.py"} <= set(files)  # fmt: skip
    for path, body in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body)
    (tmp_path / "src/pyconv_mine/__init__.py").write_text("")
    # what `pip install -e ./pyconv-mine` leaves behind: metadata with the entry point
    project = tomllib.loads(files["pyproject.toml"])["project"]
    info = tmp_path / "src" / f"pyconv_mine-{project['version']}.dist-info"
    info.mkdir()
    info.joinpath("METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    eps = project["entry-points"]["pyconv.backends"]
    info.joinpath("entry_points.txt").write_text(
        "[pyconv.backends]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    env.pop("PYCONV_BACKEND", None)

    def run(*args):
        proc = subprocess.run(
            [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, f"{args}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout

    out = run("-m", "pyconv", "check", "mine")
    assert "backend 'mine', elementwise accuracy contract" in out
    # it declares everything of conv2d, and passes it all; the other operations' cases are
    # skipped, as it declares conv2d only
    assert ", 0 failed, " in out
    skipped = out.split("\nskipped:\n", 1)[1].splitlines()[:-1] if "skipped:" in out else []
    assert skipped
    assert all("not declared: it does not implement conv" in line for line in skipped), skipped
    assert out.splitlines()[-1] == "OK", out
    tests = ["tests/test_conformance.py"]
    if importlib.util.find_spec("pytest_benchmark") is not None:  # the bench extra
        tests += ["bench_mine.py", "--benchmark-disable"]
    out = run("-m", "pytest", "-q", "-p", "no:cacheprovider", *tests)
    # the skipped ones: the cases of the operations it does not declare (as above)
    assert re.fullmatch(r"\d+ passed, \d+ skipped in .*", out.splitlines()[-1]), out


# --------------------------------------------------------------------------------------
# The docs build: the same pages wherever they are built
# --------------------------------------------------------------------------------------


def _docs_module(name):
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_backends_table_lists_the_built_in_specs_only(monkeypatch):
    if not (DOCS / "_backends_table.py").exists():
        pytest.skip("docs/ is not next to the tests (installed test run)")
    from pyconv._backends.entry_points import SPECS

    table = _docs_module("_backends_table").backends_table()
    rows = table.splitlines()[2:]
    assert [r.split("|")[1].strip() for r in rows] == [f"`{n}`" for n in SPECS]
    # nothing that depends on the machine that builds the docs
    assert "available" not in table
    assert "`torch` (`pip install 'pyconv[torch]'`)" in rows[2]  # what it needs, instead
    monkeypatch.setattr(pyconv, "backends", lambda: pytest.fail("the listing was read"))
    assert _docs_module("_backends_table").backends_table() == table


def test_generated_pieces_are_not_pages_of_their_own(monkeypatch):
    matching = pytest.importorskip("sphinx.util.matching")
    if not (DOCS / "conf.py").exists():
        pytest.skip("docs/ is not next to the tests (installed test run)")
    conf = (DOCS / "conf.py").read_text()
    patterns = re.search(r"^exclude_patterns = (\[.*\])$", conf, flags=re.M).group(1)
    matcher = matching.Matcher(ast.literal_eval(patterns))
    assert matcher("_generated/backends_table.md")  # {include}d by backends.md only
    assert not matcher("backends.md")
    assert "{include} _generated/backends_table.md" in (DOCS / "backends.md").read_text()


# --------------------------------------------------------------------------------------
# The README's "Using it" block runs as written
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """Run the README's "Using it" block once, in a scratch folder (it writes conv1.npz)."""
    readme = DOCS.parent / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not next to the tests (installed test run)")
    block = re.search(r"## Using it\n\n```python\n(.*?)```", readme.read_text(), re.S).group(1)
    folder = tmp_path_factory.mktemp("readme")
    namespace: dict = {}
    cwd, threads, out = os.getcwd(), pyconv.get_num_threads(), io.StringIO()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(readme), "exec"), namespace)
    finally:
        os.chdir(cwd)
        pyconv.set_num_threads(threads)  # the block sets 1
    return namespace, folder, out.getvalue()


def test_readme_using_it_runs_as_written(readme_run):
    ns, folder, printed = readme_run
    assert ns["d"].shape == (8, 64, 56, 56)  # depthwise
    assert ns["r"].shape == (1, 128, 54, 54)
    assert ns["y"].shape == (8, 128, 56, 56)  # the layer, padded by reflection
    assert ns["p"].shape == (8, 128, 28, 28)
    assert ns["scores"].shape == (8, 10)
    assert (folder / "net.npz").is_file()
    assert (folder / "conv1.npz").is_file()
    assert "backend cython" in printed  # show_config
    fft = "fft" in [b.name for b in pyconv.backends() if b.available]
    assert ("big" in ns) == fft  # the fft lines run exactly where the plugin is installed


def test_readme_fft_lines(readme_run):
    infos = {b.name: b for b in pyconv.backends() if b.available}
    if "fft" not in infos:
        pytest.skip("the fft plugin is not installed (pip install ./plugins/pyconv-fft)")
    ns = readme_run[0]
    image, kernel, big = ns["image"], ns["kernel_31x31"], ns["big"]
    assert big.shape == (1, 1, image.shape[-2] - 30, image.shape[-1] - 30)
    # against the compiled backend, within the sum of both contracts (an exact reference
    # of this size takes a minute); image and kernel are positive, so A is the result
    direct = pyconv.conv2d(image, kernel, backend="cython").astype(np.float64)
    caps, eps, K = infos["fft"].capabilities, np.finfo(np.float32).eps, 31 * 31
    assert caps.accuracy == "normwise"
    bound = caps.accuracy_c * (K + 1) * eps * direct.max() + 2 * (K + 1) * eps * direct
    assert (np.abs(big - direct) <= bound).all()
