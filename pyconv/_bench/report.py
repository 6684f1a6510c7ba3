"""Printing a ``pyconv bench`` run: header, table (text or markdown), progress bar."""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

from .runner import LOAD_LIMIT, TORCH, Bench, Row

__all__ = ["Progress", "fmt_gflops", "fmt_time", "header", "table", "table_cells"]


def fmt_time(t: float | None) -> str:
    """Seconds as ``'3.81 us'``, ``'1.05 ms'`` or ``'1.12 s'`` (3 significant digits)."""
    if t is None:
        return "-"
    for scale, unit in ((1e-6, "us"), (1e-3, "ms"), (1.0, "s")):
        if t < 999.5 * scale or unit == "s":
            return f"{t / scale:#.3g}".rstrip(".") + f" {unit}"  # 1.00 ms, 231 us
    raise AssertionError("unreachable")


def fmt_gflops(v: float | None) -> str:
    """GFLOP/s with 3 significant digits, without exponents (``'0.128'``, ``'231'``)."""
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}" if v >= 0.001 else "<0.001"


def _pct(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.1f}%" if v < 10 else f"{v:.0f}%"


def _mflop(v: float) -> str:
    return f"{v:.0f}" if v >= 100 else f"{v:.3g}"


def _load(row: Row) -> str:
    if row.load is None:
        return "?"
    return f"{row.load:.2f}" + ("!" if row.loaded else "")


def _notes(row: Row) -> str:
    notes = []
    for label, r in row.results.items():
        if r.error is not None:
            notes.append(f"{label} failed: {r.error}")
        elif r.check is not None and not r.check["ok"]:
            notes.append(
                f"{label} WRONG: error {r.check['worst']:.3g}x its {r.check['contract']} "
                f"bound (c={r.check['c']:g})"
            )
    return "; ".join(notes)


def table_cells(bench: Bench) -> list[list[str]]:
    """Return the table as a header row and one row of strings per :class:`Row`."""
    ratio = TORCH in bench.methods
    head = ["shape", "MFLOP", "threads"]
    for m in bench.methods:
        head += [m, "GF/s", "%peak"]
        if ratio and m != TORCH:
            head.append("t_torch/t")
    head += ["load", "notes"]
    rows = [head]
    for row in bench.rows:
        cells = [row.shape, _mflop(row.mflop), str(row.threads)]
        for m in bench.methods:
            r = row.results[m]
            cells += [fmt_time(r.seconds), fmt_gflops(r.gflops), _pct(r.pct_peak)]
            if ratio and m != TORCH:
                if r.wrong:
                    cells.append("WRONG")
                else:
                    cells.append("-" if r.vs_torch is None else f"{r.vs_torch:.2f}")
        cells += [_load(row), _notes(row)]
        rows.append(cells)
    return rows


