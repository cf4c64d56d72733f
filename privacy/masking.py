"""Masked forms of personal and sensitive values, for viewers who may read but not reveal.

The default strategy keeps just enough to recognise a value one already knows:
a mainland resident id keeps its region (first 6) and last 4 characters
(``110101********1234``), a mobile number its carrier prefix and last 4
(``138****5678``), an email its first character and domain, an account number its
last 4, a name its first character. Values that are not text (figures) are withheld
(null). Configurable strategies per field, role and purpose belong to the privacy
layer's masking policies.
"""

from __future__ import annotations

from typing import Any


def mask(value: Any, field: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        return None
    return mask_text(value)


def mask_text(text: str) -> str:
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    compact = text.replace(" ", "")
    if len(compact) == 18 and compact[:17].isdigit():
        return compact[:6] + "*" * 8 + compact[-4:]
    if len(compact) == 11 and compact.isdigit():
        return compact[:3] + "****" + compact[-4:]
    if len(compact) >= 8 and compact.isdigit():
        return "*" * (len(compact) - 4) + compact[-4:]
    if len(text) <= 1:
        return "*"
    return text[:1] + "*" * min(len(text) - 1, 6)
