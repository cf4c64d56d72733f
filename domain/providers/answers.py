"""The providers' answers: their contract, checked, and what the platform keeps of them.

Each kind of provider promises a JSON document (below, as pydantic models). An answer
that does not keep the promise is refused whole (``ProviderMalformed``): a figure
half-read is worse than none. What is kept is split in two: ``facts`` (figures and
statuses about the enterprise, not personal) and ``personal`` (names of people), which
the service seals.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from domain.providers.errors import ProviderMalformed
from domain.providers.models import ExternalDataKind

_Money = Annotated[Decimal, Field(max_digits=18, decimal_places=2, allow_inf_nan=False)]
_Count = Annotated[int, Field(ge=0, le=100_000)]
_Text = Annotated[str, Field(min_length=1, max_length=200)]
_CENT = Decimal("0.01")


class _Answer(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="ignore", frozen=True)

    source: Annotated[str, Field(min_length=1, max_length=64)]
    as_of: date
    code: Annotated[str, Field(min_length=18, max_length=18)]


class RegistryAnswer(_Answer):
    name: _Text
    status: Literal["active", "suspended", "revoked", "cancelled"]
    registered_capital: _Money
    established_on: date
    insured_employees: _Count
    legal_representative: _Text


class BureauAnswer(_Answer):
    score: Annotated[int, Field(ge=300, le=900)]
    open_credit_lines: _Count
    overdue_accounts: _Count
    max_days_past_due: _Count
    enquiries_last_6_months: _Count
    outstanding_debt: _Money


class StatementMonth(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="ignore", frozen=True)

    month: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
    inflow: Annotated[_Money, Field(ge=0)]
    outflow: Annotated[_Money, Field(ge=0)]
    ending_balance: _Money


class StatementAnswer(_Answer):
    account_holder: _Text
    months: Annotated[list[StatementMonth], Field(min_length=1, max_length=24)]


_CONTRACTS: dict[ExternalDataKind, type[_Answer]] = {
    ExternalDataKind.BUSINESS_REGISTRY: RegistryAnswer,
    ExternalDataKind.CREDIT_BUREAU: BureauAnswer,
    ExternalDataKind.BANK_STATEMENT: StatementAnswer,
}


def read_answer(kind: ExternalDataKind, body: bytes, *, code: str) -> _Answer:
    """The answer, checked against its contract and the question (the code asked about)."""
    try:
        answer = _CONTRACTS[kind].model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the document"
        raise ProviderMalformed(
            f"the {kind.value} provider's answer is malformed ({where}: {first['msg']}); "
            "nothing was stored"
        ) from None
    if answer.code != code:
        raise ProviderMalformed(
            f"the {kind.value} provider answered about another enterprise; nothing was stored"
        )
    return answer


@dataclass(frozen=True, slots=True)
class Profile:
    """What the answer is compared with: the enterprise's profile as its owner gave it."""

    name: str
    founded_on: date
    legal_representative_name: str | None


@dataclass(frozen=True, slots=True)
class Kept:
    facts: dict[str, Any]
    personal: dict[str, str] | None


def _same(a: str, b: str) -> bool:
    return "".join(a.split()).casefold() == "".join(b.split()).casefold()


def _money(value: Decimal) -> str:
    return str(value.quantize(_CENT))


def kept(answer: _Answer, profile: Profile) -> Kept:
    """What the platform keeps of an answer: facts in the clear, people's names apart."""
    if isinstance(answer, RegistryAnswer):
        known = profile.legal_representative_name
        return Kept(
            facts={
                "status": answer.status,
                "registeredCapital": _money(answer.registered_capital),
                "establishedOn": answer.established_on.isoformat(),
                "insuredEmployees": answer.insured_employees,
                "nameMatches": _same(answer.name, profile.name),
                "foundedOnMatches": answer.established_on == profile.founded_on,
                "legalRepresentativeMatches": (
                    None if known is None else _same(answer.legal_representative, known)
                ),
            },
            personal={"legalRepresentative": answer.legal_representative},
        )
    if isinstance(answer, BureauAnswer):
        return Kept(
            facts={
                "score": answer.score,
                "openCreditLines": answer.open_credit_lines,
                "overdueAccounts": answer.overdue_accounts,
                "maxDaysPastDue": answer.max_days_past_due,
                "enquiriesLast6Months": answer.enquiries_last_6_months,
                "outstandingDebt": _money(answer.outstanding_debt),
            },
            personal=None,
        )
    assert isinstance(answer, StatementAnswer)
    inflows = [m.inflow for m in answer.months]
    outflows = [m.outflow for m in answer.months]
    count = len(answer.months)
    mean_in = sum(inflows, Decimal(0)) / count
    # Ratios are floats (DESIGN rule 6): they never go back into money.
    spread = float(statistics.pstdev(inflows)) / float(mean_in) if mean_in > 0 else 0.0
    return Kept(
        facts={
            "months": count,
            "averageMonthlyInflow": _money(mean_in),
            "averageMonthlyOutflow": _money(sum(outflows, Decimal(0)) / count),
            "lowestEndingBalance": _money(min(m.ending_balance for m in answer.months)),
            "inflowVariation": round(spread, 4),
        },
        personal={"accountHolder": answer.account_holder},
    )
