"""The backends table of docs/backends.md, made from pyconv's built-in specs only.

Generated at build time from the declarations the backends ship, never from what is
installed on the machine that builds the docs: the page must read the same wherever it
is built.  Plugins' rows come from ``pyconv backends`` on the reader's own machine.
"""

from __future__ import annotations

from pyconv import Capabilities
from pyconv._backends.entry_points import SPECS

HEADER = (
    "| backend | needs | dtypes | stride / dilation / groups | padding | devices | accuracy "
    "| deterministic |\n|---|---|---|---|---|---|---|---|"
)


def backends_table() -> str:
    """Return the Markdown table of the built-in backends' declared capabilities."""
    rows = [HEADER]
    for name, spec in SPECS.items():
        c = Capabilities.from_dict(spec["capabilities"])
        needs = ", ".join(f"`{m}` (`{spec['install_hint']}`)" for m in spec["requires"]) or "-"
        flags = " / ".join(
            "yes" if getattr(c, k) else "no" for k in ("stride", "dilation", "groups")
        )
        rows.append(
            f"| `{name}` | {needs} | {', '.join(c.dtypes)} | {flags} | {', '.join(c.padding)} "
            f"| {', '.join(c.devices)} | {c.accuracy} (c = {c.accuracy_c:g}) "
            f"| {'yes' if c.deterministic else 'no'} |"
        )
    return "\n".join(rows) + "\n"
