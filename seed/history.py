"""Each application's time line: the moves the state machine allows, who made them, when.

A path is planned first in whole days after submission, so the day its final status is
reached can be placed in that status' window knowing how long the path took; instants
are drawn afterwards, in working hours and strictly increasing. Contracts are the
domain's own (``contract_for``), so their terms and hash are what the API would write.
"""

# Chinese text is written with its own, full-width punctuation.
# ruff: noqa: RUF001

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from domain.applications.models import Application, ApplicationStatus, DecisionOutcome
from domain.applications.service import contract_for
from domain.identity.models import Institution
from domain.products.models import DayCount, Product
from seed.catalog import Catalog, Staff, moment

Row = dict[str, Any]
_S = ApplicationStatus
_D = DecisionOutcome
# Two moves never share an instant; one made within minutes of another is bumped this far.
MIN_GAP = timedelta(minutes=10)
INFO_CHANCE = 0.2
PENDING_CHANCE = 0.4
APPEAL_CHANCE = {_S.REJECTED: 0.15, _S.APPROVED: 0.03}
_WITHDRAWN_FROM = ((25, _S.SUBMITTED), (30, _S.UNDER_REVIEW), (25, _S.MORE_INFO_REQUESTED),
                   (12, _S.APPROVED), (4, _S.REJECTED), (4, _S.APPEALED))  # fmt: skip
_APPROVED_OR_LATER = frozenset({_S.APPROVED, _S.CONTRACT_SIGNED, _S.DISBURSED})


@dataclass(frozen=True, slots=True)
class Texts:
    approve: tuple[str, ...]
    reject: tuple[str, ...]
    question: tuple[str, ...]
    answer: tuple[str, ...]
    appeal: tuple[str, ...]
    withdraw: tuple[str, ...]


