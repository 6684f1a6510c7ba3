"""``pyconv.show_config()``: what this installation was built with and will run on."""

from __future__ import annotations

import os
import platform
import sys

import numpy as np

from . import _core, _environment, _registry, _threads
from ._version import __version__

__all__ = ["show_config"]


def _config() -> dict:
    core = {
        "path": _core.__file__,
        "cflags": _core.build_cflags(),
        "openmp": _core.openmp_enabled(),
        "isa": _core.isa(),
    }
    return {
        "pyconv": __version__,
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "numpy": np.__version__,
        "core": core,
        "threads": _threads.get_num_threads(),
        "PYCONV_NUM_THREADS": os.environ.get("PYCONV_NUM_THREADS"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "cores_available": _threads._available_cores(),
        "default_backend": _registry.current_backend_name(),
        "backends": {b.name: None if b.available else b.reason for b in _registry.backends()},
        # environment variables whose value was ignored: name -> {"value", "why"}
        "refused": {
            name: {"value": value, "why": why}
            for name, (value, why) in sorted(_environment.refused.items())
        },
    }


def show_config(*, as_dict: bool = False) -> dict | None:
    """Print the version, build flags, OpenMP, thread count and backends.

    Parameters
    ----------
    as_dict : bool, default False
        Return the information as a dict instead of printing it.

    Returns
    -------
    dict or None
    """
    cfg = _config()
    if as_dict:
        return cfg
    core = cfg["core"]
    lines = [
        f"pyconv {cfg['pyconv']}",
        f"  python            {cfg['python']} ({cfg['platform']}), numpy {cfg['numpy']}",
    ]
    lines += [
        f"  compiled core     {core['path']}",
        f"  compiler flags    {core['cflags']}",
        f"  OpenMP            {'enabled' if core['openmp'] else 'DISABLED (serial build)'}",
        f"  kernel ISA        {core['isa']} (chosen at import; PYCONV_ISA overrides)",
    ]
    env = cfg["PYCONV_NUM_THREADS"]
    lines.append(
        f"  threads           {cfg['threads']} "
        f"(PYCONV_NUM_THREADS={env or 'unset'}, OMP_NUM_THREADS="
        f"{cfg['OMP_NUM_THREADS'] or 'unset'}, {cfg['cores_available']} cores available)"
    )
    for name, r in cfg["refused"].items():
        lines.append(f"  IGNORED           {name}={r['value']!r}: {r['why']}")
    for name, reason in cfg["backends"].items():
        tag = " (default)" if name == cfg["default_backend"] else ""
        state = "available" if reason is None else f"unavailable: {reason}"
        lines.append(f"  backend {name:<9s} {state}{tag}")
    print("\n".join(lines))
    return None
