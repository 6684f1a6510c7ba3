"""The golden data shipped with pyconv: torch's results for fixed calls of every operation.

The files live in ``pyconv/testing/data/`` and are made by ``tools/make_golden.py`` in a
source checkout (it runs PyTorch): ``golden.json`` / ``golden.npz`` hold the conv2d cases,
``family.json`` / ``family.npz`` those of the other operations (conv1d, conv3d, the
transposed convolutions, the gradients), each case naming its operation.  They are never
regenerated here: a missing, unreadable or altered file raises :class:`GoldenDataError`,
naming the file and how to get it back.
"""

from __future__ import annotations

import hashlib
import json
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DATA_DIR", "ErrorCase", "GoldenCase", "GoldenData", "GoldenDataError", "load_golden"]

#: Where the data files are; tests may point it elsewhere.
DATA_DIR = Path(__file__).resolve().parent / "data"
MANIFEST = "golden.json"
#: The other operations' set, read with (and like) the conv2d one.
FAMILY_MANIFEST = "family.json"
FORMAT = 1
_ERROR_TYPES = {"ValueError": ValueError, "TypeError": TypeError}
_HOW_TO_FIX = (
    "The file ships inside the pyconv wheel: reinstall pyconv (pip install --force-reinstall "
    "pyconv), or in a source checkout regenerate it with `python tools/make_golden.py` "
    "(needs torch). pyconv.testing never regenerates it by itself."
)


class GoldenDataError(RuntimeError):
    """The conformance suite's data files are missing, unreadable or inconsistent."""


def _fail(path: Path, problem: str) -> GoldenDataError:
    return GoldenDataError(
        f"pyconv.testing: golden data file {str(path)!r} {problem}. {_HOW_TO_FIX}"
    )


def _params(v: Any) -> Any:
    """JSON lists back to the tuples conv2d's users write."""
    return tuple(v) if isinstance(v, list) else v


@dataclass(frozen=True)
class GoldenCase:
    """One value case: inputs, parameters and torch's float64 result.

    Attributes
    ----------
    id : str
        ``'golden-...'``, stable across releases.
    group, description : str
        What the case is about (``group``: kernel, stride, padding, same, dilation,
        groups, bias, unbatched, edge, data, grid, article; the operation's name for the
        rest of the family).
    x, w : ndarray or None
        Input ``(N, C_in, *spatial)`` or unbatched, and weight, in the case's dtype;
        ``x`` is None for ``conv{n}d_input`` and ``w`` for ``conv{n}d_weight``.
    b : ndarray or None
        Bias ``(C_out,)``.
    params : dict
        The parameters as the operation's function takes them (``stride``, ``padding``,
        ``dilation``, ``groups``, and ``output_padding`` for the transposed ones).
    expected : ndarray, float64
        torch's result (``torch.nn.functional.conv2d``, ..., ``torch.nn.grad.*``) of the
        inputs in float64 (exact for the float64 cases, whose inputs are fixed-point
        numbers; within 2**-53 relative otherwise).
    magnitude : ndarray, float32
        ``A``: the same operation on the absolute values (``+ |b|``), from torch in
        float64, rounded up to float32.
    article_output : ndarray or None
        What the article prints for this call, for the article's own examples.
    op : str
        The operation (:data:`pyconv.OPERATIONS`).
    g : ndarray or None
        ``grad_output`` of the gradients.
    size : tuple of int or None
        ``input_size`` (``conv{n}d_input``) or ``weight_size`` (``conv{n}d_weight``).

    The arrays are read-only; pass copies to code that may write.
    """

    id: str
    group: str
    description: str
    x: np.ndarray | None = field(repr=False)
    w: np.ndarray | None = field(repr=False)
    b: np.ndarray | None = field(repr=False)
    params: dict = field(repr=False)
    expected: np.ndarray = field(repr=False)
    magnitude: np.ndarray = field(repr=False)
    article_output: np.ndarray | None = field(default=None, repr=False)
    op: str = "conv2d"
    g: np.ndarray | None = field(default=None, repr=False)
    size: tuple[int, ...] | None = None
    #: K as the data file records it (None: ``C_in / groups * prod(kernel)``).
    reduction: int | None = field(default=None, repr=False)

    @property
    def dtype(self) -> np.dtype:
        """The inputs' dtype (the output must have it too)."""
        first = self.x if self.x is not None else self.w
        assert first is not None
        return first.dtype

    @property
    def K(self) -> int:  # noqa: N802 - the contract's name for it
        """Products summed per output element (:func:`pyconv.testing.reduction_length`)."""
        if self.reduction is not None:
            return self.reduction
        assert self.w is not None
        return int(np.prod(self.w.shape[1:]))

    @property
    def arrays(self) -> tuple[np.ndarray | None, ...]:
        """The array arguments, in the order :meth:`args` passes them."""
        if self.op.endswith("_input"):
            return (self.w, self.g)
        if self.op.endswith("_weight"):
            return (self.x, self.g)
        return (self.x, self.w, self.b)

    def args(self, arrays: tuple | None = None) -> tuple:
        """Return the positional arguments of the operation's function.

        ``arrays`` replaces :attr:`arrays` (e.g. copies in another memory layout).
        """
        a = self.arrays if arrays is None else arrays
        if self.op.endswith("_input"):
            return (self.size, *a)
        if self.op.endswith("_weight"):
            return (a[0], self.size, a[1])
        return tuple(a)


