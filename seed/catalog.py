"""Institutions, their products and their staff; platform staff."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from domain.identity.models import InstitutionKind, Role, UserStatus
from domain.products.models import ProductStatus, ProductType, RepaymentMethod
from kernel.base import new_id
from seed.people import NamePools
from seed.reference import NOT_MARKET_BANKS, PLACES, PRODUCT_TEMPLATES, ProductTemplate

Row = dict[str, Any]
DEMO_DOMAIN = "demo.lendgraph.test"

_KIND_PREFIX = {
    InstitutionKind.BANK: "BK",
    InstitutionKind.MICROLENDER: "ML",
    InstitutionKind.LEASING_COMPANY: "LS",
    InstitutionKind.FACTORING_COMPANY: "FC",
}
# The first five institutions cover every kind so that small populations do too.
_FIRST_KINDS = (
    InstitutionKind.BANK,
    InstitutionKind.BANK,
    InstitutionKind.MICROLENDER,
    InstitutionKind.LEASING_COMPANY,
    InstitutionKind.FACTORING_COMPANY,
)
_KIND_WEIGHTS = {
    InstitutionKind.BANK: 50,
    InstitutionKind.MICROLENDER: 25,
    InstitutionKind.LEASING_COMPANY: 15,
    InstitutionKind.FACTORING_COMPANY: 10,
}
_KIND_PRODUCTS = {
    InstitutionKind.BANK: tuple(ProductType),
    InstitutionKind.MICROLENDER: (
        ProductType.WORKING_CAPITAL_LOAN,
        ProductType.CREDIT_LINE,
        ProductType.TERM_LOAN,
    ),
    InstitutionKind.LEASING_COMPANY: (
        ProductType.EQUIPMENT_LEASING,
        ProductType.EQUIPMENT_LEASING,
        ProductType.TERM_LOAN,
    ),
    InstitutionKind.FACTORING_COMPANY: (
        ProductType.FACTORING,
        ProductType.FACTORING,
        ProductType.WORKING_CAPITAL_LOAN,
    ),
}
_FOUR_EYES = {
    InstitutionKind.BANK: Decimal("1000000.00"),
    InstitutionKind.MICROLENDER: Decimal("200000.00"),
    InstitutionKind.LEASING_COMPANY: Decimal("2000000.00"),
    InstitutionKind.FACTORING_COMPANY: Decimal("1000000.00"),
}
_EXTRA_STATUSES = (ProductStatus.PUBLISHED,) * 6 + (ProductStatus.DRAFT, ProductStatus.RETIRED)
_PLATFORM_STAFF = (
    ("admin", Role.PLATFORM_ADMIN),
    ("risk", Role.PLATFORM_RISK_OFFICER),
    ("privacy", Role.PRIVACY_OFFICER),
    ("auditor", Role.AUDITOR),
    ("verification", Role.VERIFICATION_OFFICER),
)
MICROLENDER_CAP = 1_000_000
RATE_STEP = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class ProductInfo:
    """What applications need to know about a published product."""

    id: uuid.UUID
    institution_id: uuid.UUID
    template: ProductTemplate
    min_amount: Decimal
    max_amount: Decimal
    min_term: int
    max_term: int
    min_rate: Decimal
    max_rate: Decimal
    fee_rate: Decimal
    methods: tuple[RepaymentMethod, ...]
    industries: frozenset[str]
    regions: frozenset[str]

    def accepts(self, *, industry: str, region: str) -> bool:
        return (not self.industries or industry in self.industries) and (
            not self.regions or region in self.regions
        )


@dataclass(frozen=True, slots=True)
class Staff:
    institution_id: uuid.UUID
    four_eyes_threshold: Decimal
    officers: tuple[uuid.UUID, uuid.UUID]
    risk_officer: uuid.UUID
    # Decides too: the third pair of eyes an appeal above the threshold needs.
    admin: uuid.UUID


@dataclass(slots=True)
class Catalog:
    institutions: list[Row] = field(default_factory=list)
    products: list[Row] = field(default_factory=list)
    markets: list[Row] = field(default_factory=list)
    users: list[Row] = field(default_factory=list)
    memberships: list[Row] = field(default_factory=list)
    published: list[ProductInfo] = field(default_factory=list)
    staff: dict[uuid.UUID, Staff] = field(default_factory=dict)


def moment(rng: random.Random, day: date) -> datetime:
    """A working-hours instant on ``day`` in China (01:00-10:59 UTC)."""
    return datetime.combine(
        day, time(rng.randint(1, 10), rng.randint(0, 59), rng.randint(0, 59)), tzinfo=UTC
    )


def row_id(rng: random.Random, at: datetime) -> uuid.UUID:
    return new_id(at=at, entropy=rng.getrandbits(80))


def institution_count(enterprises: int) -> int:
    return min(max(enterprises // 500, 5), 20)


def user_row(rng: random.Random, *, email: str, name: str, at: datetime) -> Row:
    return {
        "id": row_id(rng, at),
        "email": email,
        "display_name": name,
        "password_hash": None,
        "status": UserStatus.ACTIVE,
        "last_login_at": None,
        "created_at": at,
    }


def membership_row(
    rng: random.Random,
    *,
    user_id: uuid.UUID,
    institution_id: uuid.UUID | None,
    role: Role,
    at: datetime,
) -> Row:
    return {
        "id": row_id(rng, at),
        "user_id": user_id,
        "institution_id": institution_id,
        "role": role,
        "created_at": at,
    }


def build_catalog(
    rng: random.Random, pools: NamePools, *, institutions: int, as_of: date
) -> Catalog:
    catalog = Catalog()
    founded = as_of - timedelta(days=2100)
    for name, role in _PLATFORM_STAFF:
        at = moment(rng, founded)
        user = user_row(rng, email=f"{name}@{DEMO_DOMAIN}", name=pools.person(rng), at=at)
        catalog.users.append(user)
        catalog.memberships.append(
            membership_row(rng, user_id=user["id"], institution_id=None, role=role, at=at)
        )
    banks = [bank for bank in pools.banks if bank not in NOT_MARKET_BANKS]
    rng.shuffle(banks)
    serial = dict.fromkeys(_KIND_PREFIX, 0)
    for index in range(institutions):
        if index < len(_FIRST_KINDS):
            kind = _FIRST_KINDS[index]
        else:
            kind = rng.choices(list(_KIND_WEIGHTS), weights=list(_KIND_WEIGHTS.values()))[0]
        serial[kind] += 1
        code = f"{_KIND_PREFIX[kind]}{serial[kind]:03d}"
        _add_institution(catalog, rng, pools, kind=kind, code=code, banks=banks, as_of=as_of)
    return catalog


def _institution_name(
    rng: random.Random, pools: NamePools, *, kind: InstitutionKind, city: str, banks: list[str]
) -> str:
    word = rng.choice(pools.company_words)
    if kind is InstitutionKind.BANK:
        if banks:
            return banks.pop()
        return f"{city}农村商业银行" if pools.chinese else f"{city} Rural Commercial Bank"
    if pools.chinese:
        suffix = {
            InstitutionKind.MICROLENDER: "小额贷款有限公司",
            InstitutionKind.LEASING_COMPANY: "融资租赁有限公司",
            InstitutionKind.FACTORING_COMPANY: "商业保理有限公司",
        }[kind]
        return f"{city}{word}{suffix}"
    suffix = {
        InstitutionKind.MICROLENDER: "Microcredit Co., Ltd.",
        InstitutionKind.LEASING_COMPANY: "Financial Leasing Co., Ltd.",
        InstitutionKind.FACTORING_COMPANY: "Commercial Factoring Co., Ltd.",
    }[kind]
    return f"{city} {word} {suffix}"


def _add_institution(
    catalog: Catalog,
    rng: random.Random,
    pools: NamePools,
    *,
    kind: InstitutionKind,
    code: str,
    banks: list[str],
    as_of: date,
) -> None:
    place = rng.choices(PLACES, weights=[p.weight for p in PLACES])[0]
    created = moment(rng, as_of - timedelta(days=rng.randint(1900, 2000)))
    institution_id = row_id(rng, created)
    name = _institution_name(rng, pools, kind=kind, city=pools.city(place), banks=banks)
    catalog.institutions.append(
        {
            "id": institution_id,
            "code": code,
            "name": name,
            "kind": kind,
            "region": place.region,
            "four_eyes_threshold": _FOUR_EYES[kind],
            "created_at": created,
        }
    )
    handle = code.lower()
    people: list[uuid.UUID] = []
    for local, role in (
        (f"officer1.{handle}", Role.LOAN_OFFICER),
        (f"officer2.{handle}", Role.LOAN_OFFICER),
        (f"risk.{handle}", Role.RISK_OFFICER),
        (f"admin.{handle}", Role.INSTITUTION_ADMIN),
    ):
        at = created + timedelta(days=rng.randint(1, 20), minutes=rng.randint(0, 600))
        user = user_row(rng, email=f"{local}@{DEMO_DOMAIN}", name=pools.person(rng), at=at)
        catalog.users.append(user)
        catalog.memberships.append(
            membership_row(rng, user_id=user["id"], institution_id=institution_id, role=role, at=at)
        )
        people.append(user["id"])
    catalog.staff[institution_id] = Staff(
        institution_id=institution_id,
        four_eyes_threshold=_FOUR_EYES[kind],
        officers=(people[0], people[1]),
        risk_officer=people[2],
        admin=people[3],
    )

    types = list(_KIND_PRODUCTS[kind])
    statuses = [ProductStatus.PUBLISHED] * len(types)
    extras = 2 if kind is InstitutionKind.BANK else 1
    for n in range(extras):
        types.append(rng.choice(list(ProductType)) if kind is InstitutionKind.BANK else types[0])
        # The very first institution shows every product status, however small the seed.
        first = not catalog.products
        statuses.append(
            (ProductStatus.RETIRED, ProductStatus.DRAFT)[n]
            if first
            else rng.choice(_EXTRA_STATUSES)
        )
    serial: dict[str, int] = {}
    for product_type, status in zip(types, statuses, strict=True):
        template = PRODUCT_TEMPLATES[product_type]
        serial[template.code] = serial.get(template.code, 0) + 1
        _add_product(
            catalog,
            rng,
            pools,
            template=template,
            code=f"{template.code}{serial[template.code]:02d}",
            status=status,
            kind=kind,
            institution_id=institution_id,
            region=place.region,
            created=created,
        )


def _rate(value: float) -> Decimal:
    return Decimal(value).quantize(RATE_STEP)


def _add_product(
    catalog: Catalog,
    rng: random.Random,
    pools: NamePools,
    *,
    template: ProductTemplate,
    code: str,
    status: ProductStatus,
    kind: InstitutionKind,
    institution_id: uuid.UUID,
    region: str,
    created: datetime,
) -> None:
    low, high = template.rates
    if kind is InstitutionKind.MICROLENDER:
        low, high = low * 2, high * 2.4
    min_rate = _rate(low + rng.uniform(0, 0.01))
    max_rate = _rate(high + rng.uniform(0, 0.02))
    min_amount = rng.randrange(template.min_amount[0], template.min_amount[1] + 1, 10_000)
    max_amount = rng.randrange(template.max_amount[0], template.max_amount[1] + 1, 100_000)
    if kind is InstitutionKind.MICROLENDER:
        max_amount = min(max_amount, MICROLENDER_CAP)
    methods = tuple(m for m in template.methods if m is template.methods[0] or rng.random() < 0.7)
    fee_rate = _rate(rng.uniform(*template.fee_rate))
    industries = template.industries
    regions: tuple[str, ...] = (region,) if kind is InstitutionKind.MICROLENDER else ()
    names = template.names_zh if pools.chinese else template.names_en
    name = rng.choice(names)
    product_created = created + timedelta(days=rng.randint(20, 60))
    published_at = (
        None
        if status is ProductStatus.DRAFT
        else product_created + timedelta(days=rng.randint(1, 14))
    )
    product_id = row_id(rng, product_created)
    description = (
        f"{name}：额度{min_amount:,}至{max_amount:,}元，期限{template.terms[0]}至"  # noqa: RUF001 - Chinese punctuation
        f"{template.terms[1]}个月。"
        if pools.chinese
        else f"{name}: {min_amount:,} to {max_amount:,} CNY over {template.terms[0]} to "
        f"{template.terms[1]} months."
    )
    catalog.products.append(
        {
            "id": product_id,
            "institution_id": institution_id,
            "code": code,
            "version": 1,
            "name": name,
            "type": template.type,
            "status": status,
            "description": description,
            "min_amount": Decimal(min_amount).quantize(Decimal("0.01")),
            "max_amount": Decimal(max_amount).quantize(Decimal("0.01")),
            "min_term_months": template.terms[0],
            "max_term_months": template.terms[1],
            "min_rate": min_rate,
            "max_rate": max_rate,
            "origination_fee_rate": fee_rate,
            "repayment_methods": [m.value for m in methods],
            "collateral_required": rng.random() < template.collateral_share,
            "eligibility": {
                "min_years_in_business": rng.randint(*template.min_years),
                "industries": list(industries),
                "regions": list(regions),
                "min_annual_revenue": f"{template.min_revenue}.00",
                "max_debt_to_asset": template.max_debt_to_asset,
            },
            "published_at": published_at,
            "created_at": product_created,
        }
    )
    catalog.markets.extend(
        {"product_id": product_id, "dimension": dimension, "value": value}
        for dimension, values in (("industry", industries), ("region", regions))
        for value in dict.fromkeys(values)
    )
    if status is ProductStatus.PUBLISHED:
        catalog.published.append(
            ProductInfo(
                id=product_id,
                institution_id=institution_id,
                template=template,
                min_amount=Decimal(min_amount),
                max_amount=Decimal(max_amount),
                min_term=template.terms[0],
                max_term=template.terms[1],
                min_rate=min_rate,
                max_rate=max_rate,
                fee_rate=fee_rate,
                methods=methods,
                industries=frozenset(industries),
                regions=frozenset(regions),
            )
        )
