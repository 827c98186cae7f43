"""A month's invoice draft for one gateway over a generated ledger (issue #6).

Generates a month of signing records for one gateway with set-based SQL (PostgreSQL:
INSERT ... SELECT FROM generate_series; SQLite: a recursive CTE), builds the hourly usage rows
with the ledger's own ``rebuild_hours``, one call per day in one transaction (a one-time
backfill, timed apart; in service ``record`` keeps them as records are written), then times the draft: ``billing.invoicing.draft_for_period`` (hourly
rows → UsageBucket + InvoiceRate → ``draft_invoice`` → stored draft) when that module exists,
else the same steps by hand without storing.

Usage: python benchmarks/invoice_draft.py [DATABASE_URL] [--records 10000000] [--line-keys 50]
           [--sessions 250] [--month 2026-11]
Without a URL a fresh SQLite file in a temporary directory is used (removed at the end). With a
PostgreSQL URL a schema of its own is created in that database and dropped at the end; no other
schema is touched.

What is generated: one gateway (``create_gateway``), one manual ETH/USD rate snapshot, a
usage-based USD plan, ``--sessions`` payment_sessions rows, and ``--records`` signing records
spread evenly over the month, each on session ``i % sessions`` with sequence number
``i // sessions`` (so UNIQUE(state_id, sequence_number) holds and sequence numbers grow with
time), line key (subject, pipeline, model, app, recipient) of its session, and one of 7 call
shapes (units, 1–3 tickets, exact fee and EV rationals as the ledger computes them). Every
record is priced (rate_snapshot_id set). signed_tickets, ledger_transactions and postings rows
are not generated: neither the hourly rollup nor the draft reads them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clearinghouse import ledger  # noqa: E402
from clearinghouse.billing.invoices import (  # noqa: E402
    InvoiceDraft,
    InvoiceRate,
    UsageBasedPlan,
    UsageBucket,
    draft_invoice,
)
from clearinghouse.ledger import billing_plans as plans  # noqa: E402
from clearinghouse.ledger.hourly_usage import hourly_usage, rebuild_hours  # noqa: E402
from clearinghouse.ledger.models import HourlyUsageRow, PaymentSessionRow, table  # noqa: E402
from clearinghouse.ledger.transactions import writing_connection  # noqa: E402
from clearinghouse.domain.ev import WIN_PROB_DENOMINATOR

RECORDS_MAX: Final = 10**8
"""A busy clearinghouse's month (issue #6); more is not a benchmark this machine can finish."""

LINE_KEYS_MAX: Final = 1_000
SESSIONS_MAX: Final = 100_000

CHUNK_RECORDS: Final = 500_000
"""Records per INSERT ... SELECT (one transaction each): progress every few seconds, bounded WAL."""

DRAFT_RUNS: Final = 3
"""Draft timings taken; the median is reported."""

USD_PER_ETH: Final = Fraction(301_250, 100)
PRICE_PER_UNIT_WEI: Final = 2_000_000_000
PIXELS_PER_UNIT: Final = 3
FACE_VALUE_WEI: Final = 10**15
WIN_PROB: Final = WIN_PROB_DENOMINATOR // 100_000 + 12_345
"""EV per ticket ≈ 10^10 wei; with 2**256 − 1 as denominator the EV rationals are as large as
the ledger's real ones (and as costly to add)."""

CALL_SHAPES: Final = 7
PIPELINES: Final = ("live-video-to-video", "text-to-image", "image-to-image", "audio-to-text", "llm")


@dataclass(frozen=True, slots=True)
class LineKey:
    usage_subject: str
    pipeline: str
    model_id: str
    app: str
    recipient: bytes


def main() -> None:
    args = _arguments()
    start = datetime.strptime(args.month, "%Y-%m").replace(tzinfo=UTC)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    with _database_url(args.url) as url:
        ledger.upgrade_to_head(url)
        db = ledger.open_database(url)
        try:
            _run(db, args, start, end)
        finally:
            db.dispose()


