"""``clearinghouse init``: a new clearinghouse directory — configuration, sender keystore and secrets.

The configuration lists every registered setting (config.SETTINGS) with its description, its
environment variable and its default, commented out unless init sets it; Arbitrum One's
addresses (spec 04) are filled in. Secrets go to files created 0600 (keystore.create_private_file),
never onto the command line or the terminal.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
import tomlkit

from clearinghouse import keystore
from clearinghouse.domain.limits import PEPPER_BYTES_MIN
from clearinghouse.cli.options import emit, translated
from clearinghouse.config import (
    ADMIN_TOKEN_BYTES_MIN,
    SECTIONS,
    SETTINGS,
    ConfigError,
    Kind,
    Section,
    refuse_readable_by_others,
)
from clearinghouse.cli.limits import PASSPHRASE_CHARS_MAX

ARBITRUM_ONE_CONTROLLER = "0xD8E8328501E9645d16Cf49539efC04f734606ee4"
ARBITRUM_ONE_ETH_USD_FEED = "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612"
ARBITRUM_ONE_SEQUENCER_UPTIME_FEED = "0xFdB631F5EE196F0ed6FAa767959853A9F217697D"

PASSPHRASE_BYTES = 32
"""Random bytes behind a generated passphrase: beyond guessing, like the pepper and the token."""


CONFIG_FILE = "clearinghouse.toml"
KEYSTORE_FILE = "sender-keystore.json"
PASSPHRASE_FILE = "passphrase"
PEPPER_FILE = "api-key-pepper"
ADMIN_TOKEN_FILE = "admin-token"
DATABASE_FILE = "clearinghouse.sqlite3"


@dataclass(frozen=True, slots=True)
class Passphrase:
    """The keystore passphrase and where the daemon will find it: a file the configuration
    names (``file``), or CLEARINGHOUSE_KEY_PASSPHRASE (``file`` None)."""

    text: str
    file: Path | None
    generated: bool


@click.command()
@click.option("--directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to create the configuration, keystore and secret files.")
@click.option("--import-keystore", "keystore_source", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Use the key of this eth-account keystore (decrypted with the passphrase).")
@click.option("--import-private-key-file", "key_source", type=click.Path(dir_okay=False, exists=True,
              path_type=Path), default=None, help="Use the key in this file: 64 hex digits, 0x optional.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The keystore passphrase (mode 0600); else env CLEARINGHOUSE_KEY_PASSPHRASE; "
                   "else a random one is written to DIRECTORY/passphrase.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
def init(directory: Path, keystore_source: Path | None, key_source: Path | None, passphrase_file: Path | None,
         as_json: bool) -> None:
    """Create a clearinghouse directory: clearinghouse.toml with every setting documented, an
    encrypted keystore (scrypt) of a new sender key or an imported one, the API-key pepper and
    the admin token, each mode 0600. Refuses to overwrite any existing file.

    \b
    Examples:
      clearinghouse init --directory /srv/clearinghouse
      clearinghouse init --import-keystore old.json --passphrase-file pass.txt
      CLEARINGHOUSE_KEY_PASSPHRASE=… clearinghouse init --import-private-key-file key.hex
    """
    if keystore_source is not None and key_source is not None:
        raise click.UsageError("give --import-keystore or --import-private-key-file, not both")
    with translated():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _refuse_existing(directory)
        passphrase = _passphrase(passphrase_file, generate=keystore_source is None)
        sender = _write_keystore(directory / KEYSTORE_FILE, keystore_source, key_source, passphrase.text)
        if passphrase.generated:
            keystore.create_private_file(directory / PASSPHRASE_FILE, passphrase.text + "\n")
        keystore.create_private_file(directory / PEPPER_FILE, secrets.token_hex(PEPPER_BYTES_MIN) + "\n")
        keystore.create_private_file(directory / ADMIN_TOKEN_FILE, secrets.token_hex(ADMIN_TOKEN_BYTES_MIN) + "\n")
        config_path = directory / CONFIG_FILE
        keystore.create_private_file(config_path, config_template(_initial_values(directory, passphrase)))
    _report(directory, sender, passphrase, as_json)


def _refuse_existing(directory: Path) -> None:
    """Checked before anything is written, so a refused init leaves no half-made directory."""
    for name in (CONFIG_FILE, KEYSTORE_FILE, PASSPHRASE_FILE, PEPPER_FILE, ADMIN_TOKEN_FILE):
        if (directory / name).exists():
            raise ConfigError(f"{directory / name} already exists; refusing to overwrite it "
                              "(init a new directory, or move the file away)")


def _passphrase(path: Path | None, *, generate: bool) -> Passphrase:
    if path is not None:
        refuse_readable_by_others(path, "--passphrase-file")
        text = path.read_text(encoding="utf-8")[:PASSPHRASE_CHARS_MAX + 1].strip()
        if not text or len(text) > PASSPHRASE_CHARS_MAX:
            raise ConfigError(f"--passphrase-file {path} must hold 1..{PASSPHRASE_CHARS_MAX} characters")
        return Passphrase(text, path.resolve(), generated=False)
    if os.environ.get("CLEARINGHOUSE_KEY_PASSPHRASE"):
        return Passphrase(os.environ["CLEARINGHOUSE_KEY_PASSPHRASE"].strip(), None, generated=False)
    if not generate:
        raise ConfigError("--import-keystore needs the keystore's passphrase: --passphrase-file or "
                          "CLEARINGHOUSE_KEY_PASSPHRASE")
    return Passphrase(secrets.token_urlsafe(PASSPHRASE_BYTES), Path(PASSPHRASE_FILE), generated=True)


def _write_keystore(path: Path, keystore_source: Path | None, key_source: Path | None, passphrase: str) -> str:
    if keystore_source is not None:
        return keystore.import_keystore(keystore_source, path, passphrase)
    if key_source is not None:
        return keystore.import_private_key(key_source, path, passphrase)
    return keystore.create_keystore(path, passphrase)


def _initial_values(directory: Path, passphrase: Passphrase) -> dict[str, object]:
    """What init sets; every other setting stays commented at its default."""
    values: dict[str, object] = {
        # Absolute: a relative SQLite URL would be relative to the daemon's working directory.
        "database_url": f"sqlite:///{directory.resolve() / DATABASE_FILE}",
        "signer.keystore": KEYSTORE_FILE,
        "auth.pepper_file": PEPPER_FILE,
        "http.host": "127.0.0.1",
        "http.port": 8935,
        "chain.controller": ARBITRUM_ONE_CONTROLLER,
        "rates.aggregator": ARBITRUM_ONE_ETH_USD_FEED,
        "rates.sequencer_uptime_feed": ARBITRUM_ONE_SEQUENCER_UPTIME_FEED,
        "admin.token_file": ADMIN_TOKEN_FILE,
    }
    if passphrase.file is not None:
        values["signer.passphrase_file"] = str(passphrase.file)
    return values


HEADER = """\
# clearinghouse configuration, written by `clearinghouse init` on {date}.
#
# Every setting is listed. A commented line shows the default (or "unset"); uncomment to change it.
# Each can be overridden by the environment variable named above it, and some by `serve` flags:
# flag > environment > this file > default. Relative paths are relative to this file.
# Secrets are not in this file: they are in the 0600 files it names, or in the environment.
#
# To run against Arbitrum One, set CLEARINGHOUSE_RPC_URL (hosted RPC URLs embed API keys) and
# chain.start_block (or CLEARINGHOUSE_CHAIN_START_BLOCK). `clearinghouse devnet --config <this file>`
# instead points [chain], [rates] and [grpc] at a local devnet, keeping these comments.
"""


def config_template(values: Mapping[str, object]) -> str:
    """The configuration file: every section and setting of the registry, documented, with
    ``values`` (setting name -> value) set and every other setting commented at its default."""
    lines = [HEADER.format(date=datetime.now(UTC).strftime("%Y-%m-%d"))]
    # Optional sections last: their commented-out blocks then trail the last table rather than
    # [chain], so keys `devnet --config` adds to [chain] land right below [chain]'s own comments.
    for section in sorted(SECTIONS, key=lambda section: section.optional):
        lines.extend(_section_lines(section, values))
    return "\n".join(lines)


def _section_lines(section: Section, values: Mapping[str, object]) -> list[str]:
    members = [setting for setting in SETTINGS if setting.section == section.name]
    is_set = any(setting.name in values for setting in members)
    lines = []
    if section.name:
        on = is_set or not section.optional
        lines.append(f"{'' if on else '# '}[{section.name}]")
    # The description follows the header: a comment above a header would end the table before it.
    lines.append(f"# {section.doc}")
    for setting in members:
        variable = f" (env {setting.env})" if setting.env else ""
        lines.append(f"# {setting.doc}{variable}")
        if setting.name in values:
            lines.append(f"{setting.key} = {_toml(values[setting.name])}")
        elif setting.kind is Kind.TABLE:
            lines.append(f"# {setting.key} = {{}}")
        else:
            shown = "unset" if setting.default is None else _toml(setting.default)
            lines.append(f"# {setting.key} = {shown}")
    lines.append("")
    return lines


def _toml(value: object) -> str:
    return tomlkit.item(value).as_string()


def _report(directory: Path, sender: str, passphrase: Passphrase, as_json: bool) -> None:
    config_path = directory / CONFIG_FILE
    passphrase_where = (f"{directory / PASSPHRASE_FILE} (generated; keep a copy offline: without it the key "
                        "is lost)" if passphrase.generated else
                        str(passphrase.file) if passphrase.file else "CLEARINGHOUSE_KEY_PASSPHRASE (keep it set "
                        "for serve)")
    data = {
        "sender": sender,
        "config": str(config_path),
        "keystore": str(directory / KEYSTORE_FILE),
        "passphrase": passphrase_where,
        "passphrase_generated": passphrase.generated,
        "api_key_pepper": str(directory / PEPPER_FILE),
        "admin_token_file": str(directory / ADMIN_TOKEN_FILE),
    }
    emit(as_json, data, [
        f"sender           {sender}",
        f"config           {config_path}",
        f"keystore         {directory / KEYSTORE_FILE} (scrypt, mode 0600)",
        f"passphrase       {passphrase_where}",
        f"API-key pepper   {directory / PEPPER_FILE} (mode 0600)",
        f"admin token      {directory / ADMIN_TOKEN_FILE} (mode 0600; the finance API's bearer token)",
        "next steps:",
        f"  try it on a local chain:  clearinghouse devnet --config {config_path}",
        f"  on Arbitrum One: send ETH for gas to {sender}, set CLEARINGHOUSE_RPC_URL and chain.start_block,",
        f"                   then clearinghouse deposit fund 1ETH --config {config_path}",
        f"  serve:                    clearinghouse serve --config {config_path}",
    ])
