"""The sender keystore and the daemon's other secret files: created private, never overwritten.

A keystore is eth-account's encrypted JSON (Web3 Secret Storage) with scrypt at eth-account's
default cost: the one key that can spend the TicketBroker deposit, so it is never written in
clear and never with weaker parameters. ``create_keystore`` makes a new key,
``import_keystore`` re-encrypts an existing keystore (any KDF it was written with) and
``import_private_key`` encrypts a raw key read from a file; each returns the sender address.

Every file here is created with ``create_private_file``: mode 0600 from the first byte (O_EXCL,
so an existing file, or a link planted in its place, is never replaced).
"""

from __future__ import annotations

import json
import os
import string
from pathlib import Path

from eth_account import Account
from eth_typing import ChecksumAddress

from clearinghouse.config import ConfigError, refuse_readable_by_others
from clearinghouse.domain.limits import KEY_FILE_CHARS_MAX

PRIVATE_KEY_BYTES = 32
"""secp256k1 private keys are 32 bytes: 64 hex digits in a key file."""


def create_private_file(path: Path, text: str) -> None:
    """Create ``path`` holding ``text`` with mode 0600 from the start. Raises ConfigError naming
    the file when it already exists (nothing is overwritten) or cannot be created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ConfigError(f"{path} already exists; refusing to overwrite it") from exc
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


def create_keystore(path: Path, passphrase: str) -> ChecksumAddress:
    """Write a keystore of a new random key at ``path``; return its address."""
    return _write_keystore(path, bytes(Account.create().key), passphrase)


def import_keystore(source: Path, path: Path, passphrase: str) -> ChecksumAddress:
    """Decrypt the keystore ``source`` with ``passphrase`` and write it at ``path`` re-encrypted
    under the same passphrase with scrypt at the default cost. Raises ConfigError when
    ``source`` cannot be read or decrypted (the message never holds the passphrase)."""
    try:
        key = bytes(Account.decrypt(source.read_text(encoding="utf-8"), passphrase))
    except OSError as exc:
        raise ConfigError(f"--import-keystore {source}: {exc.strerror}") from exc
    except (ValueError, TypeError, KeyError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--import-keystore {source}: cannot decrypt ({type(exc).__name__}): "
                          "not a keystore, or not this passphrase") from exc
    return _write_keystore(path, key, passphrase)


def import_private_key(source: Path, path: Path, passphrase: str) -> ChecksumAddress:
    """Read a raw private key (64 hex digits, 0x optional) from ``source`` and write it encrypted
    at ``path``. Raises ConfigError when the file is accessible by group or others, unreadable,
    or holds anything else (the message never quotes it)."""
    refuse_readable_by_others(source, "--import-private-key-file")
    try:
        text = source.read_text(encoding="utf-8")[:KEY_FILE_CHARS_MAX].strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--import-private-key-file {source}: cannot read it ({type(exc).__name__})") from exc
    digits = text.removeprefix("0x").removeprefix("0X")
    if len(digits) != 2 * PRIVATE_KEY_BYTES or not set(digits) <= set(string.hexdigits):
        raise ConfigError(f"--import-private-key-file {source} must hold a {PRIVATE_KEY_BYTES}-byte private key "
                          f"as {2 * PRIVATE_KEY_BYTES} hex digits (0x optional), and nothing else")
    try:
        return _write_keystore(path, bytes.fromhex(digits), passphrase)
    except ValueError as exc:  # zero, or not below the curve order
        raise ConfigError(f"--import-private-key-file {source}: not a valid secp256k1 private key") from exc


def _write_keystore(path: Path, key: bytes, passphrase: str) -> ChecksumAddress:
    account = Account.from_key(key)
    # kdf="scrypt" with eth-account's default cost: the deposit's key gets no cheaper parameters.
    keystore = Account.encrypt(key, passphrase, kdf="scrypt")
    create_private_file(path, json.dumps(keystore))
    address: ChecksumAddress = account.address
    return address
