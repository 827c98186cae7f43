"""Invoice exports: the CSV's exact bytes, the canonical JSON and its hash, and deterministic
Stripe and OpenMeter events."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from fractions import Fraction

import pytest

from clearinghouse.billing import exports
from clearinghouse.billing.exports import (
    CSV_HEADER,
    content_hash,
    invoice_csv,
    invoice_json,
    openmeter_events,
    stripe_meter_events,
)
from clearinghouse.billing.invoices import Adjustment, FreePlan, InvoiceError, LineGrouping, UsageBucket
from tests.billing.test_invoices import FX_EUR, RATES, START, A, golden_draft

GOLDEN_CSV = (
    "invoice_number,gateway_id,period_start,period_end,currency,line,kind,description,pipeline,model_id,app,"
    "orchestrator,reference,calls,tickets,units,ev_wei,fee_wei,amount,amount_minor,amount_exact,amount_decimal,"
    "ev_wei_exact,fee_wei_exact\r\n"
    "CH-2026-000001,7,2026-05-01T00:00:00Z,2026-06-01T00:00:00Z,USD,1,usage,live-video-to-video / streamdiffusion,"
    "live-video-to-video,streamdiffusion,,,,15,26,1500,3000000000000000,3100000000000000,8.00,800,8,8,"
    "3000000000000000,3100000000000000\r\n"
    "CH-2026-000001,7,2026-05-01T00:00:00Z,2026-06-01T00:00:00Z,USD,2,usage,text-to-image / sdxl,"
    "text-to-image,sdxl,,,,1,1,1,335000000000000,400000000000000,1.00,100,201/200,1.005,335000000000000,"
    "400000000000000\r\n"
    "CH-2026-000001,7,2026-05-01T00:00:00Z,2026-06-01T00:00:00Z,USD,3,usage,Usage (pipeline and model not reported),"
    ",,,,,2,2,0,333333333333333,333333333333333,0.83,83,5/6,0.833333333333333333,1000000000000000/3,"
    "1000000000000000/3\r\n"
    "CH-2026-000001,7,2026-05-01T00:00:00Z,2026-06-01T00:00:00Z,USD,4,markup,Markup 2.5 % on usage,"
    ",,,,,0,0,0,0,0,0.25,25,5903/24000,0.245958333333333333,0,0\r\n"
    "CH-2026-000001,7,2026-05-01T00:00:00Z,2026-06-01T00:00:00Z,USD,5,fixed_fee,Fixed fee for the period,"
    ",,,,,0,0,0,0,0,10.00,1000,10,10,0,0\r\n"
    'CH-2026-000001,7,2026-05-01T00:00:00Z,2026-06-01T00:00:00Z,USD,6,adjustment,"Service credit, May outage",'
    ",,,,CN-1,0,0,0,0,0,-1.50,-150,-3/2,-1.5,0,0\r\n"
).encode()

LAST_SECOND_OF_MAY_2026 = 1_780_271_999
"""2026-05-31T23:59:59Z as Unix seconds: 20,604 days after 1970-01-01, less one second."""


def test_golden_csv_bytes() -> None:
    assert invoice_csv(golden_draft(), "CH-2026-000001") == GOLDEN_CSV


def test_csv_header_is_the_documented_one_and_amounts_add_up() -> None:
    documented = " ".join((exports.__doc__ or "").split()).replace(", ", ",")
    assert ",".join(CSV_HEADER) in documented
    rows = list(csv.DictReader(io.StringIO(invoice_csv(golden_draft()).decode())))
    assert tuple(rows[0]) == CSV_HEADER
    assert sum(Fraction(row["amount"]) for row in rows) == Fraction("18.58")
    assert sum(Fraction(row["amount_exact"]) for row in rows) == golden_draft().total
    assert {row["invoice_number"] for row in rows} == {""}


def test_csv_rows_for_an_orchestrator_and_a_rounding_line() -> None:
    by_orchestrator = golden_draft(grouping=LineGrouping.ORCHESTRATOR, adjustments=())
    rows = list(csv.DictReader(io.StringIO(invoice_csv(by_orchestrator).decode())))
    assert [row["orchestrator"] for row in rows[:4]] == ["0x" + "11" * 20, "0x" + "22" * 20, "0x" + "11" * 20, ""]
    half_cent_wei = Fraction(5 * 10**12, 3)  # at 3,000 USD/ETH
    buckets = [UsageBucket(f"p{i}", "m", None, None, 1, 1, 1, 1, half_cent_wei, Fraction(0)) for i in range(3)]
    rows = list(csv.DictReader(io.StringIO(invoice_csv(golden_draft(buckets=buckets, adjustments=())).decode())))
    assert [(row["kind"], row["amount"], row["amount_exact"]) for row in rows] == [
        ("usage", "0.00", "1/200"), ("usage", "0.00", "1/200"), ("usage", "0.00", "1/200"),
        ("markup", "0.00", "3/8000"), ("fixed_fee", "10.00", "10"), ("rounding", "0.02", "0"),
    ]


def test_csv_cells_never_start_a_formula() -> None:
    evil = Adjustment('=HYPERLINK("http://x","y")', Fraction(1), "USD", reference="@SUM(A1)")
    rows = list(csv.DictReader(io.StringIO(invoice_csv(golden_draft(adjustments=(evil,)), "-1").decode())))
    assert rows[-1]["description"] == "'" + evil.description
    assert rows[-1]["reference"] == "'@SUM(A1)"
    assert rows[-1]["invoice_number"] == "'-1"
    assert rows[-1]["amount"] == "1.00"


def test_json_is_canonical_and_hashed() -> None:
    draft = golden_draft()
    data = invoice_json(draft)
    assert data == invoice_json(golden_draft())
    assert content_hash(draft) == hashlib.sha256(data).digest()
    document = json.loads(data)
    assert data == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert document["format"] == "clearinghouse.invoice/1"
    assert (document["total"], document["total_minor"]) == ("446023/24000", "1858")
    assert document["plan"] == {"kind": "usage_based", "currency": "USD", "markup_bps": 250, "fixed_fee": "10"}
    assert document["lines"][2] == {
        "kind": "usage", "description": "Usage (pipeline and model not reported)", "pipeline": None, "model_id": None,
        "app": None, "orchestrator": None, "reference": None, "calls": "2", "tickets": "2", "units": "0",
        "ev_wei": "1000000000000000/3", "fee_wei": "1000000000000000/3", "amount": "5/6", "amount_minor": "83",
    }
    assert document["rates"][0] == {
        "rate_snapshot_id": 1, "usd_per_eth": "3000", "source": "chainlink", "valid_at": "2026-05-10T00:00:00Z",
        "round_id": 7,
    }
    euro = json.loads(invoice_json(golden_draft(currency="EUR", fx=FX_EUR, plan=FreePlan(), adjustments=())))
    assert euro["fx"] == {"currency": "EUR", "per_usd": "9/10", "source": "ECB", "as_of": "2026-05-29T00:00:00Z"}


GOLDEN_HASH = "affeee6f647e459100845883eb703a1a636411c2203740e91bd3fa973fee2d9a"
"""Format /1 (a draft without terms). Changed in #19 only by the unknown usage line's description."""


