"""The import rules of the package's layers (DESIGN.md), checked over the AST of every module.

Imports run one way: transports → services → adapters → ticket core → domain → foundation.
Every ``clearinghouse`` package (or top-level module) sits in one layer, and may import only from
its own layer and the layers below it:

====================  ==========================================================================
layer                 packages and modules
====================  ==========================================================================
transports            ``api``, ``cli``, ``__main__``: HTTP, gRPC and the command line.
                      Nothing below imports them.
services              ``signer`` (the payment algorithm), ``identity`` (apps, users, tokens),
                      ``config`` (builds every layer's settings from file, environment and
                      flags, so it sees the types it builds), ``keystore`` (imports a key file
                      through config's secret-file checks). Services use adapters.
adapters              ``ledger`` (database), ``chain`` (web3), ``billing`` (rates, invoices,
                      deliveries), ``events`` (outbox relay and sinks), ``logs`` (log lines, with
                      chain's URL redaction), ``alerts`` (the operator's alert webhook). No adapter imports a service; adapters may use
                      each other (billing reads the ledger and rates on chain).
ticket core           ``pm``: ticket hashing and signing, native core and reference.
domain                ``domain``: the types and rules every layer shares; pure.
foundation            ``errors`` (the exception tree's root), ``facades`` (lazy package
                      exports), ``proto`` (generated wire code), and the package itself
                      (``__version__``). Domain imports only ``errors`` of these.
====================  ==========================================================================

Every import counts: at module level, inside functions, and under ``if TYPE_CHECKING:``. Imports
by string (``importlib.import_module``, the CLI's lazy commands) are not seen; they are only used
where the importer is a transport or the package facades' own names.

``EXCEPTIONS`` lists the imports that still break a rule, each with the reason and what removes
it; a new violation, or an exception that no longer occurs, fails the test.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "clearinghouse"

TRANSPORTS, SERVICES, ADAPTERS, TICKET_CORE, DOMAIN, FOUNDATION = 5, 4, 3, 2, 1, 0
LAYER_NAMES = {5: "transports", 4: "services", 3: "adapters", 2: "ticket core", 1: "domain", 0: "foundation"}

LAYER_OF: Mapping[str, int] = {
    "api": TRANSPORTS,
    "cli": TRANSPORTS,
    "__main__": TRANSPORTS,
    "signer": SERVICES,
    "identity": SERVICES,
    "config": SERVICES,
    "keystore": SERVICES,
    "ledger": ADAPTERS,
    "chain": ADAPTERS,
    "billing": ADAPTERS,
    "events": ADAPTERS,
    "logs": ADAPTERS,
    "alerts": ADAPTERS,
    "pm": TICKET_CORE,
    "domain": DOMAIN,
    "errors": FOUNDATION,
    "facades": FOUNDATION,
    "proto": FOUNDATION,
    "": FOUNDATION,  # the package itself: clearinghouse/__init__.py (__version__)
}
"""The layer of each top-level package or module of clearinghouse (the first name after it)."""

DOMAIN_MAY_IMPORT = frozenset({"domain", "errors"})
"""The domain is pure: of the foundation it takes only the exception tree's root."""

EXCEPTIONS: Mapping[tuple[str, str], str] = {
    # (importing module, imported module): why it is still allowed and what removes it.
}


def layer_of(module: str) -> int:
    """The layer of a ``clearinghouse...`` module name; KeyError for a package not in LAYER_OF."""
    parts = module.split(".")
    return LAYER_OF[parts[1] if len(parts) > 1 else ""]


