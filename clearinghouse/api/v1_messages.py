"""The clearinghouse.v1 messages (protos/clearinghouse.proto) to and from the service's values.

Shared by the gRPC service (grpc_service.py) and the JSON routes under /v1/ (v1_http.py, the
proto3 JSON form of the same messages), so both decode requests and encode answers with the same
checks: wei as decimal strings, exact rationals as "a" or "a/b", text fields checked like spec
02's JSON (TEXT_FIELD_LENGTH_MAX, no control characters). Every failure is a BadRequest naming
the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from clearinghouse.api.errors import BadRequest, InsufficientScope
from clearinghouse.api.limits import REQUEST_ID_CHARS_MAX, USAGE_PERIOD_S_MAX
from clearinghouse.signer.gateway_service import DepositInfo, SignerInfo, UsageGroups
from clearinghouse.api.payloads import check_text_field
from clearinghouse.ledger.hourly_usage import UsageGrouping
from clearinghouse.ledger.usage import GatewayUsage
from clearinghouse.proto import clearinghouse_pb2 as pb
from clearinghouse.signer.billing import MaxPrice
from clearinghouse.signer.calls import Caller, PaymentCall, PaymentResult
from clearinghouse.signer.tickets import TicketBatch, TicketRequest

INT64_MAX = 2**63 - 1

_Request = TypeVar("_Request", bound=Message)


def signer_info_message(info: SignerInfo) -> pb.GetSignerInfoResponse:
    """SignerInfo as GetSignerInfoResponse (an unknown TicketBroker is empty bytes)."""
    return pb.GetSignerInfoResponse(
        address=info.address,
        address_checksummed=info.address_checksummed,
        orchestrator_info_signature=info.orchestrator_info_signature,
        chain_id=info.chain_id,
        ticket_broker=info.ticket_broker or b"",
    )


def payment_message(result: PaymentResult, call: PaymentCall) -> pb.GeneratePaymentResponse:
    """A PaymentResult as GeneratePaymentResponse, with the call's EV, fee and the session's
    balance worked out from what the answer carries (issue 19): EV from the signed Payment's
    face value, win probability and ticket count; the balance from the new state; the fee from
    the state balance rule of spec 02, new balance = previous + EV - fee (a new session starts
    at 0). A replayed answer gives the same figures as the call it repeats."""
    from clearinghouse.domain.ev import ticket_ev
    from clearinghouse.proto import lp_rpc_pb2
    from clearinghouse.signer.state import decode_state

    payment = lp_rpc_pb2.Payment.FromString(result.payment)
    params = payment.ticket_params
    ev = ticket_ev(int.from_bytes(params.face_value, "big"), int.from_bytes(params.win_prob, "big"))
    ev_signed = ev * len(payment.ticket_sender_params)
    balance = decode_state(result.state).balance
    previous = Fraction(0) if call.state is None else decode_state(call.state).balance
    return pb.GeneratePaymentResponse(
        payment=result.payment,
        seg_creds=result.seg_creds,
        state=pb.PaymentState(state=result.state, signature=result.state_signature),
        ticket_count=result.ticket_count,
        replayed=result.replayed,
        ev_signed_wei=str(ev_signed),
        fee_wei=str(previous + ev_signed - balance),
        balance_wei=str(balance),
    )


def tickets_message(batch: TicketBatch) -> pb.SignTicketsResponse:
    """A TicketBatch as SignTicketsResponse."""
    return pb.SignTicketsResponse(
        payment=batch.payment,
        tickets=[pb.SignedTicket(sender_nonce=n, ticket_hash=h) for n, h in batch.tickets],
        ev_signed_wei=str(batch.ev_signed_wei),
        replayed=batch.replayed,
    )


def decode(message_type: type[_Request], data: bytes) -> _Request:
    """Parse ``data`` as ``message_type``; BadRequest naming the message when it is not one."""
    try:
        return message_type.FromString(data)
    except DecodeError as exc:
        raise BadRequest(f"malformed {message_type.DESCRIPTOR.name}: {exc}") from None


def payment_call(request: pb.GeneratePaymentRequest) -> PaymentCall:
    """The PaymentCall of a GeneratePaymentRequest; text fields are checked like the JSON's."""
    state = request.state.state if request.HasField("state") else b""
    signature = request.state.signature if request.HasField("state") else b""
    if signature and not state:
        raise BadRequest("invalid state: state.signature given without state.state")
    max_price = None
    if request.HasField("max_price"):
        limit = request.max_price
        max_price = MaxPrice(price=limit.price, currency=limit.currency, unit=limit.unit)
    return PaymentCall(
        orchestrator_info=request.orchestrator.SerializeToString()
        if request.HasField("orchestrator")
        else b"",
        state=state or None,
        state_signature=signature or None,
        manifest_id=check_text_field("manifest_id", request.manifest_id),
        billing_type=check_text_field("type", request.type),
        in_pixels=request.in_pixels,
        app=check_text_field("app", request.app),
        max_price=max_price,
        capabilities=request.capabilities.SerializeToString()
        if request.HasField("capabilities")
        else None,
    )


