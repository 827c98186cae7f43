"""`clearinghouse init`: private files created 0600, never overwritten, a config that loads, and
the same sender from an imported keystore as from an imported private key file."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from eth_account import Account

from clearinghouse.cli import main
from clearinghouse.config import load_settings

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
ADDRESS = Account.from_key(KEY).address
LIVE = {"CLEARINGHOUSE_RPC_URL": "http://127.0.0.1:8545", "CLEARINGHOUSE_CHAIN_START_BLOCK": "0"}
SECRET_FILES = ("sender-keystore.json", "passphrase", "api-key-pepper", "admin-token", "clearinghouse.toml")


@pytest.fixture(autouse=True)
def no_clearinghouse_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for variable in [name for name in os.environ if name.startswith("CLEARINGHOUSE_")]:
        monkeypatch.delenv(variable)
    yield


def init(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["init", *args], env=env)


def private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_init_writes_private_files_and_a_config_that_loads(tmp_path: Path) -> None:
    directory = tmp_path / "ch"
    result = init("--directory", str(directory), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for name in SECRET_FILES:
        assert stat.S_IMODE(os.stat(directory / name).st_mode) == 0o600, name
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert report["passphrase_generated"] is True
    for name in ("passphrase", "admin-token", "api-key-pepper"):
        assert (directory / name).read_text().strip() not in result.output  # secrets are never printed
    keystore = json.loads((directory / "sender-keystore.json").read_text())
    assert keystore["crypto"]["kdf"] == "scrypt" and keystore["crypto"]["kdfparams"]["n"] >= 2**18
    settings = load_settings(directory / "clearinghouse.toml", environ=LIVE)
    assert Account.from_key(settings.private_key()).address == report["sender"]
    assert settings.database_url == f"sqlite:///{directory.resolve()}/clearinghouse.sqlite3"
    assert settings.live_chain is not None and settings.live_chain.controller == "0xD8E8328501E9645d16Cf49539efC04f734606ee4"
    assert settings.rates.aggregator == "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612"
    assert settings.rates.sequencer_uptime_feed == "0xFdB631F5EE196F0ed6FAa767959853A9F217697D"
    assert settings.admin is not None and len(settings.admin.token()) == 64
    assert len(settings.api_key_pepper()) == 32


def test_the_config_documents_every_setting_and_needs_a_chain(tmp_path: Path) -> None:
    assert init("--directory", str(tmp_path)).exit_code == 0
    text = (tmp_path / "clearinghouse.toml").read_text()
    assert "# confirmations = 20" in text and "(env CLEARINGHOUSE_CHAIN_START_BLOCK)" in text
    assert "# [grpc]" in text and "grpc" not in tomllib.loads(text)  # optional sections stay off
    with pytest.raises(Exception, match="no chain view: set chain.rpc_url"):
        load_settings(tmp_path / "clearinghouse.toml", environ={})


def test_human_output_names_the_sender_and_next_steps(tmp_path: Path) -> None:
    result = init("--directory", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "sender           0x" in result.output and "generated; keep a copy offline" in result.output
    assert f"clearinghouse devnet --config {tmp_path / 'clearinghouse.toml'}" in result.output
    assert f"clearinghouse serve --config {tmp_path / 'clearinghouse.toml'}" in result.output


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    private(tmp_path / "api-key-pepper", "mine")
    result = init("--directory", str(tmp_path))
    assert result.exit_code == 1
    assert f"{tmp_path / 'api-key-pepper'} already exists; refusing to overwrite it" in result.output
    assert (tmp_path / "api-key-pepper").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["api-key-pepper"]  # nothing half-made


def test_the_passphrase_never_comes_from_the_command_line(tmp_path: Path) -> None:
    from clearinghouse.cli.init import init as command

    result = init("--directory", str(tmp_path), "--passphrase", "hunter2")
    assert result.exit_code == 2 and "No such option '--passphrase'" in result.output
    taking_text = {option for param in command.params for option in param.opts if not getattr(param, "is_flag", False)}
    assert taking_text == {"--directory", "--import-keystore", "--import-private-key-file", "--passphrase-file"}


def test_a_passphrase_from_the_environment_is_used_and_not_stored(tmp_path: Path) -> None:
    result = init("--directory", str(tmp_path), "--json", env={"CLEARINGHOUSE_KEY_PASSPHRASE": "env horse"})
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "passphrase").exists()
    config = tomllib.loads((tmp_path / "clearinghouse.toml").read_text())
    assert "passphrase_file" not in config["signer"]
    keystore = (tmp_path / "sender-keystore.json").read_text()
    assert Account.from_key(Account.decrypt(keystore, "env horse")).address == json.loads(result.output)["sender"]


def test_a_passphrase_file_must_be_private(tmp_path: Path) -> None:
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text("file horse\n")
    passphrase.chmod(0o644)
    result = init("--directory", str(tmp_path / "ch"), "--passphrase-file", str(passphrase))
    assert result.exit_code == 1 and "--passphrase-file" in result.output and "chmod 600" in result.output
    passphrase.chmod(0o600)
    assert init("--directory", str(tmp_path / "ch"), "--passphrase-file", str(passphrase)).exit_code == 0
    config = tomllib.loads((tmp_path / "ch" / "clearinghouse.toml").read_text())
    assert config["signer"]["passphrase_file"] == str(passphrase.resolve())


def test_an_imported_keystore_and_private_key_file_give_the_same_sender(tmp_path: Path) -> None:
    passphrase = private(tmp_path / "pass.txt", "import horse\n")
    # pbkdf2 at 1,000 rounds: an operator's old keystore in any KDF; init re-encrypts it with scrypt.
    old = private(tmp_path / "old.json", json.dumps(Account.encrypt(KEY, "import horse", kdf="pbkdf2",
                                                                    iterations=1000)))
    key_file = private(tmp_path / "key.hex", "0x" + KEY.hex() + "\n")
    from_keystore = init("--directory", str(tmp_path / "a"), "--import-keystore", str(old),
                         "--passphrase-file", str(passphrase), "--json")
    from_key = init("--directory", str(tmp_path / "b"), "--import-private-key-file", str(key_file),
                    "--passphrase-file", str(passphrase), "--json")
    assert from_keystore.exit_code == 0, from_keystore.output
    assert from_key.exit_code == 0, from_key.output
    assert json.loads(from_keystore.output)["sender"] == json.loads(from_key.output)["sender"] == ADDRESS
    reencrypted = json.loads((tmp_path / "a" / "sender-keystore.json").read_text())
    assert reencrypted["crypto"]["kdf"] == "scrypt"
    assert bytes(Account.decrypt(reencrypted, "import horse")) == KEY


def test_a_key_file_without_0x_imports_too(tmp_path: Path) -> None:
    key_file = private(tmp_path / "key.hex", KEY.hex())
    result = init("--directory", str(tmp_path / "ch"), "--import-private-key-file", str(key_file), "--json",
                  env={"CLEARINGHOUSE_KEY_PASSPHRASE": "env horse"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["sender"] == ADDRESS


@pytest.mark.parametrize("text", ["0x" + "ab" * 31, "not a key at all, but secret words", "00" * 32])
def test_a_bad_key_file_is_refused_without_quoting_it(tmp_path: Path, text: str) -> None:
    key_file = private(tmp_path / "key.hex", text)
    result = init("--directory", str(tmp_path / "ch"), "--import-private-key-file", str(key_file))
    assert result.exit_code == 1 and "--import-private-key-file" in result.output
    assert text not in result.output
    assert not (tmp_path / "ch" / "sender-keystore.json").exists()


def test_a_readable_key_file_or_a_keystore_without_passphrase_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "key.hex"
    key_file.write_text(KEY.hex())
    key_file.chmod(0o644)
    result = init("--directory", str(tmp_path / "a"), "--import-private-key-file", str(key_file))
    assert result.exit_code == 1 and "accessible by group or others" in result.output
    old = private(tmp_path / "old.json", json.dumps(Account.encrypt(KEY, "x", kdf="pbkdf2", iterations=1000)))
    result = init("--directory", str(tmp_path / "b"), "--import-keystore", str(old))
    assert result.exit_code == 1 and "--import-keystore needs the keystore's passphrase" in result.output
    wrong = private(tmp_path / "wrong.txt", "wrong horse")
    result = init("--directory", str(tmp_path / "c"), "--import-keystore", str(old), "--passphrase-file", str(wrong))
    assert result.exit_code == 1 and "cannot decrypt" in result.output and "wrong horse" not in result.output
    result = init("--directory", str(tmp_path / "d"), "--import-keystore", str(old), "--import-private-key-file",
                  str(key_file))
    assert result.exit_code == 2 and "not both" in result.output
