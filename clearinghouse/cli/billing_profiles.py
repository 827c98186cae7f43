"""``clearinghouse gateway set-billing-profile`` and ``billing-profile``: who a gateway's invoices
are addressed to, its tax rate and payment terms (issue 19). Part of the ``gateway`` group."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from clearinghouse.cli.options import (
    actor,
    actor_option,
    config_option,
    database_url,
    database_url_option,
    emit,
    json_option,
    opened_ledger,
    translated,
)
from clearinghouse.cli.output import fields

if TYPE_CHECKING:
    from clearinghouse.ledger.billing_profiles import BillingProfile


@click.command("set-billing-profile")
@click.argument("gateway_id", type=click.IntRange(1))
@click.option("--legal-name", required=True, help="The customer's legal name, as invoices address it.")
@click.option("--address", default=None, help="Postal address; separate lines with \\n or give several lines.")
@click.option("--tax-id", default=None, help="The customer's VAT or tax id.")
@click.option("--email", default=None, help="Where invoices go.")
@click.option("--tax-rate-bps", type=click.IntRange(0, 10_000), default=0, show_default=True,
              help="Tax (VAT) in basis points, 2000 = 20 %; 0 prints the reverse-charge note (or --tax-note).")
@click.option("--tax-note", default=None, help="At 0 %: the note instead of the reverse-charge wording.")
@click.option("--payment-terms-days", type=click.IntRange(0, 365), default=None,
              help="Days from issue to due date (default: [invoice] payment_terms_days).")
@click.option("--reason", required=True, help="Why, for the audit trail.")
@actor_option
@config_option
@database_url_option
@json_option
def set_billing_profile(gateway_id: int, legal_name: str, address: str | None, tax_id: str | None,
                        email: str | None, tax_rate_bps: int, tax_note: str | None, payment_terms_days: int | None,
                        reason: str, actor_name: str | None, config_path: Path, database_url_value: str | None,
                        as_json: bool) -> None:
    """Set the customer a gateway's invoices are addressed to, its tax rate and payment terms.

    It applies to invoices drafted and issued from now on: an issued invoice keeps the parties
    frozen into it. A draft made at another tax rate must be drafted again before it is issued.

    \b
    Examples:
      clearinghouse gateway set-billing-profile 3 --legal-name "Acme Video GmbH" \\
        --address "Musterstrasse 1\\n10115 Berlin\\nGermany" --tax-id DE123456789 --email ap@acme.example \\
        --tax-rate-bps 1900 --payment-terms-days 14 --reason "contract 2026-14"
      clearinghouse gateway set-billing-profile 4 --legal-name "Acme Ltd" --reason "EU B2B, reverse charge"
    """
    from clearinghouse.ledger.billing_profiles import set_billing_profile as store

    if tax_note is not None and tax_rate_bps:
        raise click.UsageError("--tax-note is printed at a 0 % rate only")
    address_text = None if address is None else address.replace("\\n", "\n")
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        profile = store(db, gateway_id, legal_name=legal_name, address=address_text, tax_id=tax_id, email=email,
                        tax_rate_bps=tax_rate_bps, tax_note=tax_note, payment_terms_days=payment_terms_days,
                        actor=actor(actor_name), reason=reason)
    document = _document(profile)
    emit(as_json, document, [f"billing profile of gateway {gateway_id} set", *fields(list(document.items()))])


@click.command("billing-profile")
@click.argument("gateway_id", type=click.IntRange(1))
@config_option
@database_url_option
@json_option
def show_billing_profile(gateway_id: int, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Show the billing profile a gateway's next invoices will carry.

    \b
    Examples:
      clearinghouse gateway billing-profile 3 --json
    """
    from clearinghouse.ledger.billing_profiles import billing_profile

    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        profile = billing_profile(db, gateway_id)
    if profile is None:
        emit(as_json, None, [f"gateway {gateway_id} has no billing profile: invoices name the gateway, at 0 % "
                             "with the reverse-charge note"])
        return
    document = _document(profile)
    emit(as_json, document, fields(list(document.items())))


def _document(profile: BillingProfile) -> dict[str, object]:
    values: dict[str, object] = {name: getattr(profile, name) for name in profile.__slots__}
    return values | {"changed_at": profile.changed_at.isoformat()}
