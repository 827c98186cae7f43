"""[admin]: absent means no admin API; the token comes from CLEARINGHOUSE_ADMIN_TOKEN or a file of
mode 0600, and must hold at least ADMIN_TOKEN_BYTES_MIN random bytes."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from clearinghouse.config import ADMIN_TOKEN_BYTES_MIN, ConfigError, load_settings
from tests.test_config import secret_file

TOKEN = secrets.token_hex(ADMIN_TOKEN_BYTES_MIN)
BASE = """
database_url = "sqlite:///ledger.sqlite3"

[signer]
keystore = "sender.json"

[auth]
pepper_file = "pepper.txt"

[http]
host = "127.0.0.1"
port = 8935

[chain.static]
deposit_wei = 1
reserve_wei = 1
withdraw_round = 0
current_round = 1
current_round_block_hash = "0x4141414141414141414141414141414141414141414141414141414141414141"
last_l1_block = 1
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A minimal configuration without [admin], and no admin token in the environment."""
    monkeypatch.delenv("CLEARINGHOUSE_ADMIN_TOKEN", raising=False)
    path = tmp_path / "clearinghouse.toml"
    path.write_text(BASE)
    return path


def with_admin(config: Path, section: str) -> Path:
    config.write_text(config.read_text() + section)
    return config


def test_no_admin_section_means_no_admin_api(config: Path) -> None:
    assert load_settings(config).admin is None


def test_the_token_is_read_from_its_file(config: Path) -> None:
    secret_file(config.parent / "admin.token", TOKEN + "\n")
    admin = load_settings(with_admin(config, '\n[admin]\ntoken_file = "admin.token"\n')).admin
    assert admin is not None and admin.token_file == config.parent / "admin.token"
    assert admin.token() == TOKEN
    urlsafe = secrets.token_urlsafe(ADMIN_TOKEN_BYTES_MIN)
    secret_file(config.parent / "admin.token", urlsafe)
    assert admin.token() == urlsafe


def test_a_token_file_readable_by_others_is_refused(config: Path) -> None:
    secret_file(config.parent / "admin.token", TOKEN, mode=0o640)
    admin = load_settings(with_admin(config, '\n[admin]\ntoken_file = "admin.token"\n')).admin
    assert admin is not None
    with pytest.raises(ConfigError, match=r"admin.token_file .* accessible by group or others \(mode 640\)"):
        admin.token()


def test_the_environment_overrides_the_file(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file(config.parent / "admin.token", TOKEN)
    admin = load_settings(with_admin(config, '\n[admin]\ntoken_file = "admin.token"\n')).admin
    assert admin is not None
    other = secrets.token_hex(ADMIN_TOKEN_BYTES_MIN)
    monkeypatch.setenv("CLEARINGHOUSE_ADMIN_TOKEN", other)
    assert admin.token() == other


def test_an_admin_section_without_any_token_is_refused_by_name(config: Path) -> None:
    admin = load_settings(with_admin(config, "\n[admin]\n")).admin
    assert admin is not None
    with pytest.raises(ConfigError, match="set CLEARINGHOUSE_ADMIN_TOKEN or admin.token_file"):
        admin.token()


@pytest.mark.parametrize("token", [
    secrets.token_hex(ADMIN_TOKEN_BYTES_MIN - 1),  # 31 bytes of hex
    secrets.token_urlsafe(ADMIN_TOKEN_BYTES_MIN)[:40],  # 30 bytes of base64
    "correct horse battery staple, but not random at all!!",
], ids=["hex-31-bytes", "base64-30-bytes", "passphrase"])
def test_short_or_guessable_tokens_are_refused(
    config: Path, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    admin = load_settings(with_admin(config, "\n[admin]\n")).admin
    assert admin is not None
    monkeypatch.setenv("CLEARINGHOUSE_ADMIN_TOKEN", token)
    with pytest.raises(ConfigError, match="admin token must") as refused:
        admin.token()
    assert token not in str(refused.value)


def test_a_token_file_that_is_not_text_is_refused(config: Path) -> None:
    with pytest.raises(ConfigError, match="admin.token_file must be a non-empty string, got 7"):
        load_settings(with_admin(config, "\n[admin]\ntoken_file = 7\n"))
