"""Faults (issue #9): the wall clock jumping. Billing units come from now − the session's
LastUpdate (billing.py, "The wall clock jumping"): a jump back bills the preload once, like
go-livepeer, and never a negative or zero amount; a jump forward is billed as elapsed time, and
one too large for a call's ticket limit is refused without signing. Every stored amount — the
signing records, the hourly usage rows and the gateway's usage totals — stays positive, and the
ledger verifies.
"""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest
from sqlalchemy import text

from clearinghouse import ledger
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.domain.sessions import BillingType
from clearinghouse.ledger.hourly_usage import hourly_usage
from clearinghouse.ledger.usage import gateway_usage
from clearinghouse.signer.billing import billable_units
from clearinghouse.signer.calls import Caller, PaymentCall, PaymentResult
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.signer.limits import (
    LIVE_PRELOAD_S,
    LV2V_PIXELS_PER_S,
    LV2V_PRELOAD_S,
)
from clearinghouse.signer.service import PaymentService, datetime_of_ns
from clearinghouse.signer.state import decode_state
from tests.signer.builders import KEY, L1_BLOCK, NOW_NS, OPEN_ROUNDS, orchestrator_info

S = 1_000_000_000
PRICE_PER_S_WEI = 3
"""orchestrator_info's price: 3 wei per unit (a second, for "live")."""
JUMPS_NS = (1, S, 3600 * S, 86_400 * S, NOW_NS - 1)
"""Back by a nanosecond, a second, an hour, a day, and to the epoch."""


@pytest.mark.parametrize("jump_ns", JUMPS_NS)
@pytest.mark.parametrize(("billing_type", "preload_units"), [
    (BillingType.LIVE, LIVE_PRELOAD_S),
    (BillingType.LV2V, LV2V_PRELOAD_S * LV2V_PIXELS_PER_S),
    (BillingType.FIXED, 1),
])
def test_a_clock_that_went_back_bills_the_preload_never_less(
    billing_type: BillingType, preload_units: int, jump_ns: int
) -> None:
    assert billable_units(billing_type, NOW_NS, NOW_NS - jump_ns, 0) == preload_units


class Clock:
    def __init__(self) -> None:
        self.now_ns = NOW_NS

    def __call__(self) -> int:
        return self.now_ns


AUTH_EXPIRATION_S = NOW_NS // S + 7 * 86_400
"""The orchestrator's auth token outlives the day-long jump, so the ticket limit is what refuses it."""


def live_call(previous: PaymentResult | None, manifest_id: str = "clock") -> PaymentCall:
    return PaymentCall(
        orchestrator_info=orchestrator_info(auth_expiration=AUTH_EXPIRATION_S).SerializeToString(),
        state=None if previous is None else previous.state,
        state_signature=None if previous is None else previous.state_signature,
        manifest_id=manifest_id,
        billing_type="live",
        in_pixels=0,
        app="",
        max_price=None,
        capabilities=None,
    )


def test_billing_across_a_jump_back_and_forward_stays_positive(ledger_db: ledger.Database) -> None:
    clock = Clock()
    chain = ChainView(deposit_wei=10**18, reserve_wei=10**18, withdraw_round=0, current_round=3500,
                      last_l1_block=L1_BLOCK, round_block_hashes=OPEN_ROUNDS)
    service = PaymentService(ledger_db, KEY, lambda: chain, PaymentPolicy(), clock_ns=clock)
    gateway_id = ledger.create_gateway(ledger_db, "clock").id
    ledger.top_up(ledger_db, gateway_id, 10**18, actor="test", reason="prepaid funds")
    caller = Caller(gateway_id=gateway_id, api_key_id=None)
    result: PaymentResult | None = None
    start_ns = NOW_NS
    # (clock reading, seconds billed): first call preloads 10 s; 5 s later bills 5; the clock
    # goes back 3 s: the preload once, and LastUpdate follows the clock (go-livepeer); 2 s on
    # from there bills 2 (the 3 s the clock repeats are real time, not billed twice); then 30 s;
    # a jump forward by 15 minutes bills 15 minutes.
    steps = [(0, 10), (5, 5), (2, 10), (4, 2), (34, 30), (934, 900)]
    for at_s, billed_s in steps:
        clock.now_ns = start_ns + at_s * S
        before = result
        try:
            result = service.generate_payment(caller, live_call(result))
        except SigningRefused as refusal:  # the balance already covers this fee: no tickets, no record
            assert refusal.reason is Refusal.NO_TICKETS_NEEDED, refusal
            continue
        state = decode_state(result.state)
        assert state.last_update_ns == clock.now_ns
        assert state.balance >= 0
        previous_balance = Fraction(0) if before is None else decode_state(before.state).balance
        fee = previous_balance + result.ticket_count * Fraction(35) - state.balance
        assert fee == billed_s * PRICE_PER_S_WEI, (at_s, fee)

    # A jump forward by a day bills a day: more tickets than one call may carry, so it is
    # refused, signs nothing, and the gateway starts a new session.
    clock.now_ns = start_ns + 86_400 * S
    records_before = _records(ledger_db)
    with pytest.raises(SigningRefused) as refused:
        service.generate_payment(caller, live_call(result))
    assert refused.value.reason is Refusal.TOO_MANY_TICKETS
    assert _records(ledger_db) == records_before
    fresh = service.generate_payment(caller, live_call(None, manifest_id="after-the-jump"))
    assert fresh.ticket_count > 0

    rows = _records(ledger_db)
    assert rows and all(units > 0 and fee > 0 and ev > 0 for units, fee, ev in rows), rows
    # One clock for the whole call: the rows are stamped with the service's clock readings.
    first_hour = datetime_of_ns(start_ns).replace(minute=0, second=0, microsecond=0)
    last_hour = datetime_of_ns(clock.now_ns).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    usage_rows = hourly_usage(ledger_db, gateway_id, first_hour, last_hour)
    assert usage_rows
    for row in usage_rows:
        counted = row.usage
        assert min(counted.calls, counted.tickets, counted.units) > 0 and counted.ev_wei > 0 and counted.fee_wei > 0
    totals = gateway_usage(ledger_db, gateway_id, first_hour, last_hour).total
    assert totals.calls == len(rows) and totals.ev_signed > 0 and totals.fee > 0
    assert ledger.verify_ledger(ledger_db).ok


def _records(db: ledger.Database) -> list[tuple[int, Fraction, Fraction]]:
    with db.engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT units, fee_num, fee_den, ev_signed_num, ev_signed_den FROM signing_records ORDER BY id")).all()
    values = [[int(str(value)) for value in row] for row in rows]
    return [(units, Fraction(fn, fd), Fraction(en, ed)) for units, fn, fd, en, ed in values]
