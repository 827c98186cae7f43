"""The command line starts fast because it imports only what the command run needs (issue 19).

What a command imports is checked here, in a fresh interpreter; how long it takes is measured by
``benchmarks/cli_startup.py`` (timings in a test would be flaky on a shared machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import write_daemon_config

HEAVY = ("sqlalchemy", "alembic", "web3", "eth_account", "grpc", "fpdf", "starlette", "uvicorn")
"""Libraries that cost tens to hundreds of milliseconds to import."""

_PROBE = """
import json, sys
from clearinghouse.cli import main
try:
    main(sys.argv[1:], prog_name="clearinghouse")
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "heavy": sorted({m.split(".")[0] for m in sys.modules} & set(%r))}))
""" % (HEAVY,)


def heavy_imports(*args: str) -> list[str]:
    """The HEAVY libraries a fresh interpreter has imported once ``clearinghouse args`` is done."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARINGHOUSE_")}
    result = subprocess.run([sys.executable, "-c", _PROBE, *args], env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["code"] in (0, None), result.stderr
    return list(report["heavy"])


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_daemon_config(tmp_path_factory.mktemp("startup"))
    subprocess.run([sys.executable, "-m", "clearinghouse", "db", "upgrade", "--config", str(path)], check=True,
                   capture_output=True, timeout=60)
    return path


def test_help_imports_no_command_and_no_heavy_library() -> None:
    assert heavy_imports("--help") == []


def test_config_show_reads_the_configuration_without_the_database_or_chain_libraries(config: Path) -> None:
    assert heavy_imports("config", "show", "--config", str(config)) == []


def test_gateway_list_reads_the_embedded_ledger_without_any_heavy_library(config: Path) -> None:
    # The SQLite ledger is read on sqlite3 alone (ledger/overview.py); SQLAlchemy's ORM would
    # cost the command ~0.35 s of its 0.3 s budget.
    heavy_imports("gateway", "add", "startup-gateway", "--config", str(config))  # a row to list
    assert heavy_imports("gateway", "list", "--config", str(config)) == []
