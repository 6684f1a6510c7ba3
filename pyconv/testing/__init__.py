"""The conformance suite: prove a backend right, ours or a third party's, for every operation.

One call runs everything on an installed backend (or on a backend object)::

    >>> from pyconv.testing import check_backend
    >>> report = check_backend("numpy")
    >>> report.ok, report.contract
    (True, 'elementwise')
    >>> print(report)  # doctest: +ELLIPSIS
    pyconv conformance: backend 'numpy', elementwise accuracy contract (c=2), deterministic
    golden data: ... value and ... error cases from torch ...
    ...
    OK

The same from the shell: ``pyconv check numpy`` (exit status 0 when everything the
backend declares passes).  In a backend's own pytest suite, one test per case::

    from pyconv.testing import conformance_cases, run_case

    @pytest.mark.parametrize("case", conformance_cases(
        "mybackend", expected_failures={"golden-dil2-k3": "known bug #12"}))
    def test_conformance(case):
        run_case(case)

What is checked
---------------
golden cases (``golden-...``)
    calls whose expected result PyTorch computed in float64 when the data was made
    (``tools/make_golden.py`` in the source tree; the files ship in
    ``pyconv/testing/data/`` and record the torch version): kernels 1x1 to 7x7, even and
    non-square; strides; symmetric padding, ``'valid'``, and ``'same'`` (asymmetric with
    an even kernel); dilation; groups, depthwise and channel multipliers; with and
    without bias; unbatched input; an empty batch; 1x1 outputs; float32 and float64;
    every combination of stride, padding, dilation, groups, bias and dtype; data that
    stresses rounding; and the article's examples verbatim (the dark line must round to
    ``[[[27, 28, 23], [220, 220, 224], [16, 16, 28]]]``).  And the rest of the family:
    conv1d and conv3d (strides, dilation, 'same', groups, depthwise, unbatched, empty
    batches), conv_transpose1d/2d/3d (output_padding below the stride or the dilation,
    strides beyond the kernel, padding that crops most of the result, groups, unbatched)
    and the gradients conv{1,2,3}d_input / conv{1,2,3}d_weight (strides whose input size
    the output cannot tell, dilation, groups, depthwise, empty batches), each in float32
    and float64.  The check does not use pyconv's own reference implementation.
error cases (``error-...``)
    invalid calls (wrong ranks, channel mismatch, bad groups, kernel larger than the
    input, negative padding, zero stride, ``'same'`` with a stride, mixed or unsupported
    dtypes, an output_padding too large, a grad_output of the wrong shape, ...) made
    through the operation's function with ``backend=`` the backend under test: validation
    is pyconv's front end, so every backend raises the same type (``ValueError`` or
    ``TypeError``), whatever it declares.
properties (``prop-...``)
    through the backend itself: torch's output-shape formula; the per-channel
    decomposition (the article's third experiment); groups = split + concatenate; bias
    additivity; odd memory layouts (non-contiguous, Fortran order, negative strides,
    read-only, channels-last, unaligned); the dtype kept and a new array returned; inputs
    left unmodified; and, for backends that declare it, bitwise determinism (repeated
    calls, and one thread against several).  For the rest of the family: the layouts,
    dtype and determinism on a case of each kind of operation, and the transposed
    convolution as the adjoint of the convolution
    (``<conv(x, w), y> == <x, conv_transpose(y, w)>`` in 1, 2 and 3 dimensions).

Each case declares what it needs (the operations it calls, dtype, stride, dilation,
groups, padding kind, determinism).  A case the backend's :class:`pyconv.Capabilities` (or its
``supports(spec)``) does not declare is *skipped* with the reason; a declared case that
fails is a *failure*.  A missing or damaged data file raises :class:`GoldenDataError`;
it is never regenerated silently.

The accuracy contracts
----------------------
With ``exact`` the same operation computed in higher precision, ``K`` the most products
summed into one output element (:func:`reduction_length`: ``C_in / groups * kH * kW`` for
conv2d; for each operation below), ``eps`` the machine epsilon of the call's dtype and
``A`` the operation on the absolute values of its arguments (``conv(|input|, |weight|) +
|bias|`` for conv2d):

elementwise (the default; direct and GEMM-based algorithms)
    every output element satisfies ``|got - exact| <= c * (K + 1) * eps * A``
    (``c = 2`` by default).  Any order of summation in the working precision satisfies
    it (the classical bound is ``K * eps / 2 * A``), so it tests semantics, not a
    particular order; elements whose products are all exactly zero must be exactly zero.
normwise (transform-based algorithms: FFT, Winograd)
    every output element satisfies ``|got - exact| <= c * (K + 1) * eps * max(A)``, the
    maximum taken over the whole output of the call: an error anywhere is measured
    against the largest magnitude of the output, as a transform spreads rounding errors
    over all elements.

``K`` per operation: ``conv{n}d``: ``C_in / groups * prod(kernel)``;
``conv_transpose{n}d``: the (in-channel, tap) terms that reach one output, ``C_in / groups
* prod(ceil(k_i / (s_i / gcd(s_i, d_i))))`` (a tap reaches the outputs of one stride phase
only); ``conv{n}d_input``: the same for the transposed convolution it is, with ``C_out``;
``conv{n}d_weight``: ``N * prod(output_size)`` (the batch and the positions).

A backend declares its contract in its capabilities (``accuracy``, ``accuracy_c``); the
suite checks that one and the report says which.  :func:`assert_conv_close` and
:func:`accuracy_report` check one conv2d call (``contract=``, ``c=``), :func:`assert_op_close`
one call of any operation; :func:`exact_conv2d` and :func:`exact_op` give the reference
they use (pyconv's float64 / long double accumulation).
"""

from __future__ import annotations

from ._accuracy import (
    CONTRACTS,
    accuracy_bound,
    accuracy_report,
    assert_conv_close,
    assert_op_close,
    compare_to_exact,
    exact_conv2d,
    exact_op,
    reduction_length,
)
from ._cases import ConformanceFailure
from ._golden import ErrorCase, GoldenCase, GoldenData, GoldenDataError, load_golden
from ._runner import (
    CaseSkipped,
    ConformanceCase,
    ConformanceReport,
    check_backend,
    collect_cases,
    conformance_cases,
    run_case,
)

__all__ = [
    "CONTRACTS",
    "CaseSkipped",
    "ConformanceCase",
    "ConformanceFailure",
    "ConformanceReport",
    "ErrorCase",
    "GoldenCase",
    "GoldenData",
    "GoldenDataError",
    "accuracy_bound",
    "accuracy_report",
    "assert_conv_close",
    "assert_op_close",
    "check_backend",
    "collect_cases",
    "compare_to_exact",
    "conformance_cases",
    "exact_conv2d",
    "exact_op",
    "load_golden",
    "reduction_length",
    "run_case",
]

# Document the public names where users import them from.
for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, tuple):
        _obj.__module__ = __name__
del _name, _obj
