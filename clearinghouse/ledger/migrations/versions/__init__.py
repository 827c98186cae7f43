"""Ledger schema revisions, oldest first; each must run on SQLite and PostgreSQL."""
