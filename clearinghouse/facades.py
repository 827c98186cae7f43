"""Package facades that import their modules on first use.

A package whose ``__init__`` re-exports names from its modules (``clearinghouse.ledger``,
``clearinghouse.api``, ``clearinghouse.signer``) writes those imports once, as ordinary
``from … import …`` statements under ``if TYPE_CHECKING:``, so readers and type checkers see
exactly what it exports, and defines::

    def __getattr__(name: str) -> object:
        return _EXPORTS.load(name)

with ``_EXPORTS = facades.Facade(__name__, __file__)``. The first time a name is used, the
import that names it runs. So ``from clearinghouse import ledger`` costs nothing, and a command
that lists gateways loads the modules that list gateways and not SQLAlchemy's migrations, web3
or gRPC (issue 19: a command line that starts in a fraction of a second).
"""

from __future__ import annotations

import ast
import importlib
import sys
import threading
from pathlib import Path


class Facade:
    """The names a package's ``__init__`` imports under ``if TYPE_CHECKING:``, loaded on use."""

    def __init__(self, package: str, init_file: str) -> None:
        self._package = package
        self._init_file = Path(init_file)
        self._sources: dict[str, tuple[str, str]] | None = None
        self._lock = threading.Lock()

    def names(self) -> frozenset[str]:
        """Every name the facade exports."""
        return frozenset(self._table())

    def load(self, name: str) -> object:
        """The value of ``name``, imported from the module that defines it and kept on the
        package, so the next use is a plain attribute read.

        Raises AttributeError, as a module does, for a name the facade does not export; so
        ``from package import submodule`` still finds a submodule.
        """
        source = self._table().get(name)
        if source is None:
            raise AttributeError(f"module {self._package!r} has no attribute {name!r}")
        module, attribute = source
        value = getattr(importlib.import_module(module), attribute)
        setattr(sys.modules[self._package], name, value)
        return value

    def _table(self) -> dict[str, tuple[str, str]]:
        with self._lock:
            if self._sources is None:
                self._sources = _type_checking_imports(self._init_file.read_text(encoding="utf-8"))
            return self._sources


def _type_checking_imports(source: str) -> dict[str, tuple[str, str]]:
    """name -> (module, attribute) of every ``from module import attribute [as name]`` inside the
    module's top-level ``if TYPE_CHECKING:`` blocks."""
    table: dict[str, tuple[str, str]] = {}
    for statement in ast.parse(source).body:
        if not (isinstance(statement, ast.If) and isinstance(statement.test, ast.Name)
                and statement.test.id == "TYPE_CHECKING"):
            continue
        for node in statement.body:
            if isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
                for alias in node.names:
                    table[alias.asname or alias.name] = (node.module, alias.name)
    return table
