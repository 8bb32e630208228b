"""Audit trail responses."""

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, JsonValue

_EVENT_EXAMPLE: dict[str, JsonValue] = {
    "id": "5b0c7a1e-3f51-4c3e-9a57-0c1f6f3e2d10",
    "occurred_at": "2026-01-15T09:30:00Z",
    "action": "login_failed",
    "actor": None,
    "target": "user:ada@example.com",
    "client_address": "203.0.113.7",
    "request_id": "0b8f4a0b2cbf4c5e9f0b8f1e0d7c6a51",
}


class AuditEventRead(BaseModel):
    """One recorded event."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EVENT_EXAMPLE]})

    id: uuid.UUID
    occurred_at: datetime
    action: str
    actor: str | None
    target: str | None
    client_address: str | None
    request_id: str


class AuditPage(BaseModel):
    """One page of events, newest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [_EVENT_EXAMPLE], "limit": 50, "offset": 0, "next_offset": None}]
        }
    )

    items: list[AuditEventRead]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")