def ticket_request(request: pb.SignTicketsRequest) -> TicketRequest:
    """The TicketRequest of a SignTicketsRequest; BadRequest for a missing part or a request id
    that breaks the rule the proto states (``check_request_id``)."""
    request_id = check_request_id(request.request_id)
    if not request.HasField("ticket_params") or not request.HasField("price_info"):
        raise BadRequest("ticket_params and price_info are required")
    return TicketRequest(
        request_id=request_id,
        ticket_params=request.ticket_params.SerializeToString(),
        expiration_params=request.expiration_params.SerializeToString()
        if request.HasField("expiration_params")
        else None,
        price_info=request.price_info.SerializeToString(),
        ticket_count=request.ticket_count,
    )


def check_request_id(request_id: str) -> str:
    """``request_id`` if it is 1..REQUEST_ID_CHARS_MAX characters, each printable ASCII other
    than space ('!' 0x21 to '~' 0x7E), as SignTicketsRequest.request_id's comment states; else
    BadRequest stating that rule."""
    if not 1 <= len(request_id) <= REQUEST_ID_CHARS_MAX or not all("!" <= char <= "~" for char in request_id):
        raise BadRequest(f"request_id must be 1 to {REQUEST_ID_CHARS_MAX} characters, each printable ASCII "
                         f"other than space ('!' to '~'), got {request_id!r:.40}")
    return request_id


GROUPINGS = {
    pb.USAGE_GROUPING_SUBJECT: UsageGrouping.SUBJECT,
    pb.USAGE_GROUPING_PIPELINE_MODEL: UsageGrouping.PIPELINE_MODEL,
    pb.USAGE_GROUPING_APP: UsageGrouping.APP,
    pb.USAGE_GROUPING_ORCHESTRATOR: UsageGrouping.ORCHESTRATOR,
    pb.USAGE_GROUPING_DAY: UsageGrouping.DAY,
}
"""The API's groupings; a gateway sees its own usage only, so there is no per-gateway one."""


def usage_grouping(request: pb.GetUsageRequest) -> UsageGrouping | None:
    """The request's grouping, None when unset. Raises BadRequest for an unknown value."""
    if request.group_by == pb.USAGE_GROUPING_UNSPECIFIED:
        return None
    grouping = GROUPINGS.get(request.group_by)
    if grouping is None:
        raise BadRequest(f"unknown group_by {request.group_by}")
    return grouping


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """A checked GetUsage request: [start, end) in UTC and the grouping, for the caller's gateway."""

    gateway_id: int
    start: datetime
    end: datetime
    grouping: UsageGrouping | None


