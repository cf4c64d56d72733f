"""Day-count conventions: how many days lie between two dates, and what share of a year.

- ACT/365F: actual days over 365, in leap years too (ISDA 2006 Definitions 4.16(d)).
- ACT/360: actual days over 360 (4.16(e)).
- 30/360: ISDA 2006 4.16(f) ("Bond Basis"): 360(Y2-Y1) + 30(M2-M1) + (D2-D1), where
  D1 = 31 counts as 30, and D2 = 31 counts as 30 when D1 is 30 or 31.

A schedule's whole month under 30/360 is always 30 days, 1/12 of a year: lending
systems (Fineract's "30 days in month, 360 in year") count monthly instalments so, and
so did every schedule here before day counts existed. Partial periods (daily accrual,
penalty interest) use the formula above.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain.products.models import DayCount


def days_between(start: date, end: date, convention: DayCount) -> int:
    """Days from ``start`` to ``end`` (``start`` excluded, ``end`` included) as counted."""
    if convention is not DayCount.THIRTY_360:
        return (end - start).days
    d1 = 30 if start.day == 31 else start.day
    d2 = 30 if end.day == 31 and d1 == 30 else end.day
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def days_in_year(convention: DayCount) -> int:
    return 365 if convention is DayCount.ACT_365F else 360


def year_fraction(start: date, end: date, convention: DayCount) -> Decimal:
    """The share of a year from ``start`` to ``end`` (exact: a Decimal quotient)."""
    return Decimal(days_between(start, end, convention)) / days_in_year(convention)
