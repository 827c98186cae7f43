"""Test inputs for the remote-signer algorithm: keys, addresses and an OrchestratorInfo builder.

The defaults reproduce go-livepeer's remote-signer test numbers: price 3 wei per unit and a
ticket EV of exactly 35 wei (face value 105, win probability (2^256 − 1) / 3).
"""

from __future__ import annotations

from typing import Any

from clearinghouse import pm
from clearinghouse.proto import lp_rpc_pb2
from clearinghouse.signer import minimal_big_endian


KEY = bytes([0x11]) * 32
OUR_ADDRESS = pm.private_key_to_address(KEY)
ORCH_ADDRESS = bytes.fromhex("73aed7b5deb30222fa896f399d46cc99c7bee57f")
RAND_HASH_A = bytes.fromhex("41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d")
RAND_HASH_B = bytes.fromhex("f395757e0d74803aae4e8adb875451d99622e911b61c64e044e0bd16a16f18cd")
BLOCK_HASH = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
NOW_S = 1_700_000_000
NOW_NS = NOW_S * 1_000_000_000
L1_BLOCK = 20_000_000
WIN_PROB_THIRD = (2**256 - 1) // 3
EV_35_FACE_VALUE = 105
CREATION_ROUND = 3500
OPEN_ROUNDS = ((CREATION_ROUND, BLOCK_HASH),)
"""What test chain views say the RoundsManager recorded: the round and block hash the offers carry."""


def orchestrator_info(**overrides: Any) -> lp_rpc_pb2.OrchestratorInfo:
    """An OrchestratorInfo with go-livepeer's test numbers; keyword overrides per field."""
    values: dict[str, Any] = {
        "transcoder": "https://orch.example:8935",
        "address": ORCH_ADDRESS,
        "price_per_unit": 3,
        "pixels_per_unit": 1,
        "recipient": ORCH_ADDRESS,
        "face_value": EV_35_FACE_VALUE,
        "win_prob": WIN_PROB_THIRD,
        "recipient_rand_hash": RAND_HASH_A,
        "seed": b"\x5e" * 32,
        "expiration_block": L1_BLOCK + 40,
        "creation_round": CREATION_ROUND,
        "creation_round_block_hash": BLOCK_HASH,
        "auth_expiration": NOW_S + 1800,
    }
    values.update(overrides)
    info = lp_rpc_pb2.OrchestratorInfo(transcoder=values["transcoder"], address=values["address"])
    info.price_info.pricePerUnit = values["price_per_unit"]
    info.price_info.pixelsPerUnit = values["pixels_per_unit"]
    params = info.ticket_params
    params.recipient = values["recipient"]
    params.face_value = minimal_big_endian(values["face_value"])
    params.win_prob = minimal_big_endian(values["win_prob"])
    params.recipient_rand_hash = values["recipient_rand_hash"]
    params.seed = values["seed"]
    params.expiration_block = minimal_big_endian(values["expiration_block"])
    params.expiration_params.creation_round = values["creation_round"]
    params.expiration_params.creation_round_block_hash = values["creation_round_block_hash"]
    info.auth_token.token = b"token"
    info.auth_token.session_id = "orch-session"
    info.auth_token.expiration = values["auth_expiration"]
    return info
