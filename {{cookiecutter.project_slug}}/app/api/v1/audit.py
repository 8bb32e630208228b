"""The audit trail, for administrators."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import Admin
from app.core.deps import Connection
from app.schemas.audit import AuditPage
from app.schemas.common import PageQuery
from app.services import audit

router = APIRouter(prefix="/audit-events", tags=["audit"])


@router.get("", response_model=AuditPage, summary="List audit events")
async def list_events(
    query: Annotated[PageQuery, Query()], _: Admin, connection: Connection
) -> dict[str, Any]:
    """Security-relevant events, newest first: sign-ins, token reuse, password changes,
    account and key changes. Needs the `admin` scope."""
    events, next_offset = await audit.list_events(connection, query.limit, query.offset)
    return {
        "items": events,
        "limit": query.limit,
        "offset": query.offset,
        "next_offset": next_offset,
    }
