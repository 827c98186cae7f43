"""Event shape and refusal sampling: exact amounts as strings, every event type valid against the
schema shipped with the package, and a flood of refusals bounded per gateway, reason and window."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from fractions import Fraction

import jsonschema_rs
import pytest

from clearinghouse.api.rejections import RecentRejections
from clearinghouse.events.cloudevents import EVENT_TYPES, REFUSAL_TYPE, decimal_text, exact, schema_text, to_cloudevent
from clearinghouse.events.refusals import RefusalFacts, RefusalSampler
from clearinghouse.ledger import Database, NewRate, commit_calls, record_rate_snapshot
from clearinghouse.domain.gateways import Gateway
from clearinghouse.ledger.outbox import START, read_after, write_refusal_events
from clearinghouse.logs import bind_gateway, start_request
from tests.events.conftest import eventually
from tests.ledger.conftest import CheckAndRecord, SessionDriver, keys_of


def _validators() -> dict[str, jsonschema_rs.Validator]:
    return {t: jsonschema_rs.validator_for(json.loads(schema_text(t))) for t in EVENT_TYPES.values()}


def _facts(reason: str, at: float, gateway_id: int | None = 1) -> RefusalFacts:
    return RefusalFacts("http", "/generate-live-payment", gateway_id, "429", reason, "too many calls", "user-7",
                        "req-1", at)


def test_rationals_are_exact_strings_and_decimals_round_half_even() -> None:
    assert exact(Fraction(35)) == {"exact": "35", "decimal": "35." + "0" * 18}
    assert exact(Fraction(1, 3))["exact"] == "1/3"
    assert decimal_text(1, 3) == "0." + "3" * 18
    assert decimal_text(2, 3) == "0." + "6" * 17 + "7"
    assert decimal_text(5, 10**19) == "0." + "0" * 18  # half to even: 0
    assert decimal_text(15, 10**19) == "0." + "0" * 17 + "2"
    assert decimal_text(-1, 4, 1) == "-0.2" and decimal_text(-1, 40, 1) == "0.0"
    for numerator, denominator in ((7, 3), (-7, 3), (10**40 + 1, 7), (123456789, 10**20)):
        for places in (0, 1, 18):  # the same as Fraction's own half-even rounding
            scaled = round(Fraction(numerator, denominator) * 10**places)
            whole, part = divmod(abs(scaled), 10**places)
            expected = f"{'-' if scaled < 0 else ''}{whole}" + (f".{part:0{places}d}" if places else "")
            assert decimal_text(numerator, denominator, places) == expected


def test_a_signing_event_carries_the_record_and_its_priced_fee_and_matches_its_schema(
    ledger_db: Database, credited_gateways: list[Gateway]
) -> None:
    gateway = credited_gateways[0]
    rate = record_rate_snapshot(ledger_db, NewRate(usd_per_eth=Fraction(312345, 100), source="manual",
                                                   valid_at=datetime(2026, 12, 1, tzinfo=UTC),
                                                   observed_at=datetime(2026, 12, 1, tzinfo=UTC), actor="t", reason="t"))
    call = SessionDriver(gateway.id).next_call(usage_subject="user-7", rate_snapshot_id=rate.id, request_id="r-1")
    (outcome,) = commit_calls(ledger_db, [CheckAndRecord(call, keys_of(call))])
    # On PostgreSQL a row is read once every transaction older than it ended, on the whole
    # server (other databases' tests included): that may take a moment.
    eventually(lambda: len(read_after(ledger_db, START)) == 1, "the committed row readable")
    (entry,) = read_after(ledger_db, START)
    event = to_cloudevent(entry, source="urn:test", sender=b"\x55" * 20)

    _validators()[event["type"]].validate(event)
    data = event["data"]
    record = outcome.result().record
    assert (event["id"], event["subject"]) == (f"ch-{entry.id}", f"gateway:{gateway.id}")
    assert data["record_id"] == record.id and data["num_tickets"] == len(call.tickets)
    assert data["ev_wei"]["exact"] == str(call.ev_signed) and data["fee_wei"]["exact"] == str(call.fee)
    assert Fraction(data["fee_usd"]["exact"]) == call.fee * Fraction(312345, 100) / 10**18
    assert data["eth_usd"]["source"] == "manual" and data["eth_usd"]["snapshot_id"] == rate.id
    assert (data["first_nonce"], data["last_nonce"]) == (call.tickets[0].sender_nonce, call.tickets[-1].sender_nonce)
    assert (data["usage_subject"], data["gateway"]["name"], data["app"]) == ("user-7", "gateway-a", None)


def test_a_flood_of_refusals_is_sampled_and_the_rest_counted_per_window(ledger_db: Database) -> None:
    start = 1_800_000_000.0
    sampler = RefusalSampler(window_s=60, samples_max=3, first_window_start_unix_s=start)
    for n in range(1000):
        sampler.offer(_facts("RATE_LIMITED", start + n * 0.01))
    sampler.offer(_facts("UNAUTHENTICATED", start + 1, gateway_id=None))
    during = sampler.flush(start + 30)
    after = sampler.flush(start + 61)

    assert [r.kind for r in during] == ["refusal"] * 4  # 3 samples + the other reason's one
    assert [r.kind for r in after] == ["refusals_suppressed"]
    assert json.loads(after[0].data)["suppressed"] == 997
    write_refusal_events(ledger_db, during + after)
    eventually(lambda: len(read_after(ledger_db, START)) == 5, "the refusal rows readable")
    validators = _validators()
    for entry in read_after(ledger_db, START):
        event = to_cloudevent(entry, source="urn:test", sender=None)
        validators[event["type"]].validate(event)


def test_a_transport_refusal_reaches_the_sampler_with_the_callers_subject_and_request_id() -> None:
    sampler = RefusalSampler()
    rejections = RecentRejections(refusals=sampler)
    request_id = start_request("client-request-0001")
    bind_gateway(4, "user-9")
    rejections.add(transport="grpc", route="GeneratePayment", gateway_id=4, status="RESOURCE_EXHAUSTED",
                   reason="SIGNER_BUSY", message="queue full")
    (row,) = sampler.flush()
    data = json.loads(row.data)
    assert (data["usage_subject"], data["request_id"], data["reason"]) == ("user-9", request_id, "SIGNER_BUSY")
    assert data["gateway"] == {"id": 4, "name": None} and row.kind == "refusal"


def test_schemas_ship_for_every_type_and_refuse_a_wrong_event() -> None:
    validator = _validators()[REFUSAL_TYPE]
    with pytest.raises(jsonschema_rs.ValidationError):
        validator.validate({"specversion": "1.0", "id": "x", "type": REFUSAL_TYPE})
