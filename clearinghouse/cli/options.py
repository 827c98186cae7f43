"""Options and plumbing shared by the commands: configuration, database, errors, output."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from clearinghouse import ledger
from clearinghouse.config import LOG_LEVELS, Settings, load_settings
from clearinghouse.errors import ClearinghouseError
from clearinghouse.logs import LOG_FORMATS

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



def daemon_flags(function: _F) -> _F:
    """--host, --port, --log-level and --log-format: override the file and the environment.
    The command receives them as one ``flags`` mapping of setting name -> value (None: not given)."""
    options = (
        click.option("--host", default=None, help="Overrides http.host (env CLEARINGHOUSE_HTTP_HOST)."),
        click.option("--port", type=click.IntRange(1, 65535), default=None,
                     help="Overrides http.port (env CLEARINGHOUSE_HTTP_PORT)."),
        click.option("--log-level", type=click.Choice(LOG_LEVELS), default=None,
                     help="Overrides log.level (env CLEARINGHOUSE_LOG_LEVEL; default info)."),
        click.option("--log-format", type=click.Choice(LOG_FORMATS), default=None,
                     help="Overrides log.format (env CLEARINGHOUSE_LOG_FORMAT; default json)."),
    )
    for option in reversed(options):
        function = option(function)
    return function


def flags_of(host: str | None, port: int | None, log_level: str | None, log_format: str | None) -> dict[str, object]:
    """The setting names the daemon_flags options override."""
    return {"http.host": host, "http.port": port, "log.level": log_level, "log.format": log_format}


def settings(config_path: Path, flags: Mapping[str, object] | None = None) -> Settings:
    """The validated configuration with the environment and ``flags`` laid over it, or a
    ClickException naming what is wrong."""
    if not config_path.exists():
        raise click.ClickException(f"no configuration at {config_path} (see --config)")
    with translated():
        return load_settings(config_path, flags)


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


def utc_time(_: click.Context, __: click.Parameter, text: str | None) -> datetime | None:
    """Click callback: an ISO 8601 time with its offset, in UTC (billing.rates.parse_valid_at);
    a naive time is refused rather than read in the server's time zone."""
    from clearinghouse.billing.rates import parse_valid_at

    if text is None:
        return None
    try:
        return parse_valid_at(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def calendar_month(_: click.Context, __: click.Parameter, text: str | None) -> tuple[datetime, datetime] | None:
    """Click callback: a UTC calendar month "YYYY-MM" as [first instant, first of the next)."""
    from clearinghouse.billing.invoicing import month_period

    if text is None:
        return None
    try:
        return month_period(text)
    except ValueError:
        raise click.BadParameter(f"{text!r:.20} is not a month like 2026-11 (expected YYYY-MM)") from None


def actor(value: str | None) -> str:
    return value or f"cli:{getpass.getuser()}"


def emit(as_json: bool, data: Any, lines: list[str]) -> None:
    """Print ``data`` as JSON for scripts, else the human-readable ``lines``."""
    if as_json:
        click.echo(json.dumps(data, default=str))
    else:
        for line in lines:
            click.echo(line)
