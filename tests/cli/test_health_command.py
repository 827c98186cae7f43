"""``clearinghouse health`` against a provisioned anvil devnet and its ledger: the verdict, the
document, and an exit code a probe can page on."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from clearinghouse import ledger
from clearinghouse.cli import main
from tests.cli.test_deposit import DEPOSIT_WEI, RESERVE_WEI, Home, deposit, devnet_home, home

__all__ = ["devnet_home", "home"]  # the fixtures this module uses, imported from the deposit tests


def health(home: Home, *args: str) -> Result:
    ledger.upgrade_to_head(home.provisioned.database_url)
    return CliRunner().invoke(main, ["health", "--config", home.config, *args])


def test_a_funded_devnet_sender_is_healthy(home: Home) -> None:
    result = health(home)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("deposit health: ok\n")
    assert "deposit          2 ETH" in result.output
    assert "reserve          0.5 ETH (0.5 ETH per active orchestrator of 1)" in result.output
    assert "exposure         0 tickets" in result.output


def test_the_json_document_is_exact_and_an_unlock_exits_1(home: Home) -> None:
    document = json.loads(health(home, "--json").output)
    assert document["state"] == "ok"
    assert (document["chain"]["deposit_wei"], document["chain"]["reserve_wei"]) == (str(DEPOSIT_WEI), str(RESERVE_WEI))

    assert deposit("unlock", "--yes", "--config", home.config).exit_code == 0
    result = health(home)
    assert result.exit_code == 1
    assert "critical unlock in progress: deposit and reserve withdrawable at round 3" in result.output


def test_an_unreachable_rpc_is_critical_and_says_why(home: Home) -> None:
    ledger.upgrade_to_head(home.provisioned.database_url)
    result = CliRunner().invoke(main, ["health", "--config", home.config],
                                env={"CLEARINGHOUSE_RPC_URL": "http://user:hunter2@127.0.0.1:9/"})
    assert result.exit_code == 1
    assert "chain data stale: never read" in result.output
    assert "hunter2" not in result.output
