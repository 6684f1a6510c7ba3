"""Arrays of other libraries (Dask, torch), recognised without importing those libraries.

An argument cannot be a Dask array or a torch tensor unless its library was imported, so
these checks look in ``sys.modules`` instead of importing: when the library is absent they
cost one dictionary lookup, and ``import pyconv`` never imports Dask or torch.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

__all__ = ["is_dask_array", "torch_if_tensor"]


def is_dask_array(a: Any) -> bool:
    """Return True if ``a`` is a ``dask.array.Array``."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(a, da.Array)


def torch_if_tensor(*arrays: Any) -> ModuleType | None:
    """Return the ``torch`` module if any of ``arrays`` is a ``torch.Tensor``, else None."""
    torch = sys.modules.get("torch")
    if torch is not None and any(isinstance(a, torch.Tensor) for a in arrays):
        return torch
    return None
