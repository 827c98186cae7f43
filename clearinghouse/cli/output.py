"""How the commands show what they read: aligned tables for people and a progress bar for
long-running work (the JSON for scripts is ``options.emit``).

The progress bar is drawn on stderr and only when stderr is a terminal, so ``--json`` stdout,
pipes, cron mail and CI logs never see it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

PROGRESS_BAR_CHARS = 30
"""Width of the bar itself: with its label and counts it fits an 80-column terminal."""


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its header and whether its values are numbers (right-aligned)."""

    header: str
    numeric: bool = False


def table(columns: Sequence[Column], rows: Sequence[Sequence[object]]) -> list[str]:
    """The rows under their headers, each column as wide as its widest cell; None shows as "-".

    Raises ValueError when a row has not one cell per column.
    """
    cells = [[column.header for column in columns]]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"a row of {len(row)} cells in a table of {len(columns)} columns")
        cells.append(["-" if value is None else str(value) for value in row])
    widths = [max(len(line[index]) for line in cells) for index in range(len(columns))]
    return [
        "  ".join(
            text.rjust(width) if column.numeric else text.ljust(width)
            for column, text, width in zip(columns, line, widths, strict=True)
        ).rstrip()
        for line in cells
    ]


def fields(pairs: Sequence[tuple[str, object]]) -> list[str]:
    """``label  value`` lines with the values aligned; None shows as "-"."""
    width = max((len(label) for label, _ in pairs), default=0)
    return [f"{label.ljust(width)}  {'-' if value is None else value}" for label, value in pairs]


class Progress:
    """One line on a terminal redrawn in place: ``label [#####.....] done/total unit``."""

    def __init__(self, label: str, unit: str, stream: TextIO) -> None:
        self._label = label
        self._unit = unit
        self._stream = stream
        self._drawn = False

    def update(self, done: int, total: int) -> None:
        """Redraw with ``done`` of ``total`` (the total may grow, as a chain's head does)."""
        total = max(total, done, 0)
        filled = PROGRESS_BAR_CHARS if total == 0 else PROGRESS_BAR_CHARS * done // total
        bar = "#" * filled + "." * (PROGRESS_BAR_CHARS - filled)
        self._stream.write(f"\r{self._label} [{bar}] {done}/{total} {self._unit}\x1b[K")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the line, so what follows starts on a fresh one."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


class _Silent(Progress):
    """What a command reports progress to when nobody is watching a terminal."""

    def update(self, done: int, total: int) -> None:
        """Nothing: progress is for people at a terminal."""


@contextmanager
def progress(label: str, unit: str) -> Iterator[Progress]:
    """A progress bar on stderr when stderr is a terminal, else one that draws nothing."""
    stream = sys.stderr
    bar = Progress(label, unit, stream) if stream.isatty() else _Silent(label, unit, stream)
    try:
        yield bar
    finally:
        bar.close()
