"""Does a business registry's record agree with what a verification case is about?

For the external data providers (issue 22): a registry answer, fetched with the
owner's consent, is compared here with the enterprise the case concerns, so an officer
sees whether the submitted licence's company is the one the registry knows. The
registry's values are compared with the enterprise's, the sealed legal representative's
name opened for the comparison only and never returned. Names match when they are
equal once spaces and case are set aside (``privacy.vault.normalise``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from domain.enterprises.models import Enterprise
from domain.verification.models import VerificationCase
from kernel.errors import NotFound
from privacy import keystore, vault
from privacy.keys import KeyProvider


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    """What a registry says of a company (the fields a business licence shows)."""

    unified_social_credit_code: str
    name: str
    legal_representative_name: str | None = None


@dataclass(frozen=True, slots=True)
class RegistryMatch:
    """``differences`` names each field that disagrees; empty when all agree."""

    differences: tuple[str, ...]

    @property
    def matches(self) -> bool:
        return not self.differences


async def compare_with_registry(
    session: AsyncSession, keys: KeyProvider, *, case_id: uuid.UUID, record: RegistryRecord
) -> RegistryMatch:
    """Compare ``record`` with the enterprise of case ``case_id``."""
    case = await session.get(VerificationCase, case_id)
    enterprise = await session.get(Enterprise, case.enterprise_id) if case else None
    if enterprise is None:
        raise NotFound("no such verification case", field="caseId")
    differences = []
    if vault.normalise(record.unified_social_credit_code) != enterprise.unified_social_credit_code:
        differences.append("unified_social_credit_code")
    if vault.normalise(record.name) != vault.normalise(enterprise.name):
        differences.append("name")
    if record.legal_representative_name is not None:
        held = None
        key = (await keystore.unwrap_many(session, keys, [enterprise.id]))[enterprise.id]
        if key is not None and enterprise.legal_representative_name is not None:
            held = vault.unseal(
                key,
                enterprise.legal_representative_name,
                table="enterprises",
                column="legal_representative_name",
                row_id=enterprise.id,
            )
        if held is None or vault.normalise(held) != vault.normalise(
            record.legal_representative_name
        ):
            differences.append("legal_representative_name")
    return RegistryMatch(differences=tuple(differences))
