"""The ``clearinghouse`` command line.

Commands are thin: they parse options, call the layer that owns the work, and print. Exit
codes: 0 success, 1 the work failed (message on stderr), 2 bad usage (click's own).

A new command (or group) is one row of ``COMMANDS``: its name, ``"module:attribute"`` and the
first sentence of its docstring. Its module is imported only when the command runs, so keep
heavy imports (SQLAlchemy, web3, gRPC, ReportLab) out of this package's shared modules
(``options``, ``output``); ``tests/cli/test_startup.py`` checks what ``--help`` imports and
``benchmarks/cli_startup.py`` times it.
"""

from __future__ import annotations

import click

from clearinghouse import __version__
from clearinghouse.cli.lazy_group import LazyCommand, LazyGroup

COMMANDS: dict[str, LazyCommand] = {
    "init": LazyCommand(
        "clearinghouse.cli.init:init",
        "Create a clearinghouse directory: clearinghouse.toml with every setting documented, an encrypted "
        "keystore (scrypt) of a new sender key or an imported one, the API-key pepper and the admin token, "
        "each mode 0600.",
    ),
    "config": LazyCommand("clearinghouse.cli.config_command:config_group", "Inspect the configuration."),
    "serve": LazyCommand(
        "clearinghouse.cli.daemon:serve",
        "Run the remote-signer HTTP API (go-livepeer -remoteSignerUrl compatible) until stopped, and the "
        "clearinghouse.v1 gRPC API beside it when the config has a [grpc] section.",
    ),
    "devnet": LazyCommand(
        "clearinghouse.cli.daemon:devnet",
        "Start a local Arbitrum-like chain and serve the daemon against it, until stopped.",
    ),
    "demo": LazyCommand(
        "clearinghouse.cli.demo:demo", "Sign and verify demo tickets with a throwaway key; print the rate."
    ),
    "db": LazyCommand("clearinghouse.cli.ledger_commands:db", "Database schema."),
    "ledger": LazyCommand("clearinghouse.cli.ledger_commands:ledger_group", "Ledger checks."),
    "gateway": LazyCommand(
        "clearinghouse.cli.gateways:gateway", "Gateway operators: tenants, their API keys, credit and limits."
    ),
    "app": LazyCommand(
        "clearinghouse.cli.apps:app", "Apps: a gateway's OAuth clients (client id + secret), several per gateway."
    ),
    "user": LazyCommand("clearinghouse.cli.apps:user", "An app's end users and their allowances (exact wei)."),
    "oidc": LazyCommand(
        "clearinghouse.cli.apps:oidc", "The ES256 keys tokens are signed with ([oidc] signing_keys_file, mode 0600)."
    ),
    "signing": LazyCommand(
        "clearinghouse.cli.gateways:signing", "The global kill switch: stop or resume all signing."
    ),
    "deposit": LazyCommand(
        "clearinghouse.cli.deposit:deposit",
        "The sender's TicketBroker deposit and reserve: show, fund, unlock, withdraw, history.",
    ),
    "chain": LazyCommand("clearinghouse.cli.chain_commands:chain", "The chain event watcher, run by hand."),
    "health": LazyCommand(
        "clearinghouse.cli.health:health",
        "Read the deposit, reserve, unlock state, gas and outstanding exposure once, and judge them.",
    ),
    "rate": LazyCommand(
        "clearinghouse.cli.rates:rate",
        "ETH/USD rates with provenance: enter, import, list; price unpriced records.",
    ),
    "usage": LazyCommand(
        "clearinghouse.cli.usage:usage",
        "Calls, tickets, units, EV signed (what gateways are billed) and fees per group, exact wei.",
    ),
    "invoice": LazyCommand(
        "clearinghouse.cli.invoices:invoice",
        "Fiat invoices per gateway and period: draft, issue, paid, void, list, show, export, deliveries.",
    ),
    "billing-cycle": LazyCommand(
        "clearinghouse.cli.billing_cycles:billing_cycle",
        "A gateway's billing cycle: the daemon drafts, issues and delivers its invoices.",
    ),
    "plan": LazyCommand(
        "clearinghouse.cli.plans:plan",
        "A gateway's billing plan: append-only, the newest in force at a period's start applies.",
    ),
    "fx": LazyCommand(
        "clearinghouse.cli.plans:fx",
        "FX rates from USD to invoice currencies, recorded on the invoices that use them.",
    ),
    "events": LazyCommand(
        "clearinghouse.cli.events:events",
        "Every signing and sampled refusal as a CloudEvent: status, tail, replay, relay.",
    ),
    "reconcile": LazyCommand(
        "clearinghouse.cli.reconcile:reconcile",
        "Reconcile what was billed with the exposure still open and what orchestrators redeemed.",
    ),
}
"""Every top-level command: name -> where it is defined and its summary for ``--help``."""


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clearinghouse")
def main() -> None:
    """Signs Livepeer PM tickets for many gateways, meters them and invoices them."""