def usage_query(caller: Caller, request: pb.GetUsageRequest) -> UsageQuery:
    """The one check of a usage request, for gRPC GetUsage and GET /v1/usage alike.

    Raises BadRequest for an unknown group_by; InsufficientScope for an end user's token (its
    gateway's usage is not the user's to read); BadRequest unless 0 <= start < end, the period is
    at most USAGE_PERIOD_S_MAX and, with group_by, both ends are whole UTC hours.
    """
    grouping = usage_grouping(request)
    if caller.end_user:
        raise InsufficientScope("a user token reads its own usage at /api/v1/user/usage, not its gateway's")
    start_unix_s, end_unix_s = request.start_unix_s, request.end_unix_s
    if not 0 <= start_unix_s < end_unix_s:
        raise BadRequest(f"need 0 <= start < end, got start {start_unix_s} and end {end_unix_s}")
    if end_unix_s - start_unix_s > USAGE_PERIOD_S_MAX:
        raise BadRequest(
            f"period of {end_unix_s - start_unix_s} s is longer than {USAGE_PERIOD_S_MAX} s; "
            "ask for it in parts"
        )
    try:
        start, end = (datetime.fromtimestamp(s, UTC) for s in (start_unix_s, end_unix_s))
    except (OverflowError, ValueError, OSError):
        raise BadRequest(f"period end {end_unix_s} is past the last date we represent") from None
    if grouping is not None and (start_unix_s % 3600 or end_unix_s % 3600):
        raise BadRequest(f"group_by needs whole UTC hours, got start {start_unix_s} and end {end_unix_s}")
    return UsageQuery(caller.gateway_id, start, end, grouping)


def usage_message(usage: GatewayUsage, groups: UsageGroups = ()) -> pb.GetUsageResponse:
    """GatewayUsage (and its groups) as GetUsageResponse: EV and fees as exact rationals, face
    value and units in decimal."""
    total = usage.total
    return pb.GetUsageResponse(
        gateway_id=usage.gateway_id,
        start_unix_s=int(usage.start.timestamp()),
        end_unix_s=int(usage.end.timestamp()),
        calls=total.calls,
        tickets=total.tickets,
        ev_signed_wei=str(total.ev_signed),
        fee_wei=str(total.fee),
        face_value_wei=str(total.face_value_wei),
        subjects=[
            pb.SubjectUsage(
                usage_subject=subject,
                calls=totals.calls,
                tickets=totals.tickets,
                ev_signed_wei=str(totals.ev_signed),
                fee_wei=str(totals.fee),
            )
            for subject, totals in usage.subjects
        ],
        groups=[
            pb.UsageGroup(key=list(key), calls=u.calls, tickets=u.tickets, units=str(u.units),
                          ev_signed_wei=str(u.ev_wei), fee_wei=str(u.fee_wei))
            for key, u in groups
        ],
    )


_HEALTH_STATE = {
    "ok": pb.HEALTH_STATE_OK,
    "warn": pb.HEALTH_STATE_WARN,
    "critical": pb.HEALTH_STATE_CRITICAL,
    "unmonitored": pb.HEALTH_STATE_UNMONITORED,
}


def deposit_info_message(info: DepositInfo) -> pb.GetDepositInfoResponse:
    """DepositInfo as GetDepositInfoResponse: wei as decimal strings, EV as an exact rational."""
    message = pb.GetDepositInfoResponse(
        health_state=_HEALTH_STATE[info.health_state],
        findings=[
            pb.HealthFinding(state=_HEALTH_STATE[f.state], reason=f.reason, message=f.message)
            for f in info.findings
        ],
    )
    if info.position is not None:
        p = info.position
        message.position.CopyFrom(
            pb.ChainPosition(
                deposit_wei=str(p.deposit_wei),
                reserve_wei=str(p.reserve_wei),
                withdraw_round=p.withdraw_round,
                current_round=p.current_round,
                l1_block=p.l1_block,
            )
        )
    if info.runway_s is not None:
        message.runway_s = min(info.runway_s, INT64_MAX)  # a near-idle burn means "years"
    if info.chain_age_s is not None:
        message.chain_age_s = info.chain_age_s
    if info.exposure is not None:
        e = info.exposure
        message.exposure.CopyFrom(
            pb.Exposure(
                tickets=e.tickets,
                face_value_wei=str(e.face_value_wei),
                ev_wei=str(e.ev_wei),
                max_face_value_wei=str(e.max_face_value_wei),
            )
        )
    return message
