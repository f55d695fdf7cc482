"""How theorycheck writes a number: one rule for verdict notes, figure labels, the report's
tables, parameters, statements and ticks.

General format with a few significant digits, in powers of ten from 10^4 up and below 10^-4,
written 1e8 and 2.5e-4 (Python's '1e+08' beside '10000' in one column was the inconsistency a
page-by-page review of the report found); exact zero is '0'. Text stored in tables (verdict
notes, panel labels) uses the ASCII minus; the report's typeset text the true minus sign.
"""

from __future__ import annotations

import math

__all__ = ["num", "sci"]


def num(v: float, digits: int = 4) -> str:
    """``v`` with up to ``digits`` significant digits, in powers of ten from 10^4 up and below
    10^-4 (whatever ``digits``, so one rule for every number: 2265, 0.5, 1e4, 1.139e4, 1e8,
    2.5e-4), written without '+' or leading zeros; exact zero '0', 'inf' and '-inf'
    (docs/design.md "Reports")."""
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return "inf" if v > 0 else "-inf" if v < 0 else "nan"
    exponent = math.floor(math.log10(abs(v)))
    if -4 <= exponent < 4:
        text = f"{v:.{digits}g}"
        if "e" in text:  # rounding carried into a fifth digit: 9999.5 -> 1e+04
            return num(float(text), digits)
        return text
    mantissa = f"{v / 10.0**exponent:.{digits}g}"
    if abs(float(mantissa)) >= 10:  # 9.99996e7 rounds to 10e7
        mantissa, exponent = f"{float(mantissa) / 10:.{digits}g}", exponent + 1
    return f"{mantissa}e{exponent}"


def sci(v: float, digits: int = 4) -> str:
    """:func:`num` as the report typesets it: a true minus sign and the infinity symbol."""
    return num(v, digits).replace("-", "\u2212").replace("inf", "\u221e")
