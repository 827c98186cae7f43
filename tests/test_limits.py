"""The named limits of every layer agree with each other and with the protocol."""

from __future__ import annotations

from clearinghouse import limits as core
from clearinghouse.api import limits as api
from clearinghouse.ledger import limits as ledger
from clearinghouse.signer import limits as signer

# A Payment ticket is ~75 bytes, SegData and a state blob well under 2 KiB; base64 adds a third.
PAYMENT_TICKET_BYTES_MAX = 80
RESPONSE_OVERHEAD_BYTES_MAX = 16 * 1024


def test_ticket_counts_nest() -> None:
    assert signer.TICKETS_PER_CALL_MAX <= core.TICKETS_PER_BATCH_MAX
    assert signer.TICKETS_PER_CALL_MAX == ledger.TICKETS_PER_RECORD_MAX
    # Neither a batch nor a session may pass the orchestrator's 600-nonce cap.
    assert core.TICKETS_PER_BATCH_MAX == signer.SENDER_NONCE_MAX == 600


def test_whatever_a_call_may_carry_fits_the_next_layer() -> None:
    assert signer.STATE_JSON_BYTES_MAX <= core.PERSONAL_MESSAGE_BYTES_MAX
    assert signer.STATE_JSON_BYTES_MAX * 4 // 3 + RESPONSE_OVERHEAD_BYTES_MAX <= api.REQUEST_BODY_BYTES_MAX
    largest_response = signer.TICKETS_PER_CALL_MAX * PAYMENT_TICKET_BYTES_MAX * 4 // 3 + RESPONSE_OVERHEAD_BYTES_MAX
    assert largest_response <= ledger.RESPONSE_BYTES_MAX
    assert api.USAGE_SUBJECT_LENGTH_MAX <= ledger.TEXT_ID_LENGTH_MAX


def test_waits_are_bounded_and_ordered() -> None:
    # A call waiting for a signing thread gives up before the client's own patience would.
    assert 0 < api.THREAD_WAIT_S <= api.REQUEST_BODY_TIMEOUT_S
    assert 0 < ledger.SQLITE_BUSY_TIMEOUT_S <= 30
    assert 0 < api.WEBHOOK_TIMEOUT_S <= 10
    assert signer.AUTH_TOKEN_REFRESH_S == 180  # go-livepeer: the last 3 of an auth token's 30 min
