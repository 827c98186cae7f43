"""The states a signer issued, recalled when a session sends one back (signer/issued_states.py):
only the very blob with the very signature we made, and exactly the state decoding it gives."""

from __future__ import annotations

from fractions import Fraction

import pytest

from clearinghouse import ledger
from clearinghouse.signer.calls import Caller
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.signer.issued_states import IssuedStates
from clearinghouse.signer.service import PaymentService
from clearinghouse.signer.state import RemotePaymentState, decode_state
from tests.signer.builders import KEY, L1_BLOCK, OPEN_ROUNDS
from tests.signer.test_service import Clock, funded_gateway, live_call

CHAIN = ChainView(deposit_wei=10**18, reserve_wei=10**18, withdraw_round=0, current_round=3500,
                  last_l1_block=L1_BLOCK, round_block_hashes=OPEN_ROUNDS)


def _state(state_id: str, nonce: int = 0) -> RemotePaymentState:
    return RemotePaymentState(
        state_id=state_id, pm_session_id="", last_update_ns=None, orchestrator_address=bytes(20), app="",
        auth_expiry=0, sender_nonce=nonce, balance=Fraction(1, 3), initial_price_per_unit=1,
        initial_pixels_per_unit=1, type="live", sequence_number=nonce, auth_id="",
    )


def test_a_state_the_service_issued_is_recalled_as_decoding_it_gives(ledger_db: ledger.Database) -> None:
    clock = Clock()
    service = PaymentService(ledger_db, KEY, lambda: CHAIN, PaymentPolicy(), clock_ns=clock)
    caller = Caller(funded_gateway(ledger_db, "acme"), None)
    first = service.generate_payment(caller, live_call())
    clock.now_ns += 5 * 10**9
    second = service.generate_payment(caller, live_call(first))  # the first's state came back
    recalled = service._issued_states.recall(second.state, second.state_signature)
    assert recalled == decode_state(second.state)
    assert service._issued_states.recall(first.state, first.state_signature) is None  # one per session
    service.committer.close()


def test_only_the_same_blob_with_the_same_signature_is_recalled() -> None:
    issued = IssuedStates()
    state = _state("a" * 32)
    issued.remember(b"blob", b"s" * 65, state)
    assert issued.recall(b"blob", b"s" * 65) is state
    assert issued.recall(b"blob", b"t" * 65) is None
    assert issued.recall(b"other", b"s" * 65) is None


def test_it_keeps_one_state_per_session_and_a_bounded_number() -> None:
    issued = IssuedStates(entries_max=2)
    for n in range(3):
        issued.remember(f"blob-{n}".encode(), b"s" * 65, _state(f"{n}" * 32))
    assert issued.recall(b"blob-0", b"s" * 65) is None  # evicted, least recently used
    assert issued.recall(b"blob-2", b"s" * 65) is not None
    issued.remember(b"blob-2b", b"s" * 65, _state("2" * 32, nonce=1))  # the session moved on
    assert issued.recall(b"blob-2", b"s" * 65) is None
    with pytest.raises(ValueError, match="entries_max"):
        IssuedStates(entries_max=0)
