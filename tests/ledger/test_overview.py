"""``gateway_overviews`` (what ``gateway list`` shows) answers what the repository functions
answer: on SQLite it reads the file with ``sqlite3`` alone, so these tests pin that read to
``list_gateways`` / ``list_api_keys`` / ``spend_summary`` for every credit mode, quota period,
revoked key and spend outside the period; on PostgreSQL it goes through them.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clearinghouse.ledger import (
    CallLedger,
    Database,
    SchemaNotCurrent,
    create_api_key,
    create_gateway,
    list_api_keys,
    list_gateways,
    revoke_api_key,
    set_credit_policy,
    spend_summary,
    top_up,
)
from clearinghouse.domain.credit import CreditMode, QuotaPeriod
from clearinghouse.ledger.overview import GatewayOverview, gateway_overviews
from clearinghouse.ledger.schema import downgrade_to
from tests.ledger.conftest import SessionDriver, in_batch, keys_of


def _sign(db: Database, gateway_id: int, at: datetime, face_value: int = 35) -> None:
    call = SessionDriver(gateway_id, face_value=face_value).next_call()

    def check_and_record(ledger: CallLedger) -> None:
        ledger.check_spend(gateway_id, None, call.ev_signed, at)
        ledger.record(call)

    in_batch(db, keys_of(call, at), check_and_record)


def _expected(db: Database, now: datetime) -> tuple[GatewayOverview, ...]:
    overviews = []
    for gateway in list_gateways(db):
        summary = spend_summary(db, gateway.id, now)
        overviews.append(GatewayOverview(
            id=gateway.id, name=gateway.name, status=gateway.status,
            key_prefixes=tuple(k.prefix for k in list_api_keys(db, gateway.id) if k.revoked_at is None),
            mode=summary.policy.mode, available=summary.available, period_spend=summary.period_spend,
        ))
    return tuple(overviews)


def _populate(db: Database, now: datetime) -> None:
    """Gateways in every mode and period, with spends inside and outside their periods."""
    create_gateway(db, "unconfigured")  # default policy: prepaid, nothing available
    prepaid = create_gateway(db, "prepaid-month")
    set_credit_policy(db, prepaid.id, mode=CreditMode.PREPAID, credit_limit_wei=0, actor="ops", reason="test")
    top_up(db, prepaid.id, 10**21 + 7, actor="finance", reason="wire")
    kept = create_api_key(db, prepaid.id, prefix="chk_kept", digest=b"k" * 32)
    revoked = create_api_key(db, prepaid.id, prefix="chk_gone", digest=b"r" * 32)
    revoke_api_key(db, revoked.id)
    assert kept.revoked_at is None
    daily = create_gateway(db, "credit-day")
    set_credit_policy(db, daily.id, mode=CreditMode.CREDIT, credit_limit_wei=10**24, quota_wei=10**22,
                      quota_period=QuotaPeriod.DAY, actor="ops", reason="first")
    set_credit_policy(db, daily.id, mode=CreditMode.CREDIT, credit_limit_wei=3 * 10**24, quota_wei=10**22,
                      quota_period=QuotaPeriod.DAY, actor="ops", reason="the newest row is in force")
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for gateway_id in (prepaid.id, daily.id):
        _sign(db, gateway_id, now)  # in every period
        _sign(db, gateway_id, now - timedelta(days=1), face_value=1000)  # the month's, not today's (unless the 1st)
        _sign(db, gateway_id, month_start - timedelta(seconds=1), face_value=10**6)  # last month: in neither


@pytest.mark.parametrize("day", [1, 7, 31])
def test_the_overview_equals_the_repositorys_answer(ledger_db: Database, day: int) -> None:
    now = datetime(2026, 12, day, 15, 30, tzinfo=UTC)
    _populate(ledger_db, now)

    overviews = gateway_overviews(_url(ledger_db), now)

    assert overviews == _expected(ledger_db, now)
    assert [o.name for o in overviews] == ["unconfigured", "prepaid-month", "credit-day"]
    assert overviews[1].key_prefixes == ("chk_kept",)
    month_spend, day_spend = overviews[1].period_spend, overviews[2].period_spend
    assert 0 < day_spend <= month_spend  # yesterday's spend is the month's, not the day's
    assert (day_spend == month_spend) == (day == 1)


def test_an_outdated_or_missing_database_names_the_upgrade(migrated_database_url: str, tmp_path: Path) -> None:
    downgrade_to(migrated_database_url, "0010")

    with pytest.raises(SchemaNotCurrent, match=r"has revision 0010, this version needs revision \w+: run "
                                               r"`clearinghouse db upgrade`"):
        gateway_overviews(migrated_database_url, datetime.now(UTC))

    missing = tmp_path / "never-created.sqlite3"
    with pytest.raises(SchemaNotCurrent, match="has an empty schema"):
        gateway_overviews(f"sqlite:///{missing}", datetime.now(UTC))
    assert not missing.exists()  # a listing creates nothing


def test_listing_a_sqlite_ledger_imports_no_sqlalchemy(sqlite_url: str) -> None:
    from clearinghouse.ledger import upgrade_to_head

    upgrade_to_head(sqlite_url)
    code = (
        "import sys; from datetime import UTC, datetime\n"
        "from clearinghouse.ledger.overview import gateway_overviews\n"
        f"assert gateway_overviews({sqlite_url!r}, datetime.now(UTC)) == ()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert out.strip() == "[]"


def _url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)

