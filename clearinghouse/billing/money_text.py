"""How exact amounts are written on invoices, exports and screens: never rounded unless a
function says so; ``money_text`` shows whole minor units as money ("5.00") and anything finer
exactly, ``decimal_text`` writes any Fraction exactly, ``minor_units_text`` writes a rounded
amount in minor units.
"""

from __future__ import annotations

from fractions import Fraction


def money_text(amount: Fraction, exponent: int) -> str:
    """``amount`` as the document shows money ("5.00") when it is whole minor units, else exactly."""
    minor = Fraction(amount) * 10**exponent
    return minor_units_text(int(minor), exponent) if minor.denominator == 1 else decimal_text(amount)


def percent_text(bps: int) -> str:
    """Basis points as a percentage, exactly: 250 → "2.5 %"."""
    return f"{decimal_text(Fraction(bps, 100))} %"


def decimal_text(value: Fraction) -> str:
    """``value`` written exactly: a plain decimal when it terminates ("3012.3456789", "-0.5",
    "7"), else the reduced fraction "p/q". Never rounds."""
    value = Fraction(value)
    remainder, places = value.denominator, 0
    for prime in (2, 5):
        count = 0
        while remainder % prime == 0:
            remainder //= prime
            count += 1
        places = max(places, count)
    if remainder != 1:
        return str(value)
    digits = str(abs(value.numerator) * (10**places // value.denominator)).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return sign + (f"{digits[:-places]}.{digits[-places:]}" if places else digits)


def minor_units_text(amount_minor: int, exponent: int, *, thousands: bool = False) -> str:
    """An amount in minor units as a major-unit decimal: 123456, 2 → "1234.56" (or "1,234.56")."""
    whole, cents = divmod(abs(amount_minor), 10**exponent)
    text = f"{whole:,}" if thousands else str(whole)
    if exponent:
        text += f".{cents:0{exponent}d}"
    return f"-{text}" if amount_minor < 0 else text
