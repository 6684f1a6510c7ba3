"""Check that the micro-kernels' hot loops keep everything in registers.

Disassembles the built ``pyconv._core`` (``objdump -d``), finds in every tile, dot and
Winograd product function (``pyconv_tile_*``, ``pyconv_dot_*``, ``pyconv_lanes_*``,
``pyconv_wgemm_*``; the compiler may inline some, which are then checked as part of
their caller only if it is one of these) its innermost loops that do the
arithmetic (fused multiply-adds, or multiplies for the SSE2 baseline), and reports any
instruction in them that reads or writes the stack: a spilled accumulator or input
vector, which costs a load and a store per tap and once halved the AVX2 tile's speed.

    python tools/check_spills.py            # the installed pyconv._core
    python tools/check_spills.py path/to/_core.so

Exit status 0 when no hot loop touches the stack, 1 otherwise (each listed), 2 when
no objdump here reads the file (binutils for its machine).  ``tests/test_build.py`` runs it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

_FUNC = re.compile(
    r"^[0-9a-f]+ <((?:pyconv_tile|pyconv_dot|pyconv_lanes|pyconv_wgemm)_[A-Za-z0-9_]+)>:$"
)
_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
# the arithmetic a hot loop is made of, per ISA
_ARITH = re.compile(r"vfmadd|vfnmadd|fmla|fmadd|mulps|mulpd")
# a stack slot: x86-64 (%rsp)/(%rbp) operands, aarch64 [sp, ...] / [x29, ...]
_STACK = re.compile(r"\(%rsp\)|\(%rbp\)|%rsp\)|%rbp\)|\[sp\b|\[x29\b")
_JUMP = re.compile(r"^(j[a-z]+|b(\.[a-z]+)?|b[a-z]{2}|cb n?z|cbn?z|tbn?z)$")


@dataclass
class Loop:
    """The instructions from a backward branch's target to the branch."""

    start: int
    end: int
    insns: list[tuple[int, str, str]]

    def contains(self, other: Loop) -> bool:
        """Whether ``other`` lies inside this loop (and is not this loop)."""
        return self.start <= other.start and other.end <= self.end and self != other


def functions(disassembly: str) -> dict[str, list[tuple[int, str, str]]]:
    """Return the kernels' instructions: name -> [(address, mnemonic, operands)]."""
    out: dict[str, list[tuple[int, str, str]]] = {}
    current: list[tuple[int, str, str]] | None = None
    for line in disassembly.splitlines():
        m = _FUNC.match(line)
        if m:
            current = out.setdefault(m.group(1), [])
            continue
        if not line.strip():
            current = None
            continue
        if current is not None:
            i = _INSN.match(line)
            if i:
                current.append((int(i.group(1), 16), i.group(2), i.group(3)))
    return out


def hot_loops(insns: list[tuple[int, str, str]]) -> list[Loop]:
    """Return the innermost loops of a function that contain its arithmetic.

    (Outer loops, over rows or channel blocks, may keep pointers on the stack: that
    costs a few loads per row, not per tap.)
    """
    loops = []
    for addr, mnemonic, operands in insns:
        if not _JUMP.match(mnemonic):
            continue
        target = re.match(r"([0-9a-f]+)\b", operands)
        if target is None:
            continue
        t = int(target.group(1), 16)
        body = [x for x in insns if t <= x[0] <= addr]
        # (a block the compiler placed after the return jumps back into the function:
        # the address range from its target spans the epilogue and is no loop)
        if t <= addr and not any(m in ("ret", "retq") for _, m, _ in body):
            loops.append(Loop(t, addr, body))
    innermost = [a for a in loops if not any(a.contains(b) for b in loops)]
    return [a for a in innermost if sum(bool(_ARITH.search(m)) for _, m, _ in a.insns) >= 4]


# ELF e_machine -> the GNU triplet whose binutils read it
_ELF_MACHINES = {62: "x86_64-linux-gnu", 183: "aarch64-linux-gnu"}


def objdump_for(path: str) -> str | None:
    """Return an objdump that reads ``path``'s machine code, or None.

    The triplet-prefixed one first: under QEMU user-mode emulation the plain ``objdump``
    is the host's, which cannot read an AArch64 build.
    """
    with open(path, "rb") as f:
        header = f.read(20)
    triplet = _ELF_MACHINES.get(int.from_bytes(header[18:20], "little"))
    candidates = [f"{triplet}-objdump"] if triplet else []
    for name in [*candidates, "objdump"]:
        tool = shutil.which(name)
        if tool is None:
            continue
        probe = subprocess.run([tool, "-f", path], capture_output=True, text=True)
        if probe.returncode == 0:
            return tool
    return None


def spills(path: str) -> dict[str, list[str]]:
    """Return, per kernel, the hot-loop instructions that touch the stack (none: [])."""
    tool = objdump_for(path)
    if tool is None:
        raise FileNotFoundError(f"no objdump here reads {path}")
    text = subprocess.run(
        [tool, "-d", "--no-show-raw-insn", path], capture_output=True, text=True, check=True
    ).stdout
    report = {}
    for name, insns in sorted(functions(text).items()):
        bad = []
        for loop in hot_loops(insns):
            bad += [f"{a:x}: {m} {o}" for a, m, o in loop.insns if _STACK.search(o)]
        report[name] = bad
    return report


def main(argv: list[str]) -> int:
    """Check the named ``_core`` (default: the installed one); return the exit status."""
    if argv:
        path = argv[0]
    else:
        from pyconv import _core

        path = _core.__file__
    if objdump_for(path) is None:
        print(f"check_spills: no objdump (binutils) here reads {path}", file=sys.stderr)
        return 2
    report = spills(path)
    if not report:
        print(f"check_spills: no pyconv_tile_*/pyconv_dot_* functions in {path}", file=sys.stderr)
        return 1
    status = 0
    for name, bad in report.items():
        print(f"{'SPILLS' if bad else 'ok':6s} {name}")
        for line in bad:
            print(f"         {line}")
        status |= bool(bad)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
