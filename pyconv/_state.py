"""Reading weights by name into pyconv's layers and models, as torch's ``load_state_dict``.

Files are read without pickle (``.npz`` with ``allow_pickle=False``, ``.safetensors``);
values may be NumPy arrays, array-likes or torch tensors on any device.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np

from ._validation import _torch_size

__all__ = ["IncompatibleKeys", "load_state", "read_state", "to_numpy"]


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns, as torch does."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def load_state(
    target: Any, state_dict, strict: bool = True, *, prefix: str = ""
) -> IncompatibleKeys:
    """Copy the arrays of ``state_dict`` into ``target.state_dict()``'s arrays, by name.

    Parameters
    ----------
    target : Module or layer
        Anything whose ``state_dict()`` returns its own arrays (written in place).
    state_dict : mapping of str to array_like, or str / os.PathLike
    strict : bool
        Missing and unexpected keys are errors (shape mismatches always are).
    prefix : str
        Only keys starting with ``prefix`` are read, without it.

    Returns
    -------
    IncompatibleKeys

    Raises
    ------
    ValueError
        torch's "Error(s) in loading state_dict for NAME" text listing every problem; a
        value that is not an array of real numbers; a file that does not parse.
    """
    items, origin = read_state(state_dict)
    if prefix:
        items = {k[len(prefix) :]: v for k, v in items.items() if k.startswith(prefix)}
    own = target.state_dict()
    missing = [k for k in own if k not in items]
    unexpected = [k for k in items if k not in own]
    errors = []
    if strict:  # torch lists missing keys first, then unexpected ones
        if missing:
            errors.append(
                "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". "
            )
        if unexpected:
            errors.append(
                "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". "
            )
    arrays = {}
    for key, current in own.items():
        if key not in items:
            continue
        value = to_numpy(items[key])
        _check_numeric(key, value, origin)
        if value.shape != current.shape:
            errors.append(
                f"size mismatch for {key}: copying a param with shape {_torch_size(value.shape)} "
                f"from checkpoint, the shape in current model is {_torch_size(current.shape)}."
            )
        else:
            arrays[key] = value
    if errors:
        raise ValueError(
            f"Error(s) in loading state_dict for {type(target).__name__}:\n\t" + "\n\t".join(errors)
        )
    for key, value in arrays.items():
        np.copyto(own[key], value, casting="unsafe")  # torch's copy_ casts too
    return IncompatibleKeys(missing, unexpected)


def to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, any device
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _check_numeric(key: str, value: np.ndarray, origin: str | None) -> None:
    """Refuse values that are not real numbers (strings, complex, records, objects).

    torch's ``copy_`` would cast ints and bools, and so does pyconv; anything else is not
    a weight, and ``numpy.copyto`` would fail with a message that names neither the key
    nor the file.
    """
    if value.dtype.kind not in "biuf":
        where = f"{origin!r}: " if origin else ""
        raise ValueError(
            f"{where}the value of {key!r} has dtype {value.dtype}, which is not a real number "
            "type: weights must be floating-point (or integer) arrays"
        )


def read_state(source) -> tuple[dict, str | None]:
    """Return the items of a state dict and the file they came from (or None)."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return (_read_safetensors if path.endswith(".safetensors") else _read_npz)(path), path
    if hasattr(source, "items"):
        return dict(source.items()), None
    raise TypeError(
        f"Expected state_dict to be dict-like, got {type(source)}. (pyconv: a mapping of "
        "arrays, or a path to an .npz or .safetensors file)"
    )


def _read_npz(path: str) -> dict[str, np.ndarray]:
    """Read an ``.npz`` archive without unpickling anything; errors name the file.

    The file is opened first, so that a missing or unreadable file raises its own
    ``OSError`` (which names it); every parsing failure (not a zip archive, a truncated or
    corrupt member, an object array that would need pickle, a member that is not a
    ``.npy`` array) becomes a ``ValueError`` naming the file.
    """
    # open the file ourselves: np.load leaks it when the archive does not parse
    with open(path, "rb") as f:
        try:
            with np.load(f, allow_pickle=False) as data:
                if not isinstance(data, np.lib.npyio.NpzFile):
                    raise ValueError("it holds a single array (.npy), not an .npz archive")
                items = {}
                for key in data.files:
                    value = data[key]
                    if not isinstance(value, np.ndarray):  # np.load returns raw bytes then
                        raise ValueError(f"its member {key!r} is not a .npy array")
                    items[key] = value
                return items
        except Exception as exc:
            raise ValueError(f"could not read weights from {path!r}: {exc}") from exc


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
    """Read a ``.safetensors`` file (a JSON header and raw tensors: never pickle)."""
    try:
        from safetensors.numpy import load_file
    except ImportError as exc:
        raise ImportError(
            f"reading {path!r} needs the optional 'safetensors' package: "
            "pip install 'pyconv[safetensors]'"
        ) from exc
    with open(path, "rb"):  # a missing or unreadable file raises its own OSError
        pass
    try:
        return dict(load_file(path))
    except Exception as exc:  # truncated data, a bad header, a dtype NumPy lacks, ...
        raise ValueError(f"could not read weights from {path!r}: {exc}") from exc
