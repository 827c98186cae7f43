"""Credit control: balance, credit limit, quotas per period and usage subject, policy audit.

Every call here goes the way the signing service goes: in a batch, ``check_spend``
with the EV the call will sign → ``record``. Each default session's first call signs one
ticket of EV 35 wei (see ``SessionDriver``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import delete, func, select, update

from clearinghouse.domain.refusals import SigningRefused, SpendLimit
from clearinghouse.ledger import (
    Database,
    CallLedger,
    InvariantViolation,
    NotFound,
    RecordOutcome,
    adjust,
    create_gateway,
    credit_policy_history,
    default_policy,
    get_credit_policy,
    head_revision,
    open_database,
    record_signing_call,
    set_credit_policy,
    set_subject_quota,
    spend_summary,
    subject_quotas,
    top_up,
    update_credit_policy,
    upgrade_to_head,
    verify_ledger,
)
from clearinghouse.domain.credit import CreditMode, CreditPolicy, QuotaPeriod
from clearinghouse.domain.gateways import Gateway
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.models import (
    GatewayDailySpendRow,
    PostingRow,
    SigningRecordRow,
    SubjectDailySpendRow,
)
from clearinghouse.ledger.schema import downgrade_to
from tests.ledger.conftest import SessionDriver, in_batch, keys_of

EV = 35  # wei signed by the first call of a default session
NOW = datetime(2026, 11, 22, 20, 30, tzinfo=UTC)

Sign = Callable[..., RecordOutcome]


@pytest.fixture
def sign(ledger_db: Database, new_session: Callable[..., SessionDriver]) -> Sign:
    """Check and record the first call of a new session, as the signing service would."""

    def call(
        gateway_id: int, subject: str | None = None, now: datetime | None = None
    ) -> RecordOutcome:
        signing = new_session(gateway_id).next_call(usage_subject=subject)

        def check_and_record(lock: CallLedger) -> RecordOutcome:
            lock.check_spend(gateway_id, subject, signing.ev_signed, now or datetime.now(UTC))
            return lock.record(signing)

        # One clock for the call: its check and its record both at ``now``.
        result: RecordOutcome = in_batch(ledger_db, keys_of(signing, now), check_and_record)
        return result

    return call


def _rows(db: Database) -> tuple[int, ...]:
    tables = (SigningRecordRow, PostingRow, GatewayDailySpendRow, SubjectDailySpendRow)
    with db.engine.connect() as connection:
        return tuple(connection.scalar(select(func.count()).select_from(t)) or 0 for t in tables)


def _refused(db: Database, sign: Sign, gateway_id: int, limit: SpendLimit, **kwargs: object) -> str:
    """Assert the next call is refused for ``limit`` and writes nothing; return the message."""
    before = _rows(db)
    with pytest.raises(SigningRefused) as refused:
        sign(gateway_id, **kwargs)
    assert refused.value.limit is limit
    assert _rows(db) == before
    return str(refused.value)


def _credit(db: Database, gateway_id: int, **policy: object) -> None:
    fields: dict[str, object] = {"mode": CreditMode.CREDIT, "credit_limit_wei": 10**6}
    set_credit_policy(db, gateway_id, **fields | policy, actor="ops", reason="test")  # type: ignore[arg-type]


def test_a_gateway_without_policy_is_prepaid_and_refused_without_funds(
    ledger_db: Database, gateway: Gateway, sign: Sign
) -> None:
    assert get_credit_policy(ledger_db, gateway.id) == default_policy(gateway.id)

    message = _refused(ledger_db, sign, gateway.id, SpendLimit.BALANCE)

    assert message == (
        "prepaid balance exhausted: this call needs 35 wei, 0 wei left of the gateway's funds; "
        "a top-up raises it"
    )


def test_top_up_lets_a_refused_prepaid_gateway_sign_again(
    ledger_db: Database, gateway: Gateway, sign: Sign
) -> None:
    _refused(ledger_db, sign, gateway.id, SpendLimit.BALANCE)
    top_up(ledger_db, gateway.id, 2 * EV + 12, actor="finance", reason="wire 1")

    sign(gateway.id)
    sign(gateway.id)
    message = _refused(ledger_db, sign, gateway.id, SpendLimit.BALANCE)
    # An adjustment corrects the balance either way: a credit of 23 lets one more call through.
    adjust(ledger_db, gateway.id, Fraction(23), actor="ops", reason="fee charged twice")
    assert "0 wei left" in _refused(ledger_db, sign, gateway.id, SpendLimit.BALANCE)
    adjust(ledger_db, gateway.id, Fraction(-46), actor="ops", reason="refund of fee")
    sign(gateway.id)

    assert "needs 35 wei, 12 wei left" in message
    assert spend_summary(ledger_db, gateway.id, NOW).available == 0
    assert verify_ledger(ledger_db).ok


def test_credit_limit_refuses_naming_what_is_left(
    ledger_db: Database, gateway: Gateway, sign: Sign
) -> None:
    _credit(ledger_db, gateway.id)
    adjust(ledger_db, gateway.id, Fraction(10**6 - 12), actor="ops", reason="opening balance")

    message = _refused(ledger_db, sign, gateway.id, SpendLimit.CREDIT_LIMIT)

    assert message == "credit limit exceeded: this call needs 35 wei, 12 wei left of 1000000 wei"


def test_a_call_that_exactly_exhausts_the_credit_is_allowed(
    ledger_db: Database, gateway: Gateway, sign: Sign
) -> None:
    _credit(ledger_db, gateway.id, credit_limit_wei=EV)

    sign(gateway.id)

    assert spend_summary(ledger_db, gateway.id, NOW).available == 0
    _refused(ledger_db, sign, gateway.id, SpendLimit.CREDIT_LIMIT)


def test_monthly_quota_refuses_with_the_period(
    ledger_db: Database, gateway: Gateway, sign: Sign
) -> None:
    _credit(ledger_db, gateway.id, quota_wei=2 * EV)
    sign(gateway.id)
    sign(gateway.id)

    first_day = datetime.now(UTC).date().replace(day=1).isoformat()
    message = _refused(ledger_db, sign, gateway.id, SpendLimit.QUOTA)

    assert message == (
        f"monthly quota exceeded: this call needs 35 wei, 0 wei left of 70 wei for the month "
        f"from {first_day} (UTC)"
    )


@pytest.mark.parametrize(
    ("mode", "expected"),
    [(CreditMode.PREPAID, SpendLimit.BALANCE), (CreditMode.CREDIT, SpendLimit.CREDIT_LIMIT)],
)
def test_precedence_funds_then_quota_then_subject_quota(
    ledger_db: Database, gateway: Gateway, sign: Sign, mode: CreditMode, expected: SpendLimit
) -> None:
    _credit(ledger_db, gateway.id, quota_wei=EV, subject_quota_wei=EV)
    sign(gateway.id, subject="alice")  # quota and alice's quota are now used up
    limit = {"credit_limit_wei": EV} if mode is CreditMode.CREDIT else {"credit_limit_wei": 0}
    _credit(ledger_db, gateway.id, mode=mode, quota_wei=EV, subject_quota_wei=EV, **limit)

    assert list(SpendLimit) == [
        SpendLimit.OVERDUE_INVOICE,  # decided before the batch (billing/overdue.py); the rest in it
        SpendLimit.BALANCE,
        SpendLimit.CREDIT_LIMIT,
        SpendLimit.QUOTA,
        SpendLimit.SUBJECT_QUOTA,
        SpendLimit.USER_ALLOWANCE,  # an app's end user's allowance, checked last (issue 16)
    ]
    _refused(ledger_db, sign, gateway.id, expected, subject="alice")
    top_up(ledger_db, gateway.id, 10 * EV, actor="finance", reason="wire")
    _refused(ledger_db, sign, gateway.id, SpendLimit.QUOTA, subject="alice")
    _credit(ledger_db, gateway.id, mode=mode, quota_wei=None, subject_quota_wei=EV, **limit)
    _refused(ledger_db, sign, gateway.id, SpendLimit.SUBJECT_QUOTA, subject="alice")


def test_period_rollover_starts_from_zero(
    ledger_db: Database, gateway: Gateway, sign: Sign
) -> None:
    _credit(ledger_db, gateway.id, quota_wei=EV, quota_period=QuotaPeriod.DAY)
    sign(gateway.id)
    _refused(ledger_db, sign, gateway.id, SpendLimit.QUOTA)
    tomorrow = datetime.combine(
        datetime.now(UTC).date() + timedelta(days=1), datetime.min.time(), UTC
    )
    sign(gateway.id, now=tomorrow)

    message = _refused(ledger_db, sign, gateway.id, SpendLimit.QUOTA, now=tomorrow)
    assert "daily quota exceeded" in message and tomorrow.date().isoformat() in message
    summary = spend_summary(ledger_db, gateway.id, tomorrow)
    assert (summary.period_start, summary.period_spend, summary.quota_left) == (
        tomorrow.date(),
        Fraction(EV),
        Fraction(0),
    )


def test_monthly_quota_counts_every_day_of_the_month_and_only_those(
    ledger_db: Database, gateway: Gateway, sign: Sign
) -> None:
    _credit(ledger_db, gateway.id, quota_wei=2 * EV)
    days = [datetime(2026, 10, 31, 23, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)]
    days.append(datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
    for day in days:
        sign(gateway.id, now=day)

    _refused(ledger_db, sign, gateway.id, SpendLimit.QUOTA, now=days[-1])
    assert spend_summary(ledger_db, gateway.id, days[0]).period_spend == EV
    assert spend_summary(ledger_db, gateway.id, days[-1]).period_spend == 2 * EV
    assert spend_summary(ledger_db, gateway.id, datetime(2026, 12, 1, tzinfo=UTC)).period_spend == 0


def test_subject_quotas_are_independent_per_subject(
    ledger_db: Database, gateway: Gateway, sign: Sign
) -> None:
    _credit(ledger_db, gateway.id, subject_quota_wei=EV)
    set_subject_quota(ledger_db, gateway.id, "carol", 2 * EV, actor="ops", reason="pays more")
    sign(gateway.id, subject="alice")

    message = _refused(ledger_db, sign, gateway.id, SpendLimit.SUBJECT_QUOTA, subject="alice")
    sign(gateway.id, subject="bob")
    sign(gateway.id, subject="carol")
    sign(gateway.id, subject="carol")
    _refused(ledger_db, sign, gateway.id, SpendLimit.SUBJECT_QUOTA, subject="carol")
    sign(gateway.id)  # calls without a subject are not held by subject quotas

    assert message.startswith(
        "usage subject 'alice' monthly quota exceeded: this call needs 35 wei, 0 wei left of 35 wei"
    )
    assert [(q.usage_subject, q.quota_wei) for q in subject_quotas(ledger_db, gateway.id)] == [
        ("carol", 2 * EV)
    ]
    set_subject_quota(ledger_db, gateway.id, "alice", 3 * EV, actor="ops", reason="upgrade")
    sign(gateway.id, subject="alice")
    set_subject_quota(ledger_db, gateway.id, "alice", None, actor="ops", reason="downgrade")
    _refused(ledger_db, sign, gateway.id, SpendLimit.SUBJECT_QUOTA, subject="alice")
    assert [q.usage_subject for q in subject_quotas(ledger_db, gateway.id)] == ["carol"]


def test_policy_changes_are_audited(ledger_db: Database, gateway: Gateway) -> None:
    set_credit_policy(
        ledger_db,
        gateway.id,
        mode=CreditMode.CREDIT,
        credit_limit_wei=500,
        actor="ops",
        reason="trial",
    )
    current = set_credit_policy(
        ledger_db,
        gateway.id,
        mode=CreditMode.PREPAID,
        quota_wei=10**18,
        quota_period=QuotaPeriod.DAY,
        actor="finance@example",
        reason="invoice 7 unpaid",
    )

    history = credit_policy_history(ledger_db, gateway.id)

    assert get_credit_policy(ledger_db, gateway.id) == current
    assert [(p.mode, p.credit_limit_wei, p.actor, p.reason) for p in history] == [
        (CreditMode.CREDIT, 500, "ops", "trial"),
        (CreditMode.PREPAID, 0, "finance@example", "invoice 7 unpaid"),
    ]
    assert history[-1] == current


def test_concurrent_updates_each_build_on_the_other(ledger_db: Database, gateway: Gateway) -> None:
    """update_credit_policy reads and writes under the gateway's locks: two operators changing
    different limits at once both land, whichever goes first (with read-then-write in two
    transactions, the second would silently put the first one's field back)."""
    both_read = threading.Barrier(2, timeout=10)

    def change(field: str, value: int) -> Callable[[CreditPolicy], CreditPolicy]:
        def changed(current: CreditPolicy) -> CreditPolicy:
            try:  # on PostgreSQL the second caller waits on the lock here; on SQLite at begin
                both_read.wait(timeout=0.5)
            except threading.BrokenBarrierError:
                pass
            return replace(current, mode=CreditMode.CREDIT, actor="ops", reason=f"set {field}", **{field: value})
        return changed

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda args: update_credit_policy(ledger_db, gateway.id, change(*args)),
                                [("credit_limit_wei", 700), ("quota_wei", 900)]))

    final = get_credit_policy(ledger_db, gateway.id)
    assert (final.credit_limit_wei, final.quota_wei) == (700, 900)
    assert sorted(after.reason for _, after in results) == ["set credit_limit_wei", "set quota_wei"]
    assert len(credit_policy_history(ledger_db, gateway.id)) == 2


