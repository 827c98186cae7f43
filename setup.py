"""Build of the native ticket core; everything else is declared in pyproject.toml.

The extension compiles native/ticket_core.pyx together with our own keccak-f[1600] in C.
It does not link against libsecp256k1 at build time: at import it takes the function
addresses from coincurve's bundled libsecp256k1 (see native/secp256k1_abi.h for why).
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

ticket_core = Extension(
    name="clearinghouse.pm._native",
    sources=["native/ticket_core.pyx", "native/keccak.c"],
    include_dirs=["native"],
    extra_compile_args=["-O3"],
)

setup(
    ext_modules=cythonize(
        [ticket_core],
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    ),
)
