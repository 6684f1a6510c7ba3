"""Moving weights from a torch model to pyconv: files without pickle, names kept.

``save_state_dict`` runs where torch is installed (or on any mapping of arrays) and writes
a state dict as ``.npz`` or ``.safetensors``; ``load_state_dict`` reads such a file back as
a dict of NumPy arrays, with ``numpy.load(allow_pickle=False)`` or the optional
``safetensors`` package, never importing torch.  Every pyconv layer and model also loads
the file directly (``model.load_state_dict("weights.npz")``).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._state import read_state

__all__ = ["load_state_dict", "save_state_dict"]

_SUFFIXES = (".npz", ".safetensors")


def _as_array(key: str, value: Any) -> np.ndarray:
    """Convert a torch tensor (any device, bfloat16 too) or an array-like to a C array."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":  # NumPy has no bfloat16: widen, exactly
            value = value.float()
        value = value.numpy()
    arr = np.asarray(value)
    if not arr.flags.c_contiguous:  # not np.ascontiguousarray: it makes 0-d arrays 1-d
        arr = arr.copy(order="C")
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"save_state_dict(): the value of {key!r} has dtype {arr.dtype}; only arrays of "
            "real numbers can be saved"
        )
    return arr


def _suffix(path: str) -> str:
    for suffix in _SUFFIXES:
        if path.endswith(suffix):
            return suffix
    raise ValueError(
        f"the file name must end in .npz or .safetensors (it decides the format), but got {path!r}"
    )


def _write_npz(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Write an uncompressed ``.npz`` archive, one ``<name>.npy`` member per array.

    What ``np.savez(f, **arrays)`` writes, but for any names: ``np.savez`` takes its own
    parameters ``file`` and ``allow_pickle`` from the keywords, so an array named
    ``allow_pickle`` was silently left out (and one named ``file`` raised).  Written to the
    exact path (``np.savez`` appends ``.npz`` to a name), without pickle.
    """
    with zipfile.ZipFile(path, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)


def save_state_dict(model_or_state_dict: Any, path: str | os.PathLike) -> list[str]:
    """Write a model's state dict to ``.npz`` or ``.safetensors``, its names kept.

    Parameters
    ----------
    model_or_state_dict : torch.nn.Module, pyconv layer or mapping
        Anything with a ``state_dict()`` method (a torch model: put it in ``eval()`` mode
        first, so that the batch-norm statistics are final), or a mapping of names to
        tensors or arrays.
    path : str or os.PathLike
        Ends in ``.npz`` (NumPy only) or ``.safetensors`` (needs the ``safetensors``
        package to write and to read).

    Returns
    -------
    list of str
        The names written, in order.

    Raises
    ------
    ValueError
        A file name with another suffix.
    TypeError
        A value that is not an array of real numbers.
    ImportError
        ``.safetensors`` without the ``safetensors`` package.

    Examples
    --------
    >>> import pyconv, pyconv.export
    >>> model = pyconv.nn.Sequential(pyconv.Conv2d(1, 4, 3, rng=0), pyconv.nn.ReLU())
    >>> pyconv.export.save_state_dict(model, "model.npz")
    ['0.weight', '0.bias']
    >>> sorted(pyconv.export.load_state_dict("model.npz"))
    ['0.bias', '0.weight']
    """
    path = os.fspath(path)
    suffix = _suffix(path)
    state = model_or_state_dict
    if not isinstance(state, Mapping):
        if not callable(getattr(state, "state_dict", None)):
            raise TypeError(
                "save_state_dict(): expected a model (with a state_dict() method) or a "
                f"mapping of names to arrays, but got {type(state).__name__}"
            )
        state = state.state_dict()
    arrays = {str(k): _as_array(str(k), v) for k, v in state.items()}
    if suffix == ".npz":
        _write_npz(path, arrays)
    else:
        try:
            from safetensors.numpy import save_file
        except ImportError as exc:
            raise ImportError(
                f"writing {path!r} needs the optional 'safetensors' package: "
                "pip install safetensors (or write .npz)"
            ) from exc
        save_file(arrays, path)
    return list(arrays)


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a state dict written by :func:`save_state_dict` (or torch's safetensors).

    Parameters
    ----------
    path : str or os.PathLike
        An ``.npz`` file (read with ``numpy.load(allow_pickle=False)``) or a
        ``.safetensors`` file (needs the ``safetensors`` package).

    Returns
    -------
    dict of str to ndarray
        In the order written for ``.npz``; ``.safetensors`` files order their tensors by
        dtype and size.

    Raises
    ------
    ValueError
        A malformed file, or one that would need pickle (naming the file).
    OSError
        The file cannot be opened.
    ImportError
        ``.safetensors`` without the ``safetensors`` package.
    """
    path = os.fspath(path)
    _suffix(path)
    return read_state(path)[0]
