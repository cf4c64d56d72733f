"""The cover a loan's own collateral and guarantees give, and the LGD the close takes
from it: the worked example of ``domain.provisioning.policy``, a loan without records
keeping its product's LGD, released security covering nothing, one statement a batch."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.collateral import policy as haircuts
from domain.collateral.models import (
    CollateralItem,
    CollateralKind,
    CollateralStatus,
    Guarantee,
    GuaranteeKind,
    GuaranteeStatus,
)
from domain.lending.models import Loan
from domain.products.models import Product, ProductType
from domain.provisioning import policy
from domain.provisioning import service as provisioning
from domain.provisioning.models import LoanStage
from tests import factories as f
from tests.domain.ledger.books import lent

D = Decimal
MARCH = date(2026, 3, 31)
BUILDING = (CollateralKind.REAL_ESTATE, D("80000.00"))
DEPOSIT = (CollateralKind.CASH_DEPOSIT, D("10000.00"))
OWNER = (GuaranteeKind.PERSONAL, D("20000.00"))


def test_the_worked_example_of_the_policy() -> None:
    # given a term loan's EAD of 100,000 and its security
    ead = D("100000.00")
    # when covered by a building, a deposit and the owner's guarantee
    full = haircuts.cover([BUILDING, DEPOSIT], [OWNER])
    # and after the building is released
    without = haircuts.cover([DEPOSIT], [OWNER])
    # then: 48,000 + 10,000 + 8,000, and the LGD blends 25% and 45% by amount
    assert full == D("66000.00")
    assert policy.lgd_with_cover(ProductType.TERM_LOAN, full, ead) == D("0.318000")
    assert without == D("18000.00")
    assert policy.lgd_with_cover(ProductType.TERM_LOAN, without, ead) == D("0.414000")


@pytest.mark.parametrize(
    ("product_type", "cover", "ead", "lgd"),
    [
        (ProductType.TERM_LOAN, D("0.00"), D("5000.00"), D("0.450000")),  # nothing covered
        (ProductType.TERM_LOAN, D("9000.00"), D("5000.00"), D("0.250000")),  # over-covered
        (ProductType.EQUIPMENT_LEASING, D("5000.00"), D("5000.00"), D("0.250000")),
        (ProductType.TERM_LOAN, D("100.00"), D("0.00"), D("0.450000")),  # nothing exposed
        (ProductType.CREDIT_LINE, D("1.00"), D("3.00"), D("0.383333")),  # rounded half up
    ],
)
def test_cover_is_capped_by_the_exposure_and_never_raises_the_lgd(
    product_type: ProductType, cover: Decimal, ead: Decimal, lgd: Decimal
) -> None:
    assert policy.lgd_with_cover(product_type, cover, ead) == lgd


def test_products_without_a_figure_of_their_own_take_the_default() -> None:
    # leasing uncovered keeps its unsecured 30%; a product type left out takes 45% on
    # what is not covered and the secured 25% on what is
    assert policy.lgd_with_cover(ProductType.EQUIPMENT_LEASING, D("0"), D("10")) == D("0.300000")
    assert policy.lgd_with_cover(None, D("10"), D("10")) == D("0.250000")


def test_every_kind_has_a_haircut_between_nothing_and_everything() -> None:
    assert set(haircuts.HAIRCUT) == set(CollateralKind)
    assert set(haircuts.GUARANTEE_HAIRCUT) == set(GuaranteeKind)
    for cut in (*haircuts.HAIRCUT.values(), *haircuts.GUARANTEE_HAIRCUT.values()):
        assert D(0) <= cut < D(1)


def _item(loan: Loan, kind: CollateralKind, value: str, status: CollateralStatus) -> CollateralItem:
    return CollateralItem(
        loan_id=loan.id,
        institution_id=loan.institution_id,
        enterprise_id=loan.enterprise_id,
        kind=kind,
        description="pledged",
        market_value=D(value),
        valued_on=date(2026, 1, 10),
        valuation_source="surveyor",
        status=status,
    )


def _guarantee(loan: Loan, kind: GuaranteeKind, amount: str, status: GuaranteeStatus) -> Guarantee:
    return Guarantee(
        loan_id=loan.id,
        institution_id=loan.institution_id,
        enterprise_id=loan.enterprise_id,
        kind=kind,
        guarantor_name="sealed elsewhere",
        amount=D(amount),
        status=status,
    )


async def test_the_close_takes_each_loans_lgd_from_its_own_cover(
    sessions: async_sessionmaker[AsyncSession], db: AsyncEngine, monkeypatch: Any
) -> None:
    # given four loans of one bank, each of its own product: plain (no records, its
    # product requiring collateral), secured (a deposit and a scheme guarantee), released
    # (its product requiring collateral, its only item released, a guarantee called), and
    # other (no records, its product not requiring collateral)
    async with sessions() as s, s.begin():
        bank = await f.institution(s)
        loans = [(await lent(s, bank, on=date(2026, 1, 15), amount="12000.00"))[0] for _ in "abcd"]
        plain, secured, released, other = loans
        for loan in (plain, released):
            (await s.get_one(Product, loan.product_id)).collateral_required = True
        (await s.get_one(Product, other.product_id)).collateral_required = False
        product = await s.get_one(Product, secured.product_id)
        s.add(_item(secured, CollateralKind.CASH_DEPOSIT, "3000.00", CollateralStatus.PLEDGED))
        s.add(_item(secured, CollateralKind.INVENTORY, "5000.00", CollateralStatus.RELEASED))
        s.add(
            _guarantee(secured, GuaranteeKind.GUARANTEE_SCHEME, "2000.00", GuaranteeStatus.ACTIVE)
        )
        s.add(_item(released, CollateralKind.REAL_ESTATE, "90000.00", CollateralStatus.RELEASED))
        s.add(_guarantee(released, GuaranteeKind.PERSONAL, "5000.00", GuaranteeStatus.CALLED))
        ids = {name: loan.id for name, loan in zip("psro", loans, strict=True)}
        product_type = product.type
    secured_lgd = policy.lgd_of(product_type, True)
    unsecured_lgd = policy.lgd_of(product_type, False)
    # (batches of two, so the four loans are read in two batches)
    monkeypatch.setattr(provisioning, "BATCH", 2)
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.sync_engine, "before_cursor_execute", seen)
    try:
        # when March is staged
        await provisioning.stage_book(sessions, as_of=MARCH)
    finally:
        event.remove(db.sync_engine, "before_cursor_execute", seen)

    # then: the loans without records keep their product's LGD exactly
    async with sessions() as s:
        stages = {n: await s.get_one(LoanStage, (i, MARCH)) for n, i in ids.items()}
    assert (stages["p"].lgd, stages["o"].lgd) == (secured_lgd, unsecured_lgd)
    assert secured_lgd < unsecured_lgd
    # the secured one: 3,000 (cash, no haircut) + 1,800 (scheme, 10%) covered of its EAD
    ead = stages["s"].ead
    assert stages["s"].lgd == policy.lgd_with_cover(product_type, D("4800.00"), ead)
    assert secured_lgd < stages["s"].lgd < unsecured_lgd
    assert stages["s"].ecl < stages["o"].ecl
    # the one whose security all ended is unsecured, though its product asks collateral
    assert stages["r"].lgd == unsecured_lgd
    # and the cover was read once per batch of loans, not once per loan
    cover_reads = [q for q in statements if "collateral_items" in q]
    assert len(cover_reads) == 2
