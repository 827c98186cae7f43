"""provision_devnet: a funded sender, secret files created 0600, and a config the daemon loads."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from clearinghouse.chain.anvil import Anvil
from clearinghouse.chain.artifacts import bind
from clearinghouse.chain.client import ChainClient, SenderInfo
from clearinghouse.chain.devnet import ProvisionedDevnet, DevnetError, provision_devnet
from clearinghouse.config import load_settings
from clearinghouse.domain.chain_view import ChainView
from tests.chain.conftest import DEPOSIT_WEI, RESERVE_WEI

SECRET_VARIABLES = ("CLEARINGHOUSE_DATABASE_URL", "CLEARINGHOUSE_KEY_PASSPHRASE", "CLEARINGHOUSE_API_KEY_PEPPER")


@pytest.fixture(autouse=True)
def no_secret_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in SECRET_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_config_loads_and_keystore_decrypts_to_the_sender(provisioned: ProvisionedDevnet) -> None:
    settings = load_settings(provisioned.config_path)
    assert settings.keystore == provisioned.keystore_path.resolve()
    assert settings.database_url == f"sqlite:///{provisioned.directory.resolve()}/clearinghouse.sqlite3"
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8935)
    assert settings.static_chain is not None
    assert settings.static_chain == ChainView(
        deposit_wei=DEPOSIT_WEI,
        reserve_wei=RESERVE_WEI,
        withdraw_round=0,
        current_round=1,
        last_l1_block=settings.static_chain.last_l1_block,
        round_block_hashes=((1, ChainClient(provisioned.devnet.rpc_url, provisioned.devnet.controller)
                             .block_hash_for_round(1)),),
        ticket_validity_period_rounds=1,  # a static view's only open round is the configured one
    )
    assert settings.static_chain.last_l1_block > 0
    assert settings.live_chain is not None
    assert settings.live_chain.rpc_url == provisioned.devnet.rpc_url
    assert Account.from_key(settings.private_key()).address == provisioned.sender  # via passphrase_file
    assert len(settings.api_key_pepper()) == 32
    assert json.loads(provisioned.keystore_path.read_text())["crypto"]["kdf"] == "scrypt"


def test_live_chain_table_points_at_the_devnet(provisioned: ProvisionedDevnet) -> None:
    chain = tomllib.loads(provisioned.config_path.read_text())["chain"]
    assert chain["rpc_url"] == provisioned.devnet.rpc_url
    assert chain["controller"] == provisioned.devnet.controller
    assert 0 < chain["refresh_s"] < chain["stale_after_s"]


def test_secret_files_are_private(provisioned: ProvisionedDevnet) -> None:
    p = provisioned
    for path in (p.keystore_path, p.passphrase_path, p.pepper_path, p.config_path):
        assert mode(path) == 0o600, path
    assert mode(provisioned.directory) == 0o700
    assert len(provisioned.pepper_path.read_text().strip()) == 64


def test_sender_is_funded_on_chain(provisioned: ProvisionedDevnet, w3: Web3) -> None:
    client = ChainClient(provisioned.devnet.rpc_url, provisioned.devnet.controller)
    assert client.sender_info(provisioned.sender) == SenderInfo(DEPOSIT_WEI, 0, RESERVE_WEI, 0)
    assert client.eth_balance(provisioned.sender) > 0  # gas money for funding transactions
    assert client.transcoder_pool_size() == 1
    bonding = bind(w3, "BondingManager", provisioned.devnet.bonding_manager)
    assert bonding.functions.isActiveTranscoder(provisioned.orchestrator).call() is True


def test_an_existing_file_is_never_overwritten(provisioned: ProvisionedDevnet, anvil: Anvil, w3: Web3) -> None:
    keystore = provisioned.keystore_path.read_text()
    with pytest.raises(DevnetError, match="already exists; provision into an empty directory"):
        provision_devnet(provisioned.directory, anvil)
    assert provisioned.keystore_path.read_text() == keystore


def test_negative_amounts_are_refused(tmp_path: Path, anvil: Anvil) -> None:
    with pytest.raises(DevnetError, match="must be >= 0"):
        provision_devnet(tmp_path, anvil, deposit_wei=-1)
    assert list(tmp_path.iterdir()) == []


OPERATOR_NOTE = "# operator: production RPC comes from the vault"


def test_an_operator_config_is_pointed_at_the_devnet_keeping_its_comments(
    anvil: Anvil, w3: Web3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from clearinghouse.chain.devnet import deploy_devnet, fund_sender, point_config_at_devnet
    from clearinghouse.cli import main

    monkeypatch.delenv("CLEARINGHOUSE_RPC_URL", raising=False)
    result = CliRunner().invoke(main, ["init", "--directory", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    config = tmp_path / "clearinghouse.toml"
    static = "\n[chain.static]\ndeposit_wei = 1\nreserve_wei = 1\nwithdraw_round = 0\ncurrent_round = 1\nlast_l1_block = 1\n"
    config.write_text(config.read_text().replace("[chain]\n", f"[chain]\n{OPERATOR_NOTE}\n") + static)
    before = config.read_text()
    devnet = deploy_devnet(anvil.rpc_url)
    point_config_at_devnet(config, devnet, grpc_port=19936)
    after = config.read_text()
    assert OPERATOR_NOTE in after and "# confirmations = 20" in after
    assert after.count("\n# ") == before.count("\n# ")  # every comment kept
    assert mode(config) == 0o600
    raw = tomllib.loads(after)
    assert "static" not in raw["chain"]
    assert (raw["chain"]["rpc_url"], raw["chain"]["controller"]) == (anvil.rpc_url, devnet.controller)
    assert (raw["chain"]["start_block"], raw["chain"]["confirmations"]) == (0, 0)
    assert raw["rates"] == {"aggregator": devnet.eth_usd_feed, "sequencer_uptime_feed": devnet.sequencer_uptime_feed,
                            "sequencer_grace_s": 0}
    assert raw["grpc"] == {"host": "127.0.0.1", "port": 19936, "ticket_broker": devnet.ticket_broker}
    assert raw["signer"]["keystore"] == "sender-keystore.json"  # the operator's own tables are untouched
    settings = load_settings(config)
    sender = Account.from_key(settings.private_key())
    assert sender.address == json.loads(result.output)["sender"]
    fund_sender(anvil, devnet, sender, deposit_wei=DEPOSIT_WEI, reserve_wei=RESERVE_WEI)
    assert ChainClient(anvil.rpc_url, devnet.controller).sender_info(sender.address) == SenderInfo(
        DEPOSIT_WEI, 0, RESERVE_WEI, 0)


def test_a_config_that_is_not_toml_is_not_rewritten(anvil: Anvil, w3: Web3, tmp_path: Path) -> None:
    from clearinghouse.chain.devnet import deploy_devnet, point_config_at_devnet

    config = tmp_path / "clearinghouse.toml"
    config.write_text("[chain\n")
    with pytest.raises(DevnetError, match="cannot read the configuration"):
        point_config_at_devnet(config, deploy_devnet(anvil.rpc_url), grpc_port=None)
    assert config.read_text() == "[chain\n"
    assert [p.name for p in tmp_path.iterdir()] == ["clearinghouse.toml"]
