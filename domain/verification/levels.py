"""What a verification level lets an enterprise's owner do, asked of the policy.

The levels are Casbin subjects (``verification:unverified``, ``verification:basic``,
``verification:verified``; each higher one inherits the lower) and the capabilities
objects of the policy, so a platform admin changes them with ``addPolicyRule`` like any
other permission, and nothing here names a level's rights:

- ``Capability.applyUpTo.<amount>``: apply for at most that amount. The amounts are the
  policy's own: the smallest band covering the amount asked is the one asked about
  (``Capability.applyUpTo.unlimited`` above them all).
- ``Capability.signContract``, ``Capability.preApprovedOffers``: sign a contract; be shown
  offers made before an application.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from domain.identity.authorization import PLATFORM, Action, Authorizer, Principal
from domain.verification.models import VerificationLevel

SUBJECT_PREFIX = "verification:"
APPLY_BAND = "Capability.applyUpTo."
SIGN_CONTRACT = "Capability.signContract"
PRE_APPROVED_OFFERS = "Capability.preApprovedOffers"
UNLIMITED = "unlimited"


def _principal(level: VerificationLevel) -> Principal:
    return Principal(grants=((SUBJECT_PREFIX + level.value, PLATFORM),))


def may(authorizer: Authorizer, level: VerificationLevel, capability: str) -> bool:
    """Whether an enterprise at ``level`` has ``capability`` (an object of the policy)."""
    action: Action = "read" if capability == PRE_APPROVED_OFFERS else "write"
    return authorizer.allows(_principal(level), capability, action)[0]


def apply_band(authorizer: Authorizer, amount: Decimal) -> str:
    """The policy object that decides an application for ``amount``."""
    bands = []
    for obj in authorizer.objects(APPLY_BAND):
        try:
            bands.append(Decimal(obj.removeprefix(APPLY_BAND)))
        except InvalidOperation:  # "unlimited", or a glob
            continue
    covering = [b for b in bands if b.is_finite() and b >= amount]
    return APPLY_BAND + (str(min(covering)) if covering else UNLIMITED)


def may_apply(authorizer: Authorizer, level: VerificationLevel, amount: Decimal) -> bool:
    return may(authorizer, level, apply_band(authorizer, amount))


def largest_application(authorizer: Authorizer, level: VerificationLevel) -> Decimal | None:
    """The most an enterprise at ``level`` may ask for; None: no limit."""
    if may(authorizer, level, APPLY_BAND + UNLIMITED):
        return None
    allowed = [
        Decimal(obj.removeprefix(APPLY_BAND))
        for obj in authorizer.objects(APPLY_BAND)
        if obj.removeprefix(APPLY_BAND).replace(".", "", 1).isdigit()
        and may(authorizer, level, obj)
    ]
    return max(allowed, default=Decimal(0))
