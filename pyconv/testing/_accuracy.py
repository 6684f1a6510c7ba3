"""The accuracy contract: the bound, and checking a result against an exact one."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backends.numpy import accumulate
from .._validation import prepare_conv2d

__all__ = [
    "CONTRACTS",
    "accuracy_bound",
    "accuracy_report",
    "assert_conv_close",
    "compare_to_exact",
    "exact_conv2d",
]

#: The accuracy contracts a backend may declare (``Capabilities.accuracy``).
CONTRACTS = ("elementwise", "normwise")

# float64 results are checked against an extended-precision reference where the platform
# has one (x86-64: 80-bit long double), so the reference's own rounding does not count.
_EXACT = {np.dtype(np.float32): np.float64, np.dtype(np.float64): np.longdouble}


def _check_contract(contract: str, c: float) -> None:
    if contract not in CONTRACTS:
        raise ValueError(f"contract must be 'elementwise' or 'normwise', got {contract!r}")
    if not c > 0:
        raise ValueError(f"the contract's constant c must be positive, got {c!r}")


def accuracy_bound(
    magnitude: Any,
    K: int,
    dtype: Any,
    contract: str = "elementwise",
    c: float = 2.0,
) -> np.ndarray:
    """Return the largest error the contract allows, element by element.

    Parameters
    ----------
    magnitude : array_like
        ``A = conv(|input|, |weight|) + |bias|`` with the call's output shape.
    K : int
        Products summed per output element, ``C_in / groups * kH * kW``.
    dtype : dtype
        The dtype the backend computed in (its ``eps`` scales the bound).
    contract : {'elementwise', 'normwise'}
        ``'elementwise'``: ``c (K + 1) eps A`` for each element; ``'normwise'``:
        ``c (K + 1) eps max(A)`` for every element (max over the whole output).
    c : float, default 2.0
        The contract's constant.

    Returns
    -------
    ndarray
        The bound, with the shape of ``magnitude``; float64 (long double if ``magnitude``
        is).
    """
    _check_contract(contract, c)
    A = np.asarray(magnitude)
    if A.dtype != np.longdouble:
        A = A.astype(np.float64)  # the bound in at least double precision
    eps = float(np.finfo(np.dtype(dtype)).eps)
    scale = A
    if contract == "normwise":
        scale = np.full_like(A, A.max() if A.size else 0)
    return c * (K + 1) * eps * scale


def compare_to_exact(
    got: Any,
    exact: Any,
    magnitude: Any,
    K: int,
    dtype: Any,
    *,
    contract: str = "elementwise",
    c: float = 2.0,
) -> dict:
    """Measure ``got`` against ``exact`` under the accuracy contract.

    Parameters
    ----------
    got : array_like
        The result under test.
    exact : array_like
        The exact (or near-exact, higher-precision) result.
    magnitude : array_like
        ``A``, same shape as ``exact``.
    K : int
        Products summed per output element.
    dtype : dtype
        The dtype ``got`` must have (the call's input dtype).
    contract : {'elementwise', 'normwise'}
        See :func:`accuracy_bound`.
    c : float, default 2.0
        The contract's constant.

    Returns
    -------
    dict
        ``ok``; ``contract`` and ``c``; ``shape_ok``, ``dtype_ok``, ``nan_ok``, ``inf_ok``;
        ``worst`` (the largest ``|got - exact| / bound``, <= 1 passes), ``worst_index``,
        ``max_abs_err``, ``bound_at_worst``, ``got_at_worst``, ``exact_at_worst`` and
        ``violations`` (how many elements exceed their bound).
    """
    exact = np.asarray(exact)
    got = np.asarray(got)
    dtype = np.dtype(dtype)
    report: dict = {
        "contract": contract,
        "c": c,
        "shape_ok": got.shape == exact.shape,
        "dtype_ok": got.dtype == dtype,
    }
    if not report["shape_ok"]:
        report.update(
            ok=False,
            worst=np.inf,
            worst_index=None,
            max_abs_err=np.inf,
            bound_at_worst=0.0,
            violations=None,
        )
        return report
    bound = accuracy_bound(magnitude, K, dtype, contract, c)
    work = np.longdouble if exact.dtype == np.longdouble else np.float64
    if not np.issubdtype(got.dtype, np.floating):
        got = got.astype(np.float64)  # wrong dtype (reported above) but comparable
    g = got.astype(work)
    e = exact.astype(work)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(g - e)
        nan_ok = np.isnan(g) == np.isnan(e)
        inf_ok = np.where(np.isinf(e), g == e, True)
        finite = np.isfinite(e)
        # a zero bound (all products exactly zero) demands an exact zero
        ratio = np.where(finite, err / np.where(bound > 0, bound, np.inf), 0.0)
        ratio = np.where(finite & (bound == 0) & (err > 0), np.inf, ratio)
        ratio = np.where(finite & np.isnan(err), np.inf, ratio)  # NaN where exact is finite
    worst_i = np.unravel_index(np.argmax(ratio), ratio.shape) if ratio.size else ()
    worst = float(ratio[worst_i]) if ratio.size else 0.0
    report.update(
        ok=bool(report["dtype_ok"] and nan_ok.all() and inf_ok.all() and worst <= 1.0),
        worst=worst,
        worst_index=tuple(int(i) for i in worst_i) if ratio.size else None,
        max_abs_err=float(np.nanmax(err)) if err.size and not np.isnan(err).all() else 0.0,
        bound_at_worst=float(bound[worst_i]) if ratio.size else 0.0,
        got_at_worst=float(g[worst_i]) if ratio.size else None,
        exact_at_worst=float(e[worst_i]) if ratio.size else None,
        violations=int(np.count_nonzero(ratio > 1.0)),
        nan_ok=bool(nan_ok.all()),
        inf_ok=bool(inf_ok.all()),
    )
    return report


def exact_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Return ``(exact, A, K, dtype)`` for a conv2d call, both arrays in high precision.

    Parameters are those of :func:`pyconv.conv2d`.  ``exact`` and ``A`` have the call's
    output shape (unbatched if the input is) and dtype float64 (float32 calls) or
    longdouble (float64 calls).  Computed by pyconv's reference (the ``numpy`` backend's
    accumulation), not by the backend under test.
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
    got,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    *,
    c: float = 2.0,
    contract: str = "elementwise",
) -> dict:
    """Measure ``got`` against the accuracy contract for this conv2d call.

    Parameters
    ----------
    got : array_like
        The result under test.
    input, weight, bias, stride, padding, dilation, groups
        The call, as for :func:`pyconv.conv2d`.
    c : float, default 2.0
        The contract's constant.
    contract : {'elementwise', 'normwise'}, default 'elementwise'
        Which contract to check (see the module docstring).

    Returns
    -------
    dict
        ``ok`` (bool), ``contract``, ``c``, ``worst`` (largest ``|got - exact| / bound``;
        <= 1 passes), ``max_abs_err``, ``bound_at_worst``, ``shape_ok`` and ``dtype_ok``,
        and the other keys of :func:`compare_to_exact`.
    """
    _check_contract(contract, c)
    exact, magnitude, K, dtype = exact_conv2d(
        input, weight, bias, stride, padding, dilation, groups
    )
    return compare_to_exact(got, exact, magnitude, K, dtype, contract=contract, c=c)


def assert_conv_close(
    got,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    *,
    c: float = 2.0,
    contract: str = "elementwise",
) -> None:
    """Assert ``got`` satisfies the accuracy contract for this conv2d call.

    Parameters are those of :func:`accuracy_report`.

    Raises
    ------
    AssertionError
        With the contract checked, the worst element's error and its bound, and the
        shapes / dtypes involved.
    """
    r = accuracy_report(
        got, input, weight, bias, stride, padding, dilation, groups, c=c, contract=contract
    )
    if not r["ok"]:
        raise AssertionError(
            f"conv2d result violates the {contract} accuracy contract (c={c:g}): {r}; "
            f"got shape {np.shape(got)} dtype {np.asarray(got).dtype}"
        )
