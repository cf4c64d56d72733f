"""How one personal value is shown to the viewer: revealed, masked by policy, or withheld.

Called by the field-access extension (api.access) for personal and sensitive
values the viewer may read, after Casbin has answered ``read`` and ``reveal``:

1. A break-glass grant of this viewer for this subject reveals (it is audited and
   reviewed; field permissions still applied before we got here).
2. A reveal needs a lawful basis besides the permission: it is the subject's own
   data; or the viewer works across institutions under a platform role; or, for
   institution staff, the subject consented to the request's purpose for their
   institution, or has an active loan with it (performance of a contract). A basis
   counts only for the purposes ``domain/privacy/lawful_bases.csv`` gives it (purpose
   limitation): an active loan is no basis for marketing.
3. A masking policy for (field, role, purpose) decides the form: what it says is
   shown if it does not reveal more than the two answers above allow; a policy that
   reveals falls back to the default mask when reveal or the lawful basis is missing.
4. Without a policy: the value when revealed, else the default partial mask.

Every value revealed is added to the request's access-log batch. Lookups per row
are loader hits and dictionary reads; each fact is fetched once per request.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.lending import repository as lending
from domain.privacy import break_glass, consent, lawful_bases
from domain.privacy.lawful_bases import Basis
from domain.privacy.policies import MaskingRules
from kernel.base import new_ids, utcnow
from privacy import keystore
from privacy.keys import KeyProvider
from privacy.masking import Strategy, mask

GLASS_ROLES = frozenset({Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN})


class DataKeys(Protocol):
    @property
    def data_key(self) -> DataLoader[uuid.UUID, bytes | None]: ...


class Request(Protocol):
    """What a disclosure reads of the request it serves. ``api.context.Context`` is one;
    naming only this keeps the arrow one way: the context builds disclosures, and a
    disclosure never imports the context."""

    @property
    def viewer(self) -> Viewer: ...
    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...
    @property
    def keys(self) -> KeyProvider: ...
    @property
    def purpose(self) -> str: ...
    @property
    def request_id(self) -> str: ...
    @property
    def reveals(self) -> list[tuple[uuid.UUID, str]]: ...
    @property
    def loaders(self) -> DataKeys: ...
    @property
    def disclosure_loaders(self) -> DisclosureLoaders: ...


class MaskingCache:
    """The active masking policies of this process, reloaded when their counter moves."""

    def __init__(self) -> None:
        self.version = -1
        self.rules = MaskingRules.empty()

    async def sync(self, session: AsyncSession, version: int) -> MaskingRules:
        if version != self.version:
            self.rules = await MaskingRules.load(session)
            self.version = version
        return self.rules


@dataclass(frozen=True, slots=True)
class Facts:
    """What a disclosure needs to know about one subject, fetched once per request."""

    key: bytes | None
    consented: frozenset[uuid.UUID | None]
    contracted: frozenset[uuid.UUID]
    glass: bool


def fact_kinds(viewer: Viewer) -> tuple[bool, bool]:
    """Which facts beyond the data key a viewer's disclosures need: (consents and
    contracts, for institution staff; break-glass, for privacy officers and admins)."""
    staff = bool(viewer.institution_ids) and not viewer.sees_all_tenants
    glass = viewer.user_id is not None and bool(viewer.platform_roles & GLASS_ROLES)
    return staff, glass


@dataclass
class Disclosure:
    context: Request
    rules: MaskingRules
    purpose: str
    # The request's own loaders unless asked about another purpose (explainFieldAccess).
    own_loaders: DisclosureLoaders | None = None
    _strategies: dict[str, Strategy | None] = field(default_factory=dict)
    _showers: dict[tuple[str, bool], Callable[..., Any]] = field(default_factory=dict)
    _facts: dict[uuid.UUID, Facts] = field(default_factory=dict)

    async def prefetch(
        self, subject_ids: Sequence[uuid.UUID], *, session: AsyncSession | None = None
    ) -> None:
        """Fetch a page's facts up front, so its personal fields resolve synchronously.

        Each kind of fact is one batched load, and only the kinds this viewer needs:
        through the request's loaders, or one after the other on ``session`` (the
        compiled read path's own connection) with the same functions.
        """
        ids = [i for i in dict.fromkeys(subject_ids) if i not in self._facts]
        if not ids:
            return
        staff, glass = fact_kinds(self.context.viewer)
        if session is not None:
            await self._prefetch_on(session, ids, staff=staff, glass=glass)
            return
        keys = await self.context.loaders.data_key.load_many(ids)
        consented = await self.loaders.consented.load_many(ids) if staff else None
        contracted = await self.loaders.contracted.load_many(ids) if staff else None
        opened = await self.loaders.glass.load_many(ids) if glass else None
        for n, subject_id in enumerate(ids):
            self._facts[subject_id] = Facts(
                key=keys[n],
                consented=consented[n] if consented else frozenset(),
                contracted=frozenset(contracted[n]) if contracted else frozenset(),
                glass=bool(opened) and subject_id in opened[n],  # type: ignore[index]
            )

    async def _prefetch_on(
        self, session: AsyncSession, ids: list[uuid.UUID], *, staff: bool, glass: bool
    ) -> None:
        now = utcnow()
        keys = await keystore.unwrap_many(session, self.context.keys, ids)
        consented = (
            await consent.consented(session, subject_ids=ids, purpose=self.purpose, now=now)
            if staff
            else {}
        )
        contracted = await lending.active_loan_institutions(session, ids) if staff else {}
        opened: set[uuid.UUID] = set()
        if glass:
            assert self.context.viewer.user_id is not None
            opened = await break_glass.open_for(
                session, viewer_id=self.context.viewer.user_id, subject_ids=ids, now=now
            )
        for subject_id in ids:
            self._facts[subject_id] = Facts(
                key=keys.get(subject_id),
                consented=consented.get(subject_id, frozenset()),
                contracted=frozenset(contracted.get(subject_id, ())),
                glass=subject_id in opened,
            )

    def learn(self, subject_id: uuid.UUID, facts: Facts) -> None:
        """Facts read elsewhere (the compiled read path reads them in its statement)."""
        self._facts[subject_id] = facts

    def known(self, subject_id: uuid.UUID | None) -> Facts | None:
        return None if subject_id is None else self._facts.get(subject_id)

    async def facts(self, subject_id: uuid.UUID) -> Facts:
        await self.prefetch([subject_id])  # batched with concurrent callers by the loaders
        return self._facts[subject_id]

    @property
    def viewer_roles(self) -> set[str]:
        viewer = self.context.viewer
        roles = {r.value for r in viewer.platform_roles}
        for held in viewer.institution_roles.values():
            roles.update(r.value for r in held)
        return roles

    def strategy(self, obj: str) -> Strategy | None:
        if obj not in self._strategies:
            self._strategies[obj] = self.rules.strategy_for(obj, self.viewer_roles, self.purpose)
        return self._strategies[obj]

    def _lawful(
        self, subject_id: uuid.UUID | None, owner_id: uuid.UUID | None, facts: Facts | None
    ) -> str | None:
        """The lawful basis for a reveal, in words (None: there is none for this purpose).

        A basis counts only for the purposes the lawful-basis table gives it.
        """
        viewer, covered = self.context.viewer, self.covered
        if (
            Basis.SUBJECT in covered
            and viewer.user_id is not None
            and viewer.user_id in (owner_id, subject_id)
        ):
            return "the subject's own data"
        if Basis.PLATFORM_OVERSIGHT in covered and viewer.sees_all_tenants:
            return "platform oversight under a platform role"
        mine = viewer.institution_ids
        if not mine or facts is None:
            return None
        if Basis.CONSENT in covered and (None in facts.consented or facts.consented & mine):
            return f"consent to {self.purpose} for your institution"
        if Basis.CONTRACT in covered and facts.contracted & mine:
            return "an active loan with your institution (performance of a contract)"
        return None

    @functools.cached_property
    def covered(self) -> frozenset[Basis]:
        """The bases that may justify a reveal for this request's purpose."""
        return lawful_bases.covering(self.purpose)

    async def basis(self, subject_id: uuid.UUID, owner_id: uuid.UUID | None) -> str | None:
        return self._lawful(subject_id, owner_id, await self.facts(subject_id))

    async def lawful(self, subject_id: uuid.UUID, owner_id: uuid.UUID | None) -> bool:
        return await self.basis(subject_id, owner_id) is not None

    async def glass(self, subject_id: uuid.UUID) -> bool:
        return (await self.facts(subject_id)).glass

    def shower(
        self, obj: str, field_name: str, *, revealable: bool
    ) -> Callable[[Any, uuid.UUID | None, uuid.UUID | None, Facts | None], Any]:
        """How values of one field are shown: ``show(value, subject_id, owner_id, facts)``.

        ``revealable``: Casbin allowed read and reveal (else read only). ``facts``: the
        subject's, fetched before (None only when there is no subject). What depends on
        the field alone (its masking policy) is looked up once, here.
        """
        found = self._showers.get((obj, revealable))
        if found is not None:
            return found
        policy = self.strategy(obj)
        keys = self.context.keys
        lawful = self._lawful
        log = self._log

        def show(
            value: Any,
            subject_id: uuid.UUID | None,
            owner_id: uuid.UUID | None,
            facts: Facts | None,
        ) -> Any:
            if revealable and facts is not None and facts.glass:
                log(subject_id, obj)
                return value
            reveal = revealable and lawful(subject_id, owner_id, facts) is not None
            if policy is not None and (policy.name != "reveal" or reveal):
                shown = policy.apply(value, object=obj, keys=keys)
                if policy.name == "reveal":
                    log(subject_id, obj)
                return shown
            if reveal:
                log(subject_id, obj)
                return value
            return mask(value, field_name)

        self._showers[(obj, revealable)] = show
        return show

    def _log(self, subject_id: uuid.UUID | None, obj: str) -> None:
        if subject_id is not None:
            self.context.reveals.append((subject_id, obj))

    @property
    def loaders(self) -> DisclosureLoaders:
        return self.own_loaders or self.context.disclosure_loaders


