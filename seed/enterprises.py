"""Enterprises with their accounts and the hidden credit quality they imply."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.enterprises.uscc import generate_uscc
from seed.catalog import moment, row_id
from seed.credit import (
    LATENT_NOISE,
    SLACK_WEIGHT,
    Ratios,
    credit_logit,
    ratios_of,
    sigmoid,
    statements,
)
from seed.people import NamePools, bank_account_number, mobile_number, resident_id_number
from seed.reference import INDUSTRIES, INDUSTRY_WEIGHTS, PLACES, Industry, Place

Row = dict[str, Any]
_PLACE_WEIGHTS = [p.weight for p in PLACES]


@dataclass(frozen=True, slots=True)
class Borrower:
    """What later stages need to know about an enterprise, including what is hidden."""

    id: uuid.UUID
    industry: Industry
    place: Place
    revenue: Decimal
    registered_on: date
    registered_at: datetime
    ratios: Ratios
    # The true log-odds of default within a year on the latest accounts: their
    # observable part, payment slack and noise (``hidden``).
    latent_logit: float
    hidden: float
    # The accounts of each fiscal year as ratios (age as in the middle of the next year,
    # when a lender reads them).
    ratios_by_year: dict[int, Ratios]
    # Payment slack ~ N(0, 1): how loosely the enterprise keeps to due dates. Seen by a
    # lender only through its late instalments on earlier loans.
    slack: float
    legal_representative: str

    @property
    def pd(self) -> float:
        return sigmoid(self.latent_logit)

    def logit_on(self, day: date) -> float:
        """The true log-odds of an application made on ``day``: read from the latest
        accounts of a fiscal year before ``day``'s (those a lender sees then)."""
        seen = [year for year in self.ratios_by_year if year < day.year]
        year = max(seen) if seen else min(self.ratios_by_year)
        return credit_logit(self.ratios_by_year[year]) + self.hidden


@dataclass(slots=True)
class EnterpriseRows:
    enterprise: Row
    statements: list[Row]
    borrower: Borrower


def build_enterprise(
    rng: random.Random,
    pools: NamePools,
    *,
    index: int,
    as_of: date,
    used_codes: set[str],
) -> EnterpriseRows:
    industry = rng.choices(INDUSTRIES, weights=INDUSTRY_WEIGHTS)[0]
    place = rng.choices(PLACES, weights=_PLACE_WEIGHTS)[0]
    health = rng.gauss(0, 1)
    age_years = min(max(math.exp(rng.gauss(math.log(7), 0.7)), 1.0), 35.0)
    founded_on = as_of - timedelta(days=round(age_years * 365.25))
    registered_on = max(founded_on + timedelta(days=60), as_of - timedelta(rng.randint(120, 1200)))
    registered_at = moment(rng, registered_on)
    # Employee counts are heavily skewed: most SMEs are micro or small.
    employees = min(max(round(math.exp(rng.gauss(math.log(12), 1.0))), 1), 800)
    revenue = max(
        employees * industry.revenue_per_employee * math.exp(rng.gauss(0.1 * health, 0.4)),
        200_000.0,
    )
    # Accounts for every year since the one before it joined the platform (so each of its
    # applications has a year's accounts to be judged by), sometimes a few more.
    years = min(
        max(rng.randint(1, 5), as_of.year - registered_on.year + 1), 5, as_of.year - founded_on.year
    )
    accounts = statements(
        rng,
        industry=industry,
        health=health,
        latest_revenue=revenue,
        years=max(years, 1),
        last_year=as_of.year - 1,
    )
    latest = accounts[-1]
    ratios = ratios_of(latest, age_years=age_years, industry_risk=industry.risk)
    slack = rng.gauss(0, 1)
    hidden = SLACK_WEIGHT * slack + rng.gauss(0, LATENT_NOISE)
    by_year = {
        a.fiscal_year: ratios_of(
            a,
            age_years=max((date(a.fiscal_year + 1, 7, 1) - founded_on).days / 365.25, 0.0),
            industry_risk=industry.risk,
        )
        for a in accounts
    }

    code = generate_uscc(rng, division_code=place.division_code)
    while code in used_codes:
        code = generate_uscc(rng, division_code=place.division_code)
    used_codes.add(code)
    enterprise_id = row_id(rng, registered_at)
    representative = pools.person(rng)
    enterprise = {
        "id": enterprise_id,
        "owner_id": None,
        "unified_social_credit_code": code,
        "name": pools.company(rng, place=place, industry=industry),
        "industry": industry.code,
        "region": place.region,
        "founded_on": founded_on,
        "employee_count": employees,
        "annual_revenue": latest.revenue,
        "legal_representative_name": representative,
        "legal_representative_id_number": resident_id_number(
            rng, division_code=place.division_code, as_of=as_of
        ),
        "contact_phone": mobile_number(rng),
        "contact_email": f"finance@e{index + 1:05d}.demo.lendgraph.test",
        "bank_account_number": bank_account_number(rng),
        "created_at": registered_at,
        "updated_at": registered_at,
    }
    statement_rows = []
    for account in accounts:
        due = date(account.fiscal_year + 1, 4, 30)
        if due <= registered_on:
            # Accounts from before registration are uploaded when the enterprise signs up.
            filed = registered_at + timedelta(minutes=rng.randint(5, 120))
        else:
            filed = moment(rng, min(due, as_of - timedelta(days=1)))
        statement_rows.append(
            {
                "id": row_id(rng, filed),
                "enterprise_id": enterprise_id,
                "fiscal_year": account.fiscal_year,
                "revenue": account.revenue,
                "cost_of_sales": account.cost_of_sales,
                "operating_profit": account.operating_profit,
                "interest_expense": account.interest_expense,
                "net_profit": account.net_profit,
                "total_assets": account.total_assets,
                "current_assets": account.current_assets,
                "total_liabilities": account.total_liabilities,
                "current_liabilities": account.current_liabilities,
                "equity": account.equity,
                "operating_cash_flow": account.operating_cash_flow,
                "created_at": filed,
                "updated_at": filed,
            }
        )
    borrower = Borrower(
        id=enterprise_id,
        industry=industry,
        place=place,
        revenue=latest.revenue,
        registered_on=registered_on,
        registered_at=registered_at,
        ratios=ratios,
        latent_logit=credit_logit(ratios) + hidden,
        hidden=hidden,
        ratios_by_year=by_year,
        slack=slack,
        legal_representative=representative,
    )
    return EnterpriseRows(enterprise, statement_rows, borrower)
