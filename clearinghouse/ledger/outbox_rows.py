"""The event outbox's tables (migration 0014), on the ledger's declarative base: a row per
event to publish and each sink's cursor (``outbox.py`` reads and writes them). Kept apart from
models.py for size; models.py imports this module so ``Base.metadata`` holds every table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from clearinghouse.ledger import limits
from clearinghouse.ledger.columns import UtcDateTime
from clearinghouse.ledger.models import Base, Id


class EventOutboxRow(Base):
    """One event to publish (outbox.py): a signing call's, written in its batch's transaction, or
    a sampled refusal's. ``txid`` is PostgreSQL's transaction id of the writer (0 on SQLite,
    whose single writer commits in id order): the relay reads in (txid, id) order and only rows
    of transactions older than every one still running, so a row committed late is never skipped."""

    __tablename__ = "event_outbox"
    __table_args__ = (
        CheckConstraint("kind IN ('signing', 'refusal', 'refusals_suppressed')", name="kind"),
        CheckConstraint("(kind = 'signing') = (signing_record_id IS NOT NULL)", name="signing_record_id"),
        Index(None, "txid", "id"),
        Index(None, "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    gateway_id: Mapped[int | None] = mapped_column(Id)
    signing_record_id: Mapped[int | None] = mapped_column(Id, ForeignKey("signing_records.id"), unique=True)
    data: Mapped[str | None] = mapped_column(String(limits.EVENT_DATA_CHARS_MAX))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EventSinkCursorRow(Base):
    """How far one sink has published the outbox: the (txid, id) of its last sent event."""

    __tablename__ = "event_sink_cursors"

    sink: Mapped[str] = mapped_column(String(limits.EVENT_SINK_NAME_MAX), primary_key=True)
    last_txid: Mapped[int] = mapped_column(BigInteger)
    last_id: Mapped[int] = mapped_column(BigInteger)
    sent_total: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
