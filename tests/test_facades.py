"""Package facades (clearinghouse.facades): every exported name loads, and nothing else is exported."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from clearinghouse.facades import Facade

PACKAGES = ("clearinghouse.ledger", "clearinghouse.api", "clearinghouse.signer")
SUBMODULE = {"clearinghouse.ledger": "errors", "clearinghouse.api": "errors", "clearinghouse.signer": "decision"}
"""A module of each package, imported by name past its facade."""


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_of_all_is_exported_and_loads(package: str) -> None:
    module = importlib.import_module(package)
    facade: Facade = module._EXPORTS
    assert set(module.__all__) == facade.names()
    for name in module.__all__:
        value = getattr(module, name)
        assert getattr(importlib.import_module(facade._table()[name][0]), name) is value


@pytest.mark.parametrize("package", PACKAGES)
def test_an_unknown_name_is_an_attribute_error_and_submodules_still_import(package: str) -> None:
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # noqa: B018
    submodule = f"{package}.{SUBMODULE[package]}"
    assert importlib.import_module(submodule).__name__ == submodule


def test_importing_a_package_imports_none_of_its_modules() -> None:
    probe = "import sys, clearinghouse.ledger, clearinghouse.api, clearinghouse.signer; " \
            "print(sorted(m for m in sys.modules if m.count('.') > 1 and m.startswith('clearinghouse.')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"
