"""Starting and stopping anvil, its error messages, snapshots and mining."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from web3 import Web3
from web3.types import Wei

from clearinghouse.chain import anvil as anvil_module
from clearinghouse.chain.anvil import (
    ANVIL_BIN_ENV,
    Anvil,
    AnvilError,
    AnvilOptions,
    anvil_binary,
    mine,
    revert,
    snapshot,
    start_anvil,
)
from clearinghouse.chain.limits import ANVIL_BLOCKS_PER_MINE_MAX

FIRST_DEV_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fake-anvil"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_anvil_answers_with_arbitrum_chain_id_and_funded_dev_accounts(anvil: Anvil, w3: Web3) -> None:
    assert anvil.rpc_url == f"http://127.0.0.1:{anvil.port}"
    assert w3.eth.chain_id == 42161
    accounts = w3.eth.accounts
    assert accounts[0] == FIRST_DEV_ACCOUNT and len(accounts) == 10
    assert w3.eth.get_balance(accounts[0]) == 10_000 * 10**18


def test_blocks_carry_an_l1_block_number(w3: Web3) -> None:
    mine(w3, 3)
    block = w3.eth.get_block("latest")
    assert block["number"] == 3
    assert int(block["l1BlockNumber"]) == 3  # type: ignore[typeddict-item]  # Arbitrum-only field


def test_snapshot_revert_restores_state_once(w3: Web3) -> None:
    accounts = list(w3.eth.accounts)  # web3 types accounts as a 1-tuple
    snapshot_id = snapshot(w3)
    w3.eth.send_transaction({"from": accounts[0], "to": accounts[1], "value": Wei(5)})
    mine(w3, 10)
    assert w3.eth.block_number == 11
    revert(w3, snapshot_id)
    assert w3.eth.block_number == 0
    assert w3.eth.get_balance(accounts[1]) == 10_000 * 10**18
    with pytest.raises(AnvilError, match="no snapshot"):
        revert(w3, snapshot_id)


def test_mine_is_bounded(w3: Web3) -> None:
    for blocks in (0, ANVIL_BLOCKS_PER_MINE_MAX + 1):
        with pytest.raises(ValueError, match=f"got {blocks}"):
            mine(w3, blocks)
    mine(w3, 2_000)
    assert w3.eth.block_number == 2_000


def test_stop_ends_the_process_and_frees_the_port() -> None:
    node = start_anvil(AnvilOptions(chain_id=31337))
    with node:
        assert node.web3().eth.chain_id == 31337
        assert _port_open(node.port)
    assert not node.is_running()
    assert not _port_open(node.port)
    node.stop()  # idempotent


def test_missing_npm_binary_names_npm_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ANVIL_BIN_ENV, raising=False)
    monkeypatch.setattr(anvil_module, "CONTRACTS_DIR", tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AnvilError, match=r"npm ci --prefix contracts"):
        anvil_binary()


def test_the_checkout_in_the_working_directory_is_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ANVIL_BIN_ENV, raising=False)
    installed_from = anvil_module.CONTRACTS_DIR.parent
    monkeypatch.setattr(anvil_module, "CONTRACTS_DIR", tmp_path / "site-packages" / "contracts")
    monkeypatch.chdir(installed_from)
    assert anvil_binary().is_relative_to(installed_from / "contracts" / "node_modules")


def test_override_must_be_an_executable_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plain = tmp_path / "anvil"
    plain.write_text("")
    monkeypatch.setenv(ANVIL_BIN_ENV, str(plain))
    with pytest.raises(AnvilError, match=f"{ANVIL_BIN_ENV}=.* is not an executable file"):
        anvil_binary()


def test_override_is_used_and_a_failed_start_quotes_its_output(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ANVIL_BIN_ENV, str(_script(tmp_path, "echo 'error: address in use' >&2; exit 3")))
    with pytest.raises(AnvilError, match="exited during start-up.*address in use") as raised:
        start_anvil()
    assert str(raised.value).count("exited during start-up") == anvil_module.ANVIL_START_ATTEMPTS_MAX


def test_a_silent_node_times_out_and_is_stopped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    monkeypatch.setenv(ANVIL_BIN_ENV, str(_script(tmp_path, f"echo $$ > {pid_file}; exec sleep 30")))
    monkeypatch.setattr(anvil_module, "ANVIL_START_TIMEOUT_S", 0.2)
    monkeypatch.setattr(anvil_module, "ANVIL_START_ATTEMPTS_MAX", 1)
    with pytest.raises(AnvilError, match="did not answer JSON-RPC within 0.2 s"):
        start_anvil()
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