def test_content_hash_is_pinned() -> None:
    # A change here changes every stored invoice hash: bump exports.FORMAT with it.
    assert content_hash(golden_draft()).hex() == GOLDEN_HASH


def test_content_hash_changes_when_any_line_changes() -> None:
    draft = golden_draft()
    hashes = {content_hash(draft)}
    for index, line in enumerate(draft.lines):
        changed = (
            replace(line, description=line.description + "."),
            replace(line, calls=line.calls + 1),
            replace(line, ev_wei=line.ev_wei + 1),
        )
        for new in changed:
            lines = list(draft.lines)
            lines[index] = new
            hashes.add(content_hash(replace(draft, lines=tuple(lines))))
    hashes.add(content_hash(replace(draft, gateway_id=8)))
    hashes.add(content_hash(replace(draft, rates=RATES[:1])))
    assert len(hashes) == 1 + 3 * len(draft.lines) + 2


def test_stripe_meter_events_golden() -> None:
    data = stripe_meter_events(golden_draft(), "cus_Nci", "livepeer_usage")
    events = [json.loads(line) for line in data.splitlines()]
    assert [(e["event_name"], e["payload"], e["timestamp"]) for e in events] == [
        ("livepeer_usage", {"stripe_customer_id": "cus_Nci", "value": "800"}, LAST_SECOND_OF_MAY_2026),
        ("livepeer_usage", {"stripe_customer_id": "cus_Nci", "value": "100"}, LAST_SECOND_OF_MAY_2026),
        ("livepeer_usage", {"stripe_customer_id": "cus_Nci", "value": "83"}, LAST_SECOND_OF_MAY_2026),
    ]
    identifiers = [e["identifier"] for e in events]
    assert len(set(identifiers)) == 3
    assert all(i.startswith("ch-") and len(i) == 43 for i in identifiers)
    assert datetime.fromtimestamp(LAST_SECOND_OF_MAY_2026, UTC) == datetime(2026, 5, 31, 23, 59, 59, tzinfo=UTC)


