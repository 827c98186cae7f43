"""The ledger: what was signed for whom, in exact wei, on SQLite or PostgreSQL.

Owns the database (engine, models, Alembic migrations) and the small typed repository
functions the signing and billing services call. ORM objects never leave this package:
every function takes and returns the frozen dataclasses of ``values.py``, and raises only the
exceptions of ``errors.py``.

Modules: ``engine`` (URLs, SQLite PRAGMAs, BEGIN IMMEDIATE), ``schema`` (migrations and the
schema check), ``gateways`` (tenants, API keys), ``sessions`` (lock a session, record a
signing call), ``accounts`` (double entry, top-ups, adjustments, ``verify_ledger``),
``control`` (kill switch).
"""

from __future__ import annotations

from clearinghouse.ledger.accounts import (
    account_balance,
    adjust,
    gateway_accounts,
    ledger_transactions,
    top_up,
    verify_ledger,
)
from clearinghouse.ledger.control import kill_switches, set_kill_switch, signing_halt
from clearinghouse.ledger.engine import Database, mask_url, open_database
from clearinghouse.ledger.errors import (
    DatabaseUnavailable,
    DuplicateGatewayName,
    DuplicateTicket,
    IdempotencyConflict,
    InvalidLedgerInput,
    InvariantViolation,
    LedgerConflict,
    LedgerError,
    NotFound,
    SchemaNotCurrent,
    StaleSession,
    UnsupportedDatabase,
)
from clearinghouse.ledger.gateways import (
    authenticate_api_key,
    create_api_key,
    create_gateway,
    get_gateway,
    list_api_keys,
    list_gateways,
    revoke_api_key,
    set_gateway_status,
)
from clearinghouse.ledger.schema import (
    UPGRADE_COMMAND,
    check_database_current,
    check_schema_current,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from clearinghouse.ledger.sessions import (
    SessionLock,
    find_signing_record,
    get_session_head,
    last_issued_nonce,
    locked_session,
    record_signing_call,
    signed_tickets,
)
from clearinghouse.ledger.values import (
    WIN_PROB_DENOMINATOR,
    Account,
    AccountKind,
    ApiKey,
    AuthenticatedKey,
    BillingType,
    Gateway,
    GatewayStatus,
    KillSwitch,
    LedgerReport,
    LedgerTransaction,
    Posting,
    RecordOutcome,
    RecordResult,
    SessionHead,
    SignedTicket,
    SigningCall,
    SigningRecord,
    TransactionKind,
)

__all__ = [
    "UPGRADE_COMMAND",
    "WIN_PROB_DENOMINATOR",
    "Account",
    "AccountKind",
    "ApiKey",
    "AuthenticatedKey",
    "BillingType",
    "Database",
    "DatabaseUnavailable",
    "DuplicateGatewayName",
    "DuplicateTicket",
    "Gateway",
    "GatewayStatus",
    "IdempotencyConflict",
    "InvalidLedgerInput",
    "InvariantViolation",
    "KillSwitch",
    "LedgerConflict",
    "LedgerError",
    "LedgerReport",
    "LedgerTransaction",
    "NotFound",
    "Posting",
    "RecordOutcome",
    "RecordResult",
    "SchemaNotCurrent",
    "SessionHead",
    "SessionLock",
    "SignedTicket",
    "SigningCall",
    "SigningRecord",
    "StaleSession",
    "TransactionKind",
    "UnsupportedDatabase",
    "account_balance",
    "adjust",
    "authenticate_api_key",
    "check_database_current",
    "check_schema_current",
    "create_api_key",
    "create_gateway",
    "current_revision",
    "find_signing_record",
    "gateway_accounts",
    "get_gateway",
    "get_session_head",
    "head_revision",
    "kill_switches",
    "last_issued_nonce",
    "ledger_transactions",
    "list_api_keys",
    "list_gateways",
    "locked_session",
    "mask_url",
    "open_database",
    "record_signing_call",
    "revoke_api_key",
    "set_gateway_status",
    "set_kill_switch",
    "signed_tickets",
    "signing_halt",
    "top_up",
    "upgrade_to_head",
    "verify_ledger",
]
