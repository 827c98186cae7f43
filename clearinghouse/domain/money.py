"""Money and identities on chain: wei amounts, addresses and the byte lengths of both.

``Wei`` and ``Address`` are NewTypes: an int of wei and the 20 bytes of an Ethereum address, so a
signature says which it takes; exact amounts that are not whole wei are ``Fraction``, never float.
"""

from __future__ import annotations

from typing import NewType

Wei = NewType("Wei", int)
"""A whole amount of wei (10**-18 ETH), as the TicketBroker counts deposit, reserve and faces."""

Address = NewType("Address", bytes)
"""An Ethereum address, ADDRESS_BYTES raw bytes (not hex)."""

ADDRESS_BYTES = 20
HASH_BYTES = 32
"""A keccak-256 hash: block hashes, ticket hashes, recipientRandHash."""
