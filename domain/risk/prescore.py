"""Pre-scoring: the champion's PD for an enterprise under each product it might apply to.

Nothing is an application and nothing of the scores is stored: the only trace is the
audited access (an audit entry and an access-log row), because the enterprise's
accounts were read and scored for the viewer. Each product is scored with the request
the owner would make of it (the amount and term asked, the product's type, its first
repayment method), so a product of another kind or term can carry another PD.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record as audit
from domain.enterprises.models import Enterprise
from domain.identity.viewer import Viewer
from domain.privacy.models import AccessLogEntry
from domain.products.models import Product
from domain.risk.assessment import Scoring, enterprise_feature_inputs
from scoring import features as feat

PRESCORE_OBJECT = "Enterprise.prescore"


async def prescore(
    session: AsyncSession,
    scoring: Scoring,
    *,
    enterprise: Enterprise,
    products: Sequence[Product],
    amount: Decimal,
    term_months: int,
    as_of: date,
) -> tuple[str, dict[uuid.UUID, float]] | None:
    """(the champion's version, each product's PD); None when no model is in service."""
    scorers = await scoring.scorers(session)
    if not scorers:
        return None
    record, champion = scorers[0]
    base = await enterprise_feature_inputs(
        session,
        enterprise,
        as_of=as_of,
        request=feat.Request(
            amount=amount, term_months=term_months, product_type="", repayment_method=""
        ),
    )
    # The PD depends on the product only through its type and repayment method.
    by_request: dict[tuple[str, str], float] = {}
    found = {}
    for product in products:
        asked = (product.type.value, product.repayment_methods[0])
        if asked not in by_request:
            request = feat.Request(
                amount=amount,
                term_months=term_months,
                product_type=asked[0],
                repayment_method=asked[1],
            )
            by_request[asked] = champion.assess(base.row(request), with_reasons=False).pd
        found[product.id] = by_request[asked]
    return record.version, found


def record_prescoring(
    session: AsyncSession,
    *,
    viewer: Viewer,
    enterprise_id: uuid.UUID,
    purpose: str,
    model_version: str,
    products: int,
    request_id: str | None,
    at: datetime,
) -> None:
    """The audited access a pre-scoring leaves: who scored whom, why, with which model."""
    session.add(
        AccessLogEntry.of(
            viewer,
            subject_id=enterprise_id,
            obj=PRESCORE_OBJECT,
            purpose=purpose,
            request_id=request_id,
            at=at,
        )
    )
    audit(
        session,
        action="enterprise.prescored",
        entity_type="enterprise",
        entity_id=enterprise_id,
        actor_id=viewer.user_id or viewer.service_account_id,
        request_id=request_id,
        purpose=purpose,
        model_version=model_version,
        products=products,
    )