def test_an_update_refused_by_the_policy_checks_writes_nothing(ledger_db: Database, gateway: Gateway) -> None:
    with pytest.raises(InvalidLedgerInput, match="a prepaid gateway has no credit"):
        update_credit_policy(ledger_db, gateway.id,
                             lambda current: replace(current, credit_limit_wei=5, actor="ops", reason="x"))
    with pytest.raises(NotFound):
        update_credit_policy(ledger_db, 10**9, lambda current: current)
    assert credit_policy_history(ledger_db, gateway.id) == ()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": CreditMode.PREPAID, "credit_limit_wei": 1}, "a prepaid gateway has no credit"),
        ({"mode": CreditMode.CREDIT, "credit_limit_wei": -1}, "credit_limit_wei: expected an int"),
        ({"mode": CreditMode.CREDIT, "quota_wei": 1.5}, "quota_wei: expected an int"),
        ({"mode": "credit"}, "expected a CreditMode"),
        ({"mode": CreditMode.CREDIT, "actor": ""}, "actor: expected 1..128"),
    ],
)
def test_bad_policies_are_refused(
    ledger_db: Database, gateway: Gateway, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidLedgerInput, match=message):
        set_credit_policy(ledger_db, gateway.id, **{"actor": "ops", "reason": "r"} | fields)  # type: ignore[arg-type]
    assert credit_policy_history(ledger_db, gateway.id) == ()


