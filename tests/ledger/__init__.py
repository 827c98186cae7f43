"""Tests of clearinghouse.ledger, over SQLite and PostgreSQL."""
