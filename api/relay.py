"""Relay connections over keyset pages, and global ids."""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry import relay

from api.access import classified
from domain.identity.viewer import Viewer
from domain.settings import Settings
from kernel import formats
from kernel.errors import InvalidInput
from kernel.pagination import Keyset, Page

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT")
FilterT = TypeVar("FilterT")
FilterC = TypeVar("FilterC", contravariant=True)

DEFAULT_PAGE_SIZE = 20


@classified(public=["has_next_page", "has_previous_page", "start_cursor", "end_cursor"])
@strawberry.type(description="Where this page starts and ends, and whether more follow.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@classified(public=["cursor", "node"])
@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@classified(public=["edges", "page_info", "total_count"])
@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many rows match, across all pages (one extra query).")
    async def total_count(self) -> int:
        return await self.count()


def page_size(first: int | None, maximum: int) -> int:
    size = DEFAULT_PAGE_SIZE if first is None else first
    if size < 1 or size > maximum:
        raise InvalidInput(f"first must be between 1 and {maximum}")
    return size


def decode_after(keyset: Keyset, after: str | None) -> tuple[Any, ...] | None:
    return None if after is None else keyset.decode(after)


@dataclass(frozen=True, slots=True)
class ListingRequest(Generic[FilterT]):
    """A list's arguments as the domain takes them: one reading for both executors.

    Each root list's resolver and the compiled read path build it with the same
    function, so a filter, a page size or a cursor means the same on either path.
    """

    flt: FilterT
    keyset: Keyset
    first: int
    after: tuple[Any, ...] | None
    # The cursor as given: a page after one has a previous page.
    after_cursor: str | None

    @classmethod
    def read(
        cls,
        settings: Settings,
        *,
        keyset: Keyset,
        flt: FilterT,
        first: int | None,
        after: str | None,
    ) -> "ListingRequest[FilterT]":
        """``first`` held to the page size, ``after`` decoded for ``keyset``."""
        return cls(
            first=page_size(first, settings.page_size_max),
            flt=flt,
            keyset=keyset,
            after=decode_after(keyset, after),
            after_cursor=after,
        )


def connection(
    page: Page[RowT],
    *,
    keyset: Keyset,
    to_node: Callable[[RowT], NodeT],
    count: Callable[[], Awaitable[int]],
    after: str | None,
) -> Connection[NodeT]:
    edges = [Edge(cursor=keyset.encode(row), node=to_node(row)) for row in page.rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        count=count,
    )


async def listed(
    sessions: async_sessionmaker[AsyncSession],
    request: ListingRequest[Any],
    *,
    page: Callable[[AsyncSession], Awaitable[Page[RowT]]],
    count: Callable[[AsyncSession], Awaitable[int]],
    to_node: Callable[[RowT], NodeT],
) -> Connection[NodeT]:
    """A root list's connection: one page read in a session of its own, and the total
    read in another only if the selection asks for ``count`` (graphql-core resolves
    sibling fields concurrently, so sessions are never shared)."""
    async with sessions() as session:
        rows = await page(session)

    async def total() -> int:
        async with sessions() as session:
            return await count(session)

    return connection(
        rows, keyset=request.keyset, to_node=to_node, count=total, after=request.after_cursor
    )


class ScopedPage(Protocol[FilterC, RowT]):
    """A repository's page of the rows a viewer may see, by filter and keyset."""

    def __call__(
        self,
        session: AsyncSession,
        *,
        viewer: Viewer,
        flt: FilterC,
        first: int,
        after: tuple[Any, ...] | None,
    ) -> Awaitable[Page[RowT]]: ...


class ScopedCount(Protocol[FilterC]):
    def __call__(
        self, session: AsyncSession, *, viewer: Viewer, flt: FilterC
    ) -> Awaitable[int]: ...


async def listed_for(
    sessions: async_sessionmaker[AsyncSession],
    viewer: Viewer,
    request: ListingRequest[FilterT],
    page: ScopedPage[FilterT, RowT],
    count: ScopedCount[FilterT],
    to_node: Callable[[RowT], NodeT],
) -> Connection[NodeT]:
    """``listed`` for the common shape: a repository's ``list_x``/``count_x`` pair that
    both scope by the viewer and take the request's filter."""
    return await listed(
        sessions,
        request,
        page=lambda s: page(
            s, viewer=viewer, flt=request.flt, first=request.first, after=request.after
        ),
        count=lambda s: count(s, viewer=viewer, flt=request.flt),
        to_node=to_node,
    )


def decode_global_id(
    value: str, *, expected: str | Sequence[str] | None = None, field: str | None = None
) -> tuple[str, uuid.UUID]:
    """(type name, primary key) of a global id; BAD_USER_INPUT if it is not one of ours.

    ``field``: where the id was given, relative to the input ("applicationId").
    """
    try:
        gid = relay.GlobalID.from_id(value)
        pk = uuid.UUID(gid.node_id)
    except (ValueError, TypeError):
        raise InvalidInput(f"{value!r} is not a valid id", field=field) from None
    allowed = (expected,) if isinstance(expected, str) else expected
    if allowed is not None and gid.type_name not in allowed:
        raise InvalidInput(f"{value!r} is not the id of a {' or '.join(allowed)}", field=field)
    return gid.type_name, pk


def decode_pk(value: str | None, type_name: str, *, field: str | None = None) -> uuid.UUID | None:
    return None if value is None else decode_global_id(value, expected=type_name, field=field)[1]


def encode_pk(pk: uuid.UUID | None, type_name: str) -> strawberry.ID | None:
    """The global id of a row's key (None stays None): ``decode_pk`` the other way."""
    return None if pk is None else strawberry.ID(formats.global_id(type_name, pk))
