"""The compliance report: one offline HTML page a privacy officer can hand to a regulator.

Sections: consent coverage per purpose; personal values revealed, by role and purpose;
break-glass uses and their review; the integrity of every chain (``integrity.verify``);
the records of processing activities (``domain.privacy.records``). Figures are SQL
aggregations; nothing personal is printed (no names, no reasons, no values).

Hooks: data-subject requests (their deadlines) and retention runs are not on this
branch; when their tables exist, each adds a ``_section`` here fed by one more
aggregation in ``gather``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.analytics.report import _section, _table
from domain.audit.integrity import Integrity
from domain.enterprises.models import Enterprise
from domain.identity.models import Membership, Role
from domain.privacy import consent
from domain.privacy.models import AccessLogEntry, BreakGlassGrant
from domain.privacy.records import ProcessingRecord
from kernel.base import utcnow


@dataclass(frozen=True)
class Compliance:
    at: datetime
    since: datetime | None
    until: datetime | None
    enterprises: int
    consents: dict[str, int]  # purpose -> enterprises with an active consent to it
    reveals: list[tuple[str, str, int]]  # (role, purpose, values revealed)
    glass_used: int
    glass_unreviewed: int
    integrity: Integrity
    records: Sequence[ProcessingRecord]


def _period(column: object, since: datetime | None, until: datetime | None) -> list[object]:
    found: list[object] = []
    if since is not None:
        found.append(column >= since)  # type: ignore[operator]
    if until is not None:
        found.append(column < until)  # type: ignore[operator]
    return found


async def gather(
    session: AsyncSession,
    *,
    integrity: Integrity,
    records: Sequence[ProcessingRecord],
    since: datetime | None = None,
    until: datetime | None = None,
) -> Compliance:
    now = utcnow()
    enterprises = int(await session.scalar(select(func.count()).select_from(Enterprise)) or 0)
    consents = {}
    for purpose in sorted(consent.CONSENTABLE):
        active = consent.active_grants(purpose=purpose, now=now).subquery()
        count = select(func.count(func.distinct(active.c.subject_id)))
        consents[purpose] = int(await session.scalar(count) or 0)
    # A person holding several roles counts under each; a service account is a partner.
    log = AccessLogEntry
    by_role = (
        select(Membership.role, log.purpose, func.count())
        .join(Membership, Membership.user_id == log.viewer_id)
        .where(log.viewer_kind == "user", *_period(log.at, since, until))  # type: ignore[arg-type]
        .group_by(Membership.role, log.purpose)
    )
    reveals = [(role.value, purpose, int(n)) for role, purpose, n in await session.execute(by_role)]
    by_service = (
        select(log.purpose, func.count())
        .where(log.viewer_kind == "service", *_period(log.at, since, until))  # type: ignore[arg-type]
        .group_by(log.purpose)
    )
    reveals += [
        (Role.PARTNER_SERVICE.value, purpose, int(n))
        for purpose, n in await session.execute(by_service)
    ]
    glass = BreakGlassGrant
    in_period = _period(glass.granted_at, since, until)
    used = await session.scalar(select(func.count()).where(*in_period))  # type: ignore[arg-type]
    unreviewed = await session.scalar(
        select(func.count()).where(glass.acknowledged_at.is_(None), *in_period)  # type: ignore[arg-type]
    )
    return Compliance(
        at=now,
        since=since,
        until=until,
        enterprises=enterprises,
        consents=consents,
        reveals=sorted(reveals),
        glass_used=int(used or 0),
        glass_unreviewed=int(unreviewed or 0),
        integrity=integrity,
        records=records,
    )


def _share(part: int, whole: int) -> str:
    return "-" if whole == 0 else f"{part / whole:.1%}"


def render(report: Compliance) -> str:
    """The whole page, self-contained: no scripts, no fonts, no files beside it."""
    check = report.integrity
    integrity_rows = [
        [
            f"{s.stream} log",
            "intact" if s.intact else "BROKEN",
            f"{s.seals} seals over {s.rows_sealed} rows; {s.rows_awaiting} awaiting a seal",
        ]
        for s in check.streams
    ]
    integrity_rows.append(
        [
            "consent ledger",
            "intact" if not check.consent_breaks else "BROKEN",
            f"{len(check.consent_breaks)} broken links",
        ]
    )
    integrity_rows.append(
        [
            "checkpoints",
            "intact" if not check.checkpoint_breaks else "BROKEN",
            f"{len(check.checkpoint_breaks)} missing or different",
        ]
    )
    breaks = [
        [b.stream, "-" if b.seq is None else str(b.seq), b.reason]
        for b in [*check.checkpoint_breaks, *(x for s in check.streams for x in s.breaks)]
    ]
    sections = [
        _section(
            "Consent coverage",
            _table(
                ["purpose", "enterprises consenting", "share"],
                [[p, str(n), _share(n, report.enterprises)] for p, n in report.consents.items()],
            ),
            f"<p>{report.enterprises} enterprises on record.</p>",
        ),
        _section(
            "Personal values revealed, by role and purpose",
            _table(
                ["role", "purpose", "values revealed"],
                [[role, purpose, str(n)] for role, purpose, n in report.reveals],
            ),
            "<p>A person holding several roles counts under each.</p>",
        ),
        _section(
            "Break-glass",
            _table(
                ["grants", "awaiting review"],
                [[str(report.glass_used), str(report.glass_unreviewed)]],
            ),
        ),
        _section(
            "Integrity",
            _table(["chain", "state", "detail"], integrity_rows),
            _table(["chain", "seal", "break"], breaks) if breaks else "",
            f"<p>Checked {html.escape(check.checked_at.isoformat(timespec='seconds'))}"
            f"{'' if check.streams and check.streams[0].rows_checked else ' (seals only)'}.</p>",
        ),
        _section(
            "Records of processing activities",
            _table(
                ["field", "class", "purpose", "lawful bases", "revealed to", "masked for", "kept"],
                [
                    [
                        r.field,
                        r.classification,
                        r.purpose,
                        ", ".join(b.value for b in r.bases),
                        ", ".join(x.value for x in r.revealed_to) or "-",
                        ", ".join(x.value for x in r.masked_for) or "-",
                        r.retention,
                    ]
                    for r in report.records
                ],
            ),
        ),
    ]
    since = report.since.date().isoformat() if report.since else "the beginning"
    until = report.until.date().isoformat() if report.until else "now"
    title = f"Compliance report, {since} to {until}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 80rem; color: #222; }}
table {{ border-collapse: collapse; margin: .5rem 0 1rem; }}
td, th {{ border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Generated {html.escape(report.at.isoformat(timespec="seconds"))}. Reveals and break-glass
grants are those of the period; consents and integrity are as of now. Data-subject
requests and retention runs are not recorded by this version.</p>
{"".join(sections)}
</body></html>
"""
