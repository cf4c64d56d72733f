"""What the compiled read path knows of each GraphQL type: its table, its row rule,
its relations, and the few fields whose column does not share the field's name.

A plain field is served from the model's column of the same (Python) name, exactly
as the type's ``from_row`` copies it; a field with a resolver of its own is only
compiled when a relation here says how. Anything else leaves the operation to the
reference executor. Row rules are the domain's own ``visible`` conditions: the same
function the repositories apply, given an alias of the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import InstrumentedAttribute

from api.applications import queries as application_queries
from api.enterprises import queries as enterprise_queries
from api.enterprises.types import applications_request
from api.lending import queries as loan_queries
from api.products import queries as product_queries
from api.relay import ListingRequest
from api.risk import alerts as alert_api
from domain.applications import repository as applications
from domain.applications.models import Application, Contract, Decision, Transition
from domain.enterprises import repository as enterprises
from domain.enterprises.models import Enterprise, FinancialStatement
from domain.identity.models import Institution
from domain.identity.viewer import Viewer
from domain.lending import repository as lending
from domain.lending.models import Installment, Loan, Repayment
from domain.products import repository as products
from domain.products.models import Product
from domain.risk import alerts
from domain.risk.models import RiskAlert
from domain.settings import Settings
from privacy.keys import KeyProvider

Rows = Any  # an ORM entity or an alias of one
RowRule = Callable[[Viewer, Rows], ColumnElement[bool]]


@dataclass(frozen=True, slots=True)
class GlobalIdOf:
    """A field serving another row's key as a global id (``encode_pk``)."""

    type_name: str
    column: str


@dataclass(frozen=True, slots=True)
class ToOne:
    target: str
    # (parent rows, child rows) -> the join condition
    link: Callable[[Rows, Rows], ColumnElement[bool]]


@dataclass(frozen=True, slots=True)
class ToMany:
    target: str
    link: Callable[[Rows, Rows], ColumnElement[bool]]
    # The order the reference loader reads them in (child rows -> ORDER BY terms).
    order: Callable[[Rows], tuple[ColumnElement[Any], ...]]


@dataclass(frozen=True, slots=True)
class NestedConnection:
    target: str
    # (viewer, parent rows) -> the children's listing, on the target's own table
    listing: Callable[[Viewer, Rows], Select[Any]]
    # (settings, first, after) -> the page asked for, read as the resolver reads it
    request: Callable[..., ListingRequest[Any]]


Relation = ToOne | ToMany | NestedConnection


@dataclass(frozen=True, slots=True)
class Source:
    type_name: str
    model: type[Any]
    rule: RowRule | None = None  # None: every row may be seen once reached
    renamed: Mapping[str, Callable[[Rows], ColumnElement[Any]] | GlobalIdOf] = field(
        default_factory=dict
    )
    relations: Mapping[str, Relation] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RootList:
    target: str
    listing: Callable[[Viewer, Any], Select[Any]]
    # (settings, keys, **arguments) -> the page asked for, as the resolver reads it
    request: Callable[..., ListingRequest[Any]]


def _points_at(column: str) -> Callable[[Rows, Rows], ColumnElement[bool]]:
    """The child is the row the parent's ``column`` names."""

    def link(parent: Rows, child: Rows) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = child.id == getattr(parent, column)
        return condition

    return link


def _points_back(column: str) -> Callable[[Rows, Rows], ColumnElement[bool]]:
    """The children are the rows whose ``column`` names the parent."""

    def link(parent: Rows, child: Rows) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = getattr(child, column) == parent.id
        return condition

    return link


def _applications_of(viewer: Viewer, parent: Rows) -> Select[Any]:
    return applications.scoped(
        select(Application).where(Application.enterprise_id == parent.id), viewer
    )


def _by_keys(*names: str, descending: bool = False) -> Callable[[Rows], tuple[Any, ...]]:
    def order(rows: Rows) -> tuple[Any, ...]:
        columns: list[InstrumentedAttribute[Any]] = [getattr(rows, n) for n in names]
        return tuple(c.desc() if descending else c.asc() for c in columns)

    return order


