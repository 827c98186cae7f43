"""Gateways' billing profiles as stored (migration 0012): the customer an invoice is addressed
to, its tax rate and its payment terms. The billing layer freezes them into an invoice's
document when it drafts and when it issues it (billing.invoice_terms); this module only stores
them, one row per gateway, each change with its actor and reason.

Errors: InvalidLedgerInput for values the table would refuse, NotFound for an unknown gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select

from clearinghouse.domain.fields import check_text
from clearinghouse.domain.limits import (
    PAYMENT_TERMS_DAYS_MAX,
    TAX_RATE_BPS_MAX,
)
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.billing_rows import BillingProfileRow
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.limits import ADDRESS_LENGTH_MAX, PROFILE_TEXT_LENGTH_MAX
from clearinghouse.ledger.models import table
from clearinghouse.ledger.repository_checks import check_audit, check_gateway
from clearinghouse.ledger.transactions import reading, utc_now, writing_connection

_PROFILES = table(BillingProfileRow)


@dataclass(frozen=True, slots=True)
class BillingProfile:
    """A gateway's billing profile. ``address`` is newline-separated lines; ``payment_terms_days``
    None follows the configuration's ``[invoice] payment_terms_days``."""

    gateway_id: int
    legal_name: str
    address: str | None
    tax_id: str | None
    email: str | None
    tax_rate_bps: int
    tax_note: str | None
    payment_terms_days: int | None
    actor: str
    reason: str
    changed_at: datetime


def set_billing_profile(
    db: Database,
    gateway_id: int,
    *,
    legal_name: str,
    actor: str,
    reason: str,
    address: str | None = None,
    tax_id: str | None = None,
    email: str | None = None,
    tax_rate_bps: int = 0,
    tax_note: str | None = None,
    payment_terms_days: int | None = None,
) -> BillingProfile:
    """Replace the billing profile of ``gateway_id`` (it applies to invoices drafted and issued
    from now on; issued invoices keep the parties frozen into them).

    Raises NotFound for an unknown gateway, InvalidLedgerInput for over-long or empty text, a
    tax rate outside 0..TAX_RATE_BPS_MAX or payment terms outside 0..PAYMENT_TERMS_DAYS_MAX.
    """
    profile = BillingProfile(gateway_id, legal_name, address, tax_id, email, tax_rate_bps, tax_note,
                             payment_terms_days, actor, reason, utc_now())
    _check(profile)
    values = {name: getattr(profile, name) for name in BillingProfile.__slots__}
    with writing_connection(db) as connection:
        check_gateway(connection, gateway_id, lock=True)
        connection.execute(delete(_PROFILES).where(_PROFILES.c.gateway_id == gateway_id))
        connection.execute(insert(_PROFILES).values(values))
    return profile


def billing_profile(db: Database, gateway_id: int) -> BillingProfile | None:
    """The billing profile of ``gateway_id``, or None when it has none."""
    with reading(db) as session:
        row = session.connection().execute(select(_PROFILES).where(_PROFILES.c.gateway_id == gateway_id)).first()
    return None if row is None else BillingProfile(**{name: row._mapping[name] for name in BillingProfile.__slots__})


def _check(profile: BillingProfile) -> None:
    check_text("legal_name", profile.legal_name, PROFILE_TEXT_LENGTH_MAX)
    for name in ("tax_id", "email", "tax_note"):
        value = getattr(profile, name)
        if value is not None:
            check_text(name, value, PROFILE_TEXT_LENGTH_MAX)
    if profile.address is not None:
        check_text("address", profile.address, ADDRESS_LENGTH_MAX)
    if isinstance(profile.tax_rate_bps, bool) or not 0 <= profile.tax_rate_bps <= TAX_RATE_BPS_MAX:
        raise InvalidLedgerInput(f"tax_rate_bps must be in 0..{TAX_RATE_BPS_MAX}, got {profile.tax_rate_bps!r}")
    days = profile.payment_terms_days
    if days is not None and (isinstance(days, bool) or not 0 <= days <= PAYMENT_TERMS_DAYS_MAX):
        raise InvalidLedgerInput(f"payment_terms_days must be in 0..{PAYMENT_TERMS_DAYS_MAX}, got {days!r}")
    check_audit(profile.actor, profile.reason)
