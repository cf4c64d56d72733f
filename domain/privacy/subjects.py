"""Data-subject requests: a copy of everything held about an enterprise, and its erasure.

Export: every row that is about the enterprise, sealed values opened with its data
key, as one JSON-ready document. Nothing is left out to spare a query; what the
lender keeps after an erasure is exported too (with the personal values gone).

Erasure is crypto-shredding. The enterprise's data key is destroyed, its sealed
columns and the blind index of its legal representative's id number are set to
NULL (the ciphertext is useless without the key, but it is not kept either), and
an audit entry records who erased it and why. What the lender must keep by law
(applications, decisions, loans, schedules, repayments, statements, assessments:
amounts and dates, no personal values) stays. An enterprise with an ACTIVE or a
WRITTEN_OFF loan is not erased: the lender must keep the contract and its contact
details until the loan is closed (legal retention); a written-off debt is still
owed. The owner's user account is a subject of its own (domain.privacy.requests.erase_person)
and is not touched here.

Backups, honestly: a database backup taken before the erasure still holds the
subject's data key, wrapped under the master key that was current then, and the
ciphertext. Anyone holding that backup *and* that master key can still open the
values. The erasure becomes complete for backups only once every data key has been
rewrapped under a new master key (``lendgraph keys rotate``) and the old master key
is retired (removed from every configuration and key store): from then on no
backup's wrapped keys unwrap. Until that retirement, the erasure holds for the live
database (and for backups taken after it) only. Backups taken after the erasure
hold no key for the subject at all.

Copies that left the database (an export already handed over, a value a viewer
wrote down) are beyond any erasure; the access log says who saw what, and when.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications.models import Application, Decision, Transition
from domain.audit.models import AuditEntry
from domain.contracts import termination
from domain.contracts.models import LoanTermination
from domain.enterprises.models import SEALED_COLUMNS, Enterprise, FinancialStatement
from domain.feedback.models import ServiceRating, SupportMessage, SupportTicket
from domain.identity import people
from domain.identity.models import OutboxMessage
from domain.identity.viewer import Viewer
from domain.lending.models import Installment, Loan, LoanStatus, Repayment
from domain.privacy.models import AccessLogEntry, ConsentRecord
from domain.providers.models import ExternalDataRecord
from domain.risk.models import RiskAlert, RiskAlertAction, RiskAssessment
from domain.verification.models import VerificationCase, VerificationDocument, VerificationEvent
from kernel.base import new_id, utcnow
from kernel.errors import Conflict, InvalidInput, NotFound
from kernel.formats import global_id
from kernel.pagination import Keyset, Page, page_from
from privacy import keystore, vault
from privacy.keys import KeyProvider
from privacy.models import DataKey

TABLE = "enterprises"
BLIND_INDEX_COLUMN = "legal_representative_id_bidx"
EXTERNAL_TABLE = ExternalDataRecord.__tablename__
EXPORT_OBJECT = "Enterprise.*"
EXPORT_PURPOSE = "data_subject_request"
MIN_REASON = 10

NEWEST = Keyset("newest", (AccessLogEntry.id,), descending=True)


class ErasureRefused(Conflict):
    """The lender must keep the subject's data for now (an active loan)."""

    code = "ERASURE_REFUSED"