def test_unknown_gateway_is_not_found(ledger_db: Database) -> None:
    with pytest.raises(NotFound):
        set_credit_policy(ledger_db, 999, mode=CreditMode.PREPAID, actor="ops", reason="r")
    with pytest.raises(NotFound):
        get_credit_policy(ledger_db, 999)
    with pytest.raises(NotFound):
        spend_summary(ledger_db, 999, NOW)


def test_check_refuses_bad_input(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    def checks(lock: CallLedger) -> None:
        with pytest.raises(InvalidLedgerInput, match="spend_wei: expected a Fraction >= 0"):
            lock.check_spend(gateway.id, None, 35, NOW)  # type: ignore[arg-type]
        with pytest.raises(InvalidLedgerInput, match="spend_wei"):
            lock.check_spend(gateway.id, None, Fraction(-1), NOW)
        with pytest.raises(InvalidLedgerInput, match="timezone-aware"):
            lock.check_spend(gateway.id, None, Fraction(1), datetime(2026, 1, 1))
        with pytest.raises(NotFound):
            lock.check_spend(999, None, Fraction(1), NOW)

    call = new_session(gateway.id).next_call()
    in_batch(ledger_db, keys_of(call), checks)


@pytest.mark.parametrize("change", ["more", "subject", "gateway"])
def test_record_must_book_what_was_checked(
    ledger_db: Database,
    gateway: Gateway,
    new_session: Callable[..., SessionDriver],
    change: str,
) -> None:
    _credit(ledger_db, gateway.id)
    other = create_gateway(ledger_db, "gateway-b")
    call = new_session(gateway.id).next_call(usage_subject="alice")
    checked = {
        "more": (gateway.id, "alice", call.ev_signed - 1),
        "subject": (gateway.id, "bob", call.ev_signed),
        "gateway": (other.id, "alice", call.ev_signed),
    }[change]
    top_up(ledger_db, other.id, 100, actor="finance", reason="wire")
    before = _rows(ledger_db)

    def check_and_record(lock: CallLedger) -> None:
        lock.check_spend(*checked, NOW)
        lock.record(call)

    with pytest.raises(InvariantViolation, match="checked gateway"):
        in_batch(ledger_db, keys_of(call), check_and_record)
    assert _rows(ledger_db) == before


def test_spend_summary_reports_balance_limit_and_quota(
    ledger_db: Database, gateway: Gateway, sign: Sign
) -> None:
    _credit(ledger_db, gateway.id, credit_limit_wei=1000, quota_wei=100)
    top_up(ledger_db, gateway.id, 50, actor="finance", reason="wire")
    sign(gateway.id, subject="alice")
    sign(gateway.id)

    summary = spend_summary(ledger_db, gateway.id, datetime.now(UTC))

    assert summary.owed == 2 * EV - 50
    assert summary.available == 1000 - (2 * EV - 50)
    assert summary.period_start == datetime.now(UTC).date().replace(day=1)
    assert (summary.period_spend, summary.quota_left) == (Fraction(2 * EV), Fraction(100 - 2 * EV))
    assert summary.policy == get_credit_policy(ledger_db, gateway.id)


def test_fractional_spends_are_exact_and_rounded_honestly_in_messages(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    # EV of one ticket: 10 wei × (1/3 of the winProb range) = 10/3 wei.
    driver = new_session(gateway.id, face_value=10, win_prob=(2**256 - 1) // 3, price_per_unit=1)
    call = driver.next_call(units=1)
    _credit(ledger_db, gateway.id, credit_limit_wei=3)

    def check(lock: CallLedger) -> None:
        lock.check_spend(gateway.id, None, call.ev_signed, NOW)

    def check_and_record(lock: CallLedger) -> None:
        lock.check_spend(gateway.id, None, call.ev_signed, NOW)
        lock.record(call)

    with pytest.raises(SigningRefused, match="needs 4 wei, 3 wei left of 3 wei"):
        in_batch(ledger_db, keys_of(call), check)
    _credit(ledger_db, gateway.id, credit_limit_wei=4)
    in_batch(ledger_db, keys_of(call), check_and_record)

    assert spend_summary(ledger_db, gateway.id, NOW).owed == call.ev_signed
    assert spend_summary(ledger_db, gateway.id, datetime.now(UTC)).period_spend == call.ev_signed
    assert call.ev_signed == Fraction(10, 3)


def _daily_spends(db: Database) -> list[tuple[object, ...]]:
    with db.engine.connect() as connection:
        gateway_rows = connection.execute(select(GatewayDailySpendRow.__table__)).all()
        subject_rows = connection.execute(select(SubjectDailySpendRow.__table__)).all()
    return sorted(map(tuple, gateway_rows)) + sorted(map(tuple, subject_rows))


def test_upgrade_from_0001_counts_the_calls_recorded_before(
    migrated_database_url: str,
) -> None:
    db = open_database(migrated_database_url)
    try:
        gateway = create_gateway(db, "gateway-a")
        _credit(db, gateway.id, subject_quota_wei=10 * EV)
        for moment, subject in [(NOW, "alice"), (NOW, None), (NOW + timedelta(days=1), "alice")]:
            call = SessionDriver(gateway.id).next_call(usage_subject=subject, signed_at=moment)
            record_signing_call(db, call)
        counted = _daily_spends(db)
    finally:
        db.dispose()
    downgrade_to(migrated_database_url, "0001")

    assert upgrade_to_head(migrated_database_url) == head_revision()

    db = open_database(migrated_database_url)
    try:
        assert _daily_spends(db) == counted
        assert len(counted) == 4  # two days of the gateway, two of alice
        assert get_credit_policy(db, gateway.id) == default_policy(gateway.id)
    finally:
        db.dispose()


def test_verify_ledger_catches_tampered_spend_rows(
    ledger_db: Database, gateway: Gateway, sign: Sign
) -> None:
    _credit(ledger_db, gateway.id)
    sign(gateway.id, subject="alice")
    assert verify_ledger(ledger_db).mismatched_spend_days == ()
    today = datetime.now(UTC).date().isoformat()
    with ledger_db.write_engine.begin() as connection:
        connection.execute(update(GatewayDailySpendRow).values(ev_signed_num=1))
        connection.execute(delete(SubjectDailySpendRow))

    report = verify_ledger(ledger_db)

    assert not report.ok
    assert report.mismatched_spend_days == (
        f"gateway {gateway.id} {today}",
        f"gateway {gateway.id} subject 'alice' {today}",
    )
