"""The package's public surface and the relations between its limits."""

from __future__ import annotations

from clearinghouse.domain import limits as core_limits
from clearinghouse import signer
from clearinghouse.signer import Refusal, SigningRefused, limits


def test_all_is_sorted_and_every_name_exists() -> None:
    assert signer.__all__ == sorted(signer.__all__)
    for name in signer.__all__:
        assert hasattr(signer, name), name


def test_a_full_call_fits_one_native_batch_and_the_nonce_window() -> None:
    assert limits.TICKETS_PER_CALL_MAX <= limits.NONCES_PER_RECIPIENT_RAND_HASH_MAX
    assert limits.TICKETS_PER_CALL_MAX <= core_limits.TICKETS_PER_BATCH_MAX


def test_state_blob_fits_what_the_core_personal_signs() -> None:
    assert limits.STATE_JSON_BYTES_MAX <= core_limits.PERSONAL_MESSAGE_BYTES_MAX


def test_default_ticket_ev_fits_the_default_total() -> None:
    assert limits.MAX_TICKET_EV_WEI_DEFAULT <= limits.MAX_TOTAL_EV_WEI_DEFAULT


def test_signing_refused_carries_reason_and_message() -> None:
    refused = SigningRefused(Refusal.PRICE_EXCEEDED, "too dear")
    assert (refused.reason, refused.message, str(refused)) == (
        Refusal.PRICE_EXCEEDED,
        "too dear",
        "too dear",
    )
    assert repr(refused) == "SigningRefused('price_exceeded', 'too dear')"