def test_event_ids_are_idempotency_keys() -> None:
    base = stripe_meter_events(golden_draft(), "cus_Nci", "livepeer_usage")
    assert base == stripe_meter_events(golden_draft(), "cus_Nci", "livepeer_usage")

    def ids(data: bytes) -> list[str]:
        return [json.loads(line)["identifier"] for line in data.splitlines()]

    # A redraft of the same period (a corrected rate) keeps its ids, so it is not billed twice...
    repriced = golden_draft(rates=(replace(RATES[0], usd_per_eth=Fraction(3100)), RATES[1]))
    assert ids(stripe_meter_events(repriced, "cus_Nci", "livepeer_usage")) == ids(base)
    # ...while another gateway, period or meter gets new ones.
    for other in (
        stripe_meter_events(golden_draft(gateway_id=8), "cus_Nci", "livepeer_usage"),
        stripe_meter_events(golden_draft(period_start=START.replace(day=2)), "cus_Nci", "livepeer_usage"),
        stripe_meter_events(golden_draft(), "cus_Nci", "other_meter"),
    ):
        assert not set(ids(other)) & set(ids(base))


def test_stripe_skips_lines_that_show_zero() -> None:
    draft = golden_draft(buckets=(replace(A, ev_wei=Fraction(0)),), adjustments=())
    assert stripe_meter_events(draft, "cus_Nci", "livepeer_usage") == b""
    assert len(openmeter_events(draft, "gateway-7").splitlines()) == 1


@pytest.mark.parametrize(
    ("customer", "event_name"), [("", "usage"), ("cus_1", " "), ("cus_1", "x" * 101), ("c" * 257, "usage")]
)
def test_stripe_refuses_bad_names(customer: str, event_name: str) -> None:
    with pytest.raises(InvoiceError, match="non-blank text"):
        stripe_meter_events(golden_draft(), customer, event_name)


def test_openmeter_cloudevents() -> None:
    draft = golden_draft(grouping=LineGrouping.ORCHESTRATOR)
    data = openmeter_events(draft, "gateway-7", source="clearinghouse-prod", event_type="livepeer.ev")
    assert data == openmeter_events(draft, "gateway-7", source="clearinghouse-prod", event_type="livepeer.ev")
    events = [json.loads(line) for line in data.splitlines()]
    assert len(events) == 4 and len({e["id"] for e in events}) == 4
    first = events[0]
    assert {k: v for k, v in first.items() if k not in ("id", "data")} == {
        "specversion": "1.0", "source": "clearinghouse-prod", "type": "livepeer.ev", "subject": "gateway-7",
        "time": "2026-05-31T23:59:59Z", "datacontenttype": "application/json",
    }
    assert first["data"] == {
        "gateway_id": "7", "period_start": "2026-05-01T00:00:00Z", "period_end": "2026-06-01T00:00:00Z",
        "pipeline": "live-video-to-video", "model_id": "streamdiffusion", "app": None,
        "orchestrator": "0x" + "11" * 20, "calls": "10", "tickets": "20", "units": "1000",
        "ev_wei": "1000000000000000", "fee_wei": "1100000000000000", "amount_minor": "300", "currency": "USD",
    }
    stripe = stripe_meter_events(draft, "c", "livepeer.ev")
    stripe_ids = [json.loads(line)["identifier"] for line in stripe.splitlines()]
    assert not {"ch-" + e["id"] for e in events} & set(stripe_ids)
    with pytest.raises(InvoiceError, match="subject"):
        openmeter_events(draft, "")
