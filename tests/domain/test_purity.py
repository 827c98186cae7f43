"""The domain is pure: importing it loads no database, chain or transport library and no other
layer, and its values are frozen, slotted dataclasses."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

import clearinghouse.domain

DOMAIN_MODULES = sorted(
    f"clearinghouse.domain.{info.name}" for info in pkgutil.iter_modules(clearinghouse.domain.__path__)
)
LIBRARIES_OF_OTHER_LAYERS = ("sqlalchemy", "web3", "eth_account", "grpc", "starlette", "uvicorn", "click")
CLEARINGHOUSE_MODULES_ALLOWED = ("clearinghouse", "clearinghouse.errors", "clearinghouse.limits")


def test_importing_the_domain_loads_no_other_layer_and_no_io_library() -> None:
    probe = (
        "import importlib, json, sys\n"
        f"for name in {DOMAIN_MODULES!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    loaded = json.loads(result.stdout)
    assert [m for m in loaded if m.split(".")[0] in LIBRARIES_OF_OTHER_LAYERS] == []
    outside = [m for m in loaded if m.startswith("clearinghouse")
               and not m.startswith("clearinghouse.domain") and m not in CLEARINGHOUSE_MODULES_ALLOWED]
    assert outside == []


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_every_domain_value_is_a_frozen_slotted_dataclass(module: str) -> None:
    loaded = importlib.import_module(module)
    values = [v for v in vars(loaded).values()
              if isinstance(v, type) and v.__module__ == module and dataclasses.is_dataclass(v)]
    for value in values:
        assert value.__dataclass_params__.frozen, f"{value.__name__} is not frozen"  # type: ignore[attr-defined]
        assert "__slots__" in vars(value), f"{value.__name__} has no slots"


def test_the_domain_modules_are_found() -> None:
    assert {"clearinghouse.domain.sessions", "clearinghouse.domain.tickets",
            "clearinghouse.domain.chain_events"} <= set(DOMAIN_MODULES)
