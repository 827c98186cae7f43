"""Fixtures for the ticket core: both implementations, the spec's vectors, a test key."""

from __future__ import annotations

import importlib
import json
from types import ModuleType
from typing import Any

import pytest

from tests.data import SPEC_VECTORS
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
    data: dict[str, Any] = json.loads(SPEC_VECTORS.read_text(encoding="utf-8"))
    return data


def hex_bytes(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))