# What an application and its loan both name: who borrows, which product, which lender.
_ROUTED: dict[str, Relation] = {
    "enterprise": ToOne("Enterprise", _points_at("enterprise_id")),
    "product": ToOne("Product", _points_at("product_id")),
    "institution": ToOne("Institution", _points_at("institution_id")),
}

SOURCES: dict[str, Source] = {
    s.type_name: s
    for s in (
        Source("Institution", Institution),
        Source(
            "Product",
            Product,
            rule=products.visible,
            relations={"institution": ToOne("Institution", _points_at("institution_id"))},
        ),
        Source("FinancialStatement", FinancialStatement),
        Source(
            "Enterprise",
            Enterprise,
            rule=enterprises.visible,
            relations={
                "financialStatements": ToMany(
                    "FinancialStatement",
                    _points_back("enterprise_id"),
                    _by_keys("fiscal_year", descending=True),
                ),
                "applications": NestedConnection(
                    "Application", _applications_of, applications_request
                ),
            },
        ),
        Source("Decision", Decision, renamed={"decidedAt": lambda rows: rows.created_at}),
        Source("ApplicationTransition", Transition),
        Source("Contract", Contract),
        Source(
            "Application",
            Application,
            rule=applications.visible,
            renamed={
                "awaitingSecondApproval": lambda rows: rows.pending_approval_by.is_not(None),
            },
            relations={
                **_ROUTED,
                "loan": ToOne("Loan", _points_back("application_id")),
                "contract": ToOne("Contract", _points_back("application_id")),
                "decisions": ToMany(
                    "Decision",
                    _points_back("application_id"),
                    _by_keys("created_at", "id"),
                ),
                "timeline": ToMany(
                    "ApplicationTransition",
                    _points_back("application_id"),
                    _by_keys("at", "id"),
                ),
            },
        ),
        Source("Installment", Installment),
        Source(
            "Repayment",
            Repayment,
            renamed={
                "earlyRepayment": lambda rows: rows.early_choice,
                "recordedAt": lambda rows: rows.created_at,
            },
        ),
        Source(
            "Loan",
            Loan,
            rule=lending.visible,
            relations={
                "application": ToOne("Application", _points_at("application_id")),
                **_ROUTED,
                "schedule": ToMany(
                    "Installment",
                    _points_back("loan_id"),
                    _by_keys("sequence"),
                ),
                "repayments": ToMany(
                    "Repayment",
                    _points_back("loan_id"),
                    _by_keys("paid_on", "id"),
                ),
            },
        ),
        Source(
            "RiskAlert",
            RiskAlert,
            rule=alerts.visible,
            renamed={
                "institutionId": GlobalIdOf("Institution", "institution_id"),
            },
            relations={"loan": ToOne("Loan", _points_at("loan_id"))},
        ),
    )
}


def _plain(
    request: Callable[..., ListingRequest[Any]],
) -> Callable[..., ListingRequest[Any]]:
    def read(settings: Settings, _keys: KeyProvider, **arguments: Any) -> ListingRequest[Any]:
        return request(settings, **arguments)

    return read


ROOT_LISTS: dict[str, RootList] = {
    "applications": RootList(
        "Application", applications.listing, _plain(application_queries.listing_request)
    ),
    "enterprises": RootList("Enterprise", enterprises.listing, enterprise_queries.listing_request),
    "loans": RootList("Loan", lending.listing, _plain(loan_queries.listing_request)),
    "products": RootList(
        "Product",
        lambda _viewer, flt: products.catalog(flt),
        _plain(product_queries.listing_request),
    ),
    "riskAlerts": RootList("RiskAlert", alerts.listing, _plain(alert_api.listing_request)),
}

# node(id:) of these types is compiled; the others are left to the reference executor.
NODE_TYPES = frozenset({"Institution", "Product", "Enterprise", "Application", "Loan", "RiskAlert"})
