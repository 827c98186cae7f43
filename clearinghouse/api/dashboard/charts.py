"""The deposit chart: amounts over time as an SVG step chart's geometry, rendered server-side.

``step_chart`` turns series of (time, wei) samples into what the template draws: polyline
points, axis ticks with labels, a legend. A deposit changes in steps (a top-up, a winning
ticket paid), so each value is drawn as held until the next sample, not as a slope between
them. Amounts stay exact until they become pixel coordinates (floats are fine for pixels); tick
labels are exact ETH from wei. With more samples than POINTS_DRAWN_MAX, each pixel column keeps
its first, lowest, highest and last sample, so no dip disappears from the picture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Final

from clearinghouse.api.limits import POINTS_DRAWN_MAX, X_TICKS_MAX, Y_TICKS_MAX

CHART_WIDTH_PX: Final = 960
CHART_HEIGHT_PX: Final = 320
_MARGIN_LEFT_PX: Final = 96
"""Room for a y label like "1,234.56 ETH"."""
_MARGIN_RIGHT_PX: Final = 16
_MARGIN_TOP_PX: Final = 40
"""Room for the legend above the plot."""
_MARGIN_BOTTOM_PX: Final = 32


_WEI_PER_ETH: Final = 10**18
_X_STEPS: Final = tuple(timedelta(minutes=m) for m in (5, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080))
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Series:
    """One named line: samples (time, wei) oldest first; ``key`` names its CSS class."""

    name: str
    key: str
    samples: Sequence[tuple[datetime, int]]


@dataclass(frozen=True, slots=True)
class Tick:
    """An axis tick: its pixel position along the axis and its label."""

    at_px: float
    label: str


@dataclass(frozen=True, slots=True)
class Line:
    """A drawn series: its polyline points, how many samples it shows, its newest value and
    where that is drawn (None without samples)."""

    name: str
    key: str
    points: str
    samples: int
    latest: str
    end: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class StepChart:
    """Everything the template needs to draw the chart."""

    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    lines: tuple[Line, ...]

    @property
    def empty(self) -> bool:
        """True when no series has a sample in the window."""
        return all(line.samples == 0 for line in self.lines)


def step_chart(
    series: Sequence[Series], start: datetime, end: datetime, label: Callable[[int], str],
    *, width: int = CHART_WIDTH_PX, height: int = CHART_HEIGHT_PX,
) -> StepChart:
    """The chart of ``series`` over [start, end) (UTC), y from 0 to a round amount above the
    largest sample; ``label`` writes an amount of wei for the y axis and the legend. Raises
    ValueError unless start < end."""
    if not start < end:
        raise ValueError(f"empty chart window: {start.isoformat()} is not before {end.isoformat()}")
    left, top = _MARGIN_LEFT_PX, _MARGIN_TOP_PX
    right, bottom = width - _MARGIN_RIGHT_PX, height - _MARGIN_BOTTOM_PX
    y_step = _amount_step(max((wei for s in series for _, wei in s.samples), default=0))
    y_max = y_step * Y_TICKS_MAX if not any(s.samples for s in series) else _round_up(
        max(wei for s in series for _, wei in s.samples), y_step)
    span_s = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        return left + (right - left) * (moment - start).total_seconds() / span_s

    def y(wei: int) -> float:
        return float(bottom - (bottom - top) * Fraction(wei, y_max))

    y_ticks = tuple(Tick(y(wei), label(wei)) for wei in range(0, y_max + 1, y_step))
    x_ticks = tuple(Tick(x(moment), text) for moment, text in _time_ticks(start, end))
    lines = tuple(_line(s, x, y, label, right - left) for s in series)
    return StepChart(width, height, left, top, right, bottom, x_ticks, y_ticks, lines)


def _line(series: Series, x: Callable[[datetime], float], y: Callable[[int], float],
          label: Callable[[int], str], columns: int) -> Line:
    drawn = _thinned(series.samples, x, columns)
    points: list[str] = []
    for index, (moment, wei) in enumerate(drawn):
        if index:  # hold the previous value until this sample: a step, not a slope
            points.append(f"{x(moment):.1f},{y(drawn[index - 1][1]):.1f}")
        points.append(f"{x(moment):.1f},{y(wei):.1f}")
    if not series.samples:
        return Line(series.name, series.key, "", 0, "no samples", None)
    moment, wei = series.samples[-1]
    return Line(series.name, series.key, " ".join(points), len(series.samples), label(wei), (x(moment), y(wei)))


def _thinned(samples: Sequence[tuple[datetime, int]], x: Callable[[datetime], float],
             columns: int) -> list[tuple[datetime, int]]:
    """All samples up to POINTS_DRAWN_MAX; beyond, per pixel column its first, lowest, highest
    and last sample in time order."""
    if len(samples) <= POINTS_DRAWN_MAX:
        return list(samples)
    groups: dict[int, list[tuple[datetime, int]]] = {}
    for sample in samples:
        groups.setdefault(min(int(x(sample[0])), columns + _MARGIN_LEFT_PX), []).append(sample)
    kept: list[tuple[datetime, int]] = []
    for group in groups.values():
        chosen = {0, len(group) - 1, min(range(len(group)), key=lambda i: group[i][1]),
                  max(range(len(group)), key=lambda i: group[i][1])}
        kept.extend(group[i] for i in sorted(chosen))
    return kept


def _amount_step(largest_wei: int) -> int:
    """The smallest 1, 2 or 5 × 10^k wei that reaches ``largest_wei`` in Y_TICKS_MAX steps
    (an empty or all-zero chart is scaled to 1 ETH)."""
    target = largest_wei if largest_wei > 0 else _WEI_PER_ETH
    power = 1
    while True:  # ends: power grows tenfold each turn, so 1 × power reaches any target
        for multiple in (1, 2, 5):
            if multiple * power * Y_TICKS_MAX >= target:
                return multiple * power
        power *= 10


def _round_up(value: int, step: int) -> int:
    return max(step, -(-value // step) * step)


def _time_ticks(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """Round UTC times in [start, end], at most X_TICKS_MAX of them; a tick at midnight names
    the day, others the time of day."""
    step = next((s for s in _X_STEPS if (end - start) / s <= X_TICKS_MAX), _X_STEPS[-1])
    first = _EPOCH + step * -(-(start - _EPOCH) // step)
    ticks: list[tuple[datetime, str]] = []
    moment = first
    while moment <= end and len(ticks) < X_TICKS_MAX + 1:
        midnight = moment.hour == 0 and moment.minute == 0
        ticks.append((moment, moment.strftime("%b %d") if midnight else moment.strftime("%H:%M")))
        moment += step
    return ticks