@dataclass(frozen=True, slots=True)
class ErasureReceipt:
    id: uuid.UUID  # the audit entry's
    subject_id: uuid.UUID
    erased_at: datetime
    removed: tuple[str, ...]
    kept: Mapping[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------- export


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return _json(value.value)
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [_json(v) for v in value]
    raise TypeError(f"cannot export a {type(value).__name__}")


def _row(obj: Any, **opened: Any) -> dict[str, Any]:
    """Every mapped column of ``obj``, camelCased; ``opened`` replaces sealed ones."""
    out: dict[str, Any] = {}
    for attr in sa_inspect(type(obj)).column_attrs:
        value = opened[attr.key] if attr.key in opened else getattr(obj, attr.key)
        out[_camel(attr.key)] = _json(value)
    return out


def _open(row: Enterprise, key: bytes | None) -> dict[str, str | None]:
    opened: dict[str, str | None] = {}
    for column in SEALED_COLUMNS:
        sealed = getattr(row, column)
        opened[column] = (
            vault.unseal(key, sealed, table=TABLE, column=column, row_id=row.id)
            if key is not None and sealed is not None
            else None
        )
    return opened


def _open_external(row: ExternalDataRecord, key: bytes | None) -> Any:
    if key is None or row.personal is None:
        return None
    return json.loads(
        vault.unseal(key, row.personal, table=EXTERNAL_TABLE, column="personal", row_id=row.id)
    )


def _open_reason(row: LoanTermination, key: bytes | None) -> str | None:
    if key is None or row.reason is None:
        return None
    return termination.open_reason(key, row.reason, row_id=row.id)


def _key_state(row: DataKey | None) -> str:
    if row is None:
        return "absent"
    if row.shredded_at is not None:
        return f"shredded at {row.shredded_at.isoformat()}"
    return "active"


async def _all(session: AsyncSession, stmt: Select[Any]) -> list[Any]:
    return list((await session.scalars(stmt)).all())


async def _enterprise(
    session: AsyncSession, subject_id: uuid.UUID, *, lock: bool = False
) -> Enterprise:
    stmt = select(Enterprise).where(Enterprise.id == subject_id)
    if lock:
        stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None:
        raise NotFound(f"no enterprise with id {subject_id}")
    return row


async def export_subject(
    session: AsyncSession, keys: KeyProvider, *, subject_id: uuid.UUID
) -> dict[str, Any]:
    """Everything held about an enterprise, decrypted and JSON-ready.

    Decimals are strings, timestamps and dates ISO 8601, keys camelCase. Sealed values
    are null once the data key is shredded. A fixed number of queries, whatever the size.
    """
    enterprise = await _enterprise(session, subject_id)
    key_row = await session.get(DataKey, subject_id)
    key = (await keystore.unwrap_many(session, keys, [subject_id]))[subject_id]

    statements = await _all(
        session,
        select(FinancialStatement)
        .where(FinancialStatement.enterprise_id == subject_id)
        .order_by(FinancialStatement.fiscal_year),
    )
    applications = await _all(
        session,
        select(Application).where(Application.enterprise_id == subject_id).order_by(Application.id),
    )
    decisions = await _all(
        session,
        select(Decision)
        .join(Application, Application.id == Decision.application_id)
        .where(Application.enterprise_id == subject_id)
        .order_by(Decision.created_at, Decision.id),
    )
    assessments = await _all(
        session,
        select(RiskAssessment)
        .where(RiskAssessment.enterprise_id == subject_id)
        .order_by(RiskAssessment.assessed_at, RiskAssessment.id),
    )
    loans = await _all(
        session, select(Loan).where(Loan.enterprise_id == subject_id).order_by(Loan.id)
    )
    installments = await _all(
        session,
        select(Installment)
        .join(Loan, Loan.id == Installment.loan_id)
        .where(Loan.enterprise_id == subject_id)
        .order_by(Installment.loan_id, Installment.sequence),
    )
    repayments = await _all(
        session,
        select(Repayment)
        .join(Loan, Loan.id == Repayment.loan_id)
        .where(Loan.enterprise_id == subject_id)
        .order_by(Repayment.paid_on, Repayment.id),
    )
    alerts = await _all(
        session,
        select(RiskAlert).where(RiskAlert.enterprise_id == subject_id).order_by(RiskAlert.id),
    )
    consents = await _all(
        session,
        select(ConsentRecord)
        .where(ConsentRecord.subject_id == subject_id)
        .order_by(ConsentRecord.recorded_at, ConsentRecord.id),
    )
    external = await _all(
        session,
        select(ExternalDataRecord)
        .where(ExternalDataRecord.enterprise_id == subject_id)
        .order_by(ExternalDataRecord.id),
    )
    terminations = await _all(
        session,
        select(LoanTermination)
        .where(LoanTermination.enterprise_id == subject_id)
        .order_by(LoanTermination.at, LoanTermination.id),
    )
    accesses = await _all(
        session,
        select(AccessLogEntry)
        .where(AccessLogEntry.subject_id == subject_id)
        .order_by(AccessLogEntry.id),
    )

    decisions_of: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for decision in decisions:
        decisions_of[decision.application_id].append(_row(decision))
    assessments_of: dict[uuid.UUID | None, list[dict[str, Any]]] = defaultdict(list)
    for assessment in assessments:
        assessments_of[assessment.application_id].append(_row(assessment))
    schedule_of: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for installment in installments:
        schedule_of[installment.loan_id].append(_row(installment))
    repayments_of: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for repayment in repayments:
        repayments_of[repayment.loan_id].append(_row(repayment))

    return {
        "subjectId": str(subject_id),
        "subjectType": "enterprise",
        "exportedAt": utcnow().isoformat(),
        "dataKey": _key_state(key_row),
        "profile": _row(enterprise, **_open(enterprise, key)),
        "financialStatements": [_row(s) for s in statements],
        "applications": [
            {
                **_row(a),
                "decisions": decisions_of[a.id],
                "riskAssessments": assessments_of[a.id],
            }
            for a in applications
        ],
        # Assessments of the enterprise itself, outside any application.
        "riskAssessments": assessments_of[None],
        "loans": [
            {**_row(loan), "schedule": schedule_of[loan.id], "repayments": repayments_of[loan.id]}
            for loan in loans
        ],
        # Contracts ended early (cancelled, settled, accelerated), the reasons opened.
        "terminations": [_row(t, reason=_open_reason(t, key)) for t in terminations],
        "riskAlerts": [_row(a) for a in alerts],
        # What providers said of it, the names in it opened like the profile's.
        "externalData": [_row(r, personal=_open_external(r, key)) for r in external],
        "consents": [_row(c) for c in consents],
        "accessLog": [_row(e) for e in accesses],
    }


def record_export(
    session: AsyncSession,
    *,
    viewer: Viewer,
    subject_id: uuid.UUID,
    request_id: str | None,
    at: datetime | None = None,
) -> None:
    """An export reveals every personal value at once: one access-log row, one audit entry."""
    at = at or utcnow()
    session.add(
        AccessLogEntry.of(
            viewer,
            subject_id=subject_id,
            obj=EXPORT_OBJECT,
            purpose=EXPORT_PURPOSE,
            request_id=request_id,
            at=at,
        )
    )
    session.add(
        AuditEntry(
            at=at,
            actor_id=viewer.user_id or viewer.service_account_id,
            action="subject.exported",
            entity_type="enterprise",
            entity_id=str(subject_id),
            detail={},
            request_id=request_id,
        )
    )


# ------------------------------------------------------------------------ erasure


def _kept_counts_statements(subject_id: uuid.UUID) -> list[tuple[str, Select[Any]]]:
    """What the lender keeps about the subject, per table: the receipt's counts."""
    return [
        ("enterprises", select(func.count(Enterprise.id)).where(Enterprise.id == subject_id)),
        (
            "financial_statements",
            select(func.count(FinancialStatement.id)).where(
                FinancialStatement.enterprise_id == subject_id
            ),
        ),
        (
            "applications",
            select(func.count(Application.id)).where(Application.enterprise_id == subject_id),
        ),
        (
            "decisions",
            select(func.count(Decision.id))
            .join(Application, Application.id == Decision.application_id)
            .where(Application.enterprise_id == subject_id),
        ),
        (
            "risk_assessments",
            select(func.count(RiskAssessment.id)).where(RiskAssessment.enterprise_id == subject_id),
        ),
        ("loans", select(func.count(Loan.id)).where(Loan.enterprise_id == subject_id)),
        (
            "schedule_installments",
            select(func.count(Installment.id))
            .join(Loan, Loan.id == Installment.loan_id)
            .where(Loan.enterprise_id == subject_id),
        ),
        (
            "repayments",
            select(func.count(Repayment.id))
            .join(Loan, Loan.id == Repayment.loan_id)
            .where(Loan.enterprise_id == subject_id),
        ),
        (
            "risk_alerts",
            select(func.count(RiskAlert.id)).where(RiskAlert.enterprise_id == subject_id),
        ),
        (
            "consent_records",
            select(func.count(ConsentRecord.id)).where(ConsentRecord.subject_id == subject_id),
        ),
        (
            "access_log",
            select(func.count(AccessLogEntry.id)).where(AccessLogEntry.subject_id == subject_id),
        ),
    ]


async def _kept_counts(session: AsyncSession, subject_id: uuid.UUID) -> dict[str, int]:
    """Rows about the subject that stay, per table, in one statement."""
    named = _kept_counts_statements(subject_id)
    row = (await session.execute(select(*(stmt.scalar_subquery() for _, stmt in named)))).one()
    return {name: int(n or 0) for (name, _), n in zip(named, row, strict=True)}


async def _shred_feedback(
    session: AsyncSession, enterprise_id: uuid.UUID, *, now: datetime
) -> list[str]:
    """The enterprise's rating comments, ticket subjects and messages, each sealed under
    its own row's key: those keys destroyed with the enterprise's (what was shredded)."""
    tickets = select(SupportTicket.id).where(SupportTicket.enterprise_id == enterprise_id)
    rows = {
        "service_ratings.comment": select(ServiceRating.id).where(
            ServiceRating.enterprise_id == enterprise_id
        ),
        "support_tickets.subject": tickets,
        "support_messages.body": select(SupportMessage.id).where(
            SupportMessage.ticket_id.in_(tickets)
        ),
    }
    removed = []
    for column, ids in rows.items():
        result = await session.execute(
            update(DataKey)
            .where(DataKey.subject_id.in_(ids), DataKey.shredded_at.is_(None))
            .values(kid=None, wrapped=None, shredded_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            removed.append(column)
    return removed


async def erase_subject(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    subject_id: uuid.UUID,
    reason: str,
    now: datetime | None = None,
    request_id: str | None = None,
) -> ErasureReceipt:
    """Crypto-shred an enterprise's personal data, keeping what the lender must keep.

    Also erased (``_erase_related``): the verification (KYC/KYB) documents and the
    notes of the enterprise's cases (their own data keys shredded, the sealed columns
    emptied), the reasons its contracts were ended for (sealed under its key, emptied),
    the officers' notes on its applications and risk alerts, and the mail to
    its owner about its applications (``keys`` opens the owner's mail to find it). The
    receipt names each with its count.
    """
    reason = reason.strip()
    if len(reason) < MIN_REASON:
        raise InvalidInput(f"reason: give at least {MIN_REASON} characters", field="reason")
    at = now or utcnow()
    enterprise = await _enterprise(session, subject_id, lock=True)
    key_row = await session.get(DataKey, subject_id)
    if key_row is not None and key_row.shredded_at is not None:
        raise Conflict("the subject is already erased")
    # A written-off debt is still owed and may be pursued: a legal basis like an active loan.
    keeping = await session.scalar(
        select(func.count(Loan.id)).where(
            Loan.enterprise_id == subject_id,
            Loan.status.in_((LoanStatus.ACTIVE, LoanStatus.WRITTEN_OFF)),
        )
    )
    if keeping:
        raise ErasureRefused(
            "enterprise has an active loan or a written-off debt; the lender must keep it "
            "until it is closed (legal retention)"
        )
    # The conditional UPDATE settles a race between two erasures: one shreds, one finds none.
    if key_row is not None and not await keystore.shred(session, subject_id, now=at):
        raise Conflict("the subject is already erased")
    removed_columns = [*SEALED_COLUMNS, BLIND_INDEX_COLUMN]
    await session.execute(
        update(Enterprise)
        .where(Enterprise.id == enterprise.id)
        .values(dict.fromkeys(removed_columns))
        .execution_options(synchronize_session="fetch")
    )
    about = await _erase_related(session, keys, subject_id, now=at)
    removed = tuple(
        [f"{TABLE}.{c}" for c in removed_columns]
        + (["data_keys.wrapped"] if key_row is not None else [])
        + await _shred_feedback(session, subject_id, now=at)
        + [f"{name} ({n})" for name, n in about.items() if n]
    )
    kept = await _kept_counts(session, subject_id)
    entry = AuditEntry(
        id=new_id(),
        at=at,
        actor_id=viewer.user_id or viewer.service_account_id,
        action="subject.erased",
        entity_type="enterprise",
        entity_id=str(subject_id),
        detail={"reason": reason, "removed": list(removed), "kept": kept},
        request_id=request_id,
    )
    session.add(entry)
    await session.flush()
    return ErasureReceipt(
        id=entry.id, subject_id=subject_id, erased_at=at, removed=removed, kept=kept
    )


async def _erase_related(
    session: AsyncSession, keys: KeyProvider, subject_id: uuid.UUID, *, now: datetime
) -> dict[str, int]:
    """Erase what is about the enterprise outside its own row; how many of each."""
    cases = select(VerificationCase.id).where(VerificationCase.enterprise_id == subject_id)
    documents = (
        await session.scalars(
            select(VerificationDocument.id).where(VerificationDocument.case_id.in_(cases))
        )
    ).all()
    notes = (
        await session.scalars(
            select(VerificationEvent.id).where(
                VerificationEvent.case_id.in_(cases), VerificationEvent.note.is_not(None)
            )
        )
    ).all()
    # Each document and note is sealed under a data key of its own: shred it, empty the column.
    for row_id in (*documents, *notes):
        await keystore.shred(session, row_id, now=now)
    if documents:
        await session.execute(
            update(VerificationDocument)
            .where(VerificationDocument.id.in_(documents))
            .values(content="")
            .execution_options(synchronize_session="fetch")
        )
    if notes:
        await session.execute(
            update(VerificationEvent)
            .where(VerificationEvent.id.in_(notes))
            .values(note=None)
            .execution_options(synchronize_session="fetch")
        )
    applications = select(Application.id).where(Application.enterprise_id == subject_id)
    transitions = await session.execute(
        update(Transition)
        .where(Transition.application_id.in_(applications), Transition.note != "")
        .values(note="")
        .execution_options(synchronize_session="fetch")
    )
    # A termination's reason is sealed under the enterprise's key, shredded above: the
    # ciphertext is not kept either.
    reasons = await session.execute(
        update(LoanTermination)
        .where(LoanTermination.enterprise_id == subject_id, LoanTermination.reason.is_not(None))
        .values(reason=None)
        .execution_options(synchronize_session="fetch")
    )
    alerts = select(RiskAlert.id).where(RiskAlert.enterprise_id == subject_id)
    alert_notes = await session.execute(
        update(RiskAlertAction)
        .where(RiskAlertAction.alert_id.in_(alerts), RiskAlertAction.note != "")
        .values(note="")
        .execution_options(synchronize_session="fetch")
    )
    return {
        "verification_documents.content": len(documents),
        "verification_events.note": len(notes),
        "application_transitions.note": int(transitions.rowcount),  # type: ignore[attr-defined]
        "risk_alert_actions.note": int(alert_notes.rowcount),  # type: ignore[attr-defined]
        "loan_terminations.reason": int(reasons.rowcount),  # type: ignore[attr-defined]
        "outbox": await _erase_mail_about(session, keys, subject_id),
    }


async def _erase_mail_about(session: AsyncSession, keys: KeyProvider, subject_id: uuid.UUID) -> int:
    """Delete the mail to the enterprise's owner that names one of its applications."""
    owner_id = await session.scalar(select(Enterprise.owner_id).where(Enterprise.id == subject_id))
    if owner_id is None:
        return 0
    references = [
        global_id("Application", a)
        for a in (
            await session.scalars(
                select(Application.id).where(Application.enterprise_id == subject_id)
            )
        ).all()
    ]
    if not references:
        return 0
    messages = list(
        await session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == owner_id))
    )
    opened = await people.read_mail(session, keys, messages)
    about = [
        m.id
        for m, (_, body) in zip(messages, opened, strict=True)
        if any(ref in body for ref in references)
    ]
    if about:
        await session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(about)))
    return len(about)


