"""Options and plumbing shared by the commands: configuration, database, errors, output."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from clearinghouse import ledger
from clearinghouse.config import Settings, load_settings
from clearinghouse.errors import ClearinghouseError

_F = TypeVar("_F", bound=Callable[..., Any])

config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=Path("clearinghouse.toml"),
    show_default=True, help="Configuration file (TOML).",
)
database_url_option = click.option(
    "--database-url", "database_url_value", envvar="CLEARINGHOUSE_DATABASE_URL", default=None,
    help="Overrides the configuration's database_url (env CLEARINGHOUSE_DATABASE_URL).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
actor_option = click.option(
    "--actor", "actor_name", default=None, help="Who makes the change, for the audit trail (default: the OS user)."
)


def settings(config_path: Path) -> Settings:
    """The validated configuration, or a ClickException naming what is wrong."""
    if not config_path.exists():
        raise click.ClickException(f"no configuration at {config_path} (see --config)")
    with translated():
        return load_settings(config_path)


def database_url(config_path: Path, url: str | None) -> str:
    """The database URL from the option or environment, else from the configuration file."""
    return url or settings(config_path).database_url


@contextmanager
def opened_ledger(url: str) -> Iterator[ledger.Database]:
    """The ledger at ``url``, checked to be at this version's schema, closed afterwards."""
    with translated():
        database = ledger.open_database(url)
    try:
        with translated():
            ledger.check_database_current(database)
        yield database
    finally:
        database.dispose()


@contextmanager
def translated() -> Iterator[None]:
    """Our errors become a one-line message on stderr and exit code 1."""
    try:
        yield
    except ClearinghouseError as exc:
        raise click.ClickException(str(exc)) from exc


def actor(value: str | None) -> str:
    return value or f"cli:{getpass.getuser()}"


def emit(as_json: bool, data: Any, lines: list[str]) -> None:
    """Print ``data`` as JSON for scripts, else the human-readable ``lines``."""
    if as_json:
        click.echo(json.dumps(data, default=str))
    else:
        for line in lines:
            click.echo(line)
