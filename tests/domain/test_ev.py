"""Ticket EV is exact and uses go-livepeer's denominator (2**256 - 1)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from clearinghouse.domain.ev import ticket_ev


def test_ev_is_an_exact_rational_over_2_256_minus_1() -> None:
    assert ticket_ev(10**15, (1 << 256) - 1) == 10**15
    assert ticket_ev(0, 12345) == 0
    ev = ticket_ev(10**15, ((1 << 256) - 1) // 100)
    assert isinstance(ev, Fraction)
    assert ev == Fraction(10**15 * (((1 << 256) - 1) // 100), (1 << 256) - 1)
    assert 10**13 - 1 < ev < 10**13


def test_go_livepeer_test_numbers() -> None:
    assert ticket_ev(105, ((1 << 256) - 1) // 3) == 35
    assert ticket_ev(10**15, 1 << 255) == Fraction(10**15 << 255, (1 << 256) - 1)


def test_ev_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"face_value must be in \[0, 2\*\*256-1\], got -1"):
        ticket_ev(-1, 1)
    with pytest.raises(ValueError, match="win_prob must be in"):
        ticket_ev(1, 1 << 256)
    with pytest.raises(TypeError, match="face_value must be an int, got float"):
        ticket_ev(1.5, 1)  # type: ignore[arg-type]
