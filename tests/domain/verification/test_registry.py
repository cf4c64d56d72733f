"""A registry's record compared with the enterprise a verification case is about."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.verification.models import CaseKind, CaseStatus, VerificationCase
from domain.verification.registry import RegistryRecord, compare_with_registry
from kernel.db import session_factory
from tests import factories as f


async def test_a_registry_record_matches_or_names_what_differs(db: AsyncEngine) -> None:
    # given: a case about an enterprise (legal representative Zhang Wei, sealed)
    async with session_factory(db)() as s, s.begin():
        enterprise = await f.enterprise(s, name="Matrix Works")
        case = VerificationCase(
            enterprise_id=enterprise.id, kind=CaseKind.OWNERSHIP, status=CaseStatus.SUBMITTED
        )
        s.add(case)
        await s.flush()
        code = enterprise.unified_social_credit_code

        # when
        same = await compare_with_registry(
            s,
            f.KEYS,
            case_id=case.id,
            record=RegistryRecord(code.lower(), "matrix  works", "ZHANG wei"),
        )
        other = await compare_with_registry(
            s,
            f.KEYS,
            case_id=case.id,
            record=RegistryRecord(code, "Matrix Works Ltd", "Li Na"),
        )

    # then
    assert same.matches
    assert same.differences == ()
    assert not other.matches
    assert other.differences == ("name", "legal_representative_name")
