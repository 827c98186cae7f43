"""Build of the native ticket core and the protobuf modules; the rest is in pyproject.toml.

The extension compiles native/ticket_core.pyx, which includes our own keccak-f[1600] (native/keccak.h).
It does not link against libsecp256k1 at build time: at import it takes the function
addresses from coincurve's bundled libsecp256k1 (see native/secp256k1_abi.h for why).

protos/*.proto are compiled by grpc_tools.protoc into clearinghouse/proto/ (modules, .pyi
stubs, and gRPC stubs for files that declare a service) before build_py copies the package.
setuptools runs build_py for editable installs as well, and the modules are written into the
source tree, so `pip install -e .` sees them too. They are build outputs and gitignored.
"""

import re
from importlib import resources
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROTO_SOURCE_DIR = ROOT / "protos"
PROTO_PACKAGE_DIR = ROOT / "clearinghouse" / "proto"
SERVICE_RE = re.compile(r"^\s*service\s+\w+", re.MULTILINE)
# protoc writes `import x_pb2` for one of our .proto files importing another (clearinghouse.proto
# imports lp_rpc.proto), in the module and in its .pyi stub; inside the clearinghouse.proto
# package that must be a relative import.
SIBLING_IMPORT_RE = re.compile(r"^import (\w+_pb2) as ", re.MULTILINE)


def compile_protos() -> None:
    """Generate clearinghouse/proto/*_pb2.py(i) (and *_pb2_grpc.py) from protos/*.proto."""
    from grpc_tools import protoc  # a build requirement ([build-system] in pyproject.toml)

    sources = sorted(PROTO_SOURCE_DIR.glob("*.proto"))
    if not sources:
        raise RuntimeError(f"no .proto files in {PROTO_SOURCE_DIR}")
    well_known = resources.files("grpc_tools") / "_proto"
    for source in sources:
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_SOURCE_DIR}",
            f"-I{well_known}",
            f"--python_out={PROTO_PACKAGE_DIR}",
            f"--pyi_out={PROTO_PACKAGE_DIR}",
        ]
        if SERVICE_RE.search(source.read_text(encoding="utf-8")):
            args.append(f"--grpc_python_out={PROTO_PACKAGE_DIR}")
        if protoc.main([*args, str(source)]) != 0:
            raise RuntimeError(f"protoc failed on {source}")
    local = {source.stem + "_pb2" for source in sources}
    for generated in [*PROTO_PACKAGE_DIR.glob("*_pb2*.py"), *PROTO_PACKAGE_DIR.glob("*_pb2*.pyi")]:
        text = generated.read_text(encoding="utf-8")
        fixed = SIBLING_IMPORT_RE.sub(
            lambda m: f"from . import {m[1]} as " if m[1] in local else m[0], text
        )
        if fixed != text:
            generated.write_text(fixed, encoding="utf-8")


class BuildPyWithProtos(build_py):
    """build_py that first compiles the protobuf modules into the package."""

    def run(self) -> None:
        compile_protos()
        super().run()


ticket_core = Extension(
    name="clearinghouse.pm._native",
    sources=["native/ticket_core.pyx"],
    include_dirs=["native"],
    extra_compile_args=["-O3"],
)

setup(
    cmdclass={"build_py": BuildPyWithProtos},
    ext_modules=cythonize(
        [ticket_core],
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    ),
)
