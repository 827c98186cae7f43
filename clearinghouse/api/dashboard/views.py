"""What the dashboard shows, as display values: exact ETH text from wei, the health summary,
the gateways' spend rows and their sort, the invoice rows with their downloads, rejections.

Money is formatted from exact integers (wei) by decimal string arithmetic, never through a
float; EV and fees are exact rationals of wei, shown rounded down to the wei with the exact
value in the cell's tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from fractions import Fraction
from typing import Final
from urllib.parse import urlencode

from clearinghouse.api.rejections import Rejection
from clearinghouse.billing.invoices import minor_unit_exponent
from clearinghouse.billing.money_text import minor_units_text
from clearinghouse.chain.health import DepositHealth
from clearinghouse.chain.limits import RUNWAY_SHOWN_MAX_S
from clearinghouse.domain.gateways import Gateway
from clearinghouse.ledger import DepositSample
from clearinghouse.ledger.hourly_usage import Usage
from clearinghouse.ledger.invoices import Invoice, InvoiceStatus

_WEI_PER_ETH: Final = 10**18
_ETH_DECIMALS: Final = 18


def eth_text(wei: int) -> str:
    """Wei as exact ETH: 1_500_000_000_000_000_000 → "1.5", grouped thousands, no trailing zeros."""
    whole, fraction = divmod(abs(wei), _WEI_PER_ETH)
    text = f"{whole:,}"
    if fraction:
        text += "." + f"{fraction:0{_ETH_DECIMALS}d}".rstrip("0")
    return f"-{text}" if wei < 0 else text


def eth_label(wei: int) -> str:
    """``eth_text`` with its unit, for axes and legends."""
    return f"{eth_text(wei)} ETH"


SHOWN_DECIMALS: Final = 6
"""Decimals of the automatic unit: a card shows "≈ 1.234567 ETH", the tooltip the exact value."""

_UNITS: Final = ((10**15, 10**18, "ETH"), (10**6, 10**9, "gwei"))
"""(smallest amount shown in the unit, wei per unit, unit): ETH from 0.001 ETH, gwei from
0.001 gwei, wei below; so no amount needs more than a handful of digits to read."""


def auto_unit_text(wei: int) -> str:
    """Wei in the unit that reads best (ETH, gwei or wei), rounded toward zero to
    SHOWN_DECIMALS decimals and marked "≈" when that dropped digits: 40,705 wei stays
    "40,705 wei" instead of "0.000000000000040705 ETH"."""
    size = abs(wei)
    if size == 0:
        return "0 ETH"
    for smallest, scale, unit in _UNITS:
        if size >= smallest:
            break
    else:
        return f"{wei:,} wei"
    shown = size * 10**SHOWN_DECIMALS // scale
    whole, fraction = divmod(shown, 10**SHOWN_DECIMALS)
    text = f"{whole:,}" + (f".{fraction:0{SHOWN_DECIMALS}d}".rstrip("0") if fraction else "")
    approximate = "≈ " if shown * scale != size * 10**SHOWN_DECIMALS else ""
    return f"{approximate}{'-' if wei < 0 else ''}{text} {unit}"


def exact_wei_text(value: Fraction) -> str:
    """A rational amount of wei exactly: "12" or "37/3 wei" as "37/3"."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def duration_text(seconds: float | None) -> str:
    """A duration for people: "3 d 4 h", "5 h 12 min", "45 min"; "> 1 year" beyond a year
    (RUNWAY_SHOWN_MAX_S); "unknown" for None."""
    if seconds is None:
        return "unknown"
    if seconds > RUNWAY_SHOWN_MAX_S:
        return "> 1 year"
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days:,} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def moment_text(moment: datetime) -> str:
    """A time in UTC to the minute: "2026-11-23 01:05 UTC"."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True, slots=True)
class Amount:
    """A wei amount as shown: ETH text, wei text (rounded down), and the exact value."""

    eth: str
    wei: str
    exact: str
    shown: str = ""
    """The amount in its automatic unit (``auto_unit_text``), for cards and cells."""

    @classmethod
    def of(cls, wei: int | Fraction) -> Amount:
        """The display of ``wei`` (an int, or an exact rational rounded down for the text)."""
        value = Fraction(wei)
        floor = math.floor(value)
        return cls(eth_text(floor), str(floor), exact_wei_text(value), auto_unit_text(floor))


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason the health is not ok."""

    state: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class HealthView:
    """The health panel: state, reasons and the numbers behind them (None: not known)."""

    state: str
    detail: str
    findings: tuple[Finding, ...]
    deposit: Amount | None
    reserve: Amount | None
    position_note: str
    exposure_tickets: int | None
    exposure_face: Amount | None
    exposure_ev: Amount | None
    runway: str


