"""The ES256 keys tokens are signed with: a JSON Web Key Set in a file only its owner may read
(mode 0600, like the keystore and the pepper), newest key last.

``create_key_file`` writes the first key; ``rotate_key_file`` appends a new current key and keeps
the previous one, so tokens signed before the rotation still verify (and the published JWKS
still lists it) until the next rotation drops it: rotate no more often than the longest token
lifetime (APP_TOKEN_LIFETIME_S_MAX is a day). ``SigningKeys`` is a process's view of the file: it
re-reads the file when it changed (looked at every KEY_FILE_CHECK_S), so a rotation reaches
running daemons without a restart.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, Key, KeySet

from clearinghouse.config.errors import ConfigError
from clearinghouse.config.secret_files import refuse_readable_by_others
from clearinghouse.identity.limits import KEY_FILE_CHECK_S
from clearinghouse.identity.limits import KEYS_KEPT_MAX, KEY_FILE_BYTES_MAX

ALGORITHM = "ES256"
"""The one algorithm tokens are signed and verified with (P-256, RFC 7518 §3.4)."""
SETTING = "oidc.signing_keys_file"


def create_key_file(path: Path) -> str:
    """Write a new key file with one fresh key; returns its key id. Refuses (ConfigError) to
    overwrite an existing file: its keys sign live tokens."""
    if path.exists():
        raise ConfigError(f"{SETTING} {path} exists; rotate its keys with `clearinghouse oidc rotate-key`")
    key = _new_key()
    _write(path, [key])
    return str(key["kid"])


def rotate_key_file(path: Path) -> tuple[str, tuple[str, ...]]:
    """Append a new current key, keeping the one before it; returns the new key id and the ids of
    the keys dropped. Raises ConfigError for a missing, unsafe or malformed file."""
    keys = _read(path)
    key = _new_key()
    kept = [*keys, key][-KEYS_KEPT_MAX:]
    dropped = tuple(str(k["kid"]) for k in keys if k not in kept)
    _write(path, kept)
    return str(key["kid"]), dropped


def key_ids(path: Path) -> tuple[str, ...]:
    """The key ids in the file, oldest first (the last one signs)."""
    return tuple(str(k["kid"]) for k in _read(path))


class SigningKeys:
    """A process's view of the key file: the current private key and every key that verifies."""

    def __init__(self, path: Path, *, clock_s: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        self._clock_s = clock_s
        self._lock = threading.Lock()
        self._mtime_ns = -1
        self._checked_s = float("-inf")
        self._current: ECKey | None = None
        self._key_set = KeySet([])
        self._jwks: dict[str, Any] = {"keys": []}
        self._reload()

    def __repr__(self) -> str:
        return f"SigningKeys({str(self._path)!r})"  # never the keys

    def current(self) -> ECKey:
        """The private key new tokens are signed with."""
        self._refresh()
        if self._current is None:  # _reload refuses an empty file; this cannot happen
            raise ConfigError(f"{SETTING} {self._path}: no key")
        return self._current

    def key_set(self) -> KeySet:
        """Every key a token may be signed with (current and previous), by key id."""
        self._refresh()
        return self._key_set

    def jwks(self) -> dict[str, Any]:
        """The public JWKS (RFC 7517): what /api/v1/oidc/jwks publishes; no private parameter."""
        self._refresh()
        return self._jwks

    def _refresh(self) -> None:
        now = self._clock_s()
        if now - self._checked_s < KEY_FILE_CHECK_S:
            return
        with self._lock:
            self._checked_s = now
            try:
                changed = self._path.stat().st_mtime_ns != self._mtime_ns
            except OSError:
                return  # keep the keys we have: a vanished file is an operator's mistake, not a reason to stop
        if changed:
            self._reload()

    def _reload(self) -> None:
        keys = _read(self._path)
        imported: list[Key] = [ECKey.import_key(k) for k in keys]
        with self._lock:
            self._mtime_ns = self._path.stat().st_mtime_ns
            self._checked_s = self._clock_s()
            current = imported[-1]
            self._current = current if isinstance(current, ECKey) else None
            self._key_set = KeySet(imported)
            self._jwks = {"keys": [k.as_dict(private=False) for k in imported]}


def _new_key() -> dict[str, Any]:
    key = ECKey.generate_key("P-256", {"alg": ALGORITHM, "use": "sig"}, private=True, auto_kid=True)
    return dict(key.as_dict(private=True))


def _read(path: Path) -> list[dict[str, Any]]:
    refuse_readable_by_others(path, SETTING)
    try:
        with path.open("rb") as file:
            data = file.read(KEY_FILE_BYTES_MAX + 1)
    except OSError as exc:
        raise ConfigError(f"{SETTING} {path}: {exc.strerror}") from exc
    if len(data) > KEY_FILE_BYTES_MAX:
        raise ConfigError(f"{SETTING} {path}: over {KEY_FILE_BYTES_MAX} bytes, not a key file")
    try:
        keys = json.loads(data)["keys"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{SETTING} {path}: not a JSON Web Key Set") from exc
    if not isinstance(keys, list) or not keys or not all(_is_our_key(k) for k in keys):
        raise ConfigError(f"{SETTING} {path}: expected 1..{KEYS_KEPT_MAX} private P-256 keys with kid")
    return keys[-KEYS_KEPT_MAX:]


def _is_our_key(key: object) -> bool:
    return (isinstance(key, dict) and key.get("kty") == "EC" and key.get("crv") == "P-256"
            and isinstance(key.get("kid"), str) and isinstance(key.get("d"), str))


def _write(path: Path, keys: list[dict[str, Any]]) -> None:
    """Write atomically, mode 0600 from the start (never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({"keys": keys}, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
