"""Outbox rows as CloudEvents 1.0 (structured JSON): the envelope, the data of each event type,
and where each type's JSON Schema ships (``schemas/<type>.json``, package data).

An event's ``id`` is its outbox row's (``ch-<id>``): the same at every publication, so a
consumer (and JetStream, through ``Nats-Msg-Id``) drops a re-published copy. Its ``subject``
is the gateway billed (``gateway:<id>``; ``unauthenticated`` for a refusal before any gateway
was known). Amounts are exact: wei as decimal integer strings, rationals as ``"n/d"`` strings
(``"n"`` when whole) beside a decimal string rounded half-even to DECIMAL_PLACES places; never
a JSON number, which most readers hold as a float.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from fractions import Fraction
from importlib import resources
from typing import Any

from clearinghouse.ledger.outbox import REFUSAL, REFUSALS_SUPPRESSED, SIGNING, EventRecord, OutboxEntry

SPEC_VERSION = "1.0"
SIGNING_TYPE = "clearinghouse.signing.v1"
REFUSAL_TYPE = "clearinghouse.refusal.v1"
REFUSALS_SUPPRESSED_TYPE = "clearinghouse.refusals_suppressed.v1"
EVENT_TYPES = {SIGNING: SIGNING_TYPE, REFUSAL: REFUSAL_TYPE, REFUSALS_SUPPRESSED: REFUSALS_SUPPRESSED_TYPE}
CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
DECIMAL_PLACES = 18
"""Decimal strings of rationals (EV in wei, fee in USD): 18 places is below a wei of a USD
cent; the exact value is beside it."""

WEI_PER_ETH = 10**18


def event_id(entry: OutboxEntry) -> str:
    """The event's stable id: the same for every publication of the row."""
    return f"ch-{entry.id}"


def to_cloudevent(entry: OutboxEntry, *, source: str, sender: bytes | None) -> dict[str, Any]:
    """The CloudEvent of an outbox row. ``sender`` is the address tickets are signed from
    (None when not known: the field is then null)."""
    if entry.kind == SIGNING:
        if entry.record is None:
            raise ValueError(f"outbox row {entry.id} is a signing without its record")
        data: Mapping[str, Any] = signing_data(entry, entry.record, sender)
    else:
        data = json.loads(entry.data or "{}")
    return {
        "specversion": SPEC_VERSION,
        "id": event_id(entry),
        "source": source,
        "type": EVENT_TYPES[entry.kind],
        "subject": "unauthenticated" if entry.gateway_id is None else f"gateway:{entry.gateway_id}",
        "time": _time(entry.created_at),
        "datacontenttype": "application/json",
        "data": data,
    }


def signing_data(entry: OutboxEntry, record: EventRecord, sender: bytes | None) -> dict[str, Any]:
    """What go-livepeer's ``create_signed_ticket`` carries (sender, recipient, manifest and
    session, face value, win probability, ticket count, fee in wei) and what it lacks."""
    rate = entry.rate
    fee_usd = None if rate is None else Fraction(record.fee_num, record.fee_den) * rate.usd_per_eth / WEI_PER_ETH
    return {
        "record_id": record.id,
        "gateway": {"id": record.gateway_id, "name": entry.gateway_name},
        "app": None,
        "usage_subject": record.usage_subject,
        "request_id": record.request_id,
        "sender": None if sender is None else _hex(sender),
        "recipient": _hex(record.recipient),
        "orchestrator_address": _hex(record.orchestrator_address),
        "manifest_id": record.manifest_id,
        "session_id": record.state_id,
        "sequence_number": record.sequence_number,
        "pm_session_id": _hex(record.recipient_rand_hash),
        "pipeline": record.pipeline,
        "model_id": record.model_id,
        "capability": record.capability,
        "billing": {"unit_kind": record.billing_type or "pixels", "quantity": record.units,
                    "price_per_unit_wei": str(record.price_per_unit), "pixels_per_unit": record.pixels_per_unit},
        "face_value_wei": str(record.face_value),
        "win_prob": str(record.win_prob),
        "num_tickets": record.ticket_count,
        "ev_wei": exact_parts(record.ev_signed_num, record.ev_signed_den),
        "fee_wei": exact_parts(record.fee_num, record.fee_den),
        "fee_usd": None if fee_usd is None else exact(fee_usd),
        "eth_usd": None if rate is None else {
            "usd_per_eth": exact(rate.usd_per_eth), "source": rate.source, "snapshot_id": rate.id,
            "feed_address": None if rate.feed_address is None else _hex(rate.feed_address),
            "round_id": None if rate.round_id is None else str(rate.round_id),
            "valid_at": _time(rate.valid_at), "observed_at": _time(rate.observed_at),
        },
        "first_nonce": record.first_nonce,
        "last_nonce": record.last_nonce,
        "creation_round": record.creation_round,
        "signed_at": _time(record.created_at),
    }


def exact(value: Fraction) -> dict[str, str]:
    """A rational as ``{"exact": "n/d", "decimal": "…"}`` (module docstring)."""
    return exact_parts(value.numerator, value.denominator)


def exact_parts(numerator: int, denominator: int) -> dict[str, str]:
    """``exact`` of numerator/denominator, already in lowest terms (as the ledger stores them)."""
    text = str(numerator) if denominator == 1 else f"{numerator}/{denominator}"
    return {"exact": text, "decimal": decimal_text(numerator, denominator)}


def decimal_text(numerator: int, denominator: int, places: int = DECIMAL_PLACES) -> str:
    """numerator/denominator (denominator > 0) rounded half-even to ``places`` decimal places,
    in integer arithmetic."""
    scaled, remainder = divmod(abs(numerator) * 10**places, denominator)
    if 2 * remainder > denominator or (2 * remainder == denominator and scaled % 2):
        scaled += 1
    sign = "-" if numerator < 0 and scaled else ""
    whole, part = divmod(scaled, 10**places)
    return f"{sign}{whole}.{part:0{places}d}" if places else f"{sign}{whole}"


def schema_text(event_type: str) -> str:
    """The JSON Schema of ``event_type`` as shipped with the package (KeyError if unknown)."""
    if event_type not in EVENT_TYPES.values():
        raise KeyError(event_type)
    return resources.files("clearinghouse.events").joinpath("schemas", f"{event_type}.json").read_text()


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _time(at: datetime) -> str:
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