def health_view(health: DepositHealth | None, newest: DepositSample | None) -> HealthView:
    """The panel from the monitor's verdict; without a monitor, "unmonitored" with the newest
    recorded sample (another replica may be sampling) as the position."""
    if health is None:
        deposit = None if newest is None else Amount.of(newest.deposit_wei)
        reserve = None if newest is None else Amount.of(newest.reserve_wei)
        note = ("no sample recorded" if newest is None
                else f"last recorded {moment_text(newest.observed_at)}, block {newest.block_number:,}")
        return HealthView("unmonitored", "this process does not watch the chain: configure [chain] rpc_url",
                          (), deposit, reserve, note, None, None, None, duration_text(None))
    position = health.position
    age = "never read" if health.chain_age_s is None else f"read {health.chain_age_s:.0f} s ago"
    where = "not read yet" if position is None else f"block {position.block:,}, round {position.current_round:,}"
    return HealthView(
        state=health.state.value,
        detail=f"chain data {age}",
        findings=tuple(Finding(f.state.value, f.reason.value, f.message) for f in health.findings),
        deposit=None if position is None else Amount.of(position.deposit_wei),
        reserve=None if position is None else Amount.of(position.reserve_wei),
        position_note=where,
        exposure_tickets=health.exposure.tickets,
        exposure_face=Amount.of(health.exposure.face_value_wei),
        exposure_ev=Amount.of(health.exposure.ev_wei),
        runway=duration_text(health.runway_s) if health.runway_s is not None
        else "unknown: nothing signed or paid out within the burn window",
    )


class SpendColumn(StrEnum):
    """The gateway table's sortable columns (the whitelist of ``?sort=``)."""

    GATEWAY = "gateway"
    NAME = "name"
    STATUS = "status"
    CALLS = "calls"
    TICKETS = "tickets"
    EV = "ev"
    FEE = "fee"


SORT_DEFAULT: Final = SpendColumn.EV
_TEXT_COLUMNS: Final = frozenset({SpendColumn.NAME, SpendColumn.STATUS})


@dataclass(frozen=True, slots=True)
class GatewaySpend:
    """One gateway's usage in the period."""

    gateway_id: int
    name: str
    status: str
    calls: int
    tickets: int
    ev_wei: Fraction
    fee_wei: Fraction

    @property
    def ev(self) -> Amount:
        return Amount.of(self.ev_wei)

    @property
    def fee(self) -> Amount:
        return Amount.of(self.fee_wei)


def gateway_spends(gateways: Iterable[Gateway], usage: Mapping[int, Usage]) -> list[GatewaySpend]:
    """Every gateway with its usage (zero when it signed nothing in the period)."""
    rows = []
    for gateway in gateways:
        used = usage.get(gateway.id, Usage())
        rows.append(GatewaySpend(gateway.id, gateway.name, gateway.status.value, used.calls, used.tickets,
                                 used.ev_wei, used.fee_wei))
    return rows


def sort_choice(column: str | None, order: str | None) -> tuple[SpendColumn, bool]:
    """The requested (column, descending); an unknown column or order falls back to the default
    (EV, largest first; text columns A→Z) instead of being an error."""
    try:
        chosen = SpendColumn(column or "")
    except ValueError:
        chosen = SORT_DEFAULT
    if order in ("asc", "desc"):
        return chosen, order == "desc"
    return chosen, chosen not in _TEXT_COLUMNS


@dataclass(frozen=True, slots=True)
class SortHeader:
    """A column header of the gateway table: its label, the link that sorts by it (reversing
    the order when it is already the sort column) and its aria-sort state."""

    label: str
    column: str
    href: str
    aria_sort: str
    numeric: bool


