"""Gateway management through the CLI: keys shown once, credit, status and the kill switch."""

from __future__ import annotations

import json
from pathlib import Path

from clearinghouse import ledger
from clearinghouse.api.api_keys import api_key_digest
from clearinghouse.config import load_settings
from tests.cli.conftest import PEPPER_HEX, clearinghouse


def run_json(*args: str) -> object:
    result = clearinghouse(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_add_shows_the_key_once_and_stores_only_its_digest(daemon_config: Path) -> None:
    added = run_json("gateway", "add", "acme", "--config", str(daemon_config))
    assert isinstance(added, dict) and added["api_key"].startswith("chk_")
    db = ledger.open_database(load_settings(daemon_config).database_url)
    found = ledger.authenticate_api_key(db, api_key_digest(bytes.fromhex(PEPPER_HEX), added["api_key"]))
    assert found is not None and found.gateway.name == "acme"
    db.dispose()
    listing = clearinghouse("gateway", "list", "--config", str(daemon_config))
    assert "acme" in listing.stdout and added["api_key"] not in listing.stdout
    assert added["api_key"][:12] + "…" in listing.stdout
    assert added["api_key"].encode() not in (daemon_config.parent / "clearinghouse.sqlite3").read_bytes()


def test_credit_top_up_and_show(daemon_config: Path) -> None:
    gateway_id = str(run_json("gateway", "add", "acme", "--config", str(daemon_config))["gateway_id"])  # type: ignore[index]
    shown = run_json("gateway", "show", gateway_id, "--config", str(daemon_config))
    assert isinstance(shown, dict) and (shown["mode"], shown["available_wei"]) == ("prepaid", "0")
    result = clearinghouse("gateway", "top-up", gateway_id, "--wei", "5000", "--reason", "paid",
                           "--config", str(daemon_config))
    assert result.returncode == 0, result.stderr
    result = clearinghouse("gateway", "set-credit", gateway_id, "--mode", "credit", "--credit-limit-wei",
                           "1000", "--quota-wei", "700", "--reason", "trial", "--config", str(daemon_config))
    assert result.returncode == 0, result.stderr
    result = clearinghouse("gateway", "adjust", gateway_id, "--wei=-7/2", "--reason", "goodwill",
                           "--config", str(daemon_config))
    assert result.returncode == 0, result.stderr
    assert clearinghouse("gateway", "adjust", gateway_id, "--wei", "abc", "--reason", "x",
                         "--config", str(daemon_config)).returncode == 2
    shown = run_json("gateway", "show", gateway_id, "--config", str(daemon_config))
    assert isinstance(shown, dict)
    assert (shown["mode"], shown["credit_limit_wei"], shown["quota_wei"]) == ("credit", 1000, 700)
    assert shown["available_wei"] == "12007/2"
    assert clearinghouse("ledger", "verify", "--config", str(daemon_config)).returncode == 0


def test_bad_input_exits_non_zero_with_the_reason(daemon_config: Path) -> None:
    result = clearinghouse("gateway", "top-up", "99", "--wei", "5", "--reason", "x", "--config", str(daemon_config))
    assert result.returncode == 1 and "99" in result.stderr
    result = clearinghouse("gateway", "top-up", "1", "--wei", "0", "--reason", "x", "--config", str(daemon_config))
    assert result.returncode == 2 and "0 is not in the range x>=1" in result.stderr
    result = clearinghouse("gateway", "list", "--config", str(daemon_config.parent / "missing.toml"))
    assert result.returncode == 1 and "no configuration at" in result.stderr


def test_disable_and_kill_switches(daemon_config: Path) -> None:
    gateway_id = str(run_json("gateway", "add", "acme", "--config", str(daemon_config))["gateway_id"])  # type: ignore[index]
    assert "is disabled" in clearinghouse("gateway", "disable", gateway_id, "--config", str(daemon_config)).stdout
    assert "is active" in clearinghouse("gateway", "enable", gateway_id, "--config", str(daemon_config)).stdout
    halted = clearinghouse("signing", "halt", "--reason", "incident", "--config", str(daemon_config))
    assert halted.returncode == 0 and "signing halted for global: incident" in halted.stdout
    db = ledger.open_database(load_settings(daemon_config).database_url)
    assert ledger.signing_halt(db, int(gateway_id)) is not None
    clearinghouse("signing", "resume", "--reason", "resolved", "--config", str(daemon_config))
    assert ledger.signing_halt(db, int(gateway_id)) is None
    db.dispose()