def table(bench: Bench, fmt: str = "text") -> str:
    """Return the table: ``'text'`` (aligned columns) or ``'markdown'`` (a pipe table)."""
    cells = table_cells(bench)
    # the notes column only when some row has a note
    if not any(r[-1] for r in cells[1:]):
        cells = [r[:-1] for r in cells]
    left = {0, len(cells[0]) - 1} if cells[0][-1] == "notes" else {0}
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]

    def line(r: list[str], sep: str) -> str:
        out = [
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        return sep.join(out)

    if fmt == "markdown":
        rule = ["-" * (w - 1) + (":" if i not in left else "-") for i, w in enumerate(widths)]
        lines = [line(cells[0], " | "), " | ".join(rule)] + [line(r, " | ") for r in cells[1:]]
        return "\n".join(f"| {ln} |" for ln in lines)
    return "\n".join(line(r, "  ").rstrip() for r in cells)


def header(bench: Bench) -> list[str]:
    """Return the lines above the table: versions, machine, threads, load, method."""
    m, s = bench.machine, bench.settings
    core = m["core"]
    build = (
        f"kernel ISA {core['isa']}, built with {core['cflags']}, "
        f"OpenMP {'on' if core['openmp'] else 'OFF'}"
    )
    versions = f"pyconv {m['pyconv']}, numpy {m['numpy']}, torch {m['torch'] or 'absent'}"
    versions += "".join(f", {v}" for v in m["plugins"].values())
    env = " ".join(f"{k}={v if v is not None else 'unset'}" for k, v in m["env"].items())
    blas = ", ".join(
        f"{b['internal_api']} {b['version']}{' of ' + b['owner'] if b['owner'] else ''} "
        f"({b['architecture']})"
        for b in m["blas"]
    )
    la = m["loadavg_1min"]
    lines = [
        f"pyconv bench: {versions}, python {m['python']}",
        f"cpu: {m['cpu']}, {m['cores_available']} cores available, {m['platform']}; {build}",
        f"blas: {blas or 'not reported (threadpoolctl missing)'}",
        f"env: {env}",
        f"threads: {', '.join(map(str, bench.threads))} (pyconv, torch and the BLAS are set "
        f"to each in turn); load average (1 min) at start: "
        f"{'n/a' if la is None else f'{la:.2f}'}",
        f"peak: {s.peak_f32:g} GFLOP/s per core float32, {s.peak_f64:g} float64 "
        f"({s.peak_source}); %peak = GFLOP/s / (peak x threads)",
        f"method: {s.rounds} interleaved round{'s' if s.rounds != 1 else ''}; in each, the "
        f"median of {s.min_calls}..{s.max_calls} calls filling {s.budget:g} s per method; "
        "shown: the median over rounds"
        + (
            " (--quick: one call per method proves that it runs; its time is no measurement)"
            if s.max_calls == 1
            else ""
        ),
    ]
    lines.append("timed: " + "; ".join(f"{k} = {v}" for k, v in bench.calls.items()))
    if bench.torch_missing is None:
        lines.append("t_torch/t = torch's time / the method's, same row: above 1 is faster")
    else:
        lines.append(f"no torch column and no ratios: {bench.torch_missing}")
    if bench.left_out:
        lines.append(
            "not run: "
            + "; ".join(f"{k} ({v})" for k, v in bench.left_out.items())
            + " - name them with --backends"
        )
    lines += [f"note: {n}" for n in bench.notes]
    return lines


def footer(bench: Bench) -> list[str]:
    """Return the lines below the table: the load legend, the accuracy verdict."""
    lines = [
        "load: CPU used by other processes during the row, in cores (/proc/stat busy time "
        f"minus this process's); '!' above {LOAD_LIMIT:g}: that row's times are unreliable, "
        "rerun on an idle machine; '?': too short to tell"
    ]
    s = bench.settings
    if s.check:
        bad = bench.failures
        unchecked = sum(not s.checks(row.mflop) for row in bench.rows)
        line = (
            "accuracy: every output within its backend's contract (checked against the exact "
            "result once per row)"
            if not bad
            else f"accuracy: {len(bad)} result(s) WRONG or failed, see the notes column"
        )
        if unchecked:
            line += (
                f"; {unchecked} row(s) above {s.check_mflop:g} MFLOP not checked (--quick: "
                "their exact result would take most of the run)"
            )
        lines.append(line)
    else:
        lines.append("accuracy: not checked (--no-check)")
    if any(r.loaded for r in bench.rows):
        lines.append(f"warning: {sum(r.loaded for r in bench.rows)} row(s) ran under load")
    return lines


class Progress:
    """A progress bar on a stream (stderr): in place on a terminal, else a line per row.

    Parameters
    ----------
    stream : file, default sys.stderr
    enabled : bool, default True
    """

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._start = time.monotonic()
        self._row = ""
        self._done = 0
        self._total = 0
        self._shown = False

    def row(self, index: int, total: int, label: str) -> None:
        """Show that a new row starts (``index`` rows done out of ``total``)."""
        self._done, self._total, self._row = index, total, label
        if not self.enabled:
            return
        if self.tty:
            self._draw("warm-up")
        else:
            print(f"pyconv bench: [{index + 1}/{total}] {label}", file=self.stream, flush=True)

    def step(self, detail: str) -> None:
        """Progress inside a row (redrawn on a terminal only)."""
        if self.tty:
            self._draw(detail)

    def _draw(self, detail: str) -> None:
        width = shutil.get_terminal_size((80, 20)).columns
        n = 20
        filled = n * self._done // max(self._total, 1)
        secs = int(time.monotonic() - self._start)
        text = (
            f"[{'#' * filled}{'.' * (n - filled)}] {self._done}/{self._total} "
            f"{secs // 60}:{secs % 60:02d} {self._row}: {detail}"
        )
        self.stream.write("\r" + text[: width - 1].ljust(width - 1))
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        """Erase the bar (terminal) so the table starts on a clean line."""
        if self.tty and self._shown:
            width = shutil.get_terminal_size((80, 20)).columns
            self.stream.write("\r" + " " * (width - 1) + "\r")
            self.stream.flush()
