"""Probabilistic-micropayment tickets: hashing, signing, recovery and the win check.

The functions here are those of the ticket core chosen by ``clearinghouse.pm.core``: the
Cython extension (``_native``) or its pure-Python reference (``reference``), which share one
API, one set of checks and one set of error messages. All take and return plain bytes/ints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearinghouse.pm.core import IMPLEMENTATION, NATIVE_IMPORT_ERROR, implementation, require_native

if TYPE_CHECKING:
    # Type checkers see the reference's signatures, which native/_native.pyi repeats exactly.
    from clearinghouse.pm.reference import (
        is_winning_ticket,
        keccak256,
        personal_sign,
        private_key_to_address,
        recover_personal_signer,
        sign_ticket_batch,
        ticket_hash,
        verify_personal_signature,
    )
else:
    keccak256 = implementation.keccak256
    ticket_hash = implementation.ticket_hash
    personal_sign = implementation.personal_sign
    sign_ticket_batch = implementation.sign_ticket_batch
    private_key_to_address = implementation.private_key_to_address
    recover_personal_signer = implementation.recover_personal_signer
    verify_personal_signature = implementation.verify_personal_signature
    is_winning_ticket = implementation.is_winning_ticket

__all__ = [
    "IMPLEMENTATION",
    "NATIVE_IMPORT_ERROR",
    "is_winning_ticket",
    "keccak256",
    "personal_sign",
    "private_key_to_address",
    "recover_personal_signer",
    "require_native",
    "sign_ticket_batch",
    "ticket_hash",
    "verify_personal_signature",
]
