"""The top-level ``clearinghouse`` group, whose commands are imported only when they run.

Each command module imports what its work needs (SQLAlchemy, web3, gRPC, ReportLab…), which
costs a second or more together. The group knows each command by name, the module and attribute
that define it, and its one-line summary, so ``clearinghouse --help`` lists them all without
importing one, and ``clearinghouse gateway list`` imports the gateway commands alone (issue 19).
``tests/cli/test_help.py`` keeps every summary equal to its command's own.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """Where a command is defined (``"package.module:attribute"``) and its one-line summary,
    the first sentence of its docstring as ``--help`` lists it."""

    target: str
    summary: str

    def load(self) -> click.Command:
        """Import the command's module and return the command.

        Raises TypeError when the attribute is no click command (a wrong registry row).
        """
        module_name, attribute = self.target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is a {type(command).__name__}, expected a click command")
        return command


class LazyGroup(click.Group):
    """A click group whose subcommands come from a table of ``LazyCommand`` rows."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, LazyCommand], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            self.add_command(self.lazy_commands[cmd_name].load(), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The listing of ``--help`` from the summaries, importing no command module."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is not None:
                if not loaded.hidden:
                    rows.append((name, loaded.get_short_help_str(limit)))
                continue
            # A stand-in command shortens the summary exactly as click shortens a loaded one's.
            rows.append((name, click.Command(name, help=self.lazy_commands[name].summary).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
