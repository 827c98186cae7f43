"""What a chain read or a funding transaction can fail with.

    ClearinghouseError              (clearinghouse.errors)
    └── ChainError                  a chain read or transaction failed; the message never holds
        │                           RPC credentials
        ├── ChainUnavailable        the RPC did not answer usefully: connection refused or reset,
        │   │                       timeout, HTTP error, JSON-RPC error, malformed reply
        │   └── ImplausibleChainData  it answered what cannot be true (a head far behind or ahead
        │                           of the last one, an amount beyond the ETH supply): a lying or
        │                           broken node, treated as no answer
        ├── ContractMismatch        the Controller lists no contract under a name, or a contract
        │                           did not answer our ABI (no code at the address, a view reverted)
        └── funding.FundingRefused, FundingReverted, FundingUnconfirmed
                                    a funding transaction was refused before sending (nothing
                                    sent), reverted once mined, or has no receipt (look its hash
                                    up before sending again)

ChainUnavailable is transient (retry later); ContractMismatch is a configuration problem (wrong
Controller address or wrong chain) that retrying does not fix.

AnvilError, ArtifactError and DevnetError (anvil.py, artifacts.py, devnet.py) belong to the
devnet tooling, not to the daemon's chain reads, and stay with their modules.
"""

from __future__ import annotations

from clearinghouse.errors import ClearinghouseError


class ChainError(ClearinghouseError):
    """A chain read or transaction failed. Messages quote the RPC URL only in redacted form."""


class ChainUnavailable(ChainError):
    """The RPC endpoint did not answer usefully; the data may be fine once it does."""


class ContractMismatch(ChainError):
    """The chain answered, but not as our contracts would: wrong Controller, chain or ABI."""


class ImplausibleChainData(ChainUnavailable):
    """The RPC answered something the chain cannot hold (chain/limits.py's sanity bounds): the
    read is refused like a failed one, and nothing of it is recorded."""
