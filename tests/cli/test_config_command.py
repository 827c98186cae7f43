"""`clearinghouse config show`: effective values with their sources, and no secret ever shown."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from clearinghouse.cli import main
from tests.cli.conftest import PASSPHRASE, PEPPER_HEX, write_daemon_config

RPC_URL = "https://user:hunter2@arb.example/v3/0123456789abcdef0123456789abcdef"
LIVE = {
    "CLEARINGHOUSE_RPC_URL": RPC_URL,
    "CLEARINGHOUSE_CHAIN_CONTROLLER": "0xD8E8328501E9645d16Cf49539efC04f734606ee4",
    "CLEARINGHOUSE_CHAIN_START_BLOCK": "250000000",
    "CLEARINGHOUSE_DATABASE_URL": "postgresql+psycopg://ch:pa55word@db.example/ch",
}


@pytest.fixture(autouse=True)
def no_clearinghouse_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for variable in [name for name in os.environ if name.startswith("CLEARINGHOUSE_")]:
        monkeypatch.delenv(variable)
    yield


def show(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["config", "show", "--config", str(config), *args], env=env)


def test_credentials_in_urls_are_masked_and_sources_are_named(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)
    result = show(config, "--json", "--port", "9100", env=LIVE | {"CLEARINGHOUSE_KEY_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 0, result.output
    for secret in ("hunter2", "user:", "0123456789abcdef", "pa55word", PASSPHRASE, PEPPER_HEX):
        assert secret not in result.output
    shown = json.loads(result.output)
    assert shown["chain.rpc_url"] == {"value": "https://arb.example/v3/***", "source": "env CLEARINGHOUSE_RPC_URL"}
    assert shown["database_url"] == {"value": "postgresql+psycopg://ch:***@db.example/ch",
                                     "source": "env CLEARINGHOUSE_DATABASE_URL"}
    assert shown["chain.start_block"] == {"value": 250000000, "source": "env CLEARINGHOUSE_CHAIN_START_BLOCK"}
    assert shown["http.port"] == {"value": 9100, "source": "flag"}
    assert shown["http.host"] == {"value": "127.0.0.1", "source": "file"}
    assert shown["chain.confirmations"] == {"value": 20, "source": "default"}
    assert shown["grpc.chain_id"] == {"value": None, "source": "default"}  # [grpc] is off
    assert shown["secret_variables"]["CLEARINGHOUSE_KEY_PASSPHRASE"] is True
    assert shown["secret_variables"]["CLEARINGHOUSE_API_KEY_PEPPER"] is False


def test_secret_files_show_path_presence_and_mode_only(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)
    (tmp_path / "pepper.txt").chmod(0o644)
    (tmp_path / "passphrase.txt").unlink()
    shown = json.loads(show(config, "--json").output)
    assert shown["signer.keystore"] == {"path": str(tmp_path / "sender.json"), "present": True, "private": True,
                                        "mode": "0600", "source": "file"}
    assert shown["auth.pepper_file"]["private"] is False and shown["auth.pepper_file"]["mode"] == "0644"
    assert shown["signer.passphrase_file"] == {"path": str(tmp_path / "passphrase.txt"), "present": False,
                                               "private": False, "source": "file"}
    text = show(config).output
    assert f"{tmp_path / 'pepper.txt'} (present, mode 0644, ACCESSIBLE BY GROUP OR OTHERS)  (file)" in text
    assert f"{tmp_path / 'passphrase.txt'} (missing)  (file)" in text
    assert PEPPER_HEX not in text


def test_webhook_headers_and_the_alert_url_are_masked(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)
    with config.open("a") as file:
        file.write('\n[webhook]\nurl = "https://auth.example/authorize"\ngateway_id = 3\n'
                   'headers = { "X-Api-Key" = "webhook-secret" }\n'
                   '[health]\nalert_webhook_url = "https://hooks.example/services/T0/B1/xoxb77"\n')
    result = show(config, "--json")
    assert result.exit_code == 0, result.output
    assert "webhook-secret" not in result.output and "xoxb77" not in result.output
    shown = json.loads(result.output)
    assert shown["webhook.headers"]["value"] == {"X-Api-Key": "***"}
    assert shown["health.alert_webhook_url"]["value"] == "https://hooks.example/***"
    assert shown["webhook.url"]["value"] == "https://auth.example/authorize"


def test_human_output_names_each_source(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)
    result = show(config, "--log-level", "debug", env=LIVE)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert lines["chain.rpc_url"].endswith("https://arb.example/v3/***  (env CLEARINGHOUSE_RPC_URL)")
    assert lines["log.level"].endswith("debug  (flag)") and lines["log.format"].endswith("json  (default)")
    assert lines["http.allow_plain_public"].endswith("false  (default)")
    assert lines["CLEARINGHOUSE_KEY_PASSPHRASE"].endswith("not set")


def test_an_invalid_configuration_exits_1_naming_the_setting(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)
    config.write_text(config.read_text().replace("[http]", "[http]\nhots = 1"))
    result = show(config)
    assert result.exit_code == 1 and "unknown setting 'http.hots'; did you mean 'http.host'?" in result.output
    result = show(tmp_path / "missing.toml")
    assert result.exit_code == 1 and "no configuration at" in result.output
    result = CliRunner().invoke(main, ["config", "show", "--config", str(write_daemon_config(tmp_path))],
                                env={"CLEARINGHOUSE_RATES_REFRESH": "5"})
    assert result.exit_code == 1 and "CLEARINGHOUSE_RATES_REFRESH is not a setting" in result.output
