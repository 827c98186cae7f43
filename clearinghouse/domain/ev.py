"""Expected value of a ticket, as an exact rational in wei.

EV = faceValue x winProb / (2**256 - 1): go-livepeer's arithmetic, which is what orchestrators
credit to the sender, so balances kept here match theirs exactly (spec 01). The contract's true
win probability is winProb / 2**256; the difference is below one part in 10**76.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

from clearinghouse.domain.limits import EVS_CACHED_MAX

EV_DENOMINATOR = (1 << 256) - 1
WIN_PROB_DENOMINATOR = EV_DENOMINATOR
"""winProb is a fraction of the uint256 range; also the bound of every uint256 ticket field."""


def ticket_ev(face_value: int, win_prob: int) -> Fraction:
    """Expected value in wei of one ticket; ValueError for a negative or over-wide input."""
    for name, value in (("face_value", face_value), ("win_prob", win_prob)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if not 0 <= value <= EV_DENOMINATOR:
            raise ValueError(f"{name} must be in [0, 2**256-1], got {value}")
    return _ev(face_value, win_prob)


@lru_cache(maxsize=EVS_CACHED_MAX)
def _ev(face_value: int, win_prob: int) -> Fraction:
    # Reducing a 512-bit product over 2**256 - 1 is the costly part (a gcd of big integers), and
    # a session signs ticket after ticket on one orchestrator's (face value, win probability).
    return Fraction(face_value * win_prob, EV_DENOMINATOR)
