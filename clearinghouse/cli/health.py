"""``clearinghouse health``: judge the deposit once, from the chain and the ledger, and print it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from clearinghouse.cli.options import config_option, database_url_option, opened_ledger, settings, translated
from clearinghouse.config import Settings

if TYPE_CHECKING:
    from clearinghouse.chain.health import DepositHealth


@click.command()
@config_option
@database_url_option
@click.option("--json", "as_json", is_flag=True, help="Print the health document as JSON (as GET /v1/health).")
def health(config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Read the deposit, reserve, unlock state, gas and outstanding exposure once, and judge them.

    Prints the state (ok, warn, critical) and every finding. Exit code 0 for ok and warn, 1 for
    critical or when the chain cannot be read: a cron job or probe can page on it. Needs [chain]
    rpc_url and controller; reads the sender address from the keystore (no passphrase needed).

    \b
    Examples:
      clearinghouse health --config clearinghouse.toml
      clearinghouse health --json | jq .exposure
    """
    from clearinghouse.chain.health import HealthState
    from clearinghouse.chain.monitor import health_document
    from clearinghouse.cli.daemon import deposit_monitor

    config = settings(config_path)
    with opened_ledger(database_url_value or config.database_url) as db:
        monitor = deposit_monitor(config, db, keystore_address(config))
        with translated():
            monitor.refresh()
            verdict = monitor.health()
    if as_json:
        click.echo(json.dumps(health_document(verdict), indent=2))
    else:
        _print(verdict)
    if verdict.state is HealthState.CRITICAL:
        raise SystemExit(1)


def keystore_address(config: Settings) -> bytes:
    """The sender's address from the keystore's address field (decrypting would need the
    passphrase for no reason). Raises ClickException when the keystore has none."""
    try:
        address = json.loads(config.keystore.read_text()).get("address", "")
        return bytes.fromhex(address.removeprefix("0x"))
    except (OSError, ValueError, AttributeError) as exc:
        raise click.ClickException(f"signer.keystore {config.keystore}: no readable address ({type(exc).__name__})")


def _print(verdict: DepositHealth) -> None:
    click.echo(f"deposit health: {verdict.state.value}")
    for finding in verdict.findings:
        click.echo(f"  {finding.state.value:8} {finding.message}")
    position = verdict.position
    if position is not None:
        click.echo(f"deposit          {_eth(position.deposit_wei)}")
        click.echo(f"reserve          {_eth(position.reserve_wei)} "
                   f"({_eth(position.reserve_share_wei)} per active orchestrator of {position.transcoder_pool_size})")
        unlock = f"withdrawable at round {position.withdraw_round}" if position.withdraw_round else "none"
        click.echo(f"unlock           {unlock} (current round {position.current_round})")
        click.echo(f"gas balance      {_eth(position.gas_balance_wei)}")
    exposure = verdict.exposure
    click.echo(f"exposure         {exposure.tickets} tickets, face value {_eth(exposure.face_value_wei)}, "
               f"EV {_eth(int(exposure.ev_wei))}, largest face value {_eth(exposure.max_face_value_wei)}")
    click.echo(f"runway           {runway_text(verdict.runway_s)}")
    click.echo("                 (deposit / the faster of EV signed in the ledger's hourly usage since the hour "
               "[health] burn_window_s ago, and winning-ticket payouts in that window; as GET /v1/health)")


def runway_text(runway_s: float | None) -> str:
    """A runway as a person reads it: hours under two days, days under a year, else "> 1 year"."""
    if runway_s is None:
        return "unknown: nothing signed or paid out within the burn window"
    from clearinghouse.chain.limits import RUNWAY_SHOWN_MAX_S

    if runway_s > RUNWAY_SHOWN_MAX_S:
        return "> 1 year"
    return f"{runway_s / 3600:.1f} h" if runway_s < 2 * 86_400 else f"{runway_s / 86_400:.1f} d"


def _eth(wei: int) -> str:
    from clearinghouse.chain.funding import format_eth

    return f"{format_eth(wei)} ETH"
