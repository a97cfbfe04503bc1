"""The one money format of the dashboard, `tracer report` and the CLI: US dollars with enough significant digits.

A cheap call costs thousandths of a cent, so a fixed number of decimals either hides it ("$0.0000", "$0.000…") or
clutters every large amount. Amounts of a dollar or more get cents; smaller ones get at least four decimals and as
many more as four significant digits need, trailing zeros past the fourth decimal dropped. Pure: no pandas, so the
core install (the demo's summary) can use it.

>>> usd(1234.5), usd(0.5), usd(0.0123), usd(0.000298), usd(0.0016924), usd(-0.0000012345), usd(0), usd(None)
('$1,234.50', '$0.5000', '$0.0123', '$0.000298', '$0.001692', '-$0.000001234', '$0.00', 'n/a')

A price list is another matter: a price is a rule, not an amount, and `tracer prices` shows it as the table holds
it, every digit and no more (`exact=True`, for Decimals):

>>> usd(Decimal("3.750"), exact=True), usd(Decimal("0.30"), exact=True), usd(Decimal("1500"), exact=True)
('$3.75', '$0.3', '$1,500')
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

SIGNIFICANT = 4
MIN_DECIMALS_BELOW_A_DOLLAR = 4
MAX_DECIMALS = 10  # a picodollar-scale rounding residue is not worth a wider column


def decimals(amount: float | Decimal) -> int:
    """How many decimals `amount` is written with (see the module docstring).

    >>> decimals(12), decimals(0.5), decimals(0.000298), decimals(0)
    (2, 4, 7, 2)
    """
    size = abs(float(amount))
    if size == 0 or not math.isfinite(size) or size >= 1:
        return 2
    needed = SIGNIFICANT - 1 - math.floor(math.log10(size))
    return min(MAX_DECIMALS, max(MIN_DECIMALS_BELOW_A_DOLLAR, needed))


def column_decimals(amounts: Iterable[Any]) -> int:
    """One number of decimals for a column of amounts: enough for its smallest non-zero one, so that the column's
    decimal points line up and no amount reads as zero.

    >>> column_decimals([12.5, 0.000298, None, 0]), column_decimals([3, 40]), column_decimals([])
    (7, 2, 2)
    """
    present = [abs(float(a)) for a in amounts if _present(a) and float(a) != 0]
    return decimals(min(present)) if present else 2


def usd(amount: Any, *, places: int | None = None, missing: str = "n/a", exact: bool = False) -> str:
    """`amount` in dollars (`places` decimals if given, else `decimals(amount)` with its trailing zeros past the
    fourth decimal dropped); `missing` for None or NaN. `exact`: a Decimal with all its digits and no trailing
    zeros (a price, not an amount)."""
    if not _present(amount):
        return missing
    if exact and isinstance(amount, Decimal):
        return f"{'-' if amount < 0 else ''}${abs(amount).normalize():,f}"
    value = float(amount)
    digits = decimals(value) if places is None else places
    text = f"{abs(value):,.{digits}f}"
    if places is None and digits > MIN_DECIMALS_BELOW_A_DOLLAR:
        whole, _, fraction = text.partition(".")
        text = f"{whole}.{fraction[:MIN_DECIMALS_BELOW_A_DOLLAR] + fraction[MIN_DECIMALS_BELOW_A_DOLLAR:].rstrip('0')}"
    return f"{'-' if value < 0 and round(value, digits) != 0 else ''}${text}"


def plotly_format(amounts: Iterable[Any]) -> str:
    """A d3 number format for Plotly labels and hovers of these amounts (`"$%{y:" + plotly_format(...) + "}"`)."""
    return f",.{column_decimals(amounts)}f"


def _present(amount: Any) -> bool:
    if amount is None:
        return False
    try:
        return not math.isnan(float(amount))
    except (TypeError, ValueError):
        return False
