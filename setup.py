"""Build the optional compiled stream kernel, fanin.stream._kernel.

All metadata lives in pyproject.toml. The kernel must compute exactly the bits of the
NumPy reference, so it is built without floating-point contraction (no fused
multiply-add) and without fast-math; the instruction-set variants (AVX2, AVX-512)
are chosen at run time, never with -march=native. If the compiler is missing or the
build fails, the package still installs and uses the NumPy reference stream.
"""

import os
import re
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


_NO_KERNEL_BANNER = """
************************************************************************
WARNING: fanin's compiled kernel (fanin.stream._kernel) was NOT built:
  {error}
fanin will install and work, using the NumPy reference stream: the same
values, 10-100x slower. Install a C compiler (gcc, clang or MSVC) and
reinstall to get the kernel. `import fanin` will warn about this too.
************************************************************************
"""


class BuildExt(build_ext):
    """Choose compiler flags by compiler family (gcc/clang vs MSVC); say loudly
    when the optional kernel cannot be built."""

    def finalize_options(self):
        super().finalize_options()
        # Always compile: a kernel left in build/ by an earlier install must not be
        # reused when the compiler, its flags or CC changed (CC=false must give the
        # NumPy fallback in a checkout that was built before, too).
        self.force = True

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as error:  # the compiler is missing or failed
            # a kernel from an earlier build must not be installed in its place
            stale = self.get_ext_fullpath(ext.name)
            if os.path.exists(stale):
                os.remove(stale)
            banner = _NO_KERNEL_BANNER.format(error=f"{type(error).__name__}: {error}")
            print(banner, file=sys.stderr, flush=True)
            raise  # optional=True: setuptools goes on without the extension

    def build_extensions(self):
        ctype = self.compiler.compiler_type
        for ext in self.extensions:
            if ctype == "msvc":
                # /fp:precise does not contract a*b+c into FMA (MSVC 2022 and later)
                ext.extra_compile_args = ["/O2", "/fp:precise"]
            else:
                ext.extra_compile_args = [
                    "-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-math-errno",
                    "-fno-trapping-math", "-pthread", "-std=c11",
                    "-fvisibility=hidden",
                ]
                if sys.platform.startswith("linux") or sys.platform == "darwin":
                    ext.extra_link_args = ["-pthread"]
                if os.environ.get("FANIN_KERNEL_OPT_REPORT"):
                    ext.extra_compile_args.append("-fopt-info-vec-optimized")
        super().build_extensions()


def _spec(pattern):
    """A number from fanin/stream/spec.py (its one source), without importing fanin."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "fanin", "stream", "spec.py"), encoding="utf-8") as f:
        return re.search(pattern, f.read(), re.M).group(1)


def _extensions():
    if os.environ.get("FANIN_NO_KERNEL"):
        return []
    try:
        import numpy
    except ImportError:  # pragma: no cover - pyproject's build requires provide it
        return []
    return [
        Extension(
            "fanin.stream._kernel",
            sources=["fanin/stream/_kernel.c"],
            depends=["fanin/stream/_kernel_impl.h", "fanin/stream/_kernel_avx2.h",
                     "fanin/stream/_kernel_avx512.h", "fanin/stream/_tables.h",
                     "fanin/stream/spec.py"],
            include_dirs=[numpy.get_include()],
            define_macros=[("_GNU_SOURCE", None),
                           ("FK_STREAM_VERSION", _spec(r"^STREAM_VERSION = (\d+)$")),
                           ("FK_MAX_INDEX_BITS", _spec(r"^MAX_INDEX = 1 << (\d+)$"))],
            optional=True,
        )
    ]


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
