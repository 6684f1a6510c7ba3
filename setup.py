"""Build script for pyconv's compiled core.

Metadata lives in pyproject.toml; this file only describes the extension and probes the
compiler for OpenMP, so that ``pip install .`` works with or without it.

Environment switches (all optional):

``PYCONV_DISABLE_OPENMP=1``
    build the serial kernels even when the compiler supports OpenMP.
``PYCONV_EXTRA_CFLAGS="..."``
    extra compiler flags appended last (for example ``-march=native`` for a local,
    non-portable build; the default build is portable).
``PYCONV_SANITIZE=1``
    a debug build for finding memory errors (``.ci/sanitize``, docs/development.md):
    AddressSanitizer and UndefinedBehaviorSanitizer (``-O1 -g``), and Cython's bounds
    and initialisation checks on memoryviews turned on.  Its generated C goes to
    ``build/sanitize/``, so the normal build's generated C files are left alone.  Import
    the result with the sanitizer runtime preloaded
    (``LD_PRELOAD=$(gcc -print-file-name=libasan.so)``).
"""

import os
import shlex
import sys
import tempfile
import textwrap
import warnings

import numpy as np
import setuptools
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# pyproject.toml's `license = "BSD-3-Clause"` (an SPDX expression, PEP 639) is read by
# setuptools >= 77 only; an older one (a build without isolation) fails with a schema
# error that does not say so.  Keep in step with [build-system] requires.
SETUPTOOLS_MIN = (77, 0)
if tuple(int(p) for p in setuptools.__version__.split(".")[:2] if p.isdigit()) < SETUPTOOLS_MIN:
    sys.exit(
        f"pyconv needs setuptools >= {SETUPTOOLS_MIN[0]} to build, but this environment has "
        f"setuptools {setuptools.__version__}: python -m pip install --upgrade "
        f"'setuptools>={SETUPTOOLS_MIN[0]}' (or build with isolation, pip's default, which "
        "installs it)"
    )

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return omp_get_max_threads() > 0 && n > 0 ? 0 : 1;
    }
    """
)

# Candidate flag sets, tried in order: GCC/Clang on Linux, then Apple clang + libomp.
OPENMP_FLAGS = [
    (["-fopenmp"], ["-fopenmp"]),
    (["-Xpreprocessor", "-fopenmp"], ["-lomp"]),
]


def probe_openmp(compiler):
    """Return (compile_args, link_args) that build an OpenMP program, or None."""
    if os.environ.get("PYCONV_DISABLE_OPENMP", "") not in ("", "0"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe_openmp.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        for cflags, ldflags in OPENMP_FLAGS:
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                compiler.link_executable(
                    objs, "probe_openmp", output_dir=tmp, extra_postargs=ldflags
                )
            except Exception:
                continue
            return cflags, ldflags
    return None


class BuildExt(build_ext):
    """build_ext that adds OpenMP flags when the compiler supports them."""

    def build_extensions(self):
        found = probe_openmp(self.compiler)
        if found is None:
            warnings.warn(
                "pyconv: building WITHOUT OpenMP (the compiler could not build an OpenMP "
                "test program, or PYCONV_DISABLE_OPENMP is set). The kernels will run on "
                "one thread. On Linux install a GCC with libgomp; on macOS `brew install "
                "libomp`.",
                stacklevel=1,
            )
            print("pyconv: OpenMP disabled", file=sys.stderr)
        for ext in self.extensions:
            if found is not None:
                ext.extra_compile_args += found[0]
                ext.extra_link_args += found[1]
            flags = " ".join(ext.extra_compile_args)
            ext.define_macros.append(("PYCONV_BUILD_CFLAGS", '"{}"'.format(flags.replace('"', ""))))
        super().build_extensions()


SANITIZE = os.environ.get("PYCONV_SANITIZE", "") not in ("", "0")
# -O1 keeps the reports' stack traces readable; UB aborts instead of printing and going on.
SANITIZE_CFLAGS = [
    "-O1",
    "-g",
    "-fno-omit-frame-pointer",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=undefined",
]
SANITIZE_LDFLAGS = ["-fsanitize=address,undefined"]


def extra_compile_args():
    # GCC and Clang only: the kernels use GCC vector types, posix_memalign and
    # clock_gettime (Linux and macOS; Windows is not supported, see docs/development.md).
    # (an undeclared function is an error: as a warning it built a module that failed
    # to import, its symbol undefined)
    args = [
        "-O3",
        "-fno-math-errno",
        "-Wno-unused-function",
        "-Werror=implicit-function-declaration",
    ]
    if SANITIZE:
        args += SANITIZE_CFLAGS
    args += shlex.split(os.environ.get("PYCONV_EXTRA_CFLAGS", ""))
    return args


ext = Extension(
    "pyconv._core",
    sources=["pyconv/_core.pyx"],
    include_dirs=[np.get_include(), "pyconv"],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=extra_compile_args(),
    extra_link_args=SANITIZE_LDFLAGS if SANITIZE else [],
    language="c",
)
# The pooling kernels (max, average, adaptive): their own module, the same flags.
pool_ext = Extension(
    "pyconv._pool",
    sources=["pyconv/_pool.pyx"],
    include_dirs=[np.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=extra_compile_args(),
    extra_link_args=SANITIZE_LDFLAGS if SANITIZE else [],
    language="c",
)

# The Cython directives, in this one place (the sources set none, so nothing overrides
# these).  The sanitizer build turns the bounds and initialisation checks on; wraparound
# stays off, so that a negative index is reported as out of bounds instead of wrapping.
directives = {
    "language_level": 3,
    "boundscheck": SANITIZE,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": SANITIZE,
    "embedsignature": True,
}
cython_options = {}
if SANITIZE:
    # its generated C goes elsewhere, so the normal build's generated C files are left alone
    cython_options = {"build_dir": os.path.join("build", "sanitize"), "force": True}

setup(
    ext_modules=cythonize([ext, pool_ext], compiler_directives=directives, **cython_options),
    cmdclass={"build_ext": BuildExt},
)
