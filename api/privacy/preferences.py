"""The privacy preference centre over GraphQL: a person's own switches, read and set."""

from datetime import datetime
from typing import Annotated, Self

import strawberry

from api.access import classified, mutation
from api.context import Context
from api.identity.types import InvalidInputError
from api.outcomes import perform
from domain.privacy import preferences


@classified(
    internal=[
        "marketing",
        "product_recommendations",
        "share_with_institutions",
        "share_with_providers",
        "updated_at",
    ]
)
@strawberry.type(
    description="Your privacy preferences; every feature that uses your data asks them."
)
class PrivacyPreferences:
    marketing: bool = strawberry.field(
        description="Marketing mail (a new product published) in your outbox. Off until "
        "you switch it on."
    )
    product_recommendations: bool = strawberry.field(
        description="recommendedProducts ranks products for your enterprises. On by default."
    )
    share_with_institutions: bool = strawberry.field(
        description="Your consents to institutions count: off, their staff see your "
        "enterprises' personal values masked unless the law gives another basis (an "
        "active loan), and new applications ask for consent. On by default."
    )
    share_with_providers: bool = strawberry.field(
        description="Partner systems of the institutions you applied to (service "
        "accounts) see your enterprises. On by default."
    )
    updated_at: datetime | None = strawberry.field(
        description="When you last changed them; null: never, these are the defaults."
    )

    @classmethod
    def of(cls, found: preferences.Preferences) -> Self:
        return cls(updated_at=found.updated_at, **found.switches())


@strawberry.input(description="The switches to change; those left out keep their values.")
class SetPrivacyPreferencesInput:
    marketing: bool | None = None
    product_recommendations: bool | None = None
    share_with_institutions: bool | None = None
    share_with_providers: bool | None = None


SetPrivacyPreferencesResult = Annotated[
    PrivacyPreferences | InvalidInputError, strawberry.union("SetPrivacyPreferencesResult")
]


@classified(public=["privacy_preferences"])
@strawberry.type
class PreferenceQueries:
    @strawberry.field(description="The signed-in person's privacy preferences; null otherwise.")
    async def privacy_preferences(
        self, info: strawberry.Info[Context, None]
    ) -> PrivacyPreferences | None:
        ctx = info.context
        if ctx.viewer.user_id is None:
            return None
        async with ctx.sessions() as session:
            return PrivacyPreferences.of(await preferences.of_user(session, ctx.viewer.user_id))


@strawberry.type
class PreferenceMutations:
    @mutation(
        "setPrivacyPreferences",
        description="Change your privacy preferences; each feature honours them at once.",
    )
    async def set_privacy_preferences(
        self, info: strawberry.Info[Context, None], input: SetPrivacyPreferencesInput
    ) -> SetPrivacyPreferencesResult:
        changes = {
            name: value
            for name in preferences.SWITCHES
            if (value := getattr(input, name)) is not None
        }
        result = await perform(
            info,
            lambda s, a: preferences.change(
                s, viewer=a.viewer, changes=changes, request_id=a.request_id
            ),
        )
        if isinstance(result, preferences.Preferences):
            return PrivacyPreferences.of(result)
        return result  # type: ignore[no-any-return]