@dataclass(frozen=True)
class ErrorCase:
    """One invalid call and the pyconv error type it must raise.

    The arrays are ``numpy.ones`` of the given shapes and dtypes (:meth:`arrays`,
    :meth:`args`).  ``torch_error`` is the exception type torch raised for the same call
    when the data was made, or None where torch accepts what pyconv rejects (integer
    dtypes, float16).  For conv2d cases ``input``, ``weight`` and ``bias`` describe the
    arrays; for the other operations ``arguments`` lists every positional argument:
    ``(shape, dtype)``, a size tuple (``('size', shape)``, for ``input_size`` /
    ``weight_size``) or None.
    """

    id: str
    description: str
    input: tuple[tuple[int, ...], str] | None
    weight: tuple[tuple[int, ...], str] | None
    bias: tuple[tuple[int, ...], str] | None
    params: dict
    error: type[Exception]
    torch_error: str | None
    op: str = "conv2d"
    arguments: tuple | None = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Return fresh ``(input, weight, bias)`` arrays for a conv2d call."""

        def make(a):
            return None if a is None else np.ones(a[0], dtype=a[1])

        return make(self.input), make(self.weight), make(self.bias)

    def args(self) -> tuple:
        """Return the positional arguments of the call, with fresh arrays."""
        if self.arguments is None:
            return self.arrays()

        def make(a):
            if a is None:
                return None
            if a[0] == "size":
                return tuple(a[1])
            return np.ones(a[0], dtype=a[1])

        return tuple(make(a) for a in self.arguments)


@dataclass(frozen=True)
class GoldenData:
    """Everything in the data files: the value cases, the error cases and provenance."""

    path: Path
    torch_version: str
    numpy_version: str
    generated: str
    seed: int
    cases: tuple[GoldenCase, ...] = field(repr=False)
    errors: tuple[ErrorCase, ...] = field(repr=False)
    #: torch version and date of each file (``golden.json``, ``family.json``)
    sources: tuple[tuple[str, str, str], ...] = ()

    def case(self, id: str) -> GoldenCase:
        """Return the value case called ``id`` (KeyError if there is none)."""
        for c in self.cases:
            if c.id == id:
                return c
        raise KeyError(f"no golden case {id!r}")


_cache: dict[str, GoldenData] = {}
_lock = threading.Lock()


def load_golden(data_dir: str | Path | None = None) -> GoldenData:
    """Read (once) and check the golden data files.

    Parameters
    ----------
    data_dir : path, optional
        The folder holding ``golden.json`` and the arrays it names; default
        :data:`DATA_DIR` (inside the installed package).

    Returns
    -------
    GoldenData

    Raises
    ------
    GoldenDataError
        A file is missing, unreadable, of another format version, or does not match the
        manifest (its SHA-256 or its array sizes).  The message names the file and how
        to get it back; nothing is regenerated.
    """
    folder = Path(DATA_DIR if data_dir is None else data_dir)
    key = str(folder.resolve())
    with _lock:
        if key not in _cache:
            _cache[key] = _read(folder)
        return _cache[key]


def _read(folder: Path) -> GoldenData:
    main = _read_set(folder, MANIFEST)
    family = _read_set(folder, FAMILY_MANIFEST)
    cases = main.cases + family.cases
    errors = main.errors + family.errors
    ids = [c.id for c in cases] + [e.id for e in errors]
    if len(set(ids)) != len(ids):
        raise _fail(folder / FAMILY_MANIFEST, f"repeats a case id of {MANIFEST}")
    sources = tuple((d.path.name, d.torch_version, d.generated) for d in (main, family))
    return GoldenData(
        folder, main.torch_version, main.numpy_version, main.generated, main.seed,
        cases=cases, errors=errors, sources=sources,
    )  # fmt: skip


def _read_set(folder: Path, manifest: str) -> GoldenData:
    mpath = folder / manifest
    try:
        text = mpath.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(mpath, "is missing") from None
    except OSError as exc:
        raise _fail(mpath, f"cannot be read ({exc})") from exc
    try:
        m = json.loads(text)
    except ValueError as exc:
        raise _fail(mpath, f"is not valid JSON ({exc})") from exc
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        got = m.get("format") if isinstance(m, dict) else None
        raise _fail(mpath, f"has format {got!r}; this pyconv reads format {FORMAT}")

    apath = folder / str(m.get("arrays", ""))
    try:
        raw = apath.read_bytes()
    except FileNotFoundError:
        raise _fail(apath, "is missing") from None
    except OSError as exc:
        raise _fail(apath, f"cannot be read ({exc})") from exc
    if hashlib.sha256(raw).hexdigest() != m.get("arrays_sha256"):
        raise _fail(apath, f"does not match its SHA-256 in {manifest} (damaged or replaced)")
    try:
        with np.load(apath, allow_pickle=False) as npz:
            streams = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise _fail(apath, f"cannot be read ({exc})") from exc
    for a in streams.values():
        a.flags.writeable = False

    try:
        cases = tuple(_value_case(c, streams) for c in m["cases"])
        errors = tuple(_error_case(c) for c in m["errors"])
        info = (m["torch_version"], m["numpy_version"], m["generated"], int(m["seed"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(mpath, f"does not match {apath.name} or is incomplete ({exc!r})") from exc
    ids = [c.id for c in cases] + [e.id for e in errors]
    if len(set(ids)) != len(ids):
        raise _fail(mpath, "lists a case id twice")
    return GoldenData(mpath, *info, cases=cases, errors=errors)


def _take(streams: dict, stream: str, offset: int, shape) -> np.ndarray:
    shape = tuple(int(s) for s in shape)
    size = int(np.prod(shape))
    flat = streams[stream]
    if offset < 0 or offset + size > flat.size:
        raise ValueError(f"{stream}[{offset}:{offset + size}] is out of range ({flat.size})")
    return flat[offset : offset + size].reshape(shape)


def _family_case(c: dict, streams: dict) -> GoldenCase:
    """Read a case of another operation than conv2d (its arrays by argument name)."""
    off = c["offsets"]
    dtype = np.dtype(c["dtype"])
    inputs = f"inputs_{dtype.name}"
    arrays = {name: _take(streams, inputs, off[name], shape) for name, shape in c["arrays"].items()}
    if any(a.dtype != dtype for a in arrays.values()):
        raise ValueError(f"{c['id']}: stored dtype differs from the manifest's {dtype}")
    return GoldenCase(
        id=c["id"],
        group=c.get("group", ""),
        description=c.get("description", ""),
        x=arrays.get("input"),
        w=arrays.get("weight"),
        b=arrays.get("bias"),
        params={k: _params(v) for k, v in c["params"].items()},
        expected=_take(streams, "expected", off["expected"], c["output_shape"]),
        magnitude=_take(streams, "magnitude", off["magnitude"], c["output_shape"]),
        op=str(c["op"]),
        g=arrays.get("grad_output"),
        size=None if c["size"] is None else tuple(int(v) for v in c["size"]),
        reduction=int(c["K"]),
    )


def _value_case(c: dict, streams: dict) -> GoldenCase:
    if "op" in c:
        return _family_case(c, streams)
    off = c["offsets"]
    dtype = np.dtype(c["dtype"])
    inputs = f"inputs_{dtype.name}"
    x = _take(streams, inputs, off["x"], c["input_shape"])
    w = _take(streams, inputs, off["w"], c["weight_shape"])
    b = _take(streams, inputs, off["b"], c["weight_shape"][:1]) if c["bias"] else None
    if x.dtype != dtype:
        raise ValueError(f"{c['id']}: stored dtype {x.dtype}, manifest says {dtype}")
    article = c.get("article_output")
    return GoldenCase(
        id=c["id"],
        group=c.get("group", ""),
        description=c.get("description", ""),
        x=x,
        w=w,
        b=b,
        params={k: _params(c[k]) for k in ("stride", "padding", "dilation", "groups")},
        expected=_take(streams, "expected", off["expected"], c["output_shape"]),
        magnitude=_take(streams, "magnitude", off["magnitude"], c["output_shape"]),
        article_output=None if article is None else np.array(article, dtype=np.float64),
    )


def _error_case(c: dict) -> ErrorCase:
    def arg(a):
        return None if a is None else (tuple(a["shape"]), str(a["dtype"]))

    if c["error"] not in _ERROR_TYPES:
        raise ValueError(f"{c['id']}: unknown error type {c['error']!r}")
    if "op" in c:

        def argument(a):
            if a is None:
                return None
            if "size" in a:
                return ("size", tuple(a["size"]))
            return arg(a)

        return ErrorCase(
            id=c["id"],
            description=c.get("description", ""),
            input=None,
            weight=None,
            bias=None,
            params={k: _params(v) for k, v in c["params"].items()},
            error=_ERROR_TYPES[c["error"]],
            torch_error=c.get("torch_error"),
            op=str(c["op"]),
            arguments=tuple(argument(a) for a in c["args"]),
        )
    return ErrorCase(
        id=c["id"],
        description=c.get("description", ""),
        input=arg(c["input"]),
        weight=arg(c["weight"]),
        bias=arg(c["bias"]),
        params={k: _params(c[k]) for k in ("stride", "padding", "dilation", "groups")},
        error=_ERROR_TYPES[c["error"]],
        torch_error=c.get("torch_error"),
    )
