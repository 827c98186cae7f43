"""A fake payment service, for transport-level tests of decoding and status mapping only.

Every test of what is signed uses the real ``PaymentService`` (test_sessions.py); this fake
only records what the transport handed it and answers or raises what the test says.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from fractions import Fraction

from clearinghouse.proto import lp_rpc_pb2
from clearinghouse.signer.calls import Caller, PaymentCall, PaymentResult
from clearinghouse.signer.state import RemotePaymentState, encode_state

FAKE_ADDRESS = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"
FAKE_INFO_SIGNATURE = bytes(range(65))
FAKE_PAYMENT = lp_rpc_pb2.Payment(
    ticket_params=lp_rpc_pb2.TicketParams(face_value=(105).to_bytes(1, "big"), win_prob=((2**256 - 1) // 3).to_bytes(32, "big")),
    ticket_sender_params=[lp_rpc_pb2.TicketSenderParams(sender_nonce=1, sig=b"\x1b" * 65)],
).SerializeToString()
"""One ticket of EV 35 wei: what the gRPC answer's EV, fee and balance are worked out from."""

FAKE_STATE = encode_state(RemotePaymentState(
    state_id="fake-state", pm_session_id="", last_update_ns=None, orchestrator_address=bytes(20), app="",
    auth_expiry=0, sender_nonce=1, balance=Fraction(5), initial_price_per_unit=3, initial_pixels_per_unit=1,
    type="", sequence_number=0, auth_id="",
))

FAKE_RESULT = PaymentResult(
    payment=FAKE_PAYMENT,
    seg_creds=b"seg-creds-bytes",
    state=FAKE_STATE,
    state_signature=b"\x1b" * 65,
    ticket_count=1,
    replayed=False,
)


@dataclass
class FakePaymentService:
    """Records (caller, call) pairs; answers ``outcome`` (a result, or an exception to raise)."""

    outcome: PaymentResult | BaseException = FAKE_RESULT
    is_ready: bool = True
    calls: list[tuple[Caller, PaymentCall]] = field(default_factory=list)

    def orchestrator_info_signature(self) -> tuple[str, bytes]:
        return FAKE_ADDRESS, FAKE_INFO_SIGNATURE

    def generate_payment(self, caller: Caller, call: PaymentCall, *, deadline_s: float | None = None) -> PaymentResult:
        return self.commit(self.payment_work(caller, call)).result()

    work_may_wait: bool = False

    def payment_work(self, caller: Caller, call: PaymentCall) -> tuple[Caller, PaymentCall]:
        self.calls.append((caller, call))
        return caller, call

    def commit(self, work: object) -> Future[PaymentResult]:
        answer: Future[PaymentResult] = Future()
        if isinstance(self.outcome, BaseException):
            answer.set_exception(self.outcome)
        else:
            answer.set_result(self.outcome)
        return answer

    def ready(self) -> bool:
        return self.is_ready
