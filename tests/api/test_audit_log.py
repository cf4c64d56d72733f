"""auditLog and auditIntegrity: auditors read what happened and whether the record holds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.audit import chain, integrity
from domain.audit.chain import SealKey
from domain.identity.models import Role
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api import test_authorization_matrix as matrix
from tests.api.conftest import GraphQLClient
from tests.tampering import bypass_append_only

LOG = """
query($filter: AuditLogFilter) {
  auditLog(first: 10, filter: $filter) {
    totalCount edges { node { action entityType actor { id } detail } }
  }
}
"""
INTEGRITY = """
query($deep: Boolean!) {
  auditIntegrity(deep: $deep) {
    intact rowsChecked
    logs { chain intact seals rowsSealed rowsAwaitingSeal }
    breaks { chain seal reason }
  }
}
"""
SET_POLICY = """
mutation {
  setMaskingPolicy(input: { object: "Enterprise.contactPhone", role: LOAN_OFFICER,
                            strategy: HASH }) { __typename }
}
"""


async def _people(db: AsyncEngine, settings: Settings) -> dict[str, str]:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        people = {
            "auditor": await f.user(s, roles=[(Role.AUDITOR, None)]),
            "privacy": await f.user(s, roles=[(Role.PRIVACY_OFFICER, None)]),
            "officer": await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)]),
            "owner": await f.user(s, roles=[(Role.SME_OWNER, None)]),
        }
        tokens = {name: await f.access_token(s, settings, row) for name, row in people.items()}
    tokens["privacy_id"] = f.global_id("User", people["privacy"].id)
    return tokens


async def _seal(db: AsyncEngine, settings: Settings) -> None:
    key = SealKey(settings.audit_signing_key())
    await integrity.seal(
        session_factory(db), key, checkpoint=None, now=utcnow() + timedelta(hours=1)
    )


def _nodes(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["node"] for e in data["auditLog"]["edges"]]


async def test_auditors_read_the_log_without_its_personal_particulars(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a privacy officer changed a masking policy (audited)
    tokens = await _people(db, settings)
    await gql.as_(tokens["privacy"]).data(SET_POLICY)
    wanted = {"filter": {"entityType": "MaskingPolicy"}}

    # when
    auditor = await gql.as_(tokens["auditor"]).data(LOG, wanted)
    privacy = await gql.as_(tokens["privacy"]).data(LOG, wanted)
    officer = await gql.as_(tokens["officer"]).data(LOG, wanted)
    by_actor = await gql.as_(tokens["auditor"]).data(
        LOG, {"filter": {"actorId": tokens["privacy_id"], "action": "nothing.like.it"}}
    )

    # then
    assert [(n["action"], n["actor"], n["detail"]) for n in _nodes(auditor)] == [
        ("masking.policy_set", {"id": tokens["privacy_id"]}, None)
    ]
    assert _nodes(privacy)[0]["detail"]["strategy"] == "hash"
    assert officer["auditLog"] == {"totalCount": 0, "edges": []}
    assert by_actor["auditLog"]["totalCount"] == 0


async def test_integrity_is_reported_and_a_row_tampered_through_sql_is_caught(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: audited changes, sealed
    tokens = await _people(db, settings)
    await gql.as_(tokens["privacy"]).data(SET_POLICY)
    await _seal(db, settings)
    auditor = gql.as_(tokens["auditor"])
    before = await auditor.data(INTEGRITY, {"deep": True})

    # when: an insider rewrites what the entry says happened
    async with db.begin() as conn:
        await bypass_append_only(conn)
        await conn.execute(text("UPDATE audit_log SET action = 'masking.policy_viewed'"))
    shallow = await auditor.data(INTEGRITY, {"deep": False})
    deep = await auditor.data(INTEGRITY, {"deep": True})
    owner = await gql.as_(tokens["owner"]).data(INTEGRITY, {"deep": True})

    # then
    assert before["auditIntegrity"]["intact"] is True
    assert before["auditIntegrity"]["logs"][0] == {
        "chain": "AUDIT",
        "intact": True,
        "seals": 1,
        "rowsSealed": 1,
        "rowsAwaitingSeal": 0,
    }
    assert shallow["auditIntegrity"]["intact"] is True  # the seals alone still hold
    assert deep["auditIntegrity"]["intact"] is False
    assert deep["auditIntegrity"]["breaks"] == [
        {"chain": "AUDIT", "seal": 0, "reason": chain.ALTERED_ROWS}
    ]
    assert owner == {"auditIntegrity": None}


PLATFORM = frozenset(
    {Role.PLATFORM_RISK_OFFICER, Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN, Role.AUDITOR}
)
# Who reads the entries' particulars: the roles that may reveal them (privacy officers).
REVEALS_DETAIL = frozenset({Role.PRIVACY_OFFICER})


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
async def test_every_role_reads_the_log_as_its_view_allows(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings, role: Role
) -> None:
    # given: a privacy officer's audited change, and a viewer in ``role``
    tokens = await _people(db, settings)
    await gql.as_(tokens["privacy"]).data(SET_POLICY)
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s, code=matrix.INSTITUTION_CODE)
        if role is Role.PARTNER_SERVICE:
            token = await matrix._service_token(s, settings, bank)
        else:
            held_in = bank.id if role in matrix.INSTITUTION_ROLES else None
            token = await f.access_token(s, settings, await f.user(s, roles=[(role, held_in)]))

    # when
    body = await gql.as_(token).post(
        "{ auditLog { totalCount edges { node { action detail } } } auditIntegrity { intact } }"
    )

    # then: platform roles read the log (the particulars withheld unless they may
    # reveal them); people in other roles get an empty page and no integrity report
    # (the check is not even run for them); a partner's scopes cover neither field
    if role is Role.PARTNER_SERVICE:
        refused = {(e["path"][0], e["extensions"]["code"]) for e in body["errors"]}
        assert refused == {("auditLog", "FORBIDDEN"), ("auditIntegrity", "FORBIDDEN")}
        return
    assert "errors" not in body, body["errors"]
    data = body["data"]
    if role in PLATFORM:
        [entry] = [e["node"] for e in data["auditLog"]["edges"]]
        assert entry["action"] == "masking.policy_set"
        assert (entry["detail"] is not None) is (role in REVEALS_DETAIL)
        assert data["auditIntegrity"] == {"intact": True}
    else:
        assert data == {"auditLog": {"totalCount": 0, "edges": []}, "auditIntegrity": None}
