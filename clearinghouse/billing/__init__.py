"""Billing: ETH/USD rates with provenance (rates.py); invoices, exports and reconciliation
are built on them (issue #6).

Layering: a service layer; it may import the domain, the ledger and the chain adapter, never a
transport.
"""
