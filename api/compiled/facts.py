"""The facts behind a reveal, read by the statement itself.

Showing a personal value needs, per subject, its data key and, for institution staff,
which of the viewer's institutions it consented to and has an active loan with
(api.disclosure.Facts). The reference executor reads them in three batched queries
after the rows; here each object with a personal field carries them as hidden keys,
from correlated subqueries built on the privacy and lending definitions themselves
(``consent.active_grants``, ``lending.active_loans``), so a page of personal values
costs no further round trip and no SQLAlchemy statement in Python.

Break-glass access (privacy officers and platform admins) is rare and is read after,
as the reference reads it (``Disclosure.prefetch``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, func, or_, select

from api.compiled.binding import Slot
from api.compiled.catalog import Rows
from api.compiled.json_sql import JsonDialect, sql_string
from api.disclosure import Facts, fact_kinds
from domain.identity.viewer import Viewer
from domain.lending.repository import active_loans
from domain.privacy import consent
from privacy import keystore
from privacy.keys import KeyProvider
from privacy.models import DataKey

# Hidden keys ('#' cannot start a GraphQL name, so never an alias).
KEY_KEY = "#k"  # "<kid> <wrapped key>": neither holds a space
CONSENTED_KEY = "#c"
CONTRACTED_KEY = "#l"
# A consent to any institution (a grant without a recipient) in the joined list.
ANY_RECIPIENT = "*"
# Values bound per request, by these names.
PURPOSE_VALUE = "purpose"
NOW_VALUE = "now"
PURPOSE = Slot((PURPOSE_VALUE,))
NOW = Slot((NOW_VALUE,))


@dataclass(frozen=True, slots=True)
class FactsInSql:
    """Which facts the statement reads for a viewer of this shape."""

    staff: bool
    # The viewer's institutions (slots: bound per request). A reveal to staff asks only
    # whether a consent names one of them (or none in particular) and whether one of
    # them holds an active loan (Disclosure._lawful), so only those are read: the same
    # answer, and a page's lists stay empty or short.
    institutions: tuple[uuid.UUID, ...]

    @classmethod
    def for_viewer(cls, viewer: Viewer) -> FactsInSql | None:
        """None when the viewer also needs break-glass facts: all are read after then."""
        staff, glass = fact_kinds(viewer)
        return None if glass else cls(staff=staff, institutions=tuple(viewer.institution_ids))

    def pairs(self, json: JsonDialect, rows: Rows) -> list[tuple[str, ColumnElement[Any]]]:
        """Hidden keys of an object read from ``rows``: the subject is the row itself."""
        subject = rows.id
        key = cast(Table, DataKey.__table__).alias()
        # No row (NULL) once shredded: its kid and wrapped key are gone.
        stored = select(json.concat([key.c.kid, sql_string(" "), key.c.wrapped])).where(
            key.c.subject_id == subject, key.c.kid.is_not(None), key.c.wrapped.is_not(None)
        )
        found: list[tuple[str, ColumnElement[Any]]] = [(KEY_KEY, stored.scalar_subquery())]
        if self.staff:
            grants = consent.active_grants(purpose=PURPOSE, now=NOW)  # type: ignore[arg-type]
            # Derived tables correlate only when told to (api.compiled.build).
            granted = grants.selected_columns
            mine = (
                grants.where(
                    granted.subject_id == subject,
                    or_(
                        granted.recipient_institution_id.is_(None),
                        granted.recipient_institution_id.in_(self.institutions),
                    ),
                )
                .correlate(rows)
                .subquery()
            )
            recipient = func.coalesce(
                json.uuid_text(mine.c.recipient_institution_id), sql_string(ANY_RECIPIENT)
            )
            loans = active_loans()
            held = (
                loans.where(
                    loans.selected_columns.enterprise_id == subject,
                    loans.selected_columns.institution_id.in_(self.institutions),
                )
                .correlate(rows)
                .subquery()
            )
            found += [
                (
                    CONSENTED_KEY,
                    select(json.joined(recipient)).select_from(mine).scalar_subquery(),
                ),
                (
                    CONTRACTED_KEY,
                    select(json.joined(json.uuid_text(held.c.institution_id)))
                    .select_from(held)
                    .scalar_subquery(),
                ),
            ]
        return found


def read_facts(found: dict[str, Any], subject: uuid.UUID, keys: KeyProvider) -> Facts | None:
    """The facts an object carries (taken out of it), or None if it carries none."""
    if KEY_KEY not in found:
        return None
    stored: str | None = found.pop(KEY_KEY)
    consented = found.pop(CONSENTED_KEY, None)
    contracted = found.pop(CONTRACTED_KEY, None)
    key = None  # shredded, or never made
    if stored is not None:
        kid, _, wrapped = stored.partition(" ")
        key = keystore.unwrap(keys, kid, wrapped, subject)
    return Facts(
        key=key,
        consented=frozenset(
            None if r == ANY_RECIPIENT else uuid.UUID(r) for r in _split(consented)
        ),
        contracted=frozenset(uuid.UUID(i) for i in _split(contracted)),
        glass=False,
    )


def _split(joined: str | None) -> list[str]:
    return joined.split(",") if joined else []
