from __future__ import annotations

import strawberry


@strawberry.input
class EnterpriseFilter:
    industry: str | None = None
    region: str | None = None
    legal_representative_id_number: str | None = strawberry.field(
        default=None,
        description="Exact match through a blind index; nothing is decrypted to search.",
    )
