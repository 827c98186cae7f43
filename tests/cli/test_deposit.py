"""``clearinghouse deposit …`` against a provisioned anvil devnet: plans, confirmation, exact
balances, refusals that send nothing, and RPC credentials that never reach the output.

Commands run in process through click's CliRunner (a subprocess costs ~3 s of imports each);
one test runs the real ``python -m clearinghouse`` to show the group is wired in.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from eth_account import Account
from eth_typing import ChecksumAddress, HexStr
from web3 import Web3

from clearinghouse.chain.anvil import Anvil, revert, snapshot, start_anvil
from clearinghouse.chain.devnet import ProvisionedDevnet, advance_round, provision_devnet
from clearinghouse.cli import main
from tests.cli.conftest import clearinghouse, write_daemon_config, write_private

DEPOSIT_WEI = 2 * 10**18
RESERVE_WEI = 5 * 10**17
CREDENTIALS = ("alice", "hunter2", "qwertyuiop")


@dataclass(frozen=True, slots=True)
class Home:
    """A provisioned devnet, its configuration, and a Web3 on its chain."""

    anvil: Anvil
    provisioned: ProvisionedDevnet
    w3: Web3

    @property
    def config(self) -> str:
        return str(self.provisioned.config_path)

    @property
    def sender(self) -> ChecksumAddress:
        return self.provisioned.sender

    def nonce_and_head(self) -> tuple[int, int]:
        """anvil mines every transaction at once: both unchanged means nothing was sent."""
        return self.w3.eth.get_transaction_count(self.sender), self.w3.eth.block_number


@pytest.fixture(scope="module")
def devnet_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    with start_anvil() as anvil:
        directory = tmp_path_factory.mktemp("deposit") / "home"
        provisioned = provision_devnet(directory, anvil, deposit_wei=DEPOSIT_WEI, reserve_wei=RESERVE_WEI)
        # The same key under a cheap KDF: scrypt would add ~1 s to every command.
        passphrase = provisioned.passphrase_path.read_text().strip()
        key = Account.decrypt(provisioned.keystore_path.read_text(), passphrase)
        keystore = Account.encrypt(key, passphrase, kdf="pbkdf2", iterations=1000)
        write_private(provisioned.keystore_path, json.dumps(keystore))
        yield Home(anvil=anvil, provisioned=provisioned, w3=anvil.web3())


@pytest.fixture
def home(devnet_home: Home, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    """The module's devnet, reverted after the test; no secret comes from the environment."""
    for variable in ("CLEARINGHOUSE_RPC_URL", "CLEARINGHOUSE_KEY_PASSPHRASE"):
        monkeypatch.delenv(variable, raising=False)
    snapshot_id = snapshot(devnet_home.w3)
    yield devnet_home
    revert(devnet_home.w3, snapshot_id)


def deposit(*args: str, stdin: str | None = None, **env: str) -> Result:
    """``clearinghouse deposit *args`` in process, with ``stdin`` as its input and ``env`` set."""
    return CliRunner().invoke(main, ["deposit", *args], input=stdin, env=env or None)


def tx_hash_of(result: Result) -> HexStr:
    match = re.search(r"^sent (0x[0-9a-f]{64})$", result.output, re.MULTILINE)
    assert match, result.output
    return HexStr(match.group(1))


def test_show(home: Home) -> None:
    result = deposit("show", "--config", home.config)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"  sender           {home.sender}" in lines
    assert f"  TicketBroker     {home.provisioned.devnet.ticket_broker} via {home.anvil.rpc_url}" in lines
    assert "  deposit          2 ETH (2000000000000000000 wei)" in lines
    assert "  reserve          0.5 ETH (500000000000000000 wei)" in lines
    assert "  unlock           none (an unlock now allows withdrawal from round 3)" in lines
    balance = home.w3.eth.get_balance(home.sender)
    eth = f"{balance // 10**18}.{balance % 10**18:018d}".rstrip("0").rstrip(".")
    assert f"  ETH balance      {eth} ETH ({balance} wei)" in lines


