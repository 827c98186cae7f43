"""Mapping between rows and values for sessions and signing records (no I/O of its own).

Kept apart from ``sessions.py`` so the repository logic there reads as the algorithm, and so
every column of the two widest tables is listed once, here. Rows are Core row mappings
(``row._mapping``) or the column dicts built here for an insert, so a row just written is
turned into its value without reading it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import RowMapping

from clearinghouse.ledger.values import SigningRecord
from clearinghouse.domain.sessions import BillingType, SessionHead
from clearinghouse.domain.tickets import SigningCall

# A row read (its ``_mapping``) or one about to be written (column name → value).
Columns = RowMapping | Mapping[str, Any]

def session_value(row: Columns) -> SessionHead:
    return SessionHead(
        state_id=row["state_id"],
        gateway_id=row["gateway_id"],
        orchestrator_address=row["orchestrator_address"],
        app=row["app"],
        billing_type=BillingType(row["billing_type"]),
        manifest_id=row["manifest_id"],
        sequence_number=row["sequence_number"],
        sender_nonce=row["sender_nonce"],
        pm_session_id=row["pm_session_id"],
        balance=Fraction(row["balance_num"], row["balance_den"]),
        initial_price_per_unit=row["initial_price_per_unit"],
        initial_pixels_per_unit=row["initial_pixels_per_unit"],
        last_update_ns=row["last_update_ns"],
        auth_expiry=row["auth_expiry"],
        auth_id=row["auth_id"],
        state_digest=row["state_digest"],
    )


def head_moves(head: SessionHead, now: datetime) -> dict[str, Any]:
    """The columns of a stored head that a recorded call moves forward."""
    return {
        "manifest_id": head.manifest_id,
        "sequence_number": head.sequence_number,
        "sender_nonce": head.sender_nonce,
        "pm_session_id": head.pm_session_id,
        "last_update_ns": head.last_update_ns,
        "auth_expiry": head.auth_expiry,
        "auth_id": head.auth_id,
        "state_digest": head.state_digest,
        "balance_num": head.balance.numerator,
        "balance_den": head.balance.denominator,
        "updated_at": now,
    }


def new_head_columns(head: SessionHead, now: datetime) -> dict[str, Any]:
    """Every column of a session's first head row."""
    return {
        "state_id": head.state_id,
        "gateway_id": head.gateway_id,
        "orchestrator_address": head.orchestrator_address,
        "app": head.app,
        "billing_type": head.billing_type.value,
        "initial_price_per_unit": head.initial_price_per_unit,
        "initial_pixels_per_unit": head.initial_pixels_per_unit,
        "created_at": now,
    } | head_moves(head, now)


def record_columns(call: SigningCall, now: datetime) -> dict[str, Any]:
    """Every column of a call's signing record except its id."""
    head, fee, ev_signed = call.session, call.fee, call.ev_signed
    first, last = call.tickets[0], call.tickets[-1]
    return {
        "gateway_id": call.gateway_id,
        "api_key_id": call.api_key_id,
        "usage_subject": call.usage_subject,
        "request_id": call.request_id,
        "request_digest": call.request_digest,
        "state_id": head.state_id,
        "manifest_id": head.manifest_id,
        "sequence_number": head.sequence_number,
        "app": head.app,
        "orchestrator_address": head.orchestrator_address,
        "recipient": call.recipient,
        "pipeline": call.pipeline,
        "model_id": call.model_id,
        "capability": call.capability,
        "billing_type": head.billing_type.value,
        "units": call.units,
        "price_per_unit": call.price_per_unit,
        "pixels_per_unit": call.pixels_per_unit,
        "fee_num": fee.numerator,
        "fee_den": fee.denominator,
        "ticket_count": len(call.tickets),
        "face_value": call.face_value,
        "win_prob": call.win_prob,
        "ev_signed_num": ev_signed.numerator,
        "ev_signed_den": ev_signed.denominator,
        "first_nonce": first.sender_nonce,
        "last_nonce": last.sender_nonce,
        "recipient_rand_hash": first.recipient_rand_hash,
        "creation_round": call.creation_round,
        "creation_round_block_hash": call.creation_round_block_hash,
        "params_expiration_block": call.params_expiration_block,
        "rate_snapshot_id": call.rate_snapshot_id,
        "response": call.response,
        "created_at": now,
    }


def record_value(row: Columns) -> SigningRecord:
    return SigningRecord(
        id=row["id"],
        gateway_id=row["gateway_id"],
        api_key_id=row["api_key_id"],
        usage_subject=row["usage_subject"],
        request_id=row["request_id"],
        request_digest=row["request_digest"],
        state_id=row["state_id"],
        manifest_id=row["manifest_id"],
        sequence_number=row["sequence_number"],
        app=row["app"],
        orchestrator_address=row["orchestrator_address"],
        recipient=row["recipient"],
        pipeline=row["pipeline"],
        model_id=row["model_id"],
        capability=row["capability"],
        billing_type=BillingType(row["billing_type"]),
        units=row["units"],
        price_per_unit=row["price_per_unit"],
        pixels_per_unit=row["pixels_per_unit"],
        fee=Fraction(row["fee_num"], row["fee_den"]),
        ticket_count=row["ticket_count"],
        face_value=row["face_value"],
        win_prob=row["win_prob"],
        ev_signed=Fraction(row["ev_signed_num"], row["ev_signed_den"]),
        first_nonce=row["first_nonce"],
        last_nonce=row["last_nonce"],
        recipient_rand_hash=row["recipient_rand_hash"],
        creation_round=row["creation_round"],
        creation_round_block_hash=row["creation_round_block_hash"],
        params_expiration_block=row["params_expiration_block"],
        rate_snapshot_id=row["rate_snapshot_id"],
        response=row["response"],
        created_at=row["created_at"],
    )
