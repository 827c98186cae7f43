"""Secrets the configuration points at: read from their environment variable, else from a file only
its owner may read, and bearer tokens checked for strength. No value ever goes into an error."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from clearinghouse.config.errors import ConfigError
from clearinghouse.config.limits import ADMIN_TOKEN_BYTES_MIN, ADMIN_TOKEN_CHARS_MAX


_URLSAFE_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def bearer_token(text: str, name: str) -> str:
    """``text`` when it is a strong enough bearer token for ``name`` (admin, metrics): at most
    ADMIN_TOKEN_CHARS_MAX hex or URL-safe base64 characters holding at least ADMIN_TOKEN_BYTES_MIN
    random bytes. Raises ConfigError otherwise, without the token in the message."""
    if not 0 < len(text) <= ADMIN_TOKEN_CHARS_MAX or not set(text) <= _URLSAFE_ALPHABET:
        raise ConfigError(f"{name} token must be 1..{ADMIN_TOKEN_CHARS_MAX} hex or URL-safe base64 characters")
    random_bytes = len(text) // 2 if set(text) <= _HEX_DIGITS else len(text) * 6 // 8
    if random_bytes < ADMIN_TOKEN_BYTES_MIN:
        raise ConfigError(
            f"{name} token must hold at least {ADMIN_TOKEN_BYTES_MIN} random bytes, got {random_bytes}; "
            f"make one with: python -c 'import secrets; print(secrets.token_hex({ADMIN_TOKEN_BYTES_MIN}))'"
        )
    return text


def read_secret(variable: str, path: Path | None, setting: str) -> str:
    """The secret in the environment ``variable``, else in the file ``path`` named by ``setting``,
    stripped. Raises ConfigError when neither is set, or the file is unreadable or accessible by
    group or others."""
    if os.environ.get(variable):
        return os.environ[variable].strip()
    if path is None:
        raise ConfigError(f"set {variable} or {setting}")
    refuse_readable_by_others(path, setting)
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{setting} {path}: {exc.strerror}") from exc


def refuse_readable_by_others(path: Path, setting: str) -> None:
    """Raise ConfigError naming ``setting`` when the secret file ``path`` is missing or
    accessible by group or others: a secret another local user can read is not one."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{setting} {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{setting} {path} is accessible by group or others (mode {mode & 0o777:o}); chmod 600 it")
