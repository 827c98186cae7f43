"""Billing: ETH/USD rates with provenance (rates.py); invoices drafted from usage, priced at
those rates, exactly, with one documented rounding (invoices.py); their canonical JSON and hash,
CSV and meter-event exports (exports.py) and PDF document (pdf.py). Issue #6.

Layering: a service layer; it may import the domain, the ledger and the chain adapter, never a
transport.
"""