CHINESE = Texts(
    approve=("经营稳定，还款来源充足，同意。", "财务状况良好，符合准入条件，同意。"),
    reject=("资产负债率偏高，偿债能力不足。", "经营亏损，现金流无法覆盖还款。",
            "行业风险较高，暂不受理。"),
    question=("请补充最近一期财务报表及主要客户合同。", "请说明借款用途并提供相关采购合同。"),
    answer=("已上传最近一期财务报表及主要客户合同。", "已补充采购合同及资金使用计划。"),
    appeal=("最近一季度回款已明显改善，请重新评估。", "已新增抵押担保，请重新审查。"),
    withdraw=("已从其他渠道获得融资。", "经营计划调整，暂不需要资金。", "利率高于预期。"),
)  # fmt: skip
ENGLISH = Texts(
    approve=("Stable operations and sufficient repayment capacity.", "Meets all criteria."),
    reject=("Leverage too high for the requested amount.", "Losses leave no repayment capacity.",
            "Sector risk outside appetite."),
    question=("Please provide the latest management accounts and main customer contracts.",
              "Please explain the purpose and attach the purchase contracts."),
    answer=("Latest management accounts and main customer contracts uploaded.",
            "Purchase contracts and a spending plan attached."),
    appeal=("Collections improved markedly last quarter; please look again.",
            "We now offer collateral; please review again."),
    withdraw=("Financed elsewhere.", "Plans changed; the money is not needed now.",
              "The rate is higher than expected."),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Event:
    """One step after submission: a move, a decision, or both."""

    day: int  # whole days after the submission day
    status: ApplicationStatus | None  # None: a first approval, which moves nothing
    actor: uuid.UUID | None
    note: str = ""
    outcome: DecisionOutcome | None = None
    awaits_second: bool = False
    on_appeal: bool = False


@dataclass(slots=True)
class Path:
    events: list[Event] = field(default_factory=list)
    day: int = 0
    appealed: bool = False

    def then(
        self,
        gap: int,
        status: ApplicationStatus | None,
        actor: uuid.UUID | None,
        *,
        note: str = "",
        outcome: DecisionOutcome | None = None,
        awaits_second: bool = False,
    ) -> None:
        self.day += gap
        on_appeal = self.appealed and outcome is not None
        self.events.append(
            Event(self.day, status, actor, note, outcome, awaits_second, on_appeal=on_appeal)
        )
        if status is _S.APPEALED:
            self.appealed = True


def plan(
    rng: random.Random,
    final: ApplicationStatus,
    *,
    owner: uuid.UUID,
    staff: Staff,
    four_eyes: bool,
    texts: Texts,
) -> Path:
    """The moves from submission to ``final``; empty for a draft or a fresh submission.

    The officer who reviews decides; an appeal goes to the other officer, and when its
    approval needs four eyes, the institution's admin is the second pair (neither may
    have decided before). Withdrawals leave from any state before a contract is signed.
    """
    path = Path()
    first, other = rng.sample(staff.officers, 2)
    target = final
    if final is _S.WITHDRAWN:
        target = rng.choices([s for _, s in _WITHDRAWN_FROM], [w for w, _ in _WITHDRAWN_FROM])[0]
    if target in (_S.DRAFT, _S.SUBMITTED):
        pass
    elif target is _S.UNDER_REVIEW:
        _review(rng, path, first, owner, texts)
        if four_eyes and rng.random() < PENDING_CHANCE:
            path.then(
                rng.randint(0, 2),
                None,
                first,
                note=rng.choice(texts.approve),
                outcome=_D.APPROVE,
                awaits_second=True,
            )
    elif target is _S.MORE_INFO_REQUESTED:
        path.then(rng.randint(0, 1), _S.UNDER_REVIEW, first)
        path.then(
            rng.randint(1, 2),
            _S.MORE_INFO_REQUESTED,
            first,
            note=rng.choice(texts.question),
            outcome=_D.REQUEST_INFO,
        )
    else:
        _review(rng, path, first, owner, texts)
        approve = target in _APPROVED_OR_LATER
        chance = APPEAL_CHANCE[_S.APPROVED if approve else _S.REJECTED]
        deciders = (first, other)
        if target is _S.APPEALED or rng.random() < chance:
            path.then(
                rng.randint(1, 4),
                _S.REJECTED,
                first,
                note=rng.choice(texts.reject),
                outcome=_D.REJECT,
            )
            path.then(rng.randint(1, 10), _S.APPEALED, owner, note=rng.choice(texts.appeal))
            if target is not _S.APPEALED:
                _review(rng, path, other, owner, texts)
                deciders = (other, staff.admin)
        if target is _S.REJECTED:
            path.then(
                rng.randint(1, 5),
                _S.REJECTED,
                deciders[0],
                note=rng.choice(texts.reject),
                outcome=_D.REJECT,
            )
        elif approve:
            text = rng.choice(texts.approve)
            if four_eyes:
                path.then(
                    rng.randint(1, 4),
                    None,
                    deciders[0],
                    note=text,
                    outcome=_D.APPROVE,
                    awaits_second=True,
                )
                path.then(
                    rng.randint(0, 1), _S.APPROVED, deciders[1], note=text, outcome=_D.APPROVE
                )
            else:
                path.then(
                    rng.randint(1, 4), _S.APPROVED, deciders[0], note=text, outcome=_D.APPROVE
                )
            if target is not _S.APPROVED:
                path.then(rng.randint(1, 7), _S.CONTRACT_SIGNED, owner)
            if target is _S.DISBURSED:
                path.then(rng.randint(0, 7), _S.DISBURSED, rng.choice(staff.officers))
    if final is _S.WITHDRAWN:
        path.then(rng.randint(1, 20), _S.WITHDRAWN, owner, note=rng.choice(texts.withdraw))
    return path


def _review(
    rng: random.Random, path: Path, officer: uuid.UUID, owner: uuid.UUID, texts: Texts
) -> None:
    """Review starts hours to days later; sometimes the officer asks, and the owner answers."""
    path.then(rng.randint(0, 2), _S.UNDER_REVIEW, officer)
    if rng.random() < INFO_CHANCE:
        path.then(
            rng.randint(1, 3),
            _S.MORE_INFO_REQUESTED,
            officer,
            note=rng.choice(texts.question),
            outcome=_D.REQUEST_INFO,
        )
        path.then(rng.randint(1, 5), _S.UNDER_REVIEW, owner, note=rng.choice(texts.answer))


def instants(rng: random.Random, days: list[date]) -> list[datetime]:
    """Strictly increasing working-hours instants on non-decreasing ``days``."""
    out: list[datetime] = []
    start = 0
    while start < len(days):
        end = start
        while end < len(days) and days[end] == days[start]:
            end += 1
        out.extend(sorted(moment(rng, days[start]) for _ in range(end - start)))
        start = end
    for i in range(1, len(out)):
        if out[i] < out[i - 1] + MIN_GAP:
            out[i] = out[i - 1] + MIN_GAP + timedelta(minutes=rng.randint(0, 80))
    return out


class Lenders:
    """Products and institutions as ``contract_for`` reads them, each made once."""

    def __init__(self, catalog: Catalog) -> None:
        institutions = {
            row["id"]: Institution(id=row["id"], name=row["name"]) for row in catalog.institutions
        }
        self._lenders = {
            row["id"]: (
                Product(
                    id=row["id"],
                    code=row["code"],
                    version=row["version"],
                    origination_fee_rate=row["origination_fee_rate"],
                    # A transient row takes no column default: the catalog's (30/360 when
                    # it names none), as the inserted product will have.
                    day_count=row.get("day_count", DayCount.THIRTY_360),
                ),
                institutions[row["institution_id"]],
            )
            for row in catalog.products
        }

    def contract(self, application: Row, *, contract_id: uuid.UUID, generated_at: datetime) -> Row:
        """The contract an approval of ``application`` (a row) writes, not yet accepted."""
        product, institution = self._lenders[application["product_id"]]
        approved = Application(
            id=application["id"],
            enterprise_id=application["enterprise_id"],
            amount=application["amount"],
            term_months=application["term_months"],
            repayment_method=application["repayment_method"],
            approved_rate=application["approved_rate"],
        )
        contract = contract_for(approved, product, institution, generated_at=generated_at)
        return {
            "id": contract_id,
            "application_id": application["id"],
            "terms": contract.terms,
            "terms_hash": contract.terms_hash,
            "generated_at": generated_at,
            "accepted_at": None,
            "accepted_by": None,
        }
