"""Records of processing activities (GDPR art. 30, PIPL art. 55), generated, never written.

One record per personal field and purpose: what data (the field and its
classification), why (the purpose), on what lawful basis (``lawful_bases.csv``),
who sees it revealed and who only masked (the live authorization policy, role by
role, narrowed to the roles that can hold one of those bases). The subject itself,
who sees its own data, is not a recipient and is not listed. Everything comes from
the classification, the policy and the basis table as they stand, so the record
cannot drift from what the code enforces.

Retention ("how long kept") is not on this branch: when retention schedules exist,
``ProcessingRecord.retention`` is where each category's schedule goes (see
``RETENTION_UNKNOWN``); until then every record says so rather than guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from domain.identity.authorization import AUTHENTICATED, PLATFORM, Authorizer, Principal
from domain.identity.models import INSTITUTION_ROLES, Role
from domain.identity.viewer import CROSS_TENANT_ROLES
from domain.privacy import lawful_bases
from domain.privacy.lawful_bases import Basis
from domain.privacy.purposes import PURPOSES

RETENTION_UNKNOWN = "no retention schedule on record"


def bases_of(role: Role) -> frozenset[Basis]:
    """The lawful bases a viewer in ``role`` can hold for someone else's data."""
    if role in CROSS_TENANT_ROLES:
        return frozenset({Basis.PLATFORM_OVERSIGHT})
    if role in INSTITUTION_ROLES:
        return frozenset({Basis.CONSENT, Basis.CONTRACT})
    return frozenset()


@dataclass(frozen=True, slots=True)
class ProcessingRecord:
    field: str  # Type.field
    classification: str  # personal | sensitive
    purpose: str
    bases: tuple[Basis, ...]
    revealed_to: tuple[Role, ...]
    masked_for: tuple[Role, ...]
    retention: str = RETENTION_UNKNOWN


def _principal(role: Role) -> Principal:
    return Principal(grants=((AUTHENTICATED, PLATFORM), (role.value, PLATFORM)))


def processing_records(
    personal: Mapping[str, str], authorizer: Authorizer
) -> list[ProcessingRecord]:
    """Every (personal field, purpose) with a lawful basis; ``personal`` maps each
    ``Type.field`` classified personal or sensitive to its classification."""
    found = []
    for field in sorted(personal):
        staff = [r for r in Role if r is not Role.SME_OWNER]
        readers = [r for r in staff if authorizer.allows(_principal(r), field, "read")[0]]
        revealers = {r for r in readers if authorizer.allows(_principal(r), field, "reveal")[0]}
        for purpose in sorted(PURPOSES):
            covered = lawful_bases.covering(purpose)
            if not covered:
                continue
            shown = tuple(r for r in readers if r in revealers and bases_of(r) & covered)
            found.append(
                ProcessingRecord(
                    field=field,
                    classification=personal[field],
                    purpose=purpose,
                    bases=tuple(b for b in Basis if b in covered),
                    revealed_to=shown,
                    masked_for=tuple(r for r in readers if r not in shown),
                )
            )
    return found
