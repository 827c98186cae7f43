"""What makes an invoice a document of its own (issue 19): who issues it, who is billed, when it
is due, the tax on it, and whether its period was complete; pure, no I/O.

``InvoiceTerms`` is part of the draft from format ``clearinghouse.invoice/2`` on, so it is in
the canonical JSON and covered by the content hash. A draft carries the parties and tax as they
were when it was computed; issuing freezes them again as they are then (the issuer from the
configuration's ``[invoice]``, the customer from the gateway's billing profile) together with
the number, the issue time and the due date, in the same transaction that assigns the number.
So two exports of one issued invoice cannot name different parties.

Tax: a gateway's rate in basis points (VAT 20 % = 2000) adds one ``tax`` line of the exact
subtotal times the rate, rounded once like every line; at rate 0 the document carries a note
instead (by default the reverse-charge wording of EU VAT, Art. 196 of Directive 2006/112/EC,
since a clearinghouse bills businesses; a profile may give its own, such as "Not subject to
VAT").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from clearinghouse.errors import ClearinghouseError
from clearinghouse.domain.limits import PAYMENT_TERMS_DAYS_MAX, TAX_RATE_BPS_MAX
from clearinghouse.billing.limits import ADDRESS_LINES_MAX, PARTY_TEXT_CHARS_MAX, PAYMENT_TERMS_DAYS_DEFAULT


REVERSE_CHARGE_NOTE: Final = "Reverse charge: VAT to be accounted for by the recipient (Art. 196 VAT Directive)."
"""The note a 0 % invoice carries unless the customer's profile gives another."""


DEFAULT_ISSUER_NAME: Final = "clearinghouse operator"
"""The issuer's name until ``[invoice] issuer_name`` is set."""


class TermsError(ClearinghouseError, ValueError):
    """A party, tax rate or payment term cannot go on an invoice; the message names it."""


def _check_text(name: str, value: str | None, *, none_ok: bool) -> None:
    if value is None:
        if none_ok:
            return
        raise TermsError(f"{name} is required")
    if not isinstance(value, str) or not value.strip() or len(value) > PARTY_TEXT_CHARS_MAX or "\n" in value:
        raise TermsError(f"{name} must be one non-blank line of at most {PARTY_TEXT_CHARS_MAX} characters, "
                         f"got {value!r:.80}")


@dataclass(frozen=True, slots=True)
class Party:
    """The issuer or the customer of an invoice, as printed on it."""

    name: str
    address_lines: tuple[str, ...] = ()
    tax_id: str | None = None
    email: str | None = None

    def __post_init__(self) -> None:
        _check_text("name", self.name, none_ok=False)
        if len(self.address_lines) > ADDRESS_LINES_MAX:
            raise TermsError(f"an address has at most {ADDRESS_LINES_MAX} lines, got {len(self.address_lines)}")
        for line in self.address_lines:
            _check_text("address line", line, none_ok=False)
        _check_text("tax_id", self.tax_id, none_ok=True)
        _check_text("email", self.email, none_ok=True)
        if self.email is not None and "@" not in self.email:
            raise TermsError(f"email must be an e-mail address, got {self.email!r:.80}")


def address_lines(text: str | None) -> tuple[str, ...]:
    """A postal address written with newlines (a TOML multi-line string, a profile's column)
    as its non-blank lines."""
    return () if text is None else tuple(line.strip() for line in text.splitlines() if line.strip())


@dataclass(frozen=True, slots=True)
class InvoiceTerms:
    """The parties, payment terms, tax and completeness of an invoice (module docstring).

    ``number``, ``issued_at`` and ``due_at`` are None on a draft and set when it is issued;
    ``due_at`` is ``issued_at`` plus ``payment_terms_days``. ``tax_note`` is the note printed
    at a 0 % rate (None above it). ``partial`` says the period had not ended when the
    document was made, so later usage of the period is not on it.
    """

    issuer: Party
    customer: Party
    payment_terms_days: int
    tax_rate_bps: int
    tax_note: str | None
    partial: bool
    number: str | None = None
    issued_at: datetime | None = None
    due_at: datetime | None = None

    def __post_init__(self) -> None:
        check_payment_terms_days(self.payment_terms_days)
        check_tax_rate_bps(self.tax_rate_bps)
        _check_text("tax_note", self.tax_note, none_ok=True)
        if (self.tax_rate_bps == 0) != (self.tax_note is not None):
            raise TermsError("a 0 % invoice carries a tax note, and only a 0 % invoice does")
        if not isinstance(self.partial, bool):
            raise TermsError(f"partial must be a bool, got {self.partial!r}")
        issued = (self.number, self.issued_at, self.due_at)
        if any(part is None for part in issued) and any(part is not None for part in issued):
            raise TermsError("number, issued_at and due_at are set together, when the invoice is issued")
        if self.issued_at is not None and self.due_at != self.issued_at + timedelta(days=self.payment_terms_days):
            raise TermsError(f"due_at must be issued_at + {self.payment_terms_days} days, got {self.due_at}")


def check_tax_rate_bps(value: int) -> None:
    """Raise TermsError unless ``value`` is an int in 0..TAX_RATE_BPS_MAX."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= TAX_RATE_BPS_MAX:
        raise TermsError(f"tax rate must be an int in 0..{TAX_RATE_BPS_MAX} basis points, got {value!r}")


def check_payment_terms_days(value: int) -> None:
    """Raise TermsError unless ``value`` is an int in 0..PAYMENT_TERMS_DAYS_MAX."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= PAYMENT_TERMS_DAYS_MAX:
        raise TermsError(f"payment terms must be an int in 0..{PAYMENT_TERMS_DAYS_MAX} days, got {value!r}")


def issued_terms(terms: InvoiceTerms, issuer: Party, customer: Party, number: str, issued_at: datetime,
                 payment_terms_days: int) -> InvoiceTerms:
    """``terms`` as frozen at issue: the parties and payment terms in force now, the number and
    the dates. The tax rate and note stay the draft's (the amounts were computed with them)."""
    return InvoiceTerms(
        issuer=issuer, customer=customer, payment_terms_days=payment_terms_days, tax_rate_bps=terms.tax_rate_bps,
        tax_note=terms.tax_note, partial=terms.partial, number=number, issued_at=issued_at,
        due_at=issued_at + timedelta(days=payment_terms_days),
    )


@dataclass(frozen=True, slots=True)
class InvoicingSettings:
    """The configuration's ``[invoice]``: the issuer and the default payment terms."""

    issuer: Party = Party(DEFAULT_ISSUER_NAME)
    payment_terms_days: int = PAYMENT_TERMS_DAYS_DEFAULT

    def __post_init__(self) -> None:
        check_payment_terms_days(self.payment_terms_days)
