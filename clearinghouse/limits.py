"""Every named limit of clearinghouse, each with the reason it has the value it has.

Limits are upper bounds on work a caller can ask for. Protocol facts (the width of a nonce,
the order of secp256k1) are not limits and live with the code that implements the protocol.
"""

from __future__ import annotations

TICKETS_PER_BATCH_MAX = 600
"""An orchestrator accepts at most 600 nonces per recipientRandHash (spec 01), so a larger
batch under one set of ticket params can only be a bug."""

PERSONAL_MESSAGE_BYTES_MAX = 1 << 20
"""The largest message we personal-sign is a remote-signer state blob (well under 2 KiB); 1 MiB
bounds the hashing one call can demand while leaving ample room."""
