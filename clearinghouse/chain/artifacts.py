"""Compiled artifacts of our devnet contracts (clearinghouse/chain/artifacts/<Name>.json) and binding them.

The artifacts are committed, built by ``node contracts/build.mjs`` from contracts/src with the
solc-js version pinned in contracts/package.json, so nothing here needs npm or a compiler.
They are read from the repository checkout this package runs from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from clearinghouse.chain.errors import ChainError
from clearinghouse.chain.limits import ARTIFACT_BYTES_MAX

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
"""contracts/ of the checkout this package runs from: Solidity sources and the npm tools."""

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
"""Compiled contracts, package data written by contracts/build.mjs (checked by its --check)."""


class ArtifactError(ChainError):
    """A contract artifact is missing or malformed."""


@dataclass(frozen=True, slots=True)
class ContractArtifact:
    """ABI and creation bytecode of one contract."""

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str


def load_artifact(name: str, directory: Path = ARTIFACTS_DIR) -> ContractArtifact:
    """Read ``<directory>/<name>.json``.

    Raises ArtifactError when the file is missing (naming the build command), larger than
    ARTIFACT_BYTES_MAX, not JSON, or lacks a list ``abi`` or a ``0x``-hex ``bytecode``.
    """
    path = directory / f"{name}.json"
    if not path.is_file():
        raise ArtifactError(f"contract artifact {path} not found; build it with `node contracts/build.mjs`")
    size = path.stat().st_size
    if size > ARTIFACT_BYTES_MAX:
        raise ArtifactError(f"{path} is {size} bytes, expected at most {ARTIFACT_BYTES_MAX}")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from exc
    return _artifact_from(name, path, document)


def _artifact_from(name: str, path: Path, document: object) -> ContractArtifact:
    if not isinstance(document, dict):
        raise ArtifactError(f"{path}: expected a JSON object, got {type(document).__name__}")
    abi = document.get("abi")
    if not isinstance(abi, list) or not all(isinstance(item, dict) for item in abi):
        raise ArtifactError(f"{path}: expected 'abi' to be a list of objects")
    bytecode = document.get("bytecode")
    if not isinstance(bytecode, str) or not bytecode.startswith("0x") or len(bytecode) <= 2:
        raise ArtifactError(f"{path}: expected 'bytecode' to be non-empty 0x-prefixed hex")
    try:
        bytes.fromhex(bytecode[2:])
    except ValueError as exc:
        raise ArtifactError(f"{path}: 'bytecode' is not hex: {exc}") from exc
    return ContractArtifact(name=name, abi=tuple(abi), bytecode=bytecode)


def bind(w3: Web3, name: str, address: str) -> Contract:
    """A web3 contract object for the deployed contract `name` at `address`."""
    checksum: ChecksumAddress = Web3.to_checksum_address(address)
    return w3.eth.contract(address=checksum, abi=list(load_artifact(name).abi))
