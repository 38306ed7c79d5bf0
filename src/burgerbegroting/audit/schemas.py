"""Response shapes of the audit-log API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from burgerbegroting.audit.service import AuditPage


class AuditEntryOut(msgspec.Struct):
    id: int
    occurred_at: datetime
    actor_id: int | None
    actor_name: str | None
    action: str
    subject_type: str
    subject_id: str
    details: dict[str, Any]
    reason: str | None


class AuditPageOut(msgspec.Struct):
    items: list[AuditEntryOut]
    page: int
    per_page: int
    total: int
    pages: int


def audit_page_out(page: AuditPage) -> AuditPageOut:
    return AuditPageOut(
        items=[
            AuditEntryOut(
                id=e.id,
                occurred_at=e.occurred_at,
                actor_id=e.actor_id,
                actor_name=page.actor_names.get(e.actor_id) if e.actor_id is not None else None,
                action=e.action,
                subject_type=e.subject_type,
                subject_id=e.subject_id,
                details=e.details,
                reason=e.reason,
            )
            for e in page.entries
        ],
        page=page.page,
        per_page=page.per_page,
        total=page.total,
        pages=page.pages,
    )


class SigningKeyOut(msgspec.Struct):
    """The instance's Ed25519 public key for audit exports (``audit.signing.public_key_info``)."""

    algorithm: str
    key_id: str
    public_key: str  # the raw 32-byte key, base64
    public_key_hex: str
