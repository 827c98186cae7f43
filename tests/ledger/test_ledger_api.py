"""The package's public face: ``__all__`` is complete and exports no ORM class."""

from __future__ import annotations

import inspect

import clearinghouse.ledger as ledger
from clearinghouse.ledger.models import Base


def test_all_names_exist_and_are_listed_once() -> None:
    assert len(ledger.__all__) == len(set(ledger.__all__))
    assert all(hasattr(ledger, name) for name in ledger.__all__)


def test_no_orm_class_is_exported() -> None:
    exported = [getattr(ledger, name) for name in ledger.__all__]
    assert not [v for v in exported if inspect.isclass(v) and issubclass(v, Base)]


def test_ledger_errors_are_clearinghouse_errors() -> None:
    from clearinghouse import errors

    assert issubclass(ledger.LedgerError, errors.ClearinghouseError)
    assert issubclass(ledger.InvariantViolation, errors.InvariantViolation)
    assert issubclass(ledger.InvalidLedgerInput, ValueError)