def access_log_rows(context: Request) -> list[dict[str, Any]]:
    """The request's reveals as access-log rows (taken: the request's list is emptied)."""
    viewer = context.viewer
    common = {
        "at": utcnow(),
        "viewer_id": viewer.user_id or viewer.service_account_id,
        "viewer_kind": "service" if viewer.service_account_id else "user",
        "institution_codes": ",".join(sorted(viewer.institution_codes.values())),
        "purpose": context.purpose,
        "request_id": context.request_id,
    }
    ids = new_ids(len(context.reveals))
    rows = [
        {"id": ids[n], "subject_id": subject, "object": obj, **common}
        for n, (subject, obj) in enumerate(context.reveals)
    ]
    context.reveals.clear()
    return rows


def selects_any(selections: Iterable[Any], names: frozenset[str]) -> bool:
    """Whether a selection (fields, fragments, nested) asks for any of ``names``."""
    for selection in selections:
        if getattr(selection, "name", None) in names:
            return True
        if selects_any(getattr(selection, "selections", ()), names):
            return True
    return False


class DisclosureLoaders:
    """The facts a disclosure needs, each fetched in one batch per request."""

    def __init__(self, context: Request, purpose: str) -> None:
        self._sessions: async_sessionmaker[AsyncSession] = context.sessions
        self._viewer = context.viewer
        self._purpose = purpose
        self.consented: DataLoader[uuid.UUID, frozenset[uuid.UUID | None]] = DataLoader(
            load_fn=self._consented
        )
        self.contracted: DataLoader[uuid.UUID, set[uuid.UUID]] = DataLoader(
            load_fn=self._contracted
        )
        self.glass: DataLoader[uuid.UUID, set[uuid.UUID]] = DataLoader(load_fn=self._glass)

    async def _consented(self, ids: Sequence[uuid.UUID]) -> list[frozenset[uuid.UUID | None]]:
        async with self._sessions() as session:
            found = await consent.consented(
                session, subject_ids=list(ids), purpose=self._purpose, now=utcnow()
            )
        return [found.get(i, frozenset()) for i in ids]

    async def _contracted(self, ids: Sequence[uuid.UUID]) -> list[set[uuid.UUID]]:
        async with self._sessions() as session:
            found = await lending.active_loan_institutions(session, list(ids))
        return [found.get(i, set()) for i in ids]

    async def _glass(self, ids: Sequence[uuid.UUID]) -> list[set[uuid.UUID]]:
        assert self._viewer.user_id is not None
        async with self._sessions() as session:
            found = await break_glass.open_for(
                session, viewer_id=self._viewer.user_id, subject_ids=list(ids), now=utcnow()
            )
        return [found for _ in ids]
