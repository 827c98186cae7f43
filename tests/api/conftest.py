"""Fixtures for the HTTP transport tests: a migrated SQLite ledger, gateways and keys, servers.

The ledger is a real SQLite file; migrating one costs ~0.3 s, so a migrated template is made
once per run and copied for each test. Servers are real uvicorn servers on loopback ports
(``clearinghouse.api.serving``).
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from clearinghouse.api import (
    ApiKeyAuthenticator,
    RemoteSignerApp,
    SigningService,
    issue_api_key,
    serving,
)
from clearinghouse.ledger import Database, create_gateway, open_database, upgrade_to_head
from clearinghouse.domain.gateways import Gateway
from tests.api.fakes import FakePaymentService
from tests.signer.builders import orchestrator_info

PEPPER = b"test-pepper-".ljust(32, b"p")
SQLITE_SUFFIXES = ("", "-wal", "-shm")


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "ledger.sqlite3"
    upgrade_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture
def db(migrated_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite ledger of this test's own."""
    target = tmp_path / "ledger.sqlite3"
    for suffix in SQLITE_SUFFIXES:
        source = Path(f"{migrated_template}{suffix}")
        if source.exists():
            shutil.copy(source, f"{target}{suffix}")
    database = open_database(f"sqlite:///{target}")
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def gateway(db: Database) -> Gateway:
    return create_gateway(db, "acme")


@pytest.fixture
def api_key(db: Database, gateway: Gateway) -> str:
    key_text, _ = issue_api_key(db, gateway.id, PEPPER)
    return key_text


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


@pytest.fixture
def fake_service() -> FakePaymentService:
    return FakePaymentService()


@pytest.fixture
def serve() -> Callable[..., AbstractContextManager[str]]:
    """serve(service, **app_options): runs a RemoteSignerApp in a context; yields its URL."""

    def start(service: SigningService, **options: Any) -> AbstractContextManager[str]:
        return serving(RemoteSignerApp(service, **options))

    return start


@pytest.fixture
def fake_server(
    fake_service: FakePaymentService,
    db: Database,
    serve: Callable[..., AbstractContextManager[str]],
) -> Iterator[str]:
    """A server with API-key authentication over the fake service; yields its base URL."""
    with serve(fake_service, api_keys=ApiKeyAuthenticator(db, PEPPER)) as url:
        yield url


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ORCHESTRATOR_B64 = b64(orchestrator_info().SerializeToString())