# --------------------------------------------------------------------- access log


@dataclass(frozen=True, slots=True)
class AccessLogFilter:
    subject_id: uuid.UUID | None = None
    viewer_id: uuid.UUID | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def _access_listing(flt: AccessLogFilter) -> Select[Any]:
    stmt = select(AccessLogEntry)
    if flt.subject_id is not None:
        stmt = stmt.where(AccessLogEntry.subject_id == flt.subject_id)
    if flt.viewer_id is not None:
        stmt = stmt.where(AccessLogEntry.viewer_id == flt.viewer_id)
    if flt.since is not None:
        stmt = stmt.where(AccessLogEntry.at >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(AccessLogEntry.at < flt.until)
    return stmt


async def access_log(
    session: AsyncSession,
    *,
    subject_id: uuid.UUID | None = None,
    viewer_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    first: int,
    after: tuple[Any, ...] | None,
) -> Page[AccessLogEntry]:
    """Reveals, newest first (ids are time-ordered), filtered in SQL."""
    flt = AccessLogFilter(subject_id=subject_id, viewer_id=viewer_id, since=since, until=until)
    stmt = NEWEST.apply(_access_listing(flt), after=after, limit=first + 1)
    return page_from((await session.scalars(stmt)).all(), first)


async def count_access_log(
    session: AsyncSession,
    *,
    subject_id: uuid.UUID | None = None,
    viewer_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    flt = AccessLogFilter(subject_id=subject_id, viewer_id=viewer_id, since=since, until=until)
    stmt = select(func.count()).select_from(_access_listing(flt).subquery())
    return int((await session.execute(stmt)).scalar_one())


async def access_log_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[AccessLogEntry]:
    """Entries by id, for platform-wide viewers only: the log says who looked at whom
    across every institution."""
    if not viewer.sees_all_tenants:
        return []
    return (await session.scalars(select(AccessLogEntry).where(AccessLogEntry.id.in_(ids)))).all()
