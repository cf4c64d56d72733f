"""Who may read, reveal or write what: Casbin over a policy kept in the database.

The model (``authz_model.conf``) is RBAC with domains and explicit deny. Rules live
in ``authz_rules``; ``authz_version`` counts changes. Every request reads the
counter (one indexed primary-key read) and reloads the rules when it moved, so a
change made through any worker applies to the next request on every worker.

Casbin evaluates a matcher per rule in Python (about a millisecond per question
over the default policy), so answers are memoised process-wide per policy version
and grant set; a request then asks Casbin only what no earlier request asked.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import casbin
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.identity.models import PolicyRule, PolicyVersion, Role

MODEL_PATH = Path(__file__).with_name("authz_model.conf")
DEFAULT_POLICY_PATH = Path(__file__).with_name("authz_default_policy.csv")
ANONYMOUS = "anonymous"
AUTHENTICATED = "authenticated"
PLATFORM = "*"
SCOPE_PREFIX = "scope:"

# Rows of authz_version: one change counter per per-process cache.
AUTHZ_COUNTER = 1
MASKING_COUNTER = 2

Action = Literal["read", "write", "reveal"]
ACTIONS: frozenset[str] = frozenset({"read", "write", "reveal"})
EFFECTS: frozenset[str] = frozenset({"allow", "deny"})
# Scopes a partner institution may grant its service accounts.
SCOPES: frozenset[str] = frozenset(
    {"applications:read", "applications:decide", "loans:read", "loans:write"}
)
# An enterprise's verification level, for the capabilities it gates (domain.verification).
LEVEL_SUBJECTS: frozenset[str] = frozenset(
    {"verification:unverified", "verification:basic", "verification:verified"}
)
SUBJECTS: frozenset[str] = frozenset(
    {ANONYMOUS, AUTHENTICATED}
    | {r.value for r in Role}
    | {SCOPE_PREFIX + s for s in SCOPES}
    | LEVEL_SUBJECTS
)
_OBJECT = re.compile(r"^[A-Za-z*][A-Za-z0-9_*]*(\.[A-Za-z0-9_*]+)?$")
_CACHE_LIMIT = 50_000

Grant = tuple[str, str]  # (subject, domain)


@dataclass(frozen=True, slots=True)
class Principal:
    """What Casbin is asked about: the viewer's grants and, for services, its scopes."""

    grants: tuple[Grant, ...]
    scopes: frozenset[str] | None = None  # None: not scope-limited (people)


class Authorizer:
    def __init__(self) -> None:
        self._enforcer = _new_enforcer([])
        self.version = -1
        self._answers: dict[tuple[Principal, str, str], bool] = {}
        self._lock = asyncio.Lock()

    async def sync(self, session: AsyncSession) -> dict[int, int]:
        """Reload the rules if another worker (or this one) changed them.

        Reads every change counter in one statement ({1: authorization, 2: masking})
        so other per-process caches can check theirs without a statement of their own.
        """
        counters = {
            int(i): int(v)
            for i, v in (await session.execute(select(PolicyVersion.id, PolicyVersion.version)))
        }
        current = counters.get(AUTHZ_COUNTER, 0)
        if current != self.version:
            async with self._lock:
                if current != self.version:
                    rules = (await session.scalars(select(PolicyRule))).all()
                    self._enforcer = _new_enforcer(rules)
                    self._answers = {}
                    self.version = current
        return counters

    def objects(self, prefix: str) -> frozenset[str]:
        """The objects of the policy's permission lines that start with ``prefix``."""
        return frozenset(
            rule[2] for rule in self._enforcer.get_policy() if rule[2].startswith(prefix)
        )

    def allows(self, principal: Principal, obj: str, act: Action) -> tuple[bool, int]:
        """The answer and how many Casbin evaluations it cost (0 when memoised).

        Allowed when some grant of the viewer allows and no grant is explicitly denied:
        a deny written for one of the viewer's roles beats what its other roles allow.
        """
        key = (principal, obj, act)
        answer = self._answers.get(key)
        if answer is not None:
            return answer, 0
        evaluations = 0
        allowed = denied = False
        for subject, domain in principal.grants:
            evaluations += 1
            ok, rule = self._enforcer.enforce_ex(subject, domain, obj, act)
            allowed = allowed or ok
            denied = denied or (not ok and bool(rule) and rule[-1] == "deny")
        answer = allowed and not denied
        if answer and principal.scopes is not None:
            # A service token is further held to its scopes; reveal follows read.
            scope_act = "read" if act == "reveal" else act
            answer = False
            for scope in sorted(principal.scopes):
                evaluations += 1
                if self._enforcer.enforce(SCOPE_PREFIX + scope, PLATFORM, obj, scope_act):
                    answer = True
                    break
        if len(self._answers) >= _CACHE_LIMIT:
            self._answers.clear()
        self._answers[key] = answer
        return answer, evaluations


