"""Billing: ETH/USD rates with provenance (rates.py); invoices drafted from usage, priced at
those rates, exactly, with one documented rounding (invoices.py); their canonical JSON and hash,
CSV and meter-event exports (exports.py) and PDF document (pdf.py); amounts written exactly
(money_text.py). Issue #6.

Settlement on autopilot (issue #21): billing cycles and their due periods (cycles.py), the
billing scheduler that issues each period exactly once and delivers it (scheduler.py), the
signed webhook delivery (delivery.py), and the overdue book the signing path consults
(overdue.py).

Layering: a service layer; it may import the domain, the ledger and the chain adapter, never a
transport.
"""
