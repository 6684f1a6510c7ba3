"""The accuracy contract: the bound, and checking a result against an exact one.

The bound is ``c (K + 1) eps A`` elementwise, with ``K`` the reduction length of the
operation (:func:`reduction_length`) and ``A`` the operation applied to the magnitudes of
its arguments (:func:`exact_op`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._backends.numpy import (
    accumulate,
    accumulate_input,
    accumulate_transpose,
    accumulate_weight,
)
from .._validation import (
    ConvSpec,
    prepare_conv,
    prepare_conv2d,
    prepare_conv_input,
    prepare_conv_transpose,
    prepare_conv_weight,
    split_operation,
)

__all__ = [
    "CONTRACTS",
    "accuracy_bound",
    "accuracy_report",
    "assert_conv_close",
    "assert_op_close",
    "compare_to_exact",
    "exact_conv2d",
    "exact_op",
    "reduction_length",
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


def reduction_length(spec: ConvSpec) -> int:
    """Return ``K``, the most products summed into one output element of the call.

    ============================  ===================================================
    operation                     ``K``
    ============================  ===================================================
    ``conv{n}d``                  ``C_in / groups * prod(kernel_size)``
    ``conv_transpose{n}d``        ``C_in / groups * prod(ceil(k_i / (s_i / gcd(s_i,
                                  d_i))))``: the (in-channel, tap) terms that reach one
                                  output (a tap reaches the outputs of one stride phase)
    ``conv{n}d_input``            the same for the transposed convolution it is:
                                  ``C_out / groups * prod(ceil(k_i / (s_i / gcd(s_i,
                                  d_i))))``
    ``conv{n}d_weight``           ``N * prod(output_size)``: the batch and the output
                                  positions
    ============================  ===================================================

    A bias adds one more term, which the ``+ 1`` of the contract's ``(K + 1)`` covers.
    """
    if spec.kind == "conv":
        return spec.in_channels // spec.groups * math.prod(spec.kernel_size)
    if spec.kind == "conv_weight":
        return spec.batch * math.prod(spec.output_size)
    if spec.kind == "conv_input":
        spec = spec.transposed()
    taps = math.prod(
        -(-k // (s // math.gcd(s, d)))
        for k, s, d in zip(spec.kernel_size, spec.stride, spec.dilation, strict=True)
    )
    return spec.in_channels // spec.groups * taps


def _abs(a):
    return None if a is None else np.abs(a)


# op kind -> (the front end's prepare(*args, ndim=n), the reference in a given precision)
_REFERENCE: dict[str, tuple[Callable, Callable]] = {
    "conv": (prepare_conv, lambda a, spec, acc: accumulate(*a, spec, acc)),
    "conv_transpose": (
        prepare_conv_transpose,
        lambda a, spec, acc: accumulate_transpose(*a, spec, acc),
    ),
    "conv_input": (
        prepare_conv_input,
        lambda a, spec, acc: accumulate_input(a[0], a[1], spec, acc),
    ),
    "conv_weight": (
        prepare_conv_weight,
        lambda a, spec, acc: accumulate_weight(*a, spec, acc),
    ),
}


def exact_op(op: str, *args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray, int, np.dtype]:
    """Return ``(exact, A, K, dtype)`` for a call of any operation.

    Parameters
    ----------
    op : str
        One of :data:`pyconv.OPERATIONS`, e.g. ``'conv_transpose2d'``.
    *args, **kwargs
        The call, exactly as :func:`pyconv.conv_transpose2d` (or the operation's function,
        :mod:`pyconv.grad` for the gradients) takes it.

    Returns
    -------
    exact : ndarray
        The result in higher precision (float64 for float32 calls, long double for
        float64 calls), with the call's output shape.
    A : ndarray
        The same operation on the magnitudes of the arguments (plus ``|bias|``).
    K : int
        :func:`reduction_length` of the call.
    dtype : numpy.dtype
        The dtype the result must have.

    Computed by pyconv's reference (the ``numpy`` backend's accumulation), not by the
    backend under test.
    """
    kind, n = split_operation(op)
    prepare, reference = _REFERENCE[kind]
    *arrays, spec = prepare(*args, **kwargs, ndim=n)
    acc = _EXACT[spec.dtype]
    exact = reference(arrays, spec, acc)
    magnitude = reference([_abs(a) for a in arrays], spec, acc)
    if spec.unbatched:
        exact, magnitude = exact[0], magnitude[0]
    return exact, magnitude, reduction_length(spec), spec.dtype


def assert_op_close(
    got: Any,
    op: str,
    *args: Any,
    c: float = 2.0,
    contract: str = "elementwise",
    **kwargs: Any,
) -> dict:
    """Assert ``got`` satisfies the accuracy contract for a call of ``op``.

    Parameters
    ----------
    got : array_like
        The result under test.
    op : str
        The operation (:data:`pyconv.OPERATIONS`).
    *args, **kwargs
        The call, as the operation's function takes it (see :func:`exact_op`).
    c : float, default 2.0
    contract : {'elementwise', 'normwise'}, default 'elementwise'

    Returns
    -------
    dict
        :func:`compare_to_exact`'s report.

    Raises
    ------
    AssertionError
        With the worst element's error and bound.
    """
    _check_contract(contract, c)
    exact, magnitude, K, dtype = exact_op(op, *args, **kwargs)
    r = compare_to_exact(got, exact, magnitude, K, dtype, contract=contract, c=c)
    if not r["ok"]:
        raise AssertionError(
            f"{op} result violates the {contract} accuracy contract (c={c:g}, K={K}): {r}; "
            f"got shape {np.shape(got)} dtype {np.asarray(got).dtype}"
        )
    return r
