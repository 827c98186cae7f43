"""The kill switch: an operator stops all signing, or one gateway's, and it survives restarts.

One row per scope (``global`` or ``gateway:<id>``), holding the current position with who set
it, why and when. The global row is created by the first migration.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, bindparam, select

from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import NotFound
from clearinghouse.ledger.models import GatewayRow, KillSwitchRow, table
from clearinghouse.ledger.repository_checks import check_audit
from clearinghouse.ledger.transactions import reading, utc_now, writing
from clearinghouse.ledger.values import KillSwitch

GLOBAL_SCOPE = "global"

_SWITCHES = table(KillSwitchRow)
_ENGAGED = select(_SWITCHES).where(
    _SWITCHES.c.scope.in_([bindparam("global_scope"), bindparam("gateway_scope")]),
    _SWITCHES.c.engaged.is_(True),
)


def set_kill_switch(
    db: Database, *, engaged: bool, actor: str, reason: str, gateway_id: int | None = None
) -> KillSwitch:
    """Engage or release the kill switch, globally (``gateway_id`` None) or for one gateway.

    Raises ``NotFound`` for an unknown gateway, ``InvalidLedgerInput`` for an empty or
    over-long actor or reason.
    """
    check_audit(actor, reason)
    scope = _scope(gateway_id)
    with writing(db) as session:
        if gateway_id is not None and session.get(GatewayRow, gateway_id) is None:
            raise NotFound(f"no gateway with id {gateway_id}")
        row = session.get(KillSwitchRow, scope)
        if row is None:
            row = KillSwitchRow(scope=scope, gateway_id=gateway_id)
            session.add(row)
        row.engaged = engaged
        row.actor = actor
        row.reason = reason
        row.changed_at = utc_now()
        session.flush()
        return switch_value(row)


def signing_halt(db: Database, gateway_id: int) -> KillSwitch | None:
    """Return the engaged switch that stops signing for this gateway (global first), or None."""
    with reading(db) as session:
        return halt_in_force(session.connection(), gateway_id)


def halt_in_force(connection: Connection, gateway_id: int) -> KillSwitch | None:
    """``signing_halt`` inside a transaction the caller holds (the signing transaction)."""
    scopes = {"global_scope": GLOBAL_SCOPE, "gateway_scope": _scope(gateway_id)}
    rows = connection.execute(_ENGAGED, scopes).all()
    ordered = sorted(rows, key=lambda row: row.scope != GLOBAL_SCOPE)
    return switch_value(ordered[0]) if ordered else None


def kill_switches(db: Database) -> tuple[KillSwitch, ...]:
    """Return every switch position, global first."""
    with reading(db) as session:
        rows = session.scalars(select(KillSwitchRow)).all()
        return tuple(switch_value(r) for r in sorted(rows, key=lambda r: (r.gateway_id or 0, r.scope)))


def _scope(gateway_id: int | None) -> str:
    return GLOBAL_SCOPE if gateway_id is None else f"gateway:{gateway_id}"


def switch_value(row: KillSwitchRow | Row[Any]) -> KillSwitch:
    """A kill switch row as its value."""
    return KillSwitch(
        scope=row.scope,
        gateway_id=row.gateway_id,
        engaged=row.engaged,
        actor=row.actor,
        reason=row.reason,
        changed_at=row.changed_at,
    )
