"""One way to write a number (theorycheck/numbers.py): verdict notes, figure labels and the
report's tables. Expected strings are written out by hand from the rule (4 significant digits,
powers of ten from 10^4 up and below 10^-4, no '+' and no leading zeros in the exponent)."""

from __future__ import annotations

import math

import pytest

from theorycheck.numbers import num, sci


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (2265.0, "2265"),
        (0.5, "0.5"),
        (1e4, "1e4"),
        (11390.0, "1.139e4"),
        (1e8, "1e8"),
        (2.5e-4, "0.00025"),
        (2.5e-5, "2.5e-5"),
        (-3.0e6, "-3e6"),
        (9999.5, "1e4"),  # rounding carries into a fifth digit
        (99999600.0, "1e8"),  # the mantissa rounds to 10
        (math.inf, "inf"),
        (-math.inf, "-inf"),
    ],
)
def test_num_writes_one_style(value, text):
    assert num(value) == text


def test_sci_is_num_typeset():
    assert sci(-2.5e-5) == "\u22122.5e\u22125"
    assert sci(1e8) == "1e8" and sci(math.inf) == "\u221e"
    assert sci(123456.0, 6) == "1.23456e5"
