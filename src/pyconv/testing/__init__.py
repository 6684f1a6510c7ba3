"""Tools to prove a conv2d implementation correct (the conformance suite grows here).

The accuracy contract (DESIGN.md section 4): with ``exact`` the same convolution computed
in higher precision, every output element must satisfy::

    |got - exact| <= c * (K + 1) * eps(dtype) * A

where ``K = C_in / groups * kH * kW`` is the number of products summed per output,
``A = conv(|input|, |weight|) + |bias|`` and ``c = 2`` for a backend that declares
elementwise accuracy.  Any order of summation in the working precision satisfies it (the
classical bound is ``K * eps / 2 * A``), so it tests semantics, not a particular order.
"""

from __future__ import annotations

import numpy as np

from .._spec import prepare_conv2d
from ..backends.numpy import accumulate

__all__ = ["accuracy_report", "assert_conv_close", "exact_conv2d"]

# float64 results are checked against an extended-precision reference where the platform
# has one (x86-64: 80-bit long double), so the reference's own rounding does not count.
_EXACT = {np.dtype(np.float32): np.float64, np.dtype(np.float64): np.longdouble}


def exact_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Return ``(exact, A, K, dtype)`` for a conv2d call, both arrays in high precision.

    Parameters are those of :func:`pyconv.conv2d`.  ``exact`` and ``A`` have the call's
    output shape (unbatched if the input is) and dtype float64 (float32 calls) or
    longdouble (float64 calls).
    """
    x, w, b, spec = prepare_conv2d(input, weight, bias, stride, padding, dilation, groups)
    acc = _EXACT[spec.dtype]
    exact = accumulate(x, w, b, spec, acc)
    absb = None if b is None else np.abs(b)
    magnitude = accumulate(np.abs(x), np.abs(w), absb, spec, acc)
    if spec.unbatched:
        exact, magnitude = exact[0], magnitude[0]
    K = spec.in_channels // spec.groups * spec.kernel_size[0] * spec.kernel_size[1]
    return exact, magnitude, K, spec.dtype


def accuracy_report(
    got, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, c: float = 2.0
) -> dict:
    """Measure ``got`` against the elementwise accuracy contract.

    Returns
    -------
    dict
        ``ok`` (bool), ``worst`` (largest ``|got - exact| / bound``; <= 1 passes),
        ``max_abs_err``, ``bound_at_worst``, ``shape_ok`` and ``dtype_ok``.
    """
    exact, magnitude, K, dtype = exact_conv2d(
        input, weight, bias, stride, padding, dilation, groups
    )
    got = np.asarray(got)
    report = {"shape_ok": got.shape == exact.shape, "dtype_ok": got.dtype == dtype}
    if not report["shape_ok"]:
        report.update(ok=False, worst=np.inf, max_abs_err=np.inf, bound_at_worst=0.0)
        return report
    eps = np.finfo(dtype).eps
    bound = c * (K + 1) * eps * magnitude
    g = got.astype(exact.dtype)
    with np.errstate(invalid="ignore"):
        err = np.abs(g - exact)
        nan_ok = np.isnan(g) == np.isnan(exact)
        inf_ok = np.where(np.isinf(exact), g == exact, True)
        finite = np.isfinite(exact)
        # a zero bound (all products exactly zero) demands an exact zero
        ratio = np.where(finite, err / np.where(bound > 0, bound, np.inf), 0.0)
        ratio = np.where(finite & (bound == 0) & (err > 0), np.inf, ratio)
    worst_i = np.unravel_index(np.argmax(ratio), ratio.shape) if ratio.size else ()
    worst = float(ratio[worst_i]) if ratio.size else 0.0
    report.update(
        ok=bool(report["dtype_ok"] and nan_ok.all() and inf_ok.all() and worst <= 1.0),
        worst=worst,
        max_abs_err=float(np.nanmax(err)) if err.size else 0.0,
        bound_at_worst=float(bound[worst_i]) if ratio.size else 0.0,
        nan_ok=bool(nan_ok.all()),
        inf_ok=bool(inf_ok.all()),
    )
    return report


def assert_conv_close(
    got, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, c: float = 2.0
) -> None:
    """Assert ``got`` satisfies the elementwise accuracy contract for this conv2d call.

    Raises
    ------
    AssertionError
        With the worst element's error, its bound and the shapes / dtypes involved.
    """
    r = accuracy_report(got, input, weight, bias, stride, padding, dilation, groups, c=c)
    if not r["ok"]:
        raise AssertionError(
            f"conv2d result violates the accuracy contract (c={c}): {r}; "
            f"got shape {np.shape(got)} dtype {np.asarray(got).dtype}"
        )