_HEADER_LABELS: Final = {
    SpendColumn.GATEWAY: "ID", SpendColumn.NAME: "Gateway", SpendColumn.STATUS: "Status",
    SpendColumn.CALLS: "Calls", SpendColumn.TICKETS: "Tickets", SpendColumn.EV: "EV signed",
    SpendColumn.FEE: "Fee",
}


def sort_headers(column: SpendColumn, descending: bool, window: str) -> tuple[SortHeader, ...]:
    """The headers of the gateway table sorted by ``column``; links keep the chart ``window``."""
    headers = []
    for candidate, label in _HEADER_LABELS.items():
        if candidate is column:
            order, aria = ("asc" if descending else "desc"), ("descending" if descending else "ascending")
        else:
            order, aria = ("asc" if candidate in _TEXT_COLUMNS else "desc"), "none"
        href = "?" + urlencode({"sort": candidate.value, "order": order, "window": window})
        headers.append(SortHeader(label, candidate.value, href, aria, candidate not in _TEXT_COLUMNS))
    return tuple(headers)


def sorted_spends(rows: Sequence[GatewaySpend], column: SpendColumn, descending: bool) -> list[GatewaySpend]:
    """``rows`` by ``column``; ties by gateway id, ascending, whatever the order."""
    by_id = sorted(rows, key=lambda row: row.gateway_id)
    return sorted(by_id, key=lambda row: _sort_value(row, column), reverse=descending)


def _sort_value(row: GatewaySpend, column: SpendColumn) -> int | str | Fraction:
    match column:
        case SpendColumn.GATEWAY:
            return row.gateway_id
        case SpendColumn.NAME:
            return row.name.casefold()
        case SpendColumn.STATUS:
            return row.status
        case SpendColumn.CALLS:
            return row.calls
        case SpendColumn.TICKETS:
            return row.tickets
        case SpendColumn.EV:
            return row.ev_wei
        case SpendColumn.FEE:
            return row.fee_wei


@dataclass(frozen=True, slots=True)
class InvoiceView:
    """One invoice row: what it is, its total in its currency, and the formats it downloads as."""

    invoice_id: int
    number: str
    gateway: str
    period: str
    status: str
    total: str
    formats: tuple[str, ...]


def invoice_view(row: Invoice, gateway_names: Mapping[int, str]) -> InvoiceView:
    """The row of ``row``; a draft has no number and cannot be printed, so no PDF."""
    number = row.number or f"draft #{row.id}"
    if row.credit_note_of is not None:
        number += " (credit note)"
    period = period_text(row.period_start, row.period_end)
    total = f"{minor_units_text(row.total_minor, minor_unit_exponent(row.currency), thousands=True)} {row.currency}"
    formats = ("csv", "json") if row.status is InvoiceStatus.DRAFT else ("pdf", "csv", "json")
    gateway = gateway_names.get(row.gateway_id, f"#{row.gateway_id}")
    return InvoiceView(row.id, number, gateway, period, row.status.value, total, formats)


def period_text(start: datetime, end: datetime) -> str:
    """[start, end) for people: a calendar month as "2026-11", else both ends in UTC."""
    first = start.astimezone(UTC)
    next_month = first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(
        month=first.month + 1)
    if (first.day, first.hour, first.minute, first.second, first.microsecond) == (1, 0, 0, 0, 0) \
            and end == next_month:
        return f"{first:%Y-%m}"
    return f"{moment_text(start)} – {moment_text(end)}"


@dataclass(frozen=True, slots=True)
class RejectionView:
    """One refused call as a table row."""

    at: str
    transport: str
    route: str
    gateway: str
    status: str
    reason: str
    message: str


def rejection_view(rejection: Rejection, gateway_names: Mapping[int, str]) -> RejectionView:
    """The row of ``rejection``; an unauthenticated caller shows as "—"."""
    at = datetime.fromtimestamp(rejection.at_unix_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    gateway = "—" if rejection.gateway_id is None else gateway_names.get(
        rejection.gateway_id, f"#{rejection.gateway_id}")
    return RejectionView(at, rejection.transport, rejection.route, gateway, rejection.status, rejection.reason,
                         rejection.message)