def explain(authorizer: Authorizer, principal: Principal, obj: str, act: Action) -> str:
    """The rule that decides ``act`` on ``obj`` for these grants, as a policy line."""
    allowing = denying = None
    for subject, domain in principal.grants:
        ok, rule = authorizer._enforcer.enforce_ex(subject, domain, obj, act)
        if rule and not ok and rule[-1] == "deny":
            denying = denying or rule
        elif ok and rule:
            allowing = allowing or rule
    if denying:
        return "p, " + ", ".join(denying)
    if allowing:
        return "p, " + ", ".join(allowing)
    return f"no rule allows {act} of {obj} to {', '.join(s for s, _ in principal.grants)}"


def _new_enforcer(rules: Iterable[PolicyRule]) -> casbin.Enforcer:
    enforcer = casbin.Enforcer(str(MODEL_PATH))
    policies = [[r.v0, r.v1, r.v2, r.v3, r.v4] for r in rules if r.ptype == "p"]
    groupings = [[r.v0, r.v1, r.v2] for r in rules if r.ptype == "g"]
    if policies:
        enforcer.add_named_policies("p", policies)
    if groupings:
        enforcer.add_named_grouping_policies("g", groupings)
    return enforcer


def validate_rule(
    *, subject: str, domain: str, obj: str, action: str, effect: str, domains: Sequence[str]
) -> list[tuple[str, str]]:
    """Everything wrong with a proposed ``p`` rule, as (input field, readable sentence)."""
    problems = []
    if subject not in SUBJECTS:
        problems.append(("role", f"unknown role {subject!r}"))
    if domain != PLATFORM and domain not in domains:
        problems.append(("domain", f"unknown institution code {domain!r} (or '*' for every one)"))
    if not _OBJECT.match(obj):
        problems.append(
            ("object", "the object must look like Type.field or Mutation.name (globs allowed)")
        )
    if action not in ACTIONS:
        problems.append(("action", f"the action must be one of {', '.join(sorted(ACTIONS))}"))
    if effect not in EFFECTS:
        problems.append(("effect", "the effect must be allow or deny"))
    return problems


async def bump_version(session: AsyncSession, *, detail: dict[str, str]) -> None:
    result = await session.execute(
        update(PolicyVersion)
        .where(PolicyVersion.id == 1)
        .values(version=PolicyVersion.version + 1, detail=detail)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(PolicyVersion(id=1, version=1, detail=detail))
    await session.flush()


def parse_policy(text: str) -> list[tuple[str, ...]]:
    """Casbin's CSV policy lines, comments and blank lines skipped."""
    rules = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            rules.append(tuple(part.strip() for part in line.split(",")))
    return rules


async def install_policy(session: AsyncSession, text: str, *, detail: dict[str, str]) -> int:
    """Replace every rule with those of ``text`` (the default policy, or a restore)."""
    await session.execute(delete(PolicyRule))
    rows = []
    for rule in parse_policy(text):
        ptype, values = rule[0], list(rule[1:])
        values += [""] * (5 - len(values))
        rows.append({"ptype": ptype, **{f"v{i}": v for i, v in enumerate(values)}})
    session.add_all(PolicyRule(**row) for row in rows)
    await bump_version(session, detail=detail)
    return len(rows)
