"""The [grpc] section: where the gRPC API listens, TLS, and the loopback rule of [http]."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearinghouse.config import CHAIN_ID_DEFAULT, ConfigError, load_settings

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


def write(tmp_path: Path, grpc_section: str) -> Path:
    path = tmp_path / "clearinghouse.toml"
    path.write_text(BASE + grpc_section)
    return path


def test_without_grpc_there_is_no_grpc_server(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "")).grpc is None


def test_a_loopback_grpc_server(tmp_path: Path) -> None:
    grpc = load_settings(write(tmp_path, '[grpc]\nhost = "127.0.0.1"\nport = 8936\n')).grpc
    assert grpc is not None
    assert (grpc.host, grpc.port, grpc.chain_id, grpc.ticket_broker, grpc.tls()) == (
        "127.0.0.1", 8936, CHAIN_ID_DEFAULT, None, None,
    )


def test_plain_grpc_off_loopback_is_refused_unless_declared(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="grpc.host '0.0.0.0' is not a loopback address"):
        load_settings(write(tmp_path, '[grpc]\nhost = "0.0.0.0"\nport = 8936\n'))
    declared = '[grpc]\nhost = "0.0.0.0"\nport = 8936\nallow_plain_public = true\n'
    assert load_settings(write(tmp_path, declared)).grpc is not None


def test_tls_allows_any_address_and_reads_both_files(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_bytes(b"CERT")
    (tmp_path / "key.pem").write_bytes(b"KEY")
    (tmp_path / "key.pem").chmod(0o600)
    section = '[grpc]\nhost = "0.0.0.0"\nport = 8936\ncert_file = "cert.pem"\nkey_file = "key.pem"\n'
    grpc = load_settings(write(tmp_path, section)).grpc
    assert grpc is not None and grpc.tls() == (b"CERT", b"KEY")
    (tmp_path / "key.pem").chmod(0o644)
    with pytest.raises(ConfigError, match="grpc.key_file .* accessible by group or others"):
        grpc.tls()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('host = "127.0.0.1"\nport = 8936\ncert_file = "c.pem"\n', "go together"),
        ('host = "127.0.0.1"\nport = 8935\n', "also http.port"),
        ('host = "127.0.0.1"\nport = 0\n', "grpc.port must be an integer"),
        ('port = 8936\n', "grpc.host must be a non-empty string"),
        ('host = "127.0.0.1"\nport = 8936\nticket_broker = "0x12"\n', "grpc.ticket_broker"),
        ('host = "127.0.0.1"\nport = 8936\nchain_id = 0\n', "grpc.chain_id"),
        ('host = "127.0.0.1"\nport = 8936\nallow_plain_public = "yes"\n', "true or false"),
    ],
)
def test_bad_grpc_settings_are_named(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, "[grpc]\n" + section))


def test_chain_id_and_ticket_broker_for_signer_info(tmp_path: Path) -> None:
    broker = "0x5b1ce829384eebfa30286f12d1e7a695ca45f5d2"
    section = f'[grpc]\nhost = "::1"\nport = 8936\nchain_id = 421614\nticket_broker = "{broker}"\n'
    grpc = load_settings(write(tmp_path, section)).grpc
    assert grpc is not None and grpc.is_loopback
    assert (grpc.chain_id, grpc.ticket_broker) == (421614, bytes.fromhex(broker[2:]))
