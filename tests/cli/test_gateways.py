"""Gateway management through the CLI: keys shown once and rotated, limits, status and the kill switch.

The first tests run the real ``python -m clearinghouse``; the later ones run click in process
(a subprocess costs seconds of imports each) against the same real SQLite ledger.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from clearinghouse import ledger
from clearinghouse.api.api_keys import (
    ApiKeyAuthenticator,
    api_key_digest,
    authenticate,
    issue_api_key,
    rotate_api_key,
)
from clearinghouse.api.errors import Unauthenticated
from clearinghouse.api.requests import RequestHeaders
from clearinghouse.cli import main
from clearinghouse.config import load_settings
from tests.cli.conftest import PEPPER_HEX, clearinghouse, write_daemon_config

PEPPER = bytes.fromhex(PEPPER_HEX)


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
    result = clearinghouse("gateway", "set-limits", gateway_id, "--mode", "credit", "--credit-limit-wei",
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


# ---- in process -------------------------------------------------------------------------------


def cli(config: Path, *args: str) -> Result:
    """``clearinghouse *args --config config`` in process; stderr kept apart from stdout."""
    return CliRunner().invoke(main, [*args, "--config", str(config)])


def cli_json(config: Path, *args: str) -> object:
    result = cli(config, *args, "--json")
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """``daemon_config`` upgraded in process (a subprocess adds seconds to every test)."""
    path = write_daemon_config(tmp_path)
    ledger.upgrade_to_head(load_settings(path).database_url)
    return path


@pytest.fixture
def db(config: Path) -> Iterator[ledger.Database]:
    database = ledger.open_database(load_settings(config).database_url)
    yield database
    database.dispose()


def gateway_with_keys(config: Path, *subjects: str) -> tuple[int, list[tuple[int, str]]]:
    """A new gateway and its keys (id, text): the first from ``gateway add``, one more per subject."""
    added = cli_json(config, "gateway", "add", "acme")
    assert isinstance(added, dict)
    keys = [(added["api_key_id"], added["api_key"])]
    for subject in subjects:
        more = cli_json(config, "gateway", "add-key", str(added["gateway_id"]), "--subject", subject)
        assert isinstance(more, dict)
        keys.append((more["api_key_id"], more["api_key"]))
    return added["gateway_id"], keys


def accepted(db: ledger.Database, key_text: str) -> bool:
    try:
        authenticate(db, PEPPER, f"Bearer {key_text}")
    except Unauthenticated:
        return False
    return True


def test_rotate_key_swaps_every_key_for_one_new_key(config: Path, db: ledger.Database) -> None:
    gateway_id, keys = gateway_with_keys(config, "user-1")
    result = cli(config, "gateway", "rotate-key", str(gateway_id))
    assert result.exit_code == 0, result.output
    new_key = result.stdout.splitlines()[0].rsplit(" ", 1)[1]
    assert new_key.startswith("chk_") and accepted(db, new_key)
    assert not any(accepted(db, text) for _, text in keys)
    assert f"revoked API keys: {keys[0][0]} (" in result.stdout
    live = [k for k in ledger.list_api_keys(db, gateway_id) if k.revoked_at is None]
    assert [(k.prefix, k.usage_subject) for k in live] == [(new_key[:12], None)]


def test_rotate_key_with_key_id_replaces_only_that_key_and_keeps_its_subject(
    config: Path, db: ledger.Database
) -> None:
    gateway_id, keys = gateway_with_keys(config, "user-1", "user-2")
    (first_id, first), (_, user_1), (user_2_id, user_2) = keys
    rotated = cli_json(config, "gateway", "rotate-key", str(gateway_id), "--key-id", str(user_2_id))
    assert isinstance(rotated, dict)
    assert [k["id"] for k in rotated["revoked"]] == [user_2_id] and rotated["subject"] == "user-2"
    assert accepted(db, first) and accepted(db, user_1) and not accepted(db, user_2)
    assert authenticate(db, PEPPER, f"Bearer {rotated['api_key']}").key.usage_subject == "user-2"
    # A key that is already revoked, or another gateway's, is refused and nothing changes.
    again = cli(config, "gateway", "rotate-key", str(gateway_id), "--key-id", str(user_2_id))
    assert again.exit_code == 1 and f"no unrevoked API key with id {user_2_id}" in again.stderr
    other = cli_json(config, "gateway", "add", "other")
    assert isinstance(other, dict)
    foreign = cli(config, "gateway", "rotate-key", str(other["gateway_id"]), "--key-id", str(first_id))
    assert foreign.exit_code == 1 and accepted(db, first)
    assert len(ledger.list_api_keys(db, gateway_id)) == 4


def test_a_daemon_refuses_the_old_key_once_its_cache_expires(config: Path, db: ledger.Database) -> None:
    gateway_id, [(_, old)] = gateway_with_keys(config)
    now_s = [100.0]
    authenticator = ApiKeyAuthenticator(db, PEPPER, cache_ttl_s=2.0, clock_s=lambda: now_s[0])
    headers = RequestHeaders([(b"authorization", f"Bearer {old}".encode())])
    assert authenticator.caller(headers).gateway_id == gateway_id
    assert cli(config, "gateway", "rotate-key", str(gateway_id)).exit_code == 0
    assert authenticator.cached_caller(headers) is not None  # within the 2 s the help warns of
    now_s[0] += 2.0
    assert authenticator.cached_caller(headers) is None
    with pytest.raises(Unauthenticated):
        authenticator.caller(headers)


def test_keys_lists_every_key_without_its_text(config: Path) -> None:
    gateway_id, keys = gateway_with_keys(config, "user-1")
    assert cli(config, "gateway", "revoke-key", str(keys[0][0])).exit_code == 0
    table = cli(config, "gateway", "keys", str(gateway_id))
    listed = cli_json(config, "gateway", "keys", str(gateway_id))
    assert table.exit_code == 0 and isinstance(listed, list)
    for _, text in keys:
        assert text not in table.stdout and text not in json.dumps(listed)
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["id", "prefix", "subject", "created", "revoked"]
    assert [row.split()[:3] for row in rows] == [[str(k["id"]), k["prefix"] + "…", k["subject"] or "-"]
                                                 for k in listed]
    assert [k["revoked_at"] is not None for k in listed] == [True, False]
    assert rows[1].endswith("UTC  -") and not rows[0].endswith("-")
    assert cli(config, "gateway", "keys", "99").exit_code == 1


def test_set_limits_keeps_what_is_not_given(config: Path) -> None:
    gateway_id = str(gateway_with_keys(config)[0])
    limits = ("--mode", "credit", "--credit-limit-wei", "1000", "--quota-wei", "700", "--quota-period", "day",
              "--subject-quota-wei", "50")
    assert cli(config, "gateway", "set-limits", gateway_id, *limits, "--reason", "plan").exit_code == 0
    changed = cli_json(config, "gateway", "set-limits", gateway_id, "--quota-wei", "900", "--reason", "more")
    assert isinstance(changed, dict)
    after = {k: changed["after"][k] for k in ("mode", "credit_limit_wei", "quota_wei", "quota_period",
                                                "subject_quota_wei")}
    assert after == {"mode": "credit", "credit_limit_wei": 1000, "quota_wei": 900, "quota_period": "day",
                     "subject_quota_wei": 50}
    assert changed["before"]["quota_wei"] == 700 and changed["after"]["reason"] == "more"
    cleared = cli_json(config, "gateway", "set-limits", gateway_id, "--no-quota", "--mode", "prepaid",
                       "--reason", "back to prepaid")
    assert isinstance(cleared, dict)
    assert (cleared["after"]["mode"], cleared["after"]["credit_limit_wei"], cleared["after"]["quota_wei"],
            cleared["after"]["subject_quota_wei"]) == ("prepaid", 0, None, 50)
    shown = cli_json(config, "gateway", "show", gateway_id)
    assert isinstance(shown, dict) and (shown["mode"], shown["quota_wei"], shown["subject_quota_wei"]) == (
        "prepaid", None, 50)


def test_set_limits_refuses_nothing_and_contradictions_as_usage_errors(config: Path) -> None:
    gateway_id = str(gateway_with_keys(config)[0])
    for args, message in (((), "nothing to change"),
                          (("--quota-wei", "5", "--no-quota"), "not both"),
                          (("--credit-limit-wei", "5"), "add --mode credit")):
        result = cli(config, "gateway", "set-limits", gateway_id, *args, "--reason", "x")
        assert result.exit_code == 2 and message in result.stderr
    assert cli(config, "gateway", "set-limits", "99", "--mode", "credit", "--reason", "x").exit_code == 1


def test_set_credit_is_a_hidden_alias_that_replaces_the_whole_policy(config: Path) -> None:
    gateway_id = str(gateway_with_keys(config)[0])
    cli(config, "gateway", "set-limits", gateway_id, "--mode", "credit", "--credit-limit-wei", "10",
        "--quota-wei", "7", "--reason", "plan")
    result = cli(config, "gateway", "set-credit", gateway_id, "--mode", "credit", "--credit-limit-wei", "20",
                 "--reason", "old script")
    assert result.exit_code == 0 and "deprecated" in result.stderr
    shown = cli_json(config, "gateway", "show", gateway_id)
    assert isinstance(shown, dict) and (shown["credit_limit_wei"], shown["quota_wei"]) == (20, None)
    assert "set-credit" not in cli(config, "gateway", "--help").stdout


def test_list_and_show_tables_match_their_json(config: Path) -> None:
    gateway_id, keys = gateway_with_keys(config, "user-1")
    cli(config, "gateway", "top-up", str(gateway_id), "--wei", "5000", "--reason", "paid")
    header, *rows = cli(config, "gateway", "list").stdout.splitlines()
    listed = cli_json(config, "gateway", "list")
    assert header.split() == ["id", "name", "status", "mode", "available", "wei", "keys"]
    assert isinstance(listed, list) and len(rows) == len(listed) == 1
    cells = rows[0].split(maxsplit=5)
    assert cells == [str(listed[0]["id"]), listed[0]["name"], listed[0]["status"], listed[0]["mode"],
                     listed[0]["available_wei"], ", ".join(listed[0]["keys"])]
    assert cells[4] == "5000"
    shown = cli(config, "gateway", "show", str(gateway_id)).stdout
    document = cli_json(config, "gateway", "show", str(gateway_id))
    assert isinstance(document, dict)
    lines = dict(line.split(maxsplit=1) for line in shown.split("\n\n")[0].splitlines())
    assert lines["available_wei"] == document["available_wei"] == "5000"
    assert lines["status"] == document["status"] == "active" and lines["quota_wei"] == "-"
    assert [k["id"] for k in document["keys"]] == [k for k, _ in keys]


def test_confirmations_have_json_too(config: Path) -> None:
    gateway_id = str(gateway_with_keys(config)[0])
    disabled = cli_json(config, "gateway", "disable", gateway_id)
    halted = cli_json(config, "gateway", "halt", gateway_id, "--reason", "leak")
    topped = cli_json(config, "gateway", "top-up", gateway_id, "--wei", "7", "--reason", "paid")
    assert isinstance(disabled, dict) and isinstance(halted, dict) and isinstance(topped, dict)
    assert (disabled["status"], halted["engaged"], topped["amount_wei"]) == ("disabled", True, "7")


def test_rotations_racing_on_one_gateway_leave_exactly_one_live_key(ledger_db: ledger.Database) -> None:
    """Both backends: the gateway row lock (PostgreSQL) or the write lock (SQLite) orders them."""
    gateway = ledger.create_gateway(ledger_db, "race")
    issue_api_key(ledger_db, gateway.id, PEPPER)
    with ThreadPoolExecutor(max_workers=8) as pool:
        rotated = list(pool.map(lambda _: rotate_api_key(ledger_db, gateway.id, PEPPER)[0], range(16)))
    live = [k for k in ledger.list_api_keys(ledger_db, gateway.id) if k.revoked_at is None]
    assert len(live) == 1 and len(ledger.list_api_keys(ledger_db, gateway.id)) == 17
    assert [accepted(ledger_db, text) for text in rotated].count(True) == 1


def test_rotate_key_on_each_backend(migrated_database_url: str, config: Path) -> None:
    added = cli_json(config, "gateway", "add", "acme", "--database-url", migrated_database_url)
    assert isinstance(added, dict)
    rotated = cli_json(config, "gateway", "rotate-key", str(added["gateway_id"]),
                       "--database-url", migrated_database_url)
    assert isinstance(rotated, dict) and [k["id"] for k in rotated["revoked"]] == [added["api_key_id"]]
    db = ledger.open_database(migrated_database_url)
    try:
        assert accepted(db, rotated["api_key"]) and not accepted(db, added["api_key"])
    finally:
        db.dispose()
