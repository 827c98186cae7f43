"""The root of clearinghouse's exceptions, and the map of the whole tree.

Each layer defines its own errors next to the code that raises them (a transport's carry its
status codes; the ledger's translate SQLAlchemy's), all under ``ClearinghouseError``:

    ClearinghouseError
    ├── NativeCoreUnavailable       here: the Cython ticket core failed to import where required
    ├── InvariantViolation          here: something that cannot happen did; stop, don't limp on
    │   └── ledger.InvariantViolation
    ├── config.ConfigError          a setting is missing, malformed or unsafe (names the setting)
    ├── domain.refusals.SigningRefused(reason: Refusal) the one refusal of a signing call: nothing
    │                                                   signed; Refusal in precedence order (PRECEDENCE)
    ├── LedgerError                 here: any failure of the ledger (ledger/errors.py has the rest)
    │   ├── InvalidLedgerInput      here: (also ValueError) a value that breaks its type's rules
    │   ├── ledger.errors: UnsupportedDatabase, DatabaseUnavailable, SchemaNotCurrent, NotFound
    │   └── LedgerConflict → DuplicateGatewayName, DuplicateTicket, IdempotencyConflict, StaleSession
    ├── chain.errors.ChainError
    │   ├── ChainUnavailable, ContractMismatch          RPC failures, credentials redacted
    │   ├── chain.funding.FundingRefused, FundingReverted, FundingUnconfirmed
    │   └── chain.anvil.AnvilError, chain.artifacts.ArtifactError, chain.devnet.DevnetError
    ├── billing.rates.RateRefused                       a price feed answered, but not with a usable rate
    ├── billing.invoices.InvoiceError (also ValueError) an invoice cannot be drafted from these inputs
    ├── identity.errors.IdentityError(code)             an OAuth error: InvalidRequest, InvalidClient,
    │                                                   InvalidGrant, UnsupportedGrant, InvalidScope,
    │                                                   InvalidToken, InsufficientScope, UnknownUser
    └── api.errors.ApiError(status, reason)             what the HTTP and gRPC transports answer
        └── BadRequest 400, Unauthenticated 401, GatewayDisabled 403, InsufficientScope 403, RouteNotFound 404,
            MethodNotAllowed 405, RequestTimeout 408, PayloadTooLarge 413, RateLimited 429,
            HeadersTooLarge 431, WebhookDenied (webhook's status), InternalError 500,
            ServiceUnavailable 503

Bad arguments to the ticket core are plain ``ValueError`` (wrong length, out-of-range integer,
invalid key) or ``TypeError`` (wrong type), raised before anything is signed.
"""

from __future__ import annotations


class ClearinghouseError(Exception):
    """Base class of every error clearinghouse raises on purpose."""


class NativeCoreUnavailable(ClearinghouseError):
    """The native ticket core failed to import and the caller may not run without it."""


class InvariantViolation(ClearinghouseError):
    """A condition the code relies on was false; continuing could sign or record wrong data."""


class LedgerError(ClearinghouseError):
    """Base class of every ledger failure."""


class InvalidLedgerInput(LedgerError, ValueError):
    """A value cannot be stored as given (wrong type, out of range, inconsistent fields).

    Defined here rather than in ledger/errors.py because the domain's values raise it when
    constructed (clearinghouse.domain), and the domain sits below the ledger.
    """
