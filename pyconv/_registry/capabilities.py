"""What a backend declares it can run (:class:`Capabilities`), and the check of a call.

A backend declares the **operations** it implements (``conv2d``, ``conv_transpose2d``,
``conv2d_weight``, ...: :data:`pyconv.OPERATIONS`; ``conv2d`` alone when it says nothing,
as backends written before the family existed), and for them the dtypes, features,
padding kinds, devices, accuracy contract and determinism.  The same declaration drives
dispatch (:func:`pyconv._registry.resolve`), picks the conformance cases that apply
(:mod:`pyconv.testing`) and fills the backends table of the documentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .._validation import KINDS, OPERATIONS, ConvSpec, operation

__all__ = ["PADDING_KINDS", "Capabilities", "operations_summary", "padding_kind"]

PADDING_KINDS = ("none", "symmetric", "asymmetric")


@dataclass(frozen=True)
class Capabilities:
    """What a backend declares it can run; drives dispatch, conformance and the docs.

    Attributes
    ----------
    operations : tuple of str
        The operations implemented, among :data:`pyconv.OPERATIONS` (``'conv1d'``,
        ``'conv_transpose2d'``, ``'conv3d_input'``, ``'conv2d_weight'``, ...), each by a
        method of that name.  Default: ``('conv2d',)``.
    dtypes : tuple of str
        ``'float32'``, ``'float64'``.
    stride, dilation, groups : bool
        Whether strides, dilations or groups other than 1 are supported.
    padding : tuple of str
        ``'none'`` (padding 0), ``'symmetric'`` (int or pair), ``'asymmetric'``
        (``padding='same'`` with an even effective kernel).
    devices : tuple of str
        Where it computes: ``'cpu'``, ``'cuda'``.
    accuracy : str
        ``'elementwise'`` (the contract of ``pyconv.testing`` with ``c = accuracy_c``) or
        ``'normwise'`` (transform-based algorithms: the error is bounded relative to the
        largest magnitude of the output, see ``pyconv.testing``).
    accuracy_c : float
        The constant ``c`` of the contract.
    deterministic : bool
        Bitwise identical results for identical calls, whatever the thread count.
    universal : bool
        Derived: every call of a declared operation is covered (dispatch then checks
        only the operation).
    """

    operations: tuple[str, ...] = ("conv2d",)
    dtypes: tuple[str, ...] = ("float32", "float64")
    stride: bool = True
    dilation: bool = True
    groups: bool = True
    padding: tuple[str, ...] = PADDING_KINDS
    devices: tuple[str, ...] = ("cpu",)
    accuracy: str = "elementwise"
    accuracy_c: float = 2.0
    deterministic: bool = True
    universal: bool = field(init=False, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Capabilities:
        """Build from a spec's ``capabilities`` dict, rejecting unknown keys and values."""
        known = {f.name for f in fields(cls) if f.init}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown capability keys {sorted(unknown)}")
        kw = dict(d)
        for key in ("operations", "dtypes", "padding", "devices"):
            if key in kw:
                if isinstance(kw[key], str):
                    raise ValueError(f"{key} must be a list of names, got {kw[key]!r}")
                kw[key] = tuple(kw[key])
        for key in ("stride", "dilation", "groups", "deterministic"):
            if key in kw and not isinstance(kw[key], bool):
                raise ValueError(f"{key} must be true or false, got {kw[key]!r}")
        if "accuracy_c" in kw and (
            isinstance(kw["accuracy_c"], bool)
            or not isinstance(kw["accuracy_c"], (int, float))
            or not kw["accuracy_c"] > 0
        ):
            raise ValueError(f"accuracy_c must be a positive number, got {kw['accuracy_c']!r}")
        caps = cls(**kw)
        unknown_ops = [op for op in caps.operations if op not in OPERATIONS]
        if unknown_ops or not caps.operations:
            raise ValueError(
                f"operations must be among {', '.join(OPERATIONS)}; got {list(caps.operations)}"
            )
        if not set(caps.dtypes) <= {"float32", "float64"}:
            raise ValueError(f"dtypes must be float32 / float64, got {caps.dtypes}")
        if not set(caps.padding) <= set(PADDING_KINDS):
            raise ValueError(f"padding kinds must be among {PADDING_KINDS}, got {caps.padding}")
        if caps.accuracy not in ("elementwise", "normwise"):
            raise ValueError(f"accuracy must be 'elementwise' or 'normwise', got {caps.accuracy!r}")
        return caps

    def __post_init__(self) -> None:
        # computed once: dispatch asks on every call
        universal = (
            set(self.dtypes) == {"float32", "float64"}
            and self.stride is True
            and self.dilation is True
            and self.groups is True
            and set(self.padding) == set(PADDING_KINDS)
        )
        object.__setattr__(self, "universal", universal)

    def implements(self, op: str) -> bool | str:
        """Return True if ``op`` is declared, else the reason, naming what is."""
        if op in self.operations:
            return True
        return f"it does not implement {op} (it implements {operations_summary(self.operations)})"

    def check(self, spec: ConvSpec) -> bool | str:
        """Return True if the declaration covers ``spec``, else the reason it does not."""
        ok = self.implements(spec.op)
        if ok is not True:
            return ok
        if spec.dtype.name not in self.dtypes:
            return f"dtype {spec.dtype.name} is not supported (supports {', '.join(self.dtypes)})"
        if not self.stride and any(s != 1 for s in spec.stride):
            return f"stride {spec.stride} is not supported (stride 1 only)"
        if not self.dilation and any(d != 1 for d in spec.dilation):
            return f"dilation {spec.dilation} is not supported (dilation 1 only)"
        if not self.groups and spec.groups != 1:
            return f"groups={spec.groups} is not supported (groups=1 only)"
        kind = padding_kind(spec)
        if kind not in self.padding:
            return f"{kind} padding {spec.padding} is not supported"
        return True


def padding_kind(spec: ConvSpec) -> str:
    """``'none'``, ``'symmetric'`` or ``'asymmetric'`` (before != after in some dimension)."""
    if not any(spec.padding):
        return "none"
    if spec.padding[::2] != spec.padding[1::2]:
        return "asymmetric"
    return "symmetric"


def operations_summary(operations, sep: str = ", ") -> str:
    """Write operations compactly: ``conv{1,2,3}d, conv_transpose2d, conv{2,3}d_input``."""
    parts = []
    for kind in KINDS:
        dims = [n for n in (1, 2, 3) if operation(kind, n) in operations]
        if len(dims) == 1:
            parts.append(operation(kind, dims[0]))
        elif dims:
            parts.append(operation(kind, 0).replace("0", "{" + ",".join(map(str, dims)) + "}"))
    return sep.join(parts)
