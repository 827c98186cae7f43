"""``clearinghouse deposit …``: show, fund, unlock and withdraw the sender's TicketBroker funds.

Every command that sends a transaction plans it first (chain/funding.py refuses there, before
anything is signed), prints the plan, and sends it only once the operator confirms: ``--yes``
skips the question, ``--dry-run`` stops after the plan. Amounts are typed with a unit (1.5ETH,
15000wei) and printed as exact decimal ETH with the wei beside them; no float is involved.

The chain modules are imported when a command runs, not when the CLI starts, so the other
commands do not pay for loading web3.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from clearinghouse.cli.health import keystore_address
from clearinghouse.cli.options import config_option, emit, json_option, settings, translated

if TYPE_CHECKING:
    from clearinghouse.chain.funding import FundingClient, FundingPlan, FundingResult, Position
    from clearinghouse.config import Settings

_F = TypeVar("_F", bound=Callable[..., Any])

LABEL_CHARS = 17
"""Width of the label column: the longest label ("effective price") and two spaces."""


def _amount_wei(text: str) -> int:
    """AMOUNT in wei (chain.funding.parse_amount); bad usage (exit 2) when it is not an amount."""
    from clearinghouse.chain.funding import parse_amount

    try:
        return parse_amount(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="AMOUNT") from exc


def _sending_options(command: _F) -> _F:
    """--config, --dry-run and --yes, shared by the commands that send a transaction."""
    for option in (
        click.option("--yes", "-y", "assume_yes", is_flag=True, help="Send without asking for confirmation."),
        click.option("--dry-run", is_flag=True, help="Show the transaction, its gas and fees; send nothing."),
        config_option,
    ):
        command = option(command)
    return command


@click.group()
def deposit() -> None:
    """The sender's TicketBroker deposit and reserve: show, fund, unlock, withdraw, history.

    \b
    Examples:
      clearinghouse deposit show --config clearinghouse.toml
      clearinghouse deposit fund 0.5ETH --dry-run
    """


@deposit.command("show")
@config_option
@json_option
def deposit_show(config_path: Path, as_json: bool) -> None:
    """The sender's deposit, reserve, unlock state, current round and ETH for gas.

    Needs the live [chain] section of the configuration and the sender keystore (for the
    sender's address; no passphrase). --json gives every amount in wei as a decimal string.

    \b
    Examples:
      clearinghouse deposit show --config clearinghouse.toml
      clearinghouse deposit show --json | jq -r .deposit_wei
    """
    config = settings(config_path)
    funding = _funding_client(config)
    with translated():
        position = funding.position(keystore_address(config))
    emit(as_json, _position_document(position, funding.redacted_url), [
        _line("sender", position.sender),
        _line("TicketBroker", f"{position.ticket_broker} via {funding.redacted_url}"),
        _line("current round", f"{position.current_round} (block {position.block_number})"),
        *_position_lines(position),
    ])


def _position_document(position: Position, redacted_url: str) -> dict[str, object]:
    return {
        "sender": position.sender, "ticket_broker": position.ticket_broker, "rpc_url": redacted_url,
        "block_number": position.block_number, "current_round": position.current_round,
        "deposit_wei": str(position.deposit_wei), "reserve_wei": str(position.reserve_wei),
        "unlock_in_progress": position.unlock_in_progress, "withdraw_round": position.withdraw_round,
        "unlock_period_rounds": position.unlock_period_rounds, "eth_balance_wei": str(position.eth_balance_wei),
        "unlock": _unlock_state(position),
    }


@deposit.command("history")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@config_option
@json_option
def deposit_history(limit: int, config_path: Path, as_json: bool) -> None:
    """What the replenishment policy funded, or observed it would fund, newest first: the amount,
    the reason, the position it started from, the transaction and how it ended.

    \b
    Examples:
      clearinghouse deposit history
      clearinghouse deposit history --json | jq '.[] | select(.mode == "auto")'
    """
    from clearinghouse.chain.funding import format_eth
    from clearinghouse.cli.options import opened_ledger
    from clearinghouse.ledger.funding_actions import funding_history

    config = settings(config_path)
    with opened_ledger(config.database_url) as db, translated():
        records = funding_history(db, limit=limit)
    documents = [{"at": r.created_at.isoformat(), "action": r.action, "mode": r.mode.value, "status": r.status.value,
                  "amount_wei": str(r.amount_wei), "reason": r.reason, "deposit_wei": str(r.deposit_wei),
                  "reserve_wei": str(r.reserve_wei), "eth_balance_wei": str(r.eth_balance_wei), "tx_hash": r.tx_hash,
                  "detail": r.detail} for r in records]
    lines = [f"{r.created_at:%Y-%m-%d %H:%M}  {r.mode.value:<7}  {r.status.value:<11}  {r.action}  "
             f"{format_eth(r.amount_wei)} ETH  {r.tx_hash or '-'}\n    {r.reason}" for r in records]
    emit(as_json, documents, lines or ["no automatic funding yet"])


@deposit.command("fund")
@click.argument("amount")
@_sending_options
def deposit_fund(amount: str, config_path: Path, dry_run: bool, assume_yes: bool) -> None:
    """Add AMOUNT to the deposit, which pays winning tickets (fundDeposit).

    AMOUNT takes a unit: 1.5ETH, "0.25 eth", 0.001ether or 15000wei. Funding cancels an unlock
    in progress.

    \b
    Examples:
      clearinghouse deposit fund 1.5ETH --dry-run
      clearinghouse deposit fund 0.25eth
      clearinghouse deposit fund 15000wei --yes --config /etc/clearinghouse.toml
    """
    _transact(config_path, "fund_deposit", _amount_wei(amount), dry_run, assume_yes)


@deposit.command("reserve")
@click.argument("amount")
@_sending_options
def deposit_reserve(amount: str, config_path: Path, dry_run: bool, assume_yes: bool) -> None:
    """Add AMOUNT to the reserve, the orchestrators' insurance when the deposit runs out (fundReserve).

    AMOUNT takes a unit, as for `deposit fund`. Funding cancels an unlock in progress.

    \b
    Examples:
      clearinghouse deposit reserve 0.5ETH --dry-run
      clearinghouse deposit reserve 0.5ETH --yes
    """
    _transact(config_path, "fund_reserve", _amount_wei(amount), dry_run, assume_yes)


@deposit.command("unlock")
@_sending_options
def deposit_unlock(config_path: Path, dry_run: bool, assume_yes: bool) -> None:
    """Start the unlock of the deposit and reserve (unlock).

    Withdrawal becomes possible after the TicketBroker's unlock period (in rounds); from then
    on winning tickets of this sender can no longer be redeemed. Funding again, or
    `deposit cancel-unlock`, stops the unlock.

    \b
    Examples:
      clearinghouse deposit unlock --dry-run
      clearinghouse deposit unlock
    """
    _transact(config_path, "unlock", 0, dry_run, assume_yes)


@deposit.command("cancel-unlock")
@_sending_options
def deposit_cancel_unlock(config_path: Path, dry_run: bool, assume_yes: bool) -> None:
    """Cancel the unlock in progress (cancelUnlock); the funds stay and keep paying tickets.

    \b
    Examples:
      clearinghouse deposit cancel-unlock --yes
    """
    _transact(config_path, "cancel_unlock", 0, dry_run, assume_yes)


@deposit.command("withdraw")
@_sending_options
def deposit_withdraw(config_path: Path, dry_run: bool, assume_yes: bool) -> None:
    """Withdraw the whole deposit and reserve to the sender once the unlock period is over (withdraw).

    Refused, with the round it becomes possible in, while the unlock period runs.

    \b
    Examples:
      clearinghouse deposit withdraw --dry-run
      clearinghouse deposit withdraw
    """
    _transact(config_path, "withdraw", 0, dry_run, assume_yes)


def _transact(config_path: Path, action_name: str, amount_wei: int, dry_run: bool, assume_yes: bool) -> None:
    """Plan ``action_name``, show the plan, and send it once confirmed (never on a dry run)."""
    from clearinghouse.chain.funding import FundingAction

    config = settings(config_path)
    funding = _funding_client(config)
    sender, private_key = _sender_key(config)
    with translated():
        plan = funding.plan(sender, FundingAction(action_name), amount_wei)
    _echo_plan(plan, funding.redacted_url)
    if dry_run:
        click.echo("dry run: nothing sent")
        return
    if not assume_yes and not _confirmed(f"Send {plan.transaction.function}() from {sender}?"):
        raise click.ClickException("aborted, nothing sent")
    with translated():
        result = funding.send(plan, private_key)
    _echo_result(result)


def _confirmed(question: str) -> bool:
    """The operator's answer; no answer (end of input, Ctrl-C) is a No."""
    try:
        return click.confirm(question, default=False)
    except click.Abort:
        click.echo()
        return False


def _funding_client(config: Settings) -> FundingClient:
    from clearinghouse.chain.funding import FundingClient

    live = config.live_chain
    if live is None:
        raise click.ClickException(
            f"{config.path} has no live [chain] section: set chain.rpc_url (or CLEARINGHOUSE_RPC_URL) "
            "and chain.controller"
        )
    try:
        return FundingClient(live.rpc_url, live.controller)
    except ValueError as exc:
        raise click.ClickException(f"chain.controller: {exc}") from exc


def _sender_key(config: Settings) -> tuple[str, bytes]:
    """(address, private key) of the sender keystore; the key is only ever passed to send()."""
    from eth_account import Account

    with translated():
        private_key = config.private_key()
    address: str = Account.from_key(private_key).address
    return address, private_key


# ---- output -----------------------------------------------------------------------------------


def _line(label: str, value: object) -> str:
    return f"  {label:<{LABEL_CHARS}}{value}"


def _eth(amount_wei: int) -> str:
    from clearinghouse.chain.funding import format_eth

    return f"{format_eth(amount_wei)} ETH ({amount_wei} wei)"


def _echo_plan(plan: FundingPlan, redacted_url: str) -> None:
    from clearinghouse.chain.funding import GAS_LIMIT_MARGIN_PERCENT

    tx = plan.transaction
    click.echo(f"transaction TicketBroker.{tx.function}() from {tx.sender}")
    click.echo(_line("chain", f"{tx.chain_id} via {redacted_url}"))
    click.echo(_line("to", f"{tx.to} (TicketBroker)"))
    click.echo(_line("value", _eth(tx.value_wei)))
    click.echo(_line("calldata", tx.data))
    click.echo(_line("nonce", tx.nonce))
    click.echo(_line("gas limit", f"{tx.gas_limit} (estimate {tx.gas_estimate} + {GAS_LIMIT_MARGIN_PERCENT}%)"))
    click.echo(_line("max fee", f"{tx.max_fee_per_gas_wei} wei/gas"))
    click.echo(_line("priority fee", f"{tx.max_priority_fee_per_gas_wei} wei/gas"))
    click.echo(_line("max gas cost", _eth(tx.max_gas_cost_wei)))
    click.echo(_line("max cost", _eth(tx.max_cost_wei)))
    click.echo(f"before (block {plan.before.block_number}, round {plan.before.current_round})")
    _echo_position(plan.before)
    for note in plan.notes:
        click.echo(f"note: {note}")


def _echo_result(result: FundingResult) -> None:
    click.echo(f"sent {result.tx_hash}")
    click.echo(_line("block", result.block_number))
    click.echo(_line("gas used", result.gas_used))
    click.echo(_line("effective price", f"{result.effective_gas_price_wei} wei/gas"))
    click.echo(_line("gas cost", _eth(result.gas_cost_wei)))
    click.echo(f"after (block {result.after.block_number}, round {result.after.current_round})")
    _echo_position(result.after)


def _echo_position(position: Position) -> None:
    for line in _position_lines(position):
        click.echo(line)


def _position_lines(position: Position) -> list[str]:
    return [_line("deposit", _eth(position.deposit_wei)), _line("reserve", _eth(position.reserve_wei)),
            _line("unlock", _unlock_state(position)), _line("ETH balance", _eth(position.eth_balance_wei))]


def _unlock_state(position: Position) -> str:
    withdraw_round, current = position.withdraw_round, position.current_round
    if not position.unlock_in_progress:
        return f"none (an unlock now allows withdrawal from round {current + position.unlock_period_rounds})"
    if current < withdraw_round:
        return f"in progress: withdrawal possible from round {withdraw_round}"
    if position.deposit_wei or position.reserve_wei:
        return f"over: withdrawal possible since round {withdraw_round}"
    # The TicketBroker keeps withdrawRound after a withdrawal, until the sender funds again.
    return f"over since round {withdraw_round}, nothing left to withdraw; funding again ends it"
