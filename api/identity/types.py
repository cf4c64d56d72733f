import uuid
from typing import Self

import strawberry
from strawberry import relay

from api.access import classified
from domain.identity.models import Institution as InstitutionRow
from domain.identity.models import InstitutionKind

InstitutionKindGQL = strawberry.enum(InstitutionKind, name="InstitutionKind")


@classified(public=["id", "code", "name", "kind", "region"])
@strawberry.type(description="A bank or lender offering products on the platform.")
class Institution(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    code: str = strawberry.field(description="Short unique code, e.g. BK001.")
    name: str
    kind: InstitutionKind
    region: str

    @classmethod
    def from_row(cls, row: InstitutionRow) -> Self:
        return cls(pk=row.id, code=row.code, name=row.name, kind=row.kind, region=row.region)
