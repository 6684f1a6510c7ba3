"""The environment variables read when pyconv is imported, and what was refused.

A bad value never breaks ``import pyconv`` (so that ``pyconv show-config`` can still run
to diagnose it): it warns once, naming the variable, the value and what is accepted; the
default is used instead, and :func:`pyconv.show_config` shows what was refused.
"""

from __future__ import annotations

import os
import warnings

from . import _core

__all__ = ["ConfigWarning", "apply_isa", "refuse", "refused"]


class ConfigWarning(UserWarning):
    """An environment variable pyconv reads has a value it cannot use."""


#: variable -> (value, why it was refused), for show_config.
refused: dict[str, tuple[str, str]] = {}


def refuse(name: str, value: str, why: str) -> None:
    """Record and warn (once per variable) that ``name=value`` is ignored."""
    if name in refused:
        return
    refused[name] = (value, why)
    warnings.warn(
        f"pyconv: environment variable {name}={value!r} is ignored: {why}; using the default",
        ConfigWarning,
        stacklevel=2,
    )


def apply_isa() -> None:
    """Select the kernel variant ``PYCONV_ISA`` names (any case), if it names one."""
    value = os.environ.get("PYCONV_ISA", "")
    if not value.strip():
        return
    try:
        _core.set_isa(value)
    except ValueError as exc:
        refuse("PYCONV_ISA", value, str(exc))