def test_dry_run_shows_the_plan_and_sends_nothing(home: Home) -> None:
    before = home.nonce_and_head()
    result = deposit("fund", "0.5ETH", "--dry-run", "--config", home.config)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"transaction TicketBroker.fundDeposit() from {home.sender}"
    assert f"  to               {home.provisioned.devnet.ticket_broker} (TicketBroker)" in lines
    assert "  value            0.5 ETH (500000000000000000 wei)" in lines
    assert "  calldata         0x6caa736b" in lines
    assert f"  nonce            {before[0]}" in lines
    for label in ("gas limit", "max fee", "priority fee", "max gas cost", "max cost"):
        assert any(line.startswith(f"  {label:<17}") for line in lines), label
    assert lines[-1] == "dry run: nothing sent"
    assert home.nonce_and_head() == before


@pytest.mark.parametrize(("command", "amount", "field"), [("fund", "0.25 eth", "deposit"),
                                                          ("reserve", "250000000000000000wei", "reserve")])
def test_funding_with_yes_moves_exactly_the_amount(command: str, amount: str, field: str, home: Home) -> None:
    balance = home.w3.eth.get_balance(home.sender)
    result = deposit(command, amount, "--yes", "--config", home.config)
    assert result.exit_code == 0, result.output
    receipt = home.w3.eth.get_transaction_receipt(tx_hash_of(result))
    gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert home.w3.eth.get_balance(home.sender) == balance - 25 * 10**16 - gas_cost
    after = result.output[result.output.index("\nafter (block "):].splitlines()
    expected = {"deposit": "2.25 ETH (2250000000000000000 wei)", "reserve": "0.75 ETH (750000000000000000 wei)"}
    assert f"  {field:<17}{expected[field]}" in after
    assert f"  block            {receipt['blockNumber']}" in result.output
    assert f"  gas used         {receipt['gasUsed']}" in result.output


@pytest.mark.parametrize("answer", ["n\n", "\n", ""], ids=["no", "default", "end-of-input"])
def test_declining_sends_nothing(answer: str, home: Home) -> None:
    before = home.nonce_and_head()
    result = deposit("reserve", "0.1ETH", "--config", home.config, stdin=answer)
    assert result.exit_code == 1
    assert f"Send fundReserve() from {home.sender}? [y/N]" in result.output
    assert "aborted, nothing sent" in result.output
    assert home.nonce_and_head() == before


def test_confirming_sends(home: Home) -> None:
    result = deposit("reserve", "0.1ETH", "--config", home.config, stdin="y\n")
    assert result.exit_code == 0, result.output
    assert home.w3.eth.get_transaction_receipt(tx_hash_of(result))["status"] == 1
    assert "  reserve          0.6 ETH (600000000000000000 wei)" in result.output.splitlines()


def test_unlock_withdraw_and_cancel(home: Home) -> None:
    unlocked = deposit("unlock", "--yes", "--config", home.config)
    assert unlocked.exit_code == 0, unlocked.output
    assert "note: from round 3 this sender's winning tickets can no longer be redeemed" in unlocked.output
    assert "  unlock           in progress: withdrawal possible from round 3" in unlocked.output.splitlines()
    before = home.nonce_and_head()
    early = deposit("withdraw", "--yes", "--config", home.config)
    assert early.exit_code == 1
    assert "withdrawal is possible from round 3; the current round is 1" in early.output
    assert home.nonce_and_head() == before
    for _ in range(2):
        advance_round(home.w3, home.provisioned.devnet)
    shown = deposit("show", "--config", home.config).output.splitlines()
    assert "  unlock           over: withdrawal possible since round 3" in shown
    balance = home.w3.eth.get_balance(home.sender)
    withdrawn = deposit("withdraw", "--yes", "--config", home.config)
    assert withdrawn.exit_code == 0, withdrawn.output
    receipt = home.w3.eth.get_transaction_receipt(tx_hash_of(withdrawn))
    paid = DEPOSIT_WEI + RESERVE_WEI - receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert home.w3.eth.get_balance(home.sender) == balance + paid
    after = withdrawn.output[withdrawn.output.index("\nafter (block "):].splitlines()
    assert "  deposit          0 ETH (0 wei)" in after and "  reserve          0 ETH (0 wei)" in after
    assert "  unlock           over since round 3, nothing left to withdraw; funding again ends it" in after


