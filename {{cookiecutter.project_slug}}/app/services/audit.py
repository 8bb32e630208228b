"""The audit trail: security-relevant events, stored in `audit_events` and logged."""

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.logging import request_id_var
from app.models.audit_event import AuditEvent
from app.schemas.common import one_page

logger = logging.getLogger("app.audit")

_INSERT = insert(AuditEvent)
_NEWEST_FIRST = select(
    AuditEvent.id,
    AuditEvent.occurred_at,
    AuditEvent.action,
    AuditEvent.actor,
    AuditEvent.target,
    AuditEvent.client_address,
    AuditEvent.request_id,
).order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())


@dataclass(frozen=True, slots=True)
class Origin:
    """Who acted and from where; the request id comes from the logging context."""

    actor: str | None
    client_address: str | None

    def by(self, actor: str) -> Self:
        """The same origin, once the caller is known (after a sign-in, say)."""
        return replace(self, actor=actor)


async def record(
    connection: AsyncConnection, action: str, origin: Origin, target: str | None = None
) -> None:
    """Store and log one event, in the caller's transaction when there is one."""
    event = {
        "id": uuid.uuid4(),
        "occurred_at": datetime.now(UTC),
        "action": action,
        "actor": origin.actor,
        "target": target,
        "client_address": origin.client_address,
        "request_id": request_id_var.get(),
    }
    await connection.execute(_INSERT, event)
    logger.info(
        "audit %s by %s on %s",
        action,
        origin.actor or "anonymous",
        target or "-",
        extra={"audit": {**event, "id": str(event["id"])}},
    )


async def list_events(
    connection: AsyncConnection, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of events, newest first, and the offset of the next page."""
    rows = (await connection.execute(_NEWEST_FIRST.limit(limit + 1).offset(offset))).mappings()
    return one_page([dict(row) for row in rows], limit, offset)
