"""``clearinghouse --help`` lists every command, and every command's help shows examples."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from clearinghouse.cli import COMMANDS as LAZY_COMMANDS
from clearinghouse.cli import main

TOP_LEVEL = {"init", "config", "serve", "devnet", "db", "ledger", "gateway", "deposit", "chain", "health",
             "invoice", "reconcile"}
"""The commands issue #8 names (and `chain sync`), which the top-level help must list."""


def walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every visible command below ``group`` with its path of names, groups included (the top
    level's commands are loaded from their modules here, as running them does)."""
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        if command.hidden:
            continue
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from walk(command, (*path, name))


COMMANDS = list(walk(main))


def test_the_top_level_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.split("Commands:\n", 1)[1].splitlines() if line.strip()}
    assert listed == {path[0] for path, _ in COMMANDS}
    assert TOP_LEVEL <= listed


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(path) for path, _ in COMMANDS])
def test_every_command_has_help_with_examples(path: tuple[str, ...], command: click.Command) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert command.help and command.help.split("\n", 1)[0].strip(), "no one-line summary"
    assert "Examples:\n" in result.output, f"`clearinghouse {' '.join(path)} --help` has no Examples block"
    examples = result.output.split("Examples:\n", 1)[1]
    # click's \b keeps the block as written: each example on its own line, running this command.
    first = examples.splitlines()[0]
    assert first.startswith("  ") and "clearinghouse " in first, first
    assert f"clearinghouse {path[0]}" in examples


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_each_summary_is_its_commands_own(name: str) -> None:
    """``--help`` lists the registry's summaries without importing the commands: they must say
    what the commands' docstrings say."""
    command = LAZY_COMMANDS[name].load()
    assert LAZY_COMMANDS[name].summary == command.get_short_help_str(limit=10_000)


def test_the_top_level_help_lists_as_click_would_with_every_command_loaded() -> None:
    """The listing drawn from the registry equals click's own listing of the loaded commands."""
    loaded = click.Group(commands={name: row.load() for name, row in LAZY_COMMANDS.items()})
    listing = CliRunner().invoke(main, ["--help"]).output.split("Commands:\n", 1)[1]
    assert listing == CliRunner().invoke(loaded, ["--help"]).output.split("Commands:\n", 1)[1]


def test_hidden_commands_stay_out_of_the_help() -> None:
    result = CliRunner().invoke(main, ["gateway", "--help"])
    assert "set-limits" in result.output and "set-credit" not in result.output


def test_bad_usage_exits_2_and_failed_work_exits_1() -> None:
    assert CliRunner().invoke(main, ["gateway", "no-such-command"]).exit_code == 2
    assert CliRunner().invoke(main, ["gateway", "show", "not-a-number"]).exit_code == 2
    missing = CliRunner().invoke(main, ["gateway", "list", "--config", "/nonexistent/clearinghouse.toml"])
    assert missing.exit_code == 1 and "no configuration at" in missing.stderr