def imported_modules(module: str, source: str, is_package: bool) -> Iterable[tuple[int, str]]:
    """(line, module) of every clearinghouse module ``source`` imports, wherever the import is.

    ``from a import b`` yields ``a.b`` (b may be a module or a name in a; both belong to a's
    package); relative imports are resolved against ``module``.
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def violations(sources: Mapping[str, tuple[str, bool]]) -> list[str]:
    """Every import of ``sources`` (module name -> (source, is package)) that breaks a rule, as
    ``"importer:line imports imported: why"``; excepted pairs are reported as ``"excepted ..."``."""
    found: list[str] = []
    for module, (source, is_package) in sorted(sources.items()):
        importer = layer_of(module)
        own = module.split(".")[1] if "." in module else ""
        for line, imported in imported_modules(module, source, is_package):
            if imported != "clearinghouse" and not imported.startswith("clearinghouse."):
                continue
            target = imported.split(".")[1] if imported.count(".") else ""
            if target.startswith("__") and target != "__main__":
                target = ""  # a name of the package itself: from clearinghouse import __version__
            if target == own:
                continue
            problem = _problem(importer, own, target)
            if problem is None:
                continue
            excepted = next((pair for pair in EXCEPTIONS if pair[0] == module and imported.startswith(pair[1])), None)
            found.append(f"{'excepted ' if excepted else ''}{module}:{line} imports {imported}: {problem}")
    return found


def _problem(importer: int, own: str, target: str) -> str | None:
    imported = LAYER_OF.get(target)
    if imported is None:
        return f"clearinghouse.{target} has no layer in LAYER_OF"
    if importer == DOMAIN and target not in DOMAIN_MAY_IMPORT:
        return f"the domain imports only {sorted(DOMAIN_MAY_IMPORT - {'domain'})}"
    if imported > importer:
        return f"{LAYER_NAMES[importer]} ({own or 'clearinghouse'}) may not import {LAYER_NAMES[imported]} ({target})"
    return None


def package_sources() -> dict[str, tuple[str, bool]]:
    sources = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        sources[name] = (path.read_text(encoding="utf-8"), is_package)
    return sources


def test_every_import_follows_the_layers() -> None:
    found = violations(package_sources())
    assert [v for v in found if not v.startswith("excepted ")] == []


def test_every_exception_still_occurs() -> None:
    """An exception whose import is gone must leave EXCEPTIONS, so the list stays the truth."""
    found = violations(package_sources())
    for importer, imported in EXCEPTIONS:
        assert any(v.startswith(f"excepted {importer}:") and f" imports {imported}" in v for v in found), \
            f"{importer} no longer imports {imported}: remove it from EXCEPTIONS"


def test_every_package_has_a_layer() -> None:
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE_DIR.iterdir()
            if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "__init__.py"}
    assert tops <= set(LAYER_OF), f"give {sorted(tops - set(LAYER_OF))} a layer in LAYER_OF"


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("clearinghouse.ledger.x", "from clearinghouse.signer.service import PaymentService\n",
         "adapters (ledger) may not import services (signer)"),
        ("clearinghouse.chain.x", "def f():\n    from clearinghouse.api import errors\n",
         "adapters (chain) may not import transports (api)"),
        ("clearinghouse.signer.x",
         "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from clearinghouse.cli import main\n",
         "services (signer) may not import transports (cli)"),
        ("clearinghouse.domain.x", "from clearinghouse.pm.ev import ticket_ev\n",
         "the domain imports only"),
        ("clearinghouse.domain.x", "from clearinghouse import ledger\n", "the domain imports only"),
        ("clearinghouse.config.x", "from ..api import limits\n",
         "services (config) may not import transports (api)"),
        ("clearinghouse.pm.x", "import clearinghouse.chain.client\n",
         "ticket core (pm) may not import adapters (chain)"),
        ("clearinghouse.newpackage.x", "", None),
    ],
)
def test_a_violating_import_is_found(module: str, source: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(KeyError):
            violations({module: (source, False)})
        return
    found = violations({module: (source, False)})
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("clearinghouse.api.x", "from clearinghouse.ledger import Database\nfrom clearinghouse.signer import calls\n"),
        ("clearinghouse.signer.x", "from clearinghouse.ledger.committer import Committer\n"),
        ("clearinghouse.chain.x", "from clearinghouse.domain.chain_view import ChainView\nimport json\n"),
        ("clearinghouse.domain.x", "from clearinghouse.errors import InvalidLedgerInput\nfrom . import fields\n"),
        ("clearinghouse.billing.x", "from clearinghouse.chain.client import ChainClient\n"),
    ],
)
def test_an_allowed_import_is_not_reported(module: str, source: str) -> None:
    assert violations({module: (source, False)}) == []