def test_cancel_unlock(home: Home) -> None:
    assert deposit("unlock", "--yes", "--config", home.config).exit_code == 0
    cancelled = deposit("cancel-unlock", "--yes", "--config", home.config)
    assert cancelled.exit_code == 0, cancelled.output
    assert "calldata         0xc2c4c2c8" in cancelled.output
    assert "  unlock           none (an unlock now allows withdrawal from round 3)" in cancelled.output.splitlines()
    before = home.nonce_and_head()
    again = deposit("cancel-unlock", "--yes", "--config", home.config)
    assert again.exit_code == 1 and "nothing to cancel" in again.output
    assert home.nonce_and_head() == before


def test_more_than_the_eth_balance_is_refused_before_sending(home: Home) -> None:
    before = home.nonce_and_head()
    result = deposit("fund", "5eth", "--yes", "--config", home.config)
    assert result.exit_code == 1
    assert f"fundDeposit of 5 ETH exceeds the ETH balance of {home.sender}" in result.output
    assert home.nonce_and_head() == before


@pytest.mark.parametrize(
    ("amount", "problem"),
    [("1.5", "has no unit"), ("0eth", "is zero"), ("1.5wei", "fraction of a wei"), ("2 gwei", "unknown unit")],
)
def test_bad_amounts_are_usage_errors(amount: str, problem: str, tmp_path: Path) -> None:
    # The amount is checked before the configuration is even read.
    result = deposit("fund", amount, "--config", str(tmp_path / "missing.toml"))
    assert result.exit_code == 2
    assert "Invalid value for AMOUNT" in result.output and problem in result.output and "e.g." in result.output


def test_a_static_chain_configuration_is_refused(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)
    result = deposit("show", "--config", str(config))
    assert result.exit_code == 1
    assert "has no live [chain] section: set chain.rpc_url (or CLEARINGHOUSE_RPC_URL)" in result.output


def test_rpc_credentials_never_reach_the_output(home: Home, caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://alice:hunter2@127.0.0.1:{home.anvil.port}/?apikey=qwertyuiop"
    with caplog.at_level(logging.DEBUG):
        shown = deposit("fund", "1wei", "--yes", "--config", home.config, CLEARINGHOUSE_RPC_URL=url)
        refused = deposit("withdraw", "--dry-run", "--config", home.config, CLEARINGHOUSE_RPC_URL=url)
    assert shown.exit_code == 0, shown.output
    assert f"  chain            42161 via http://127.0.0.1:{home.anvil.port}/?apikey=***" in shown.output
    assert refused.exit_code == 1 and "no unlock in progress" in refused.output
    assert "eth_sendRawTransaction" in caplog.text  # the libraries did log the requests
    for secret in CREDENTIALS:
        assert secret not in shown.output and secret not in refused.output and secret not in caplog.text


def test_an_unreachable_rpc_is_named_without_credentials(home: Home) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once the probe is closed
    url = f"http://alice:hunter2@127.0.0.1:{port}/v3/0123456789abcdef0123456789abcdef?apikey=qwertyuiop"
    result = deposit("show", "--config", home.config, CLEARINGHOUSE_RPC_URL=url)
    assert result.exit_code == 1
    assert f"at http://127.0.0.1:{port}/v3/***?apikey=*** failed" in result.output
    for secret in (*CREDENTIALS, "0123456789abcdef0123456789abcdef"):
        assert secret not in result.output


def test_the_installed_command_line_has_the_group(home: Home) -> None:
    result = clearinghouse("deposit", "show", "--config", home.config)
    assert result.returncode == 0, result.stderr
    assert "  deposit          2 ETH (2000000000000000000 wei)" in result.stdout.splitlines()
