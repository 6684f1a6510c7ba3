"""The environment variables read when pyconv is imported, and what was refused.

A bad value never breaks ``import pyconv`` (so that ``pyconv show-config`` can still run
to diagnose it): it warns once, naming the variable, the value and what is accepted; the
default is used instead, and :func:`pyconv.show_config` shows what was refused.  Every
variable is listed in docs/api.md, "Environment variables".
"""

from __future__ import annotations

import os
import sys
import warnings
from types import FrameType

from . import _core

__all__ = ["ConfigWarning", "accept", "apply_isa", "refuse", "refused"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class ConfigWarning(UserWarning):
    """An environment variable pyconv reads has a value it cannot use."""


#: variable -> (value, why it was refused), for show_config.
refused: dict[str, tuple[str, str]] = {}


def _stacklevel() -> int:
    """Point a warning at the first frame outside pyconv: the user's import or call.

    Frames of the import machinery are skipped by :mod:`warnings` itself, so they are
    not counted here either.
    """
    level = 1
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if "importlib" in filename and "_bootstrap" in filename:
            frame = frame.f_back
            continue
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR):
            break
        level += 1
        frame = frame.f_back
    return level


def refuse(
    name: str, value: str, why: str, *, instead: str = "the default", warn: bool = True
) -> None:
    """Record, and warn once per value, that ``name=value`` is ignored.

    Parameters
    ----------
    name, value : str
        The variable and its value as found in the environment.
    why : str
        What is wrong and what is accepted.
    instead : str
        What is used in its place.
    warn : bool
        False where another library already warns about the same variable (OpenMP's
        runtime about ``OMP_NUM_THREADS``): it is then only recorded for show_config.
    """
    if refused.get(name, (None,))[0] == value:
        return
    refused[name] = (value, why)
    if warn:
        warnings.warn(
            f"pyconv: environment variable {name}={value!r} is ignored: {why}; using {instead}",
            ConfigWarning,
            stacklevel=_stacklevel(),
        )


def accept(name: str) -> None:
    """Forget an earlier refusal of ``name`` (its value was read again and is fine)."""
    refused.pop(name, None)


def apply_isa() -> None:
    """Select the kernel variant ``PYCONV_ISA`` names (any case), if it names one."""
    value = os.environ.get("PYCONV_ISA", "")
    if not value.strip():
        return
    try:
        _core.set_isa(value)
    except ValueError as exc:
        refuse("PYCONV_ISA", value, str(exc), instead="the best variant this CPU runs")
