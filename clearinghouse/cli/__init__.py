"""The ``clearinghouse`` command line.

Commands are thin: they parse options, call the layer that owns the work, and print. Exit
codes: 0 success, 1 the work failed (message on stderr), 2 bad usage (click's own).
"""

from __future__ import annotations

import click

from clearinghouse import __version__
from clearinghouse.cli.chain_commands import chain
from clearinghouse.cli.config_command import config_group
from clearinghouse.cli.daemon import devnet, serve
from clearinghouse.cli.demo import demo
from clearinghouse.cli.deposit import deposit
from clearinghouse.cli.gateways import gateway, signing
from clearinghouse.cli.health import health
from clearinghouse.cli.init import init
from clearinghouse.cli.invoices import fx, invoice, plan
from clearinghouse.cli.ledger_commands import db, ledger_group
from clearinghouse.cli.rates import rate
from clearinghouse.cli.reconcile import reconcile
from clearinghouse.cli.usage import usage


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clearinghouse")
def main() -> None:
    """Signs Livepeer PM tickets for many gateways, meters them and invoices them."""


COMMANDS = (
    init, config_group, serve, devnet, demo, db, ledger_group, gateway, signing, deposit, chain, health,
    rate, usage, invoice, plan, fx, reconcile,
)
for command in COMMANDS:
    main.add_command(command)
