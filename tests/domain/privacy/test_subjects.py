"""Data-subject export and erasure, and the access log query, on the real database."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.applications.models import ApplicationStatus, Decision, DecisionOutcome, Transition
from domain.audit.models import AuditEntry
from domain.contracts.models import LoanTermination
from domain.enterprises.models import SEALED_COLUMNS, FinancialStatement
from domain.identity import people
from domain.identity.models import OutboxMessage, User
from domain.identity.viewer import Viewer
from domain.lending.models import Installment, LoanStatus, Repayment
from domain.models import Application, Enterprise, Loan, Role
from domain.privacy import subjects
from domain.privacy.models import AccessLogEntry, ConsentRecord
from domain.risk.models import RiskAssessment
from domain.verification.models import (
    CaseKind,
    CaseStatus,
    DocumentKind,
    VerificationCase,
    VerificationDocument,
    VerificationEvent,
)
from kernel import formats
from kernel.base import new_id
from kernel.errors import Conflict, InvalidInput, NotFound
from privacy import keystore, vault
from privacy.models import DataKey
from tests import factories as f

NOW = f.FIXED_NOW
REASON = "the owner asked for erasure by letter of 2026-10-30"


@dataclass
class World:
    enterprise_id: uuid.UUID
    other_id: uuid.UUID
    application_id: uuid.UUID
    loan_id: uuid.UUID
    officer_id: uuid.UUID
    institution_id: uuid.UUID
    name: str


async def _world(
    sessions: async_sessionmaker[AsyncSession], *, loan_status: LoanStatus = LoanStatus.CLOSED
) -> World:
    """An enterprise with a statement, an application (decided, assessed), a loan with a
    schedule and a repayment, a consent record and a reveal; and another enterprise."""
    async with sessions() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        enterprise = await f.enterprise(s, owner_id=owner.id, name="Subject Works")
        other = await f.enterprise(s, name="Bystander Ltd")
        await f.application(s, enterprise_id=other.id, product_row=product)
        application = await f.application(s, enterprise_id=enterprise.id, product_row=product)
        loan = await f.loan(s, application_row=application)
        loan.status = loan_status
        loan.closed_on = date(2026, 10, 1) if loan_status is LoanStatus.CLOSED else None
        s.add(
            FinancialStatement(
                enterprise_id=enterprise.id,
                fiscal_year=2025,
                revenue=Decimal("3200000.00"),
                cost_of_sales=Decimal("2100000.00"),
                operating_profit=Decimal("400000.00"),
                interest_expense=Decimal("30000.00"),
                net_profit=Decimal("280000.00"),
                total_assets=Decimal("1500000.00"),
                current_assets=Decimal("700000.00"),
                total_liabilities=Decimal("600000.00"),
                current_liabilities=Decimal("300000.00"),
                equity=Decimal("900000.00"),
                operating_cash_flow=Decimal("350000.00"),
            )
        )
        assessment = RiskAssessment(
            application_id=application.id,
            enterprise_id=enterprise.id,
            probability_of_default=0.031,
            score=712,
            grade="A",
            reasons=[{"feature": "leverage", "impact": -0.4, "text": "low leverage"}],
            model_version="pd-test-1",
            assessed_at=NOW,
        )
        s.add(assessment)
        await s.flush()
        s.add(
            Decision(
                application_id=application.id,
                officer_id=officer.id,
                outcome=DecisionOutcome.APPROVE,
                reasons="sound accounts",
                risk_assessment_id=assessment.id,
                created_at=NOW,
            )
        )
        s.add(
            Installment(
                loan_id=loan.id,
                sequence=1,
                due_on=date(2026, 2, 15),
                principal_due=Decimal("16213.29"),
                interest_due=Decimal("1000.00"),
                fee_due=Decimal("0.00"),
                principal_paid=Decimal("16213.29"),
                interest_paid=Decimal("1000.00"),
                fee_paid=Decimal("0.00"),
                settled_on=date(2026, 2, 15),
            )
        )
        s.add(
            Repayment(
                loan_id=loan.id,
                idempotency_key="pay-1",
                amount=Decimal("17213.29"),
                paid_on=date(2026, 2, 15),
                principal_part=Decimal("16213.29"),
                interest_part=Decimal("1000.00"),
                fee_part=Decimal("0.00"),
                created_at=NOW,
            )
        )
        s.add(
            ConsentRecord(
                subject_id=enterprise.id,
                purpose="credit_assessment",
                recipient_institution_id=bank.id,
                action="grant",
                actor_id=owner.id,
                channel="web",
                text_version="2026-01",
                recorded_at=NOW,
                previous_hash=None,
                hash="c" * 64,
            )
        )
        s.add(
            AccessLogEntry(
                at=NOW,
                viewer_id=officer.id,
                viewer_kind="user",
                institution_codes=bank.code,
                subject_id=enterprise.id,
                object="Enterprise.contactPhone",
                purpose="credit_assessment",
                request_id="req-1",
            )
        )
    return World(
        enterprise_id=enterprise.id,
        other_id=other.id,
        application_id=application.id,
        loan_id=loan.id,
        officer_id=officer.id,
        institution_id=bank.id,
        name="Subject Works",
    )


def _privacy_officer() -> Viewer:
    return Viewer(user_id=uuid.uuid4(), platform_roles=frozenset({Role.PRIVACY_OFFICER}))


async def _erase(
    sessions: async_sessionmaker[AsyncSession], subject_id: uuid.UUID, reason: str = REASON
) -> subjects.ErasureReceipt:
    async with sessions() as s, s.begin():
        return await subjects.erase_subject(
            s, f.KEYS, viewer=_privacy_officer(), subject_id=subject_id, reason=reason, now=NOW
        )


async def _export(
    sessions: async_sessionmaker[AsyncSession], subject_id: uuid.UUID
) -> dict[str, Any]:
    async with sessions() as s:
        return await subjects.export_subject(s, f.KEYS, subject_id=subject_id)


# ------------------------------------------------------------------------- export


async def test_the_export_holds_the_decrypted_profile_and_everything_about_the_enterprise(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    world = await _world(sessions)

    # when
    document = await _export(sessions, world.enterprise_id)

    # then: JSON-ready as it is
    assert json.loads(json.dumps(document)) == document
    assert document["subjectId"] == str(world.enterprise_id)
    assert document["dataKey"] == "active"
    assert document["exportedAt"].endswith("+00:00")
    profile = document["profile"]
    assert profile["name"] == world.name
    assert profile["annualRevenue"] == "3200000.00"
    assert profile["foundedOn"] == "2015-03-01"
    assert profile["legalRepresentativeName"] == f.PERSONAL["legal_representative_name"]
    assert profile["legalRepresentativeIdNumber"] == f.PERSONAL["legal_representative_id_number"]
    assert profile["contactPhone"] == f.PERSONAL["contact_phone"]
    assert profile["bankAccountNumber"] == f.PERSONAL["bank_account_number"]
    assert profile["contactEmail"] == f.contact_email(world.name)
    # and: what the enterprise did, with nothing of the bystander's
    assert [s["fiscalYear"] for s in document["financialStatements"]] == [2025]
    assert document["financialStatements"][0]["netProfit"] == "280000.00"
    (application,) = document["applications"]
    assert application["id"] == str(world.application_id)
    assert application["amount"] == "200000.00"
    assert [d["outcome"] for d in application["decisions"]] == ["approve"]
    assert [a["grade"] for a in application["riskAssessments"]] == ["A"]
    (loan,) = document["loans"]
    assert loan["id"] == str(world.loan_id)
    assert loan["principal"] == "200000.00"
    assert loan["status"] == "closed"
    assert [i["principalDue"] for i in loan["schedule"]] == ["16213.29"]
    assert [r["amount"] for r in loan["repayments"]] == ["17213.29"]
    assert [(c["purpose"], c["action"]) for c in document["consents"]] == [
        ("credit_assessment", "grant")
    ]
    assert [(e["object"], e["viewerId"]) for e in document["accessLog"]] == [
        ("Enterprise.contactPhone", str(world.officer_id))
    ]


async def test_an_erased_subjects_export_has_no_personal_values_and_says_the_key_is_gone(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    world = await _world(sessions)
    await _erase(sessions, world.enterprise_id)

    # when
    document = await _export(sessions, world.enterprise_id)

    # then
    assert document["dataKey"] == f"shredded at {NOW.isoformat()}"
    profile = document["profile"]
    assert all(profile[c] is None for c in ("contactPhone", "contactEmail", "bankAccountNumber"))
    assert profile["legalRepresentativeName"] is None
    assert profile["legalRepresentativeIdNumber"] is None
    assert profile["name"] == world.name
    assert document["loans"][0]["principal"] == "200000.00"


async def test_exporting_an_unknown_subject_is_not_found(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    await _world(sessions)

    # when / then
    with pytest.raises(NotFound):
        await _export(sessions, new_id())


# ------------------------------------------------------------------------ erasure


async def test_erasure_shreds_the_key_and_empties_the_sealed_columns_keeping_the_records(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    world = await _world(sessions)

    # when
    receipt = await _erase(sessions, world.enterprise_id)

    # then: the personal values are gone, and the key that sealed them
    async with sessions() as s:
        enterprise = await s.get(Enterprise, world.enterprise_id)
        key_row = await s.get(DataKey, world.enterprise_id)
        unwrapped = await keystore.unwrap_many(s, f.KEYS, [world.enterprise_id, world.other_id])
        loan = await s.get(Loan, world.loan_id)
        application = await s.get(Application, world.application_id)
        repayments = (await s.scalars(select(Repayment.amount))).all()
        audit = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "subject.erased"))
        ).all()
    assert enterprise is not None
    assert [getattr(enterprise, c) for c in SEALED_COLUMNS] == [None] * len(SEALED_COLUMNS)
    assert enterprise.legal_representative_id_bidx is None
    assert enterprise.name == world.name
    assert key_row is not None
    assert (key_row.kid, key_row.wrapped, key_row.shredded_at) == (None, None, NOW)
    assert unwrapped[world.enterprise_id] is None
    assert unwrapped[world.other_id] is not None  # the bystander keeps its key
    # and: the lender's records stay, amounts included
    assert loan is not None
    assert loan.principal == Decimal("200000.00")
    assert application is not None
    assert application.amount == Decimal("200000.00")
    assert repayments == [Decimal("17213.29")]
    # and: the receipt and the audit entry tell the same story
    assert receipt.subject_id == world.enterprise_id
    assert receipt.erased_at == NOW
    assert set(receipt.removed) >= {f"enterprises.{c}" for c in SEALED_COLUMNS}
    assert "enterprises.legal_representative_id_bidx" in receipt.removed
    assert receipt.kept["applications"] == 1
    assert receipt.kept["loans"] == 1
    assert receipt.kept["repayments"] == 1
    assert receipt.kept["financial_statements"] == 1
    assert receipt.kept["consent_records"] == 1
    (entry,) = audit
    assert entry.id == receipt.id
    assert entry.entity_id == str(world.enterprise_id)
    assert entry.detail["reason"] == REASON


async def test_erasure_is_refused_while_a_loan_is_active_and_nothing_changes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    world = await _world(sessions, loan_status=LoanStatus.ACTIVE)
    async with sessions() as s:
        before = await s.get(Enterprise, world.enterprise_id)

    # when
    with pytest.raises(subjects.ErasureRefused) as refused:
        await _erase(sessions, world.enterprise_id)

    # then
    assert refused.value.code == "ERASURE_REFUSED"
    assert "active loan" in refused.value.message
    async with sessions() as s:
        after = await s.get(Enterprise, world.enterprise_id)
        key = (await keystore.unwrap_many(s, f.KEYS, [world.enterprise_id]))[world.enterprise_id]
        audited = await s.scalar(select(func.count()).where(AuditEntry.action == "subject.erased"))
    assert before is not None
    assert after is not None
    assert [getattr(after, c) for c in SEALED_COLUMNS] == [
        getattr(before, c) for c in SEALED_COLUMNS
    ]
    assert after.legal_representative_id_bidx == before.legal_representative_id_bidx
    assert key is not None
    assert audited == 0


async def test_a_written_off_loan_keeps_the_data_like_an_active_one(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: the debt was written off, not repaid
    world = await _world(sessions, loan_status=LoanStatus.WRITTEN_OFF)

    # when
    with pytest.raises(subjects.ErasureRefused) as refused:
        await _erase(sessions, world.enterprise_id)

    # then
    assert "written-off debt" in refused.value.message
    async with sessions() as s:
        key = (await keystore.unwrap_many(s, f.KEYS, [world.enterprise_id]))[world.enterprise_id]
    assert key is not None


async def test_erasing_twice_is_a_conflict(sessions: async_sessionmaker[AsyncSession]) -> None:
    # given
    world = await _world(sessions)
    await _erase(sessions, world.enterprise_id)

    # when
    with pytest.raises(Conflict) as conflict:
        await _erase(sessions, world.enterprise_id)

    # then
    assert conflict.value.code == "CONFLICT"
    assert "already erased" in conflict.value.message


@pytest.mark.parametrize("reason", ["", "   ", "because"])
async def test_an_erasure_needs_a_reason(
    sessions: async_sessionmaker[AsyncSession], reason: str
) -> None:
    # given
    world = await _world(sessions)

    # when
    with pytest.raises(InvalidInput):
        await _erase(sessions, world.enterprise_id, reason=reason)

    # then
    async with sessions() as s:
        key = (await keystore.unwrap_many(s, f.KEYS, [world.enterprise_id]))[world.enterprise_id]
    assert key is not None


async def test_erasing_an_unknown_subject_is_not_found(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    await _world(sessions)

    # when / then
    with pytest.raises(NotFound):
        await _erase(sessions, new_id())


# --------------------------------------------------------------------- access log


async def _log_entries(sessions: async_sessionmaker[AsyncSession]) -> dict[str, uuid.UUID]:
    """Five reveals an hour apart: subjects A (3) and B (2), viewers V (4) and W (1)."""
    a, b, v, w = new_id(), new_id(), new_id(), new_id()
    plan = [(a, v), (b, v), (a, w), (a, v), (b, v)]
    async with sessions() as s, s.begin():
        for hour, (subject, viewer) in enumerate(plan):
            at = NOW + timedelta(hours=hour)
            s.add(
                AccessLogEntry(
                    id=new_id(at=at, entropy=hour),
                    at=at,
                    viewer_id=viewer,
                    viewer_kind="user",
                    institution_codes="",
                    subject_id=subject,
                    object=f"Enterprise.field{hour}",
                    purpose="credit_assessment",
                    request_id=f"req-{hour}",
                )
            )
    return {"a": a, "b": b, "v": v, "w": w}


async def test_the_access_log_is_newest_first_and_filtered_in_sql(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    ids = await _log_entries(sessions)

    # when
    async with sessions() as s:
        everything = await subjects.access_log(s, first=10, after=None)
        of_a = await subjects.access_log(s, subject_id=ids["a"], first=10, after=None)
        by_w = await subjects.access_log(s, viewer_id=ids["w"], first=10, after=None)
        window = await subjects.access_log(
            s,
            since=NOW + timedelta(hours=1),
            until=NOW + timedelta(hours=3),
            first=10,
            after=None,
        )
        a_by_v = await subjects.access_log(
            s, subject_id=ids["a"], viewer_id=ids["v"], first=10, after=None
        )
        counted = await subjects.count_access_log(s, subject_id=ids["a"])

    # then
    assert [e.object for e in everything.rows] == [f"Enterprise.field{h}" for h in (4, 3, 2, 1, 0)]
    assert [e.object for e in of_a.rows] == [
        "Enterprise.field3",
        "Enterprise.field2",
        "Enterprise.field0",
    ]
    assert [e.object for e in by_w.rows] == ["Enterprise.field2"]
    assert [e.object for e in window.rows] == ["Enterprise.field2", "Enterprise.field1"]
    assert [e.object for e in a_by_v.rows] == ["Enterprise.field3", "Enterprise.field0"]
    assert counted == 3


async def test_the_access_log_pages_with_a_cursor(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    await _log_entries(sessions)

    # when
    async with sessions() as s:
        first = await subjects.access_log(s, first=2, after=None)
        cursor = subjects.NEWEST.decode(subjects.NEWEST.encode(first.rows[-1]))
        second = await subjects.access_log(s, first=2, after=cursor)
        last = await subjects.access_log(s, first=2, after=subjects.NEWEST.key_of(second.rows[-1]))

    # then
    assert [e.object for e in first.rows] == ["Enterprise.field4", "Enterprise.field3"]
    assert first.has_next
    assert [e.object for e in second.rows] == ["Enterprise.field2", "Enterprise.field1"]
    assert second.has_next
    assert [e.object for e in last.rows] == ["Enterprise.field0"]
    assert not last.has_next


async def test_erasure_shreds_verification_documents_notes_and_the_mail_about_the_enterprise(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a verification case with a sealed document and an officer's sealed note, an
    # officer's note on the application, and two mails to the owner: one about the
    # enterprise's application, one not
    world = await _world(sessions)
    async with sessions() as s, s.begin():
        enterprise = await s.get(Enterprise, world.enterprise_id)
        assert enterprise is not None
        assert enterprise.owner_id is not None
        owner = await s.get(User, enterprise.owner_id)
        assert owner is not None
        case = VerificationCase(
            enterprise_id=world.enterprise_id,
            claimant_id=owner.id,
            kind=CaseKind.OWNERSHIP,
            status=CaseStatus.SUBMITTED,
        )
        s.add(case)
        await s.flush()
        document_id, event_id = new_id(), new_id()
        key = await keystore.create(s, f.KEYS, document_id, "kyc_document")
        s.add(
            VerificationDocument(
                id=document_id,
                case_id=case.id,
                kind=DocumentKind.BUSINESS_LICENCE,
                media_type="application/pdf",
                size_bytes=4,
                sha256="0" * 64,
                content=vault.seal(
                    key,
                    "JVBERg==",
                    table="verification_documents",
                    column="content",
                    row_id=document_id,
                ),
            )
        )
        note_key = await keystore.create(s, f.KEYS, event_id, "kyc_note")
        s.add(
            VerificationEvent(
                id=event_id,
                case_id=case.id,
                actor_id=world.officer_id,
                to_status=CaseStatus.SUBMITTED,
                note=vault.seal(
                    note_key,
                    "the licence photo is blurred",
                    table="verification_events",
                    column="note",
                    row_id=event_id,
                ),
            )
        )
        s.add(
            Transition(
                application_id=world.application_id,
                to_status=ApplicationStatus.MORE_INFO_REQUESTED,
                note="owner mentioned a divorce settlement",
            )
        )
        reference = formats.global_id("Application", world.application_id)
        address = f.email_of(owner)
        await people.send_mail(
            s,
            f.KEYS,
            owner,
            to=address,
            subject="Your application",
            body=f"Your application was approved. Reference: {reference}.",
        )
        await people.send_mail(
            s, f.KEYS, owner, to=address, subject="Welcome", body="Welcome to LendGraph."
        )

    # when
    receipt = await _erase(sessions, world.enterprise_id)

    # then: none can be read back
    async with sessions() as s:
        keys_left = await keystore.unwrap_many(s, f.KEYS, [document_id, event_id])
        document = await s.get(VerificationDocument, document_id)
        event = await s.get(VerificationEvent, event_id)
        notes = (
            await s.scalars(
                select(Transition.note).where(Transition.application_id == world.application_id)
            )
        ).all()
        mail = (
            await s.scalars(select(OutboxMessage).where(OutboxMessage.user_id == owner.id))
        ).all()
        bodies = await people.read_mail(s, f.KEYS, list(mail))
    assert keys_left == {document_id: None, event_id: None}
    assert document is not None
    assert document.content == ""
    assert event is not None
    assert event.note is None
    assert set(notes) == {""}
    assert [body for _, body in bodies] == ["Welcome to LendGraph."]
    # and: the receipt lists them
    assert {
        "verification_documents.content (1)",
        "verification_events.note (1)",
        "application_transitions.note (1)",
        "outbox (1)",
    } <= set(receipt.removed)


async def test_a_termination_s_reason_is_exported_opened_and_erased_with_the_enterprise(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: the closed loan's acceleration, its reason sealed as the service seals it
    world = await _world(sessions)
    reason = "the owner Zhang Wei is in hospital and cannot run the shop"
    async with sessions() as s, s.begin():
        loan = await s.get_one(Loan, world.loan_id)
        row = await f.termination(s, loan, on=date(2026, 9, 1), amount="100.00", reason=reason)
        termination_id = row.id

    # when: the enterprise's data is exported, then erased, then exported again
    before = await _export(sessions, world.enterprise_id)
    receipt = await _erase(sessions, world.enterprise_id)
    after = await _export(sessions, world.enterprise_id)

    # then: the export opens the reason; the erasure empties the column and says so
    assert [(t["id"], t["kind"], t["reason"]) for t in before["terminations"]] == [
        (str(termination_id), "acceleration", reason)
    ]
    assert "loan_terminations.reason (1)" in receipt.removed
    assert [(t["id"], t["reason"]) for t in after["terminations"]] == [(str(termination_id), None)]
    async with sessions() as s:
        row = await s.get_one(LoanTermination, termination_id)
    assert (row.reason, row.amount) == (None, Decimal("100.00"))  # the record itself stays
