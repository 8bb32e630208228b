"""Webhooks: the endpoints events are sent to, each event's delivery to each, and every
attempt at one.

A delivery row is written in the transaction of the event it carries, so it exists if and
only if the event committed. It carries the event's body itself, so retries send exactly
the same bytes however long they take, and outlive the event's retention.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base

URL_MAX_LENGTH = 2000
DESCRIPTION_MAX_LENGTH = 200


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    # Hears its owner's events only; only its owner sees it.
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
{%- endif %}
    url: Mapped[str] = mapped_column(String(URL_MAX_LENGTH))
    event_types: Mapped[str] = mapped_column(String(1000))  # space-separated
    description: Mapped[str] = mapped_column(String(DESCRIPTION_MAX_LENGTH))
    # The signing key ("whsec_..."): kept as is, since signing needs it back.
    secret: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    # Deliveries in a row that failed; reaching WEBHOOK_DISABLE_AFTER disables the endpoint.
    failures: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    # The dispatcher's query (due rows by state), and an endpoint's recent deliveries.
    __table_args__ = (Index(None, "state", "due_at"), Index(None, "endpoint_id", "created_at"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID]  # the webhook-id header: the same on every attempt
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending: waits for its next attempt | sending: claimed | delivered | failed: out of attempts
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int]
    # A pending delivery's next attempt; a sending one's lease end (then it is claimed again)
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int]
    status_code: Mapped[int | None]  # None: no answer (refused, unreachable, timed out)
    latency_ms: Mapped[int]
    response_body: Mapped[str | None] = mapped_column(Text)  # the start of it
    error: Mapped[str | None] = mapped_column(String(500))
    attempted_at: Mapped[datetime]
