"""Who is asking. Every repository query that lists or loads rows takes one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.identity.authorization import ANONYMOUS, AUTHENTICATED, PLATFORM, Principal
from domain.identity.models import Role

# Platform roles that look across every institution (reads only; writes are per mutation).
CROSS_TENANT_ROLES = frozenset(
    {
        Role.PLATFORM_ADMIN,
        Role.PLATFORM_RISK_OFFICER,
        Role.PRIVACY_OFFICER,
        Role.AUDITOR,
        # Verifies any enterprise that asks; the policy holds it to what verifying needs.
        Role.VERIFICATION_OFFICER,
    }
)
# The platform's own oversight: the roles that read its audit trail, integrity and records
# of processing. A verification officer looks across tenants, but only at what
# verifying needs.
OVERSIGHT_ROLES = CROSS_TENANT_ROLES - {Role.VERIFICATION_OFFICER}
# Every role but the SME owner's is staff, and staff sign in with a second factor.
STAFF_ROLES = frozenset(Role) - {Role.SME_OWNER}


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: uuid.UUID | None = None
    platform_roles: frozenset[Role] = frozenset()
    institution_roles: Mapping[uuid.UUID, frozenset[Role]] = field(default_factory=dict)
    # Institution codes name the Casbin domain of each institution role.
    institution_codes: Mapping[uuid.UUID, str] = field(default_factory=dict)
    session_id: uuid.UUID | None = None
    service_account_id: uuid.UUID | None = None
    # A service token's scopes; None for people, whose roles alone decide.
    scopes: frozenset[str] | None = None
    # Derived once: disclosure asks both for every personal value it shows.
    institution_ids: frozenset[uuid.UUID] = field(init=False, repr=False, compare=False)
    sees_all_tenants: bool = field(init=False, repr=False, compare=False)
    oversees_platform: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "institution_ids", frozenset(self.institution_roles))
        object.__setattr__(self, "sees_all_tenants", bool(self.platform_roles & CROSS_TENANT_ROLES))
        object.__setattr__(self, "oversees_platform", bool(self.platform_roles & OVERSIGHT_ROLES))

    @classmethod
    def anonymous(cls) -> Viewer:
        return cls()

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None and self.service_account_id is None

    def principal(self) -> Principal:
        if self.is_anonymous:
            return Principal(grants=((ANONYMOUS, PLATFORM),))
        grants = {(AUTHENTICATED, PLATFORM)}
        grants.update((role.value, PLATFORM) for role in self.platform_roles)
        for institution_id, roles in self.institution_roles.items():
            domain = self.institution_codes.get(institution_id, str(institution_id))
            grants.update((role.value, domain) for role in roles)
        return Principal(grants=tuple(sorted(grants)), scopes=self.scopes)
