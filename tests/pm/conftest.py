"""Fixtures for the ticket core: both implementations, the spec's vectors, a test key."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = Path(os.environ.get("CLEARINGHOUSE_SPEC_DIR", REPO_ROOT.parent / "shared" / "spec"))
IMPLEMENTATIONS = ["reference", "native"]


def load_core(name: str) -> ModuleType:
    """The named implementation; a missing native build fails the test rather than skipping."""
    module = "clearinghouse.pm.reference" if name == "reference" else "clearinghouse.pm._native"
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(f"native ticket core not built ({exc}); run `pip install -e .`")


@pytest.fixture(params=IMPLEMENTATIONS)
def core(request: pytest.FixtureRequest) -> ModuleType:
    return load_core(request.param)


@pytest.fixture(scope="session")
def reference_core() -> ModuleType:
    return load_core("reference")


@pytest.fixture(scope="session")
def native_core() -> ModuleType:
    return load_core("native")


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    path = SPEC_DIR / "vectors.json"
    if not path.exists():
        pytest.fail(f"spec vectors not found at {path}; set CLEARINGHOUSE_SPEC_DIR")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def hex_bytes(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))
