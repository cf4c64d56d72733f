"""Who is asking. Every repository query that lists or loads rows takes one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.identity.models import Role

# Platform roles that look across every institution (reads only; writes are per mutation).
CROSS_TENANT_ROLES = frozenset(
    {Role.PLATFORM_ADMIN, Role.PLATFORM_RISK_OFFICER, Role.PRIVACY_OFFICER, Role.AUDITOR}
)


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: uuid.UUID | None = None
    platform_roles: frozenset[Role] = frozenset()
    institution_roles: Mapping[uuid.UUID, frozenset[Role]] = field(default_factory=dict)
    # The development switch (LENDGRAPH_DEV_OPEN_ACCESS): an anonymous development
    # request reads every row until authentication exists. Never set in production.
    open_access: bool = False

    @classmethod
    def anonymous(cls, *, open_access: bool = False) -> Viewer:
        return cls(open_access=open_access)

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None

    @property
    def sees_all_tenants(self) -> bool:
        return self.open_access or bool(self.platform_roles & CROSS_TENANT_ROLES)

    @property
    def institution_ids(self) -> frozenset[uuid.UUID]:
        return frozenset(self.institution_roles)
