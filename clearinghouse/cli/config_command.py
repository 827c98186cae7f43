"""``clearinghouse config show``: the effective settings, where each came from, secrets masked.

Values are shown after the environment and flags are laid over the file (config.layered) and
the whole has been validated. Nothing secret is printed: a URL's credentials are masked, webhook
header values hidden, and a secret file is shown as its path, whether it exists and whether
its mode is private (0600 or stricter) — never its content.
"""

from __future__ import annotations

import os
import stat
import urllib.parse
from pathlib import Path

import click

from clearinghouse.chain.redact import MASK, redact_rpc_url
from clearinghouse.cli.options import config_option, daemon_flags, emit, flags_of, json_option, translated
from clearinghouse.config import (
    SECRET_VARIABLES,
    SECTIONS,
    SETTINGS,
    Kind,
    Layered,
    Secrecy,
    Setting,
    layered,
    read_config_file,
    settings_from,
)
from clearinghouse.ledger.url_text import mask_url_text

_OPTIONAL = {section.name: section.optional for section in SECTIONS}


@click.group("config")
def config_group() -> None:
    """Inspect the configuration.

    \b
    Examples:
      clearinghouse config show
      clearinghouse config show --json
    """


@config_group.command("show")
@config_option
@daemon_flags
@json_option
def show(config_path: Path, host: str | None, port: int | None, log_level: str | None, log_format: str | None,
         as_json: bool) -> None:
    """Print every setting's effective value and its source (file, env VARIABLE, flag or
    default), with secrets masked; exit 1 naming the first invalid setting.

    \b
    Examples:
      clearinghouse config show --config clearinghouse.toml
      CLEARINGHOUSE_HTTP_PORT=9000 clearinghouse config show --json | jq '."http.port"'
    """
    if not config_path.exists():
        raise click.ClickException(f"no configuration at {config_path} (see --config)")
    with translated():
        layers = layered(read_config_file(config_path), flags=flags_of(host, port, log_level, log_format))
        settings_from(config_path, layers.raw)
    base = config_path.resolve().parent
    entries = {setting.name: _entry(setting, layers, base) for setting in SETTINGS}
    secrets = {variable.env: bool(os.environ.get(variable.env)) for variable in SECRET_VARIABLES}
    lines = [f"{name:<42} {_shown(entry)}  ({entry['source']})" for name, entry in entries.items()]
    for variable in SECRET_VARIABLES:
        state = f"set (overrides {variable.file_setting})" if secrets[variable.env] else "not set"
        lines.append(f"{variable.env:<42} {state}")
    emit(as_json, {**entries, "secret_variables": secrets}, lines)


def _entry(setting: Setting, layers: Layered, base: Path) -> dict[str, object]:
    value = _value(layers.raw, setting)
    source = layers.sources.get(setting.name, "default")
    if value is None:
        return {"value": None, "source": source}
    if setting.secrecy is Secrecy.FILE:
        return {"path": str(base / str(value)), **_file_state(base / str(value)), "source": source}
    if setting.kind is Kind.PATH:
        value = str(base / str(value))
    return {"value": _masked(setting, value), "source": source}


def _value(raw: dict[str, object], setting: Setting) -> object:
    """The layered value, else the default; None for every setting of an absent optional
    section, whose defaults do not apply while it is off."""
    table: object = raw
    for part in setting.section.split(".") if setting.section else ():
        table = table.get(part) if isinstance(table, dict) else None
    if isinstance(table, dict) and setting.key in table:
        return table[setting.key]
    return None if table is None and _OPTIONAL.get(setting.section, False) else setting.default


def _file_state(path: Path) -> dict[str, object]:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return {"present": False, "private": False}
    return {"present": True, "private": not mode & 0o077, "mode": f"{mode:04o}"}


def _masked(setting: Setting, value: object) -> object:
    if setting.secrecy is not Secrecy.VALUE:
        return value
    if setting.kind is Kind.TABLE:
        return {name: MASK for name in value} if isinstance(value, dict) else MASK
    text = str(value)
    if setting.name == "database_url":
        return mask_url_text(text)
    if setting.name == "health.alert_webhook_url":
        return _origin_only(text)  # chat webhooks carry their token in short path segments
    return redact_rpc_url(text)


def _origin_only(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    return f"{parts.scheme}://{host}{port}/{MASK}"


def _shown(entry: dict[str, object]) -> str:
    if "path" in entry:
        if not entry["present"]:
            return f"{entry['path']} (missing)"
        privacy = "private" if entry["private"] else "ACCESSIBLE BY GROUP OR OTHERS"
        return f"{entry['path']} (present, mode {entry['mode']}, {privacy})"
    value = entry["value"]
    if isinstance(value, bool):
        return "true" if value else "false"
    return "unset" if value is None else str(value)
