"""The conformance runner: cases bound to a backend, run, reported; the pytest helpers.

The cases themselves (what each calls and checks) are in :mod:`._cases`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._registry import Capabilities, load_backend
from .._registry.capabilities import padding_kind
from .._validation import OPERATIONS, ConvSpec
from ._cases import CaseDef, ConformanceFailure, Target, definitions
from ._golden import load_golden

__all__ = [
    "CaseSkipped",
    "ConformanceCase",
    "ConformanceReport",
    "check_backend",
    "collect_cases",
    "conformance_cases",
    "run_case",
]


class CaseSkipped(Exception):  # noqa: N818 - an outcome, like pytest's Skipped
    """The case needs something the backend does not declare (the reason is the message)."""


# --------------------------------------------------------------------------- the backend


def _target(name_or_obj: Any, options: Mapping[str, Any]) -> Target:
    if isinstance(name_or_obj, str):
        obj = load_backend(name_or_obj, **options)
        name = name_or_obj
    else:
        if options:
            raise TypeError(
                "backend options apply to a backend given by name; configure a backend "
                f"object yourself (got options {sorted(options)})"
            )
        if not any(callable(getattr(name_or_obj, op, None)) for op in OPERATIONS):
            raise TypeError(
                "check_backend() takes a backend name or an object with a conv2d method (or "
                f"another operation's), not {type(name_or_obj).__name__}"
            )
        obj = name_or_obj
        name = getattr(obj, "name", None) or type(obj).__name__
    caps = getattr(obj, "capabilities", None)
    if caps is None:
        # an object that declares nothing claims the defaults, for the operations it has
        ops = tuple(op for op in OPERATIONS if callable(getattr(obj, op, None)))
        caps = Capabilities(operations=ops)
    elif isinstance(caps, Mapping):
        caps = Capabilities.from_dict(caps)
    elif not isinstance(caps, Capabilities):
        raise TypeError(
            f"backend {name!r}: capabilities must be a pyconv.Capabilities (or a dict), "
            f"not {type(caps).__name__}"
        )
    return Target(obj, name, caps)


# --------------------------------------------------------------------------- cases


def _needs(spec: ConvSpec) -> list[str]:
    """List what a call needs, in the words of :class:`pyconv.Capabilities`."""
    out = [spec.op, spec.dtype.name]
    if any(s != 1 for s in spec.stride):
        out.append("stride")
    if any(d != 1 for d in spec.dilation):
        out.append("dilation")
    if spec.groups != 1:
        out.append("groups")
    out.append(f"padding:{padding_kind(spec)}")
    return out


@dataclass(frozen=True)
class ConformanceCase:
    """One conformance case bound to a backend; run it with :func:`run_case`.

    Attributes
    ----------
    id : str
        Readable and stable: ``golden-...`` (torch's results), ``error-...`` (invalid
        calls) or ``prop-...`` (properties).
    kind : str
        ``'golden'``, ``'error'`` or ``'property'``.
    description : str
        What the case checks.
    needs : tuple of str
        What its calls need, in the terms of :class:`pyconv.Capabilities`: the
        operations (``'conv2d'``, ``'conv_transpose2d'``, ...), the dtype, ``'stride'``,
        ``'dilation'``, ``'groups'``, ``'padding:<kind>'``, ``'deterministic'``.
    backend : str
        The backend's name.
    contract, c
        The accuracy contract the backend declares, and its constant.
    skip_reason : str or None
        Why the case does not apply to this backend (None: it applies and must pass).
    """

    id: str
    kind: str
    description: str
    needs: tuple[str, ...]
    backend: str
    contract: str
    c: float
    skip_reason: str | None
    _target: Target = field(repr=False, compare=False)
    _check: Callable[[Target], float | None] = field(repr=False, compare=False)

    def run(self) -> float | None:
        """Run the case.

        Returns
        -------
        float or None
            For cases compared with an exact result, the largest error as a fraction of
            the contract's bound (<= 1).

        Raises
        ------
        CaseSkipped
            The case does not apply to the backend (``skip_reason``).
        ConformanceFailure
            The backend got it wrong; the message says how.
        """
        if self.skip_reason is not None:
            raise CaseSkipped(self.skip_reason)
        try:
            return self._check(self._target)
        except ConformanceFailure:
            raise
        except AssertionError as exc:
            raise ConformanceFailure(str(exc)) from exc
        except Exception as exc:
            raise ConformanceFailure(f"raised {type(exc).__name__}: {exc}") from exc

    def __str__(self) -> str:
        return self.id


def _bind(d: CaseDef, t: Target) -> ConformanceCase:
    needs: list[str] = []
    reason = None
    for call in d.calls:
        spec = call.spec()
        needs += [n for n in _needs(spec) if n not in needs]
        if reason is None:
            try:
                ok = t.applies(spec)
            except Exception:  # a supports() that raises fails the case when it runs
                ok = True
            if ok is not True:
                reason = ok
    if d.deterministic:
        needs.append("deterministic")
        if reason is None and not t.caps.deterministic:
            reason = "not declared: the backend does not declare deterministic results"
    return ConformanceCase(
        id=d.id,
        kind=d.kind,
        description=d.description,
        needs=tuple(needs),
        backend=t.name,
        contract=t.contract,
        c=t.c,
        skip_reason=reason,
        _target=t,
        _check=d.check,
    )


# --------------------------------------------------------------------------- entry points


def collect_cases(name_or_obj: Any, /, **options: Any) -> list[ConformanceCase]:
    """Return every conformance case, bound to a backend.

    Parameters
    ----------
    name_or_obj : str or backend object
        An installed backend's name (loaded with :func:`pyconv.load_backend`-style
        ``options``) or an object with ``conv2d(x, w, b, spec)`` and, optionally,
        ``capabilities`` and ``supports(spec)``.
    **options
        Passed to the backend's constructor (names only).

    Returns
    -------
    list of ConformanceCase
        Golden cases, then error cases, then properties; ``skip_reason`` set on those the
        backend does not declare.

    Raises
    ------
    GoldenDataError
        The data files are missing or damaged.
    ValueError, ImportError, TypeError
        Unknown backend name, unavailable backend, rejected options.
    """
    t = _target(name_or_obj, options)
    data = load_golden()
    return [_bind(d, t) for d in definitions(data)]


@dataclass
class ConformanceReport:
    """The outcome of :func:`check_backend`.

    Attributes
    ----------
    backend : str
        The backend's name.
    contract : str
        The accuracy contract checked: the one the backend declares.
    c : float
        The contract's constant.
    deterministic : bool
        Whether the backend declares deterministic results (and was checked for them).
    passed : list of str
        Ids of the cases that passed.
    failed : list of (str, str)
        Ids and messages of the cases that failed.
    skipped : list of (str, str)
        Ids and reasons of the cases the backend does not declare.
    worst : float or None
        The largest error seen on the golden cases, as a fraction of the bound.
    worst_case : str or None
        Where it was seen.
    data : str
        Where the golden data came from (torch version, date).
    """

    backend: str
    contract: str
    c: float
    deterministic: bool
    passed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    worst: float | None = None
    worst_case: str | None = None
    data: str = ""

    @property
    def ok(self) -> bool:
        """True when every case the backend declares passed."""
        return not self.failed

    def summary(self, verbose: bool = False) -> str:
        """Return a readable report; ``verbose`` also lists the passed cases."""
        lines = [
            f"pyconv conformance: backend {self.backend!r}, {self.contract} accuracy contract "
            f"(c={self.c:g}){', deterministic' if self.deterministic else ''}",
            f"golden data: {self.data}",
            f"{len(self.passed)} passed, {len(self.failed)} failed, "
            f"{len(self.skipped)} skipped (not declared)",
        ]
        if self.worst is not None:
            lines.append(
                f"largest error on the golden cases: {self.worst:.3g} of the bound "
                f"({self.worst_case})"
            )
        if self.failed:
            lines.append("FAILED:")
            lines += [f"  {cid}: {msg}" for cid, msg in self.failed]
        if self.skipped:
            lines.append("skipped:")
            lines += [f"  {cid}: {why}" for cid, why in self.skipped]
        if verbose and self.passed:
            lines.append("passed:")
            lines += [f"  {cid}" for cid in self.passed]
        lines.append("OK" if self.ok else f"NOT OK: {len(self.failed)} case(s) failed")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def check_backend(name_or_obj: Any, /, **options: Any) -> ConformanceReport:
    """Run the whole conformance suite on a backend and report.

    Parameters
    ----------
    name_or_obj : str or backend object
        An installed backend's name (see :func:`pyconv.backends`) or a backend object
        (``conv2d(x, w, b, spec)``, optional ``capabilities`` and ``supports(spec)``; an
        object without ``capabilities`` is held to the defaults of
        :class:`pyconv.Capabilities`: everything, elementwise contract, c = 2,
        deterministic).
    **options
        Passed to the named backend's constructor, e.g. ``device='cuda'``.

    Returns
    -------
    ConformanceReport
        ``ok`` is True when every case the backend declares passed; cases it does not
        declare are skipped with the reason, never failed.

    Raises
    ------
    GoldenDataError
        The data files are missing or damaged.
    ValueError, ImportError, TypeError
        Unknown backend name, unavailable backend, rejected options.
    """
    cases = collect_cases(name_or_obj, **options)
    data = load_golden()
    first = cases[0]
    report = ConformanceReport(
        backend=first.backend,
        contract=first.contract,
        c=first.c,
        deterministic=first._target.caps.deterministic,
        data=(
            f"{len(data.cases)} value and {len(data.errors)} error cases from torch "
            + "; ".join(f"{v} ({f}, generated {when})" for f, v, when in data.sources)
        ),
    )
    for case in cases:
        if case.skip_reason is not None:
            report.skipped.append((case.id, case.skip_reason))
            continue
        try:
            worst = case.run()
        except ConformanceFailure as exc:
            report.failed.append((case.id, str(exc)))
            continue
        report.passed.append(case.id)
        golden = case.kind == "golden"
        if golden and worst is not None and (report.worst is None or worst > report.worst):
            report.worst, report.worst_case = worst, case.id
    return report


def conformance_cases(
    name_or_obj: Any,
    /,
    *,
    expected_failures: Mapping[str, str] | None = None,
    **options: Any,
) -> list[Any]:
    """Return the cases as ``pytest.param`` objects, for ``pytest.mark.parametrize``.

    Parameters
    ----------
    name_or_obj : str or backend object
        As for :func:`check_backend`.
    expected_failures : mapping of str to str, optional
        Case id -> reason (e.g. an issue number): those cases become strict ``xfail``
        (so they fail the run once they pass, reminding you to remove them).
    **options
        Passed to the named backend's constructor.

    Returns
    -------
    list of pytest.param
        With the case ids as test ids; cases the backend does not declare carry a
        ``skip`` mark with the reason.

    Raises
    ------
    ValueError
        ``expected_failures`` names an id that is not a case.

    Examples
    --------
    In a third-party backend's test suite::

        from pyconv.testing import conformance_cases, run_case

        @pytest.mark.parametrize("case", conformance_cases("mybackend"))
        def test_conformance(case):
            run_case(case)
    """
    import pytest

    cases = collect_cases(name_or_obj, **options)
    xfails = dict(expected_failures or {})
    unknown = sorted(set(xfails) - {c.id for c in cases})
    if unknown:
        raise ValueError(f"expected_failures names ids that are not cases: {unknown}")
    params = []
    for case in cases:
        marks = []
        if case.skip_reason is not None:
            marks.append(pytest.mark.skip(reason=case.skip_reason))
        elif case.id in xfails:
            marks.append(
                pytest.mark.xfail(reason=xfails[case.id], strict=True, raises=ConformanceFailure)
            )
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def run_case(case: ConformanceCase) -> None:
    """Run one case inside a pytest test: skip it, or fail with the reason.

    Raises
    ------
    ConformanceFailure
        The backend failed the case (an ``AssertionError``).
    pytest.skip.Exception
        The backend does not declare what the case needs.
    """
    if case.skip_reason is not None:
        import pytest

        pytest.skip(case.skip_reason)
    case.run()
