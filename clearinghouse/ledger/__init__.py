"""The ledger: what was signed for whom, in exact wei, on SQLite or PostgreSQL.

Owns the database (engine, models, Alembic migrations) and the small typed repository
functions the signing and billing services call. ORM objects never leave this package:
every function takes and returns frozen dataclasses (the domain's values of
``clearinghouse.domain``, the ledger's own rows of ``values.py``), and raises only the exceptions
of ``errors.py`` (and ``InvalidLedgerInput``, which the domain's values raise too).

Modules: ``engine`` (URLs, SQLite PRAGMAs, BEGIN IMMEDIATE), ``schema`` (migrations and the
schema check), ``gateways`` (tenants, API keys), ``sessions`` (lock a session, record a
signing call), ``accounts`` (double entry, top-ups, adjustments, ``verify_ledger``),
``credit`` (credit policies, quotas per period and usage subject, spend summaries; the
check itself is ``CallLedger.check_spend`` in a batch), ``spends`` (EV signed per UTC day, kept by
``record``), ``control`` (kill switch), ``chain_events`` (what the chain watcher saw:
our sender's TicketBroker events, redemptions matched to signing records, cursors),
``exposure`` (tickets still redeemable per open round, kept by ``record``; payouts by time),
``rates`` (ETH/USD rate snapshots with provenance; audited pricing of unpriced records),
``deposit_samples`` (the deposit and reserve over time, for the dashboard's chart),
``identity`` (apps, their end users with exact allowances, revoked token ids; tables in
``identity_rows``),
``committer`` (group commit: the signing path's single writer, batches of calls in one
transaction) with ``batch`` (one batch's reads, checks and per-call writes), ``batch_credit``
and ``batch_writes`` (its credit control and its aggregated writes), ``statements`` (per-call
statements on the driver's cursor), ``first_calls`` (sessions' first calls by request, so a
retried one gets its stored answer; used through ``CallLedger.claim_first_call``), ``overview``
(every gateway at a glance for ``gateway list``, read on ``sqlite3`` alone for a fast start),
``outbox`` (the event outbox: a row per recorded call written in its batch, sampled refusals, each event
sink's cursor; published by clearinghouse/events).
Settlement on autopilot (issue #21, tables in ``settlement_models``): ``billing_cycles``
(gateways' cycles, the billing runs claimed once per (gateway, period), delivery attempts),
``receivables`` (unpaid issued invoices), ``funding_actions`` (what the replenishment policy
did or would have done).
Billing (tables in ``billing_rows``): ``billing_plans`` (plans and FX rates, append-only),
``invoices`` (drafts, issuing, payment, voids), ``billing_profiles`` (who invoices are addressed
to). ``repository_checks`` holds the argument checks every repository module makes the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearinghouse.facades import Facade

if TYPE_CHECKING:
    from clearinghouse.ledger.accounts import (
        account_balance,
        adjust,
        gateway_accounts,
        ledger_transactions,
        top_up,
        verify_ledger,
    )
    from clearinghouse.ledger.chain_events import (
        ChainWriterLock,
        apply_chain_events,
        chain_cursor,
        checkpoints,
        gateway_payouts,
        recorded_chain_events,
        redeemed_ticket_hashes,
        redemptions,
        rewind_chain_events,
        sender_flows,
        unmatched_redemption_count,
        unmatched_redemptions,
    )
    from clearinghouse.ledger.control import kill_switches, set_kill_switch, signing_halt
    from clearinghouse.ledger.credit import (
        credit_policy_history,
        default_policy,
        get_credit_policy,
        set_credit_policy,
        update_credit_policy,
        set_subject_quota,
        spend_summary,
        subject_quotas,
    )
    from clearinghouse.ledger.deposit_samples import (
        DepositSample,
        deposit_samples_since,
        newest_deposit_sample,
        record_deposit_sample,
    )
    from clearinghouse.ledger.limits import DEPOSIT_SAMPLE_INTERVAL_S
    from clearinghouse.ledger.engine import Database, mask_url, open_database
    from clearinghouse.ledger.errors import (
        ChainCursorMoved,
        DatabaseFault,
        DatabaseUnavailable,
        DuplicateGatewayName,
        DuplicateTicket,
        IdempotencyConflict,
        InvariantViolation,
        LedgerConflict,
        NotFound,
        SchemaNotCurrent,
        StaleSession,
        UnsupportedDatabase,
    )
    from clearinghouse.errors import InvalidLedgerInput, LedgerError
    from clearinghouse.ledger.exposure import (
        OrchestratorExposure,
        OutstandingExposure,
        ev_signed_total,
        outstanding_exposure,
        paid_since,
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
    from clearinghouse.ledger.rates import (
        NewRate,
        RateAssignment,
        RateSnapshot,
        price_unpriced_records,
        rate_in_force,
        rate_snapshot,
        rate_snapshots,
        record_rate_snapshot,
        record_rate_snapshots,
        unpriced_record_count,
    )
    from clearinghouse.ledger.migrations import UPGRADE_COMMAND, head_revision
    from clearinghouse.ledger.schema import (
        check_database_current,
        check_schema_current,
        current_revision,
        upgrade_to_head,
    )
    from clearinghouse.ledger.batch import CallKeys, CallLedger
    from clearinghouse.ledger.committer import Committer, CommitterStats, LedgerWork, Outcome, commit_calls
    from clearinghouse.ledger.sessions import (
        find_signing_record,
        get_session_head,
        last_issued_nonce,
        record_signing_call,
        signed_tickets,
    )
    from clearinghouse.ledger.values import (
        Account,
        AccountKind,
        AppliedBatch,
        KillSwitch,
        LedgerReport,
        LedgerTransaction,
        Posting,
        RecordedChainEvent,
        RecordOutcome,
        RecordResult,
        SigningRecord,
        TransactionKind,
    )
    from clearinghouse.domain.ev import WIN_PROB_DENOMINATOR
    from clearinghouse.domain.gateways import ApiKey, AuthenticatedKey, Gateway, GatewayStatus
    from clearinghouse.domain.sessions import BillingType, SessionHead
    from clearinghouse.domain.chain_events import (
        BlockRef,
        ChainCursor,
        ChainEvent,
        ChainEventKind,
        GatewayPayout,
        Redemption,
        SenderFlows,
    )
    from clearinghouse.domain.credit import CreditMode, CreditPolicy, QuotaPeriod, SpendSummary, SubjectQuota
    from clearinghouse.domain.tickets import SignedTicket, SigningCall

__all__ = [
    "DEPOSIT_SAMPLE_INTERVAL_S",
    "UPGRADE_COMMAND",
    "WIN_PROB_DENOMINATOR",
    "Account",
    "AccountKind",
    "ApiKey",
    "CallKeys",
    "CallLedger",
    "Committer",
    "CommitterStats",
    "AppliedBatch",
    "AuthenticatedKey",
    "BillingType",
    "BlockRef",
    "ChainCursor",
    "ChainCursorMoved",
    "ChainEvent",
    "ChainEventKind",
    "ChainWriterLock",
    "CreditMode",
    "CreditPolicy",
    "Database",
    "DatabaseFault",
    "DatabaseUnavailable",
    "DepositSample",
    "DuplicateGatewayName",
    "DuplicateTicket",
    "Gateway",
    "GatewayPayout",
    "GatewayStatus",
    "IdempotencyConflict",
    "InvalidLedgerInput",
    "InvariantViolation",
    "KillSwitch",
    "LedgerConflict",
    "LedgerError",
    "LedgerReport",
    "LedgerTransaction",
    "LedgerWork",
    "NewRate",
    "NotFound",
    "OrchestratorExposure",
    "Outcome",
    "OutstandingExposure",
    "Posting",
    "QuotaPeriod",
    "RateAssignment",
    "RateSnapshot",
    "RecordOutcome",
    "RecordResult",
    "RecordedChainEvent",
    "Redemption",
    "SchemaNotCurrent",
    "SenderFlows",
    "SessionHead",
    "SignedTicket",
    "SigningCall",
    "SigningRecord",
    "SpendSummary",
    "StaleSession",
    "SubjectQuota",
    "TransactionKind",
    "UnsupportedDatabase",
    "account_balance",
    "adjust",
    "apply_chain_events",
    "authenticate_api_key",
    "chain_cursor",
    "check_database_current",
    "check_schema_current",
    "commit_calls",
    "checkpoints",
    "create_api_key",
    "create_gateway",
    "credit_policy_history",
    "current_revision",
    "default_policy",
    "deposit_samples_since",
    "ev_signed_total",
    "find_signing_record",
    "gateway_accounts",
    "gateway_payouts",
    "get_credit_policy",
    "get_gateway",
    "get_session_head",
    "head_revision",
    "kill_switches",
    "last_issued_nonce",
    "ledger_transactions",
    "list_api_keys",
    "list_gateways",
    "mask_url",
    "newest_deposit_sample",
    "open_database",
    "outstanding_exposure",
    "paid_since",
    "price_unpriced_records",
    "rate_in_force",
    "rate_snapshot",
    "rate_snapshots",
    "record_deposit_sample",
    "record_rate_snapshot",
    "record_rate_snapshots",
    "record_signing_call",
    "recorded_chain_events",
    "redeemed_ticket_hashes",
    "redemptions",
    "revoke_api_key",
    "rewind_chain_events",
    "sender_flows",
    "set_credit_policy",
    "update_credit_policy",
    "set_gateway_status",
    "set_kill_switch",
    "set_subject_quota",
    "signed_tickets",
    "signing_halt",
    "spend_summary",
    "subject_quotas",
    "top_up",
    "unmatched_redemption_count",
    "unpriced_record_count",
    "unmatched_redemptions",
    "upgrade_to_head",
    "verify_ledger",
]

_EXPORTS = Facade(__name__, __file__)


def __getattr__(name: str) -> object:
    """Each name is imported from its module on first use (clearinghouse.facades)."""
    return _EXPORTS.load(name)