def _run(db: ledger.Database, args: argparse.Namespace, start: datetime, end: datetime) -> None:
    print(f"{db.backend}: {args.records:,} records, {args.line_keys} line keys, {args.sessions} sessions, "
          f"{args.month}", flush=True)
    gateway = ledger.create_gateway(db, f"bench-invoice-{os.getpid()}-{time.time_ns()}")
    snapshot = ledger.record_rate_snapshot(db, ledger.NewRate(
        usd_per_eth=USD_PER_ETH, source="manual", valid_at=start - timedelta(days=1),
        observed_at=start - timedelta(days=1), actor="benchmark", reason="invoice draft benchmark"))
    plans.set_billing_plan(
        db, gateway.id, kind=plans.PlanKind.USAGE_BASED, currency="USD", effective_at=start - timedelta(days=1),
        actor="benchmark", reason="invoice draft benchmark", markup_bps=1_500, fixed_fee=Fraction(4_900, 100))
    keys = _line_keys(args.line_keys)

    started = time.perf_counter()
    with writing_connection(db) as connection:
        # One connection throughout: the temporary tables are the connection's own.
        _sessions(connection, gateway.id, keys, args.sessions, start)
        _scratch_tables(connection, db.backend, keys, args.sessions)
        connection.commit()
        _records(connection, db.backend, gateway.id, snapshot.id, args.records, args.sessions, start, end)
        connection.execute(text("DROP TABLE bench_slots"))
        connection.execute(text("DROP TABLE bench_shapes"))
    generation_s = time.perf_counter() - started
    print(f"generated in {generation_s:.1f} s", flush=True)

    started = time.perf_counter()
    with writing_connection(db) as connection:
        # One call per day, same transaction: the whole month in one call would hold every
        # record's row in the driver at once on PostgreSQL (psycopg buffers a result set).
        day = start
        while day < end:
            rebuild_hours(connection, gateway.id, day, min(day + timedelta(days=1), end))
            day += timedelta(days=1)
            _progress(f"rollup up to {day.date()}")
        hourly_rows = int(connection.execute(
            select(func.count()).select_from(table(HourlyUsageRow))
            .where(table(HourlyUsageRow).c.gateway_id == gateway.id)).scalar_one())
    rollup_s = time.perf_counter() - started
    print(f"rollup built in {rollup_s:.1f} s: {hourly_rows:,} hourly rows", flush=True)

    read_s = _median_s(lambda: hourly_usage(db, gateway.id, start, end))
    draft, how = _drafter(db, gateway.id, start, end, snapshot)
    draft_s = _median_s(draft)
    lines, total_minor, currency = _summary(draft())
    print(f"hourly_usage read: {read_s:.3f} s (median of {DRAFT_RUNS})")
    print(f"draft ({how}): {draft_s:.3f} s (median of {DRAFT_RUNS}); {lines} lines, "
          f"total {_minor(total_minor)} {currency}")
    print(f"| {db.backend} | {args.records:,} | {hourly_rows:,} | {generation_s:.1f} | {rollup_s:.1f} "
          f"| {read_s:.3f} | {draft_s:.3f} | {lines} | {_minor(total_minor)} {currency} |")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("url", nargs="?", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--records", type=int, default=10_000_000, help=f"signing records (max {RECORDS_MAX:,})")
    parser.add_argument("--line-keys", type=int, default=50, help="distinct (subject, pipeline, model, app, "
                        "recipient) combinations")
    parser.add_argument("--sessions", type=int, default=250, help="payment sessions the records are on")
    parser.add_argument("--month", default="2026-11", help="the invoiced month, YYYY-MM (UTC)")
    args = parser.parse_args()
    if not 1 <= args.records <= RECORDS_MAX:
        parser.error(f"--records must be in 1..{RECORDS_MAX:,}")
    if not 1 <= args.line_keys <= LINE_KEYS_MAX:
        parser.error(f"--line-keys must be in 1..{LINE_KEYS_MAX}")
    if not args.line_keys <= args.sessions <= SESSIONS_MAX:
        parser.error(f"--sessions must be in --line-keys..{SESSIONS_MAX}")
    return args


@contextmanager
def _database_url(url: str | None) -> Iterator[str]:
    """The URL to run on: a fresh SQLite file, or a fresh schema in the PostgreSQL database."""
    if url is None:
        directory = tempfile.mkdtemp(prefix="invoice-draft-")
        try:
            yield f"sqlite:///{directory}/ledger.sqlite3"
        finally:
            shutil.rmtree(directory)
        return
    if not url.startswith("postgresql"):
        yield url
        return
    import psycopg
    from psycopg import sql

    libpq_url = "postgresql://" + url.split("://", 1)[1]
    schema = f"bench_invoice_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(libpq_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        print(f"dropped schema {schema}")


def _line_keys(count: int) -> list[LineKey]:
    return [
        LineKey(
            usage_subject=f"subject-{k:03d}", pipeline=PIPELINES[k % len(PIPELINES)],
            model_id=f"{PIPELINES[k % len(PIPELINES)]}/model-{k % 3}", app=f"app-{k % 4}",
            recipient=bytes([k % 10 + 1]) * 20,
        )
        for k in range(count)
    ]


def _sessions(connection: Connection, gateway_id: int, keys: list[LineKey], sessions: int, at: datetime) -> None:
    connection.execute(insert(table(PaymentSessionRow)), [
        {
            "state_id": _state_id(slot), "gateway_id": gateway_id,
            "orchestrator_address": keys[slot % len(keys)].recipient, "app": keys[slot % len(keys)].app,
            "billing_type": "live", "manifest_id": f"manifest-{slot}", "sequence_number": 0, "sender_nonce": 0,
            "pm_session_id": None, "balance_num": 0, "balance_den": 1,
            "initial_price_per_unit": PRICE_PER_UNIT_WEI, "initial_pixels_per_unit": PIXELS_PER_UNIT,
            "last_update_ns": None, "auth_expiry": 0, "auth_id": "", "state_digest": bytes(32),
            "created_at": at, "updated_at": at,
        }
        for slot in range(sessions)
    ])


def _state_id(slot: int) -> str:
    return f"bench-session-{slot:06d}"


def _scratch_tables(connection: Connection, backend: str, keys: list[LineKey], sessions: int) -> None:
    """Temporary tables the INSERT ... SELECT joins: each session's line key, and the call shapes
    with their exact fee and EV (decimal text on SQLite, NUMERIC on PostgreSQL, as the ledger)."""
    big = "TEXT" if backend == "sqlite" else "NUMERIC"
    connection.execute(text(
        "CREATE TEMPORARY TABLE bench_slots (slot BIGINT PRIMARY KEY, state_id TEXT, usage_subject TEXT, "
        "pipeline TEXT, model_id TEXT, app TEXT, recipient BYTEA, rand_hash BYTEA)".replace(
            "BYTEA", "BLOB" if backend == "sqlite" else "BYTEA")))
    connection.execute(text(
        f"CREATE TEMPORARY TABLE bench_shapes (shape BIGINT PRIMARY KEY, units BIGINT, ticket_count INTEGER, "
        f"fee_num {big}, fee_den {big}, ev_num {big}, ev_den {big})"))
    connection.execute(text("INSERT INTO bench_slots VALUES (:slot, :state_id, :usage_subject, :pipeline, "
                            ":model_id, :app, :recipient, :rand_hash)"), [
        {"slot": slot, "state_id": _state_id(slot), "usage_subject": key.usage_subject, "pipeline": key.pipeline,
         "model_id": key.model_id, "app": key.app, "recipient": key.recipient,
         "rand_hash": slot.to_bytes(32, "big")}
        for slot in range(sessions) for key in [keys[slot % len(keys)]]
    ])
    exact: Callable[[int], Any] = str if backend == "sqlite" else int
    shapes = []
    for shape in range(CALL_SHAPES):
        units, tickets = 10 + shape, 1 + shape % 3
        fee = Fraction(PRICE_PER_UNIT_WEI, PIXELS_PER_UNIT) * units
        ev = tickets * Fraction(FACE_VALUE_WEI * WIN_PROB, WIN_PROB_DENOMINATOR)
        shapes.append({"shape": shape, "units": units, "ticket_count": tickets,
                       "fee_num": exact(fee.numerator), "fee_den": exact(fee.denominator),
                       "ev_num": exact(ev.numerator), "ev_den": exact(ev.denominator)})
    connection.execute(text("INSERT INTO bench_shapes VALUES (:shape, :units, :ticket_count, :fee_num, :fee_den, "
                            ":ev_num, :ev_den)"), shapes)


_COLUMNS = (
    "gateway_id, api_key_id, usage_subject, request_id, request_digest, state_id, manifest_id, sequence_number, "
    "app, orchestrator_address, recipient, pipeline, model_id, capability, billing_type, units, price_per_unit, "
    "pixels_per_unit, fee_num, fee_den, ticket_count, face_value, win_prob, ev_signed_num, ev_signed_den, "
    "first_nonce, last_nonce, recipient_rand_hash, creation_round, creation_round_block_hash, "
    "params_expiration_block, rate_snapshot_id, response, created_at"
)
_VALUES = (
    ":gateway_id, NULL, s.usage_subject, NULL, NULL, s.state_id, 'manifest', n.i / :sessions, "
    "s.app, s.recipient, s.recipient, s.pipeline, s.model_id, NULL, 'live', v.units, :price, "
    ":pixels, v.fee_num, v.fee_den, v.ticket_count, :face_value, :win_prob, v.ev_num, v.ev_den, "
    "(n.i / :sessions) * 3 + 1, (n.i / :sessions) * 3 + v.ticket_count, s.rand_hash, 4000, s.rand_hash, "
    "123456, :snapshot_id, s.rand_hash, {created_at}"
)
_SQLITE_INSERT = (
    "WITH RECURSIVE n(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :hi) "
    f"INSERT INTO signing_records ({_COLUMNS}) SELECT "
    + _VALUES.format(created_at="strftime('%Y-%m-%d %H:%M:%S', :start_epoch + n.i * :span_s / :records, "
                                "'unixepoch') || '.000000'")
    + " FROM n CROSS JOIN bench_slots s CROSS JOIN bench_shapes v "
    "WHERE s.slot = n.i % :sessions AND v.shape = n.i % :shapes"
)
_POSTGRESQL_INSERT = (
    f"INSERT INTO signing_records ({_COLUMNS}) SELECT "
    + _VALUES.format(created_at="CAST(:start AS timestamptz) + (n.i * :span_s / :records) * interval '1 second'")
    + " FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint) - 1) AS n(i) "
    "JOIN bench_slots s ON s.slot = n.i % :sessions JOIN bench_shapes v ON v.shape = n.i % :shapes"
)


def _records(connection: Connection, backend: str, gateway_id: int, snapshot_id: int, records: int,
             sessions: int, start: datetime, end: datetime) -> None:
    """Insert the records in chunks of CHUNK_RECORDS, one transaction each."""
    sqlite = backend == "sqlite"
    exact: Callable[[int], Any] = str if sqlite else int
    parameters: dict[str, Any] = {
        "gateway_id": gateway_id, "snapshot_id": snapshot_id, "sessions": sessions, "shapes": CALL_SHAPES, "records": records,
        "price": exact(PRICE_PER_UNIT_WEI), "pixels": exact(PIXELS_PER_UNIT),
        "face_value": exact(FACE_VALUE_WEI), "win_prob": exact(WIN_PROB),
        "span_s": int((end - start).total_seconds()),
    }
    parameters |= {"start_epoch": int(start.timestamp())} if sqlite else {"start": start}
    statement = text(_SQLITE_INSERT if sqlite else _POSTGRESQL_INSERT)
    for lo in range(0, records, CHUNK_RECORDS):
        hi = min(lo + CHUNK_RECORDS, records)
        connection.execute(statement, parameters | {"lo": lo, "hi": hi})
        connection.commit()
        _progress(f"records {hi:,}/{records:,}")


_last_progress = 0.0


def _progress(message: str) -> None:
    global _last_progress
    now = time.perf_counter()
    if now - _last_progress >= 5:
        print(f"  {time.strftime('%H:%M:%S')} {message}", flush=True)
        _last_progress = now


def _drafter(db: ledger.Database, gateway_id: int, start: datetime, end: datetime,
             snapshot: ledger.RateSnapshot) -> tuple[Callable[[], InvoiceDraft], str]:
    try:
        from clearinghouse.billing.invoicing import draft_for_period
    except ImportError:
        plan = UsageBasedPlan("USD", 1_500, Fraction(4_900, 100))
        rate = InvoiceRate(snapshot.id, snapshot.usd_per_eth, snapshot.source, snapshot.valid_at, snapshot.round_id)

        def by_hand() -> InvoiceDraft:
            buckets = [
                UsageBucket(row.bucket.pipeline, row.bucket.model_id, row.bucket.app, row.bucket.recipient,
                            row.bucket.rate_snapshot_id, row.usage.calls, row.usage.tickets, row.usage.units,
                            row.usage.ev_wei, row.usage.fee_wei)
                for row in hourly_usage(db, gateway_id, start, end)
            ]
            return draft_invoice(gateway_id=gateway_id, period_start=start, period_end=end, currency="USD",
                                 plan=plan, buckets=buckets, rates=[rate])

        return by_hand, "hourly_usage + draft_invoice, not stored"
    return (lambda: draft_for_period(db, gateway_id, start, end, actor="benchmark")[1],
            "billing.invoicing.draft_for_period, stored")


def _median_s(step: Callable[[], Any]) -> float:
    timings = []
    for _ in range(DRAFT_RUNS):
        started = time.perf_counter()
        step()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _summary(draft: InvoiceDraft) -> tuple[int, int, str]:
    return len(draft.lines), draft.total_minor, draft.currency


def _minor(amount_minor: int) -> str:
    sign = "-" if amount_minor < 0 else ""
    whole, cents = divmod(abs(amount_minor), 100)
    return f"{sign}{whole:,}.{cents:02d}"


if __name__ == "__main__":
    main()
