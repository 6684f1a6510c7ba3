"""``pyconv bench``: the table, the JSON, the arithmetic, threads, torch-less runs, checks.

Everything runs in ``--quick`` mode on the zoo's tiny ``seed`` shapes: these tests check
what is printed and saved, not speed.
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyconv
from pyconv import _core
from pyconv._bench import machine, report, runner
from pyconv._bench.zoo import FAMILY, NAMES, ZOO, describe, flops, make_call, make_case
from pyconv.cli import main

PEAK = machine.peak_per_core()  # the bench's default peaks

QUICK = ["bench", "--quick", "--no-progress", "--threads", "1"]
SEED = ["seed_k1", "seed_k3", "seed_k3_f64"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def table_lines(out: str) -> list[str]:
    """The table: from the line starting with 'shape' to the next blank line."""
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(("shape", "| shape")))
    end = lines.index("", start)
    return lines[start:end]


class Wrong:
    """A backend that is fast and wrong: the reference result plus one."""

    name = "wrong"
    capabilities = pyconv.Capabilities()

    def conv2d(self, x, w, b, spec):
        from pyconv._backends.numpy import conv2d

        return conv2d(x, w, b, spec) + 1


class Broken:
    """A backend whose call raises."""

    name = "broken"
    capabilities = pyconv.Capabilities()

    def conv2d(self, x, w, b, spec):
        raise RuntimeError("kernel exploded")


class Float64Only:
    """A backend that declares float64 only: float32 shapes show '-'."""

    name = "f64only"
    capabilities = pyconv.Capabilities(dtypes=("float64",))

    def conv2d(self, x, w, b, spec):
        from pyconv._backends.numpy import conv2d

        return conv2d(x, w, b, spec)


class Spy:
    """Records the thread counts in force when it is called."""

    name = "spy"
    capabilities = pyconv.Capabilities()

    def __init__(self, torch=None):
        self.torch = torch
        self.seen: set[tuple] = set()

    def conv2d(self, x, w, b, spec):
        from pyconv._backends.numpy import conv2d

        self.seen.add((pyconv.get_num_threads(), self.torch and self.torch.get_num_threads()))
        return conv2d(x, w, b, spec)


# ---- the command line ----------------------------------------------------------------


def test_quick_run_prints_header_table_footer_and_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    status, out, err = run_cli(capsys, *QUICK, "--filter", "seed", "--json", str(path))
    assert status == 0, err
    assert err == ""  # --no-progress
    assert out.startswith(f"pyconv bench: pyconv {pyconv.__version__}, numpy {np.__version__}")
    for key in (
        "cpu: ",
        "blas: ",
        "env: OPENBLAS_CORETYPE=",
        "threads: 1 ",
        f"peak: {PEAK.float32:g} ",
    ):
        assert f"\n{key}" in out, key
    assert "GLIBC_TUNABLES=" in out
    assert "OMP_NUM_THREADS=" in out
    assert "load average (1 min)" in out
    lines = table_lines(out)
    head = lines[0].split()
    assert head[:3] == ["shape", "MFLOP", "threads"]
    assert head[-1] == "load"
    assert [ln.split()[0] for ln in lines[1:]] == SEED
    assert all(ln.split()[2] == "1" for ln in lines[1:])
    assert "accuracy: every output within its backend's contract" in out

    data = json.loads(path.read_text())
    assert data["format"] == "pyconv-bench/1"
    assert data["threads"] == [1]
    assert data["settings"]["rounds"] == 1
    m = data["machine"]
    assert m["pyconv"] == pyconv.__version__
    for key in ("cpu", "core", "blas", "python", "numpy", "torch", "loadavg_1min"):
        assert key in m
    assert set(m["env"]) >= {"OPENBLAS_CORETYPE", "GLIBC_TUNABLES", "OMP_NUM_THREADS"}
    assert [r["shape"] for r in data["rows"]] == SEED
    assert data["table"][0][:-1] == lines[0].split()  # the printed table drops empty notes
    assert [r[0] for r in data["table"][1:]] == SEED
    for row in data["rows"]:
        assert row["results"]["cython"]["check"]["ok"] is True
        assert row["results"]["cython"]["rounds"]  # the raw per-round medians
        assert row["description"] == describe(row["shape"])


@pytest.mark.parametrize(
    ("given", "source"),
    [
        (["--peak-f32", "100"], "float32 given, float64 the default, "),
        (["--peak-f32", "100", "--peak-f64", "40"], "given on the command line"),
    ],
)
def test_peaks_given_on_the_command_line(tmp_path, capsys, given, source):
    path = tmp_path / "b.json"
    args = (*QUICK, "--filter", "seed_k3", "--backends", "cython", "--json", str(path), *given)
    status, out, _ = run_cli(capsys, *args)
    assert status == 0
    f64 = 40.0 if "--peak-f64" in given else PEAK.float64
    assert f"peak: 100 GFLOP/s per core float32, {f64:g} float64 ({source}" in out
    for row in json.loads(path.read_text())["rows"]:
        peak = (f64 if row["dtype"] == "float64" else 100.0) * row["threads"]
        for r in row["results"].values():
            assert r["pct_peak"] == pytest.approx(100 * r["gflops"] / peak)


@pytest.mark.torch
def test_arithmetic_ratio_gflops_peak(tmp_path, capsys):
    path = tmp_path / "b.json"
    status, out, _ = run_cli(
        capsys, *QUICK, "--filter", "seed_k3", "--backends", "cython", "--json", str(path)
    )
    assert status == 0
    data = json.loads(path.read_text())
    printed = {ln.split()[0]: ln for ln in table_lines(out)[1:]}
    for row in data["rows"]:
        peak = (PEAK.float64 if row["dtype"] == "float64" else PEAK.float32) * row["threads"]
        assert row["mflop"] == flops(row["shape"]) / 1e6
        for r in row["results"].values():
            assert r["seconds"] == statistics.median(r["rounds"])
            assert r["gflops"] == pytest.approx(row["mflop"] / 1e3 / r["seconds"])
            assert r["pct_peak"] == pytest.approx(100 * r["gflops"] / peak)
        t, c = row["results"]["torch"], row["results"]["cython"]
        assert t["vs_torch"] is None
        assert c["vs_torch"] == pytest.approx(t["seconds"] / c["seconds"])
        cells = printed[row["shape"]]
        assert cells.split()[-2] == f"{c['vs_torch']:.2f}"  # ... t_torch/t, load
        assert report.fmt_time(c["seconds"]) in cells
        assert report.fmt_gflops(c["gflops"]) in cells


def test_quick_checks_the_small_shapes_only(capsys, monkeypatch):
    # the exact result of a large shape takes seconds: --quick leaves those rows unchecked,
    # and says so; every method still runs on every shape
    computed = []
    real = runner._exact
    monkeypatch.setattr(
        runner, "_exact", lambda op, args, kw: computed.append(args[0].shape) or real(op, args, kw)
    )
    large = "dw128_56_b8"  # 58 MFLOP, but quick to run once
    assert flops("dw512_14") / 1e6 <= runner.QUICK_CHECK_MFLOP < flops(large) / 1e6
    args = ("--filter", f"seed_k1,dw512_14,{large}", "--backends", "cython")
    status, out, _ = run_cli(capsys, *QUICK, *args)
    assert status == 0
    assert {row.split()[0] for row in table_lines(out)[1:]} == {"seed_k1", "dw512_14", large}
    assert computed == [make_case(n)[0].shape for n in ("seed_k1", "dw512_14")]
    assert "every output within its backend's contract" in out
    assert "; 1 row(s) above 10 MFLOP not checked (--quick" in out
    assert "its time is no measurement" in out  # what --quick measures: nothing


def test_settings_check_every_shape_unless_quick():
    assert runner.Settings(peak_f32=1, peak_f64=1).checks(1e9)
    assert not runner.Settings.quick(peak_f32=1, peak_f64=1).checks(runner.QUICK_CHECK_MFLOP + 1)
    assert not runner.Settings.quick(peak_f32=1, peak_f64=1, check=False).checks(0.001)


def test_markdown_format(capsys):
    status, out, _ = run_cli(
        capsys, *QUICK, "--filter", "seed_k1", "--backends", "cython", "--format", "markdown"
    )
    assert status == 0
    lines = table_lines(out)
    assert all(ln.startswith("| ") and ln.endswith(" |") for ln in lines)
    assert set(lines[1]) <= set("|-: ")
    assert len({ln.count("|") for ln in lines}) == 1


def test_progress_lines_on_stderr_when_not_a_terminal(capsys):
    status, _, err = run_cli(
        capsys,
        "bench",
        "--quick",
        "--threads",
        "1",
        "--filter",
        "seed_k1,overhead",
        "--backends",
        "cython",
    )
    assert status == 0
    assert err.splitlines() == [
        "pyconv bench: [1/2] seed_k1, 1 thread",
        "pyconv bench: [2/2] overhead_8x8, 1 thread",
    ]


def test_progress_bar_redraws_in_place_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    p = report.Progress(stream)
    p.row(0, 2, "seed_k1, 1 thread")
    p.step("round 1/3 cython")
    p.close()
    text = stream.getvalue()
    assert "\n" not in text
    assert text.count("\r") == 4  # two draws, then erased: carriage return, blanks, return
    assert "0/2" in text
    assert "seed_k1, 1 thread: round 1/3 cython" in text
    assert text.endswith("\r")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--threads", "0,x"], "argument --threads: invalid thread list '0,x'"),
        (["--threads", "x"], "invalid thread list 'x': 'x' is not a positive integer"),
        (["--threads", ""], "invalid thread list"),
        (["--rounds", "0"], "argument --rounds: expected a positive integer"),
        (["--peak-f32", "-5"], "argument --peak-f32: expected a positive number"),
        (["--format", "html"], "argument --format: invalid choice"),
    ],
)
def test_bad_options_are_argparse_errors(argv, message, capsys):
    status, out, err = run_cli(capsys, "bench", *argv)
    assert status == 2
    assert out == ""
    assert message in err


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        (["--filter", "nope"], "pyconv: error: --filter 'nope' matches no shape; the shapes"),
        (["--backends", "cython,nope"], "pyconv: error: unknown backend 'nope'"),
    ],
)
def test_bad_names_are_one_line_and_status_2(argv, start, capsys):
    status, out, err = run_cli(capsys, *QUICK, *argv)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(start)


def test_unwritable_json_fails_before_running(tmp_path, capsys):
    status, out, err = run_cli(
        capsys, *QUICK, "--filter", "seed_k1", "--json", str(tmp_path / "no" / "b.json")
    )
    assert status == 1
    assert out == ""
    assert err.startswith("pyconv: error: cannot write the JSON file")


def test_list_shapes(capsys):
    status, out, _ = run_cli(capsys, "bench", "--list")
    assert status == 0
    assert [ln.split()[0] for ln in out.splitlines()] == list(NAMES) == [*ZOO, *FAMILY]
    assert "1x64x56x56 * 64x64x3x3 p1 float32" in out
    assert "conv_transpose2d 1x128x28x28 * 128x64x3x3 s2 p1 op1 float32" in out


def test_help_says_where_the_peak_comes_from_and_what_runs(capsys):
    status, out, _ = run_cli(capsys, "bench", "--help")
    assert status == 0
    out = " ".join(out.split())  # argparse wraps the help to the terminal's width
    assert out.count("(default: measured at the start of the run, a short multiply-add probe") == 2
    assert "--isa {" in out
    assert "except 'numpy'" in out
    assert "--quick" in out
    run_cli(capsys, "--help")  # the command is listed
    assert main(["--help"]) == 0
    assert "bench" in capsys.readouterr().out


def test_without_torch_there_is_no_ratio_and_the_header_says_why(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    path = tmp_path / "b.json"
    status, out, err = run_cli(
        capsys, *QUICK, "--filter", "seed_k1", "--backends", "cython", "--json", str(path)
    )
    assert status == 0, err
    assert "no torch column and no ratios: torch is not installed" in out
    lines = table_lines(out)
    assert "t_torch/t" not in lines[0]
    assert lines[0].split()[3] == "cython"
    data = json.loads(path.read_text())
    assert data["reference"] is None
    assert data["methods"] == ["cython"]
    assert data["machine"]["torch"] is None
    assert data["rows"][0]["results"]["cython"]["vs_torch"] is None


def test_a_wrong_backend_is_flagged_and_fails_the_command(capsys, monkeypatch):
    monkeypatch.setattr(runner, "default_backends", lambda: (["cython", Wrong()], {}))
    status, out, err = run_cli(capsys, *QUICK, "--filter", "seed_k1")
    assert status == 1
    line = table_lines(out)[1]
    assert "WRONG" in line
    assert "wrong WRONG: error" in line  # the notes column says how wrong
    assert "accuracy: 1 result(s) WRONG or failed" in out
    assert err.startswith("pyconv: error: wrong or failed results: wrong on seed_k1 (1T)")


# ---- run_bench -----------------------------------------------------------------------


def test_run_bench_flags_wrong_and_broken_backends_and_skips_unsupported():
    bench = runner.run_bench(
        ["seed_k1", "seed_k3_f64"],
        [1],
        ["cython", Wrong(), Broken(), Float64Only()],
        settings=runner.Settings.quick(),
    )
    by_shape = {row.shape: row.results for row in bench.rows}
    f32, f64 = by_shape["seed_k1"], by_shape["seed_k3_f64"]
    assert not f32["cython"].wrong
    assert f32["wrong"].check["ok"] is False
    assert f32["wrong"].check["worst"] > 1
    assert f32["broken"].error == "RuntimeError: kernel exploded"
    assert f32["broken"].seconds is None
    assert f32["f64only"].skipped.startswith("dtype float32 is not supported")
    assert f32["f64only"].seconds is None
    assert f64["f64only"].seconds is not None
    assert f64["f64only"].check["ok"] is True
    failed = {(row.shape, r.method) for row, r in bench.failures}
    assert failed == {(s, m) for s in ("seed_k1", "seed_k3_f64") for m in ("wrong", "broken")}
    cells = dict(zip(report.table_cells(bench)[0], report.table_cells(bench)[1], strict=False))
    assert cells["f64only"] == "-"
    notes = report.table_cells(bench)[1][-1]
    assert "broken failed: RuntimeError: kernel exploded" in notes


def test_threads_are_set_during_the_run_and_restored_after():
    torch, _ = machine.import_torch()
    pyconv.set_num_threads(2)
    old_torch = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(2)
    blas_before = _blas_threads()
    spy = Spy(torch)
    try:
        runner.run_bench(["seed_k1"], [1, 3], [spy], settings=runner.Settings.quick())
        torch_threads = {1: 1, 3: 3} if torch is not None else {1: None, 3: None}
        assert spy.seen == {(n, torch_threads[n]) for n in (1, 3)}
        assert pyconv.get_num_threads() == 2
        if torch is not None:
            assert torch.get_num_threads() == 2
        assert _blas_threads() == blas_before
    finally:
        if torch is not None:
            torch.set_num_threads(old_torch)


def _blas_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    return [d["num_threads"] for d in threadpoolctl.threadpool_info()]


def test_threads_are_restored_when_a_run_fails():
    pyconv.set_num_threads(2)

    class Interrupting(Spy):
        def conv2d(self, x, w, b, spec):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run_bench(["seed_k1"], [1], [Interrupting()], settings=runner.Settings.quick())
    assert pyconv.get_num_threads() == 2


def test_default_threads_are_one_and_the_cores_deduplicated(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(machine, "available_cores", lambda: 1)
    path = tmp_path / "b.json"
    args = ["bench", "--quick", "--no-progress", "--filter", "seed_k1", "--backends", "cython"]
    assert main([*args, "--json", str(path)]) == 0
    assert json.loads(path.read_text())["threads"] == [1]


def test_default_backends_leave_out_the_reference_and_the_torch_wrapper():
    run, left_out = runner.default_backends()
    assert "cython" in run
    assert "numpy" not in run
    assert "torch" not in run
    assert "numpy" in left_out


# ---- parsing, zoo, load --------------------------------------------------------------


def test_parse_threads():
    assert runner.parse_threads("1,2") == [1, 2]
    assert runner.parse_threads(" 2, 1,2 ") == [2, 1]
    for bad in ("0", "1,x", "", "-1", "1.5"):
        with pytest.raises(ValueError, match=r"positive integer|>= 1"):
            runner.parse_threads(bad)


def test_filters_substrings_globs_and_comma_lists():
    assert runner.select_cases([]) == list(NAMES)
    assert runner.select_cases(["seed"]) == SEED
    assert runner.select_cases(runner.parse_list(["seed_k1,overhead", "seed_k1"])) == [
        "seed_k1",
        "overhead_8x8",
    ]
    assert runner.select_cases(["r50_*_b1"]) == [
        n for n in NAMES if n.startswith("r50") and n.endswith("_b1")
    ]
    assert runner.select_cases(["*grad*"]) == [
        "r50_l2_3x3_dgrad_b1", "r50_l2_3x3_dgrad_b8", "r50_l2_3x3_wgrad_b1", "r50_l2_3x3_wgrad_b8"
    ]  # fmt: skip
    assert runner.select_cases(["*f64"]) == [n for n in ZOO if n.endswith("f64")]
    with pytest.raises(ValueError, match="'zzz' matches no shape"):
        runner.select_cases(["seed", "zzz"])


def test_zoo_flops_and_cases():
    assert flops("seed_k1") == 2 * 1 * 3 * 3 * 3 * 3 * 3  # 1 out channel, 3x3 output
    assert flops("r50_stem7x7s2_b1") == 2 * 64 * 112 * 112 * 3 * 7 * 7
    x, _, b, kw = make_case("dw64_112_s2")
    assert x.shape == (1, 64, 112, 112)
    assert b is None
    assert kw == {"stride": 2, "padding": 1, "dilation": 1, "groups": 64}
    assert describe("dil2_64_56") == "1x64x56x56 * 64x64x3x3 p2 d2 float32"


def test_family_rows_are_the_issues_layers():
    # the layer-2 3x3 convolution of ResNet-50 and its gradients: the same multiply-adds
    forward = flops("r50_l2_3x3_b8")
    assert flops("r50_l2_3x3_dgrad_b8") == flops("r50_l2_3x3_wgrad_b8") == forward
    assert flops("r50_l2_3x3_dgrad_b1") == flops("r50_l2_3x3_b1")
    op, args, kw = make_call("r50_l2_3x3_wgrad_b8")
    assert op == "conv2d_weight"
    assert args[0].shape == args[2].shape == (8, 128, 28, 28)
    assert args[1] == (128, 128, 3, 3)
    assert kw == {"padding": 1}
    op, args, kw = make_call("convT2d_s2_decoder_b1")
    assert pyconv.conv_transpose2d(*args, **kw).shape == (1, 64, 56, 56)  # 28 -> 56
    assert flops("convT2d_s2_decoder_b1") == 2 * 128 * 28 * 28 * 64 * 9
    assert flops("conv1d_audio_b4") == 2 * 4 * 64 * 8000 * 64 * 9
    assert make_call("conv3d_video_b1")[1][0].shape == (1, 64, 8, 56, 56)
    assert make_call("seed_k1")[0] == "conv2d"


def test_family_rows_run_and_are_checked(capsys):
    status, out, _ = run_cli(
        capsys, *QUICK, "--filter", "convT2d_s2_decoder_b1,r50_l2_3x3_wgrad_b1",
        "--backends", "cython,numpy",
    )  # fmt: skip
    assert status == 0, out
    rows = {ln.split()[0]: ln for ln in table_lines(out)[1:]}
    assert set(rows) == {"convT2d_s2_decoder_b1", "r50_l2_3x3_wgrad_b1"}
    assert "WRONG" not in out
    cells = rows["r50_l2_3x3_wgrad_b1"].split()
    # every method ran on the weight gradient: cython's compiled kernel, numpy, torch
    assert "-" not in cells


def test_benchmarks_shapes_reexports_the_zoo():
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    if not (folder / "shapes.py").is_file():
        pytest.skip("not run from a source checkout")
    sys.path.insert(0, str(folder))
    try:
        import shapes
    finally:
        sys.path.remove(str(folder))
    assert shapes.ZOO is ZOO
    assert shapes.make_case is make_case


def test_load_meter_subtracts_this_process(monkeypatch):
    busy = iter([100.0, 101.0])  # the machine: 1 s of CPU
    own = iter([10.0, 10.25])  # of which this process used 0.25 s
    monkeypatch.setattr(machine, "_busy_seconds", lambda: next(busy))
    monkeypatch.setattr(machine, "_own_seconds", lambda: next(own))
    with machine.LoadMeter(min_wall=0) as load:
        pass
    assert load.cores == pytest.approx(0.75 / load.wall)


def test_load_meter_reports_none_for_short_windows_and_without_proc(monkeypatch):
    with machine.LoadMeter(min_wall=10) as load:
        pass
    assert load.cores is None
    monkeypatch.setattr(machine, "_busy_seconds", lambda: None)
    with machine.LoadMeter(min_wall=0) as load:
        pass
    assert load.cores is None


def test_rows_under_load_are_flagged(monkeypatch):
    bench = runner.run_bench(["seed_k1"], [1], ["cython"], settings=runner.Settings.quick())
    row = bench.rows[0]
    row.load = 0.9
    assert row.loaded
    assert report.table_cells(bench)[1][-2] == "0.90!"
    assert "ran under load" in report.footer(bench)[-1]


def test_formatting():
    assert report.fmt_time(3.81e-6) == "3.81 us"
    assert report.fmt_time(0.00105) == "1.05 ms"
    assert report.fmt_time(0.9996) == "1.00 s"
    assert report.fmt_time(0.001) == "1.00 ms"
    assert report.fmt_time(231e-6) == "231 us"
    assert report.fmt_time(3.5e-6) == "3.50 us"
    assert report.fmt_time(None) == "-"
    assert report.fmt_gflops(231.4) == "231"
    assert report.fmt_gflops(0.128) == "0.128"
    assert report.fmt_gflops(1e-5) == "<0.001"


def test_without_threadpoolctl_the_blas_is_left_alone_and_the_header_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    bench = runner.run_bench(["seed_k1"], [1], ["cython"], settings=runner.Settings.quick())
    assert bench.notes == [
        "threadpoolctl is not installed, so the BLAS thread count was left alone"
    ]
    assert f"note: {bench.notes[0]}" in report.header(bench)
    assert bench.machine["blas"] == []


def test_a_backend_that_fails_after_the_warm_up_is_reported_not_fatal():
    class Flaky(Float64Only):
        name = "flaky"
        capabilities = pyconv.Capabilities()
        calls = 0

        def conv2d(self, x, w, b, spec):
            Flaky.calls += 1
            if Flaky.calls > 1:
                raise MemoryError("out of memory")
            return super().conv2d(x, w, b, spec)

    bench = runner.run_bench(["seed_k1"], [1], ["cython", Flaky()], settings=runner.Settings())
    r = bench.rows[0].results
    assert r["flaky"].error == "MemoryError: out of memory"
    assert (r["flaky"].seconds, r["flaky"].rounds) == (None, [])
    assert r["cython"].seconds is not None
    assert len(r["cython"].rounds) == 3


# ---- the peak and --isa -------------------------------------------------------------------


def test_the_peak_is_measured_for_the_variant_in_use():
    assert 0 < PEAK.float64 < float("inf")
    assert 0 < PEAK.float32 < float("inf")
    assert PEAK.source.startswith(f"measured here: the {_core.isa()} kernels'")
    assert machine.peak_per_core() is PEAK  # measured once per variant and process


@pytest.mark.spawns_python
def test_isa_reruns_the_same_bench_in_a_child_capped_to_that_variant(tmp_path):
    # baseline runs on every CPU; the child's header shows both caps
    path = tmp_path / "b.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pyconv", *QUICK, "--isa", "baseline", "--filter", "seed_k1",
         "--backends", "cython", "--json", str(path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "kernel ISA baseline" in proc.stdout
    assert "PYCONV_ISA=baseline" in proc.stdout
    assert "ONEDNN_MAX_CPU_ISA=SSE41" in proc.stdout
    assert "measured here: the baseline kernels'" in proc.stdout
    data = json.loads(path.read_text())
    assert data["machine"]["core"]["isa"] == "baseline"


def test_isa_child_gets_every_other_option():
    from pyconv._bench.command import _child_argv
    from pyconv.cli import _build_parser

    argv = ["bench", "--threads", "1,2", "--filter", "r50", "--filter", "dw*", "--backends",
            "cython", "--rounds", "4", "--budget", "0.5", "--json", "x.json", "--peak-f32",
            "100.0", "--format", "markdown", "--no-check", "--no-progress", "--quick"]  # fmt: skip
    parser = _build_parser()
    args = parser.parse_args([*argv, "--isa", "baseline"])
    again = parser.parse_args(_child_argv(args))
    assert {**vars(again), "isa": "baseline"} == vars(args)


def test_isa_this_cpu_cannot_run_is_a_usage_error(capsys):
    missing = [name for name, _detail, ok in _core.isas() if not ok]
    if not missing:
        pytest.skip("this CPU runs every variant")
    status, _out, err = run_cli(capsys, *QUICK, "--isa", missing[0])
    assert status == 2
    assert f"this CPU cannot run the {missing[0]} kernels" in err
