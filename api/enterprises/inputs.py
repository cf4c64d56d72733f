from __future__ import annotations

import strawberry


@strawberry.input
class EnterpriseFilter:
    industry: str | None = None
    region: str | None = None
