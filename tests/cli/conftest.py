"""The command line as a user meets it: subprocesses, real files, a real SQLite ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

SENDER_KEY = b"\x11" * 32
PEPPER_HEX = "5e" * 32
PASSPHRASE = "devnet passphrase"


def clearinghouse(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m clearinghouse`` with ``args``; never raises for a non-zero exit."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CLEARINGHOUSE_")}
    return subprocess.run(
        [sys.executable, "-m", "clearinghouse", *args], env=environment | env, cwd=cwd,
        capture_output=True, text=True, timeout=120, check=False,
    )


def write_private(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def write_daemon_config(directory: Path, http_port: int = 8935) -> Path:
    """A complete daemon configuration with a static chain view and a SQLite ledger."""
    keystore = Account.encrypt(SENDER_KEY, PASSPHRASE, kdf="pbkdf2", iterations=1000)
    write_private(directory / "sender.json", json.dumps(keystore))
    write_private(directory / "passphrase.txt", PASSPHRASE)
    write_private(directory / "pepper.txt", PEPPER_HEX)
    config = directory / "clearinghouse.toml"
    config.write_text(f"""
database_url = "sqlite:///{directory / 'clearinghouse.sqlite3'}"

[signer]
keystore = "sender.json"
passphrase_file = "passphrase.txt"

[auth]
pepper_file = "pepper.txt"

[http]
host = "127.0.0.1"
port = {http_port}

[chain.static]
deposit_wei = "1000000000000000000"
reserve_wei = "1000000000000000000"
withdraw_round = 0
current_round = 3500
current_round_block_hash = "0x4141414141414141414141414141414141414141414141414141414141414141"
last_l1_block = 20000000
""")
    return config


@pytest.fixture
def daemon_config(tmp_path: Path) -> Path:
    """A configuration whose database has been upgraded."""
    config = write_daemon_config(tmp_path)
    result = clearinghouse("db", "upgrade", "--config", str(config))
    assert result.returncode == 0, result.stderr
    return config
