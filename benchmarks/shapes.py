"""The shape zoo of reference/perf-anchors.md section 3, shared by the benchmarks.

It lives in the package (``pyconv._bench.zoo``) so that ``pyconv bench`` works from an
installed pyconv; this module re-exports it for the scripts in ``benchmarks/``.

Each entry: name -> (input shape, weight shape, stride, padding, dilation, groups, dtype).
"""

from __future__ import annotations

from pyconv._bench.zoo import WITH_BIAS, ZOO, describe, flops, make_case

__all__ = ["WITH_BIAS", "ZOO", "describe", "flops", "make_case"]
