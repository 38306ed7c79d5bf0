"""Writing and reading the staff action log.

``record`` is the only writer; there is deliberately no update or delete function. It adds the
entry to the caller's session, so the log line commits (or rolls back) together with the action it
describes: a logged action that did not happen, or an action without its log line, cannot occur.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.models import User
from burgerbegroting.audit.models import AuditEntry
from burgerbegroting.db import utcnow

PAGE_SIZE = 50


def _json_safe(details: dict[str, object]) -> dict[str, Any]:
    # Round-trip through JSON so what is stored is exactly what a reader gets back, and a value
    # that cannot be stored (a datetime, a Decimal) is turned into text here rather than failing
    # at flush time. ``default=str`` keeps datetimes readable (ISO format).
    loaded: dict[str, Any] = json.loads(json.dumps(details, default=str, sort_keys=True))
    return loaded


async def record(
    session: AsyncSession,
    *,
    actor_id: int | None,
    action: str,
    subject_type: str,
    subject_id: int | str,
    details: dict[str, object],
    reason: str | None = None,
) -> AuditEntry:
    """Append one staff action to the log (in the caller's transaction) and return it.

    ``actor_id`` is None for actions of the system itself (the phase scheduler). ``action`` is a
    dotted name such as ``round.update`` or ``proposal.review``; ``reason`` is the staff member's
    own explanation, when the action asks for one.
    """
    entry = AuditEntry(
        occurred_at=utcnow(),
        actor_id=actor_id,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        details=_json_safe(details),
        reason=reason.strip() if reason and reason.strip() else None,
    )
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditEntry]
    actor_names: dict[int, str]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


async def list_entries(
    session: AsyncSession,
    *,
    page: int = 1,
    per_page: int = PAGE_SIZE,
    subject_type: str | None = None,
    subject_id: str | None = None,
    action: str | None = None,
    actor_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditPage:
    """Newest first, ``per_page`` at a time (page numbers start at 1). Every filter is optional;
    ``actor_id=0`` selects the system's own actions (the phase scheduler); ``since`` is
    inclusive, ``until`` exclusive."""
    page = max(1, page)
    conditions = []
    if subject_type:
        conditions.append(AuditEntry.subject_type == subject_type)
    if subject_id:
        conditions.append(AuditEntry.subject_id == subject_id)
    if action:
        conditions.append(AuditEntry.action == action)
    if actor_id == 0:
        conditions.append(AuditEntry.actor_id.is_(None))
    elif actor_id is not None:
        conditions.append(AuditEntry.actor_id == actor_id)
    if since is not None:
        conditions.append(AuditEntry.occurred_at >= since)
    if until is not None:
        conditions.append(AuditEntry.occurred_at < until)
    total = (
        await session.execute(select(func.count()).select_from(AuditEntry).where(*conditions))
    ).scalar_one()
    rows = (
        await session.execute(
            select(AuditEntry)
            .where(*conditions)
            .order_by(AuditEntry.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    ).scalars()
    entries = list(rows)
    actor_ids = {e.actor_id for e in entries if e.actor_id is not None}
    names: dict[int, str] = {}
    if actor_ids:
        result = await session.execute(
            select(User.id, User.display_name).where(User.id.in_(actor_ids))
        )
        names = {row.id: row.display_name for row in result}
    return AuditPage(entries=entries, actor_names=names, page=page, per_page=per_page, total=total)


async def actors(session: AsyncSession) -> list[tuple[int, str]]:
    """Everyone who appears in the log as actor, by name (for the page's filter)."""
    result = await session.execute(
        select(User.id, User.display_name)
        .where(User.id.in_(select(AuditEntry.actor_id).where(AuditEntry.actor_id.is_not(None))))
        .order_by(User.display_name, User.id)
    )
    return [(row.id, row.display_name) for row in result]


async def actions(session: AsyncSession) -> list[str]:
    """The distinct actions in the log (for the page's filter)."""
    result = await session.execute(select(AuditEntry.action).distinct().order_by(AuditEntry.action))
    return list(result.scalars())
