"""Request and response bodies for webhook endpoints and their deliveries, and the event
types an endpoint may ask for."""

import uuid
from datetime import datetime
from typing import Annotated, Literal, Self, get_args
from urllib.parse import urlsplit

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, model_validator

from app.models.webhook import DESCRIPTION_MAX_LENGTH, URL_MAX_LENGTH
from app.schemas.common import MAX_PAGE_SIZE, StorableText
from app.schemas.event import Event


class EndpointRef(BaseModel):
    """Which endpoint the test was sent to."""

    endpoint_id: uuid.UUID


class WebhookTest(BaseModel):
    """Sent to one endpoint when its owner asks (POST /webhooks/{id}/test); no change behind it."""

    id: uuid.UUID
    type: Literal["webhook.test"]
    timestamp: datetime
    data: EndpointRef


def types_of(schema: type[BaseModel]) -> tuple[str, ...]:
    """The event types an event schema stands for (the values of its `type`)."""
    return get_args(schema.model_fields["type"].annotation)


# What receivers may get: every kind of `Event`, read from the union so that a new type is
# deliverable at once, and the test event.
CHANGES: tuple[type[BaseModel], ...] = get_args(get_args(Event)[0])
DELIVERED: tuple[type[BaseModel], ...] = (*CHANGES, WebhookTest)
EVENT_TYPES = frozenset(kind for schema in CHANGES for kind in types_of(schema))
TEST_EVENT = "webhook.test"

_ENDPOINT_EXAMPLE: dict[str, JsonValue] = {
    "id": "5b1f0e4c-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
    "url": "https://hooks.example.com/items",
    "event_types": ["item.created", "item.deleted"],
    "description": "the search indexer",
    "enabled": True,
    "disabled_reason": None,
    "failures": 0,
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
}


def _receiver_url(value: str) -> str:
    """An absolute http(s) URL without credentials in it. Where it leads is checked again
    at each delivery, where it counts: names can point elsewhere by then."""
    if any(char <= " " or char == "\x7f" for char in value):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http or https URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password")
    try:
        port = parts.port
        httpx.URL(value)
    except (ValueError, httpx.InvalidURL):
        raise ValueError("is not a valid URL") from None
    if not parts.hostname or port == 0:
        raise ValueError("must name a host, and a port from 1 to 65535 if any")
    return value


def _known_types(value: set[str]) -> set[str]:
    unknown = value - EVENT_TYPES
    if unknown:
        raise ValueError(f"unknown event types {sorted(unknown)}; known: {sorted(EVENT_TYPES)}")
    return value


ReceiverUrl = Annotated[
    str, Field(min_length=1, max_length=URL_MAX_LENGTH), AfterValidator(_receiver_url)
]
EventTypes = Annotated[
    set[str],
    Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        json_schema_extra={"items": {"type": "string", "enum": sorted(EVENT_TYPES)}},
    ),
    AfterValidator(_known_types),
]
Description = Annotated[StorableText, Field(max_length=DESCRIPTION_MAX_LENGTH)]


class WebhookCreate(BaseModel):
    """A receiver: where to send, which event types, and a note for yourself."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"url": "https://hooks.example.com/items", "event_types": ["item.created"]}
            ]
        },
    )

    url: ReceiverUrl
    event_types: EventTypes
    description: Description = ""


class WebhookUpdate(BaseModel):
    """The fields to change; `enabled: true` also clears the count of failed deliveries."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": True}]})

    url: ReceiverUrl | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        if any(getattr(self, name) is None for name in self.model_fields_set):
            raise ValueError("fields may be left out, not set to null")
        return self


class WebhookRead(BaseModel):
    """An endpoint as listed: never its secret."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ENDPOINT_EXAMPLE]})

    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None = Field(description="Why the service disabled it, if it did.")
    failures: int = Field(description="Deliveries that failed in a row since the last success.")
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookRead):
    """A new endpoint with its signing `secret`: store it now, it is not shown again."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_ENDPOINT_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]
        }
    )

    secret: str


class WebhookPage(BaseModel):
    """One page of endpoints, oldest first."""

    items: list[WebhookRead]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")


class AttemptRead(BaseModel):
    """One attempt at delivering one event."""

    delivery_id: uuid.UUID
    event_id: uuid.UUID = Field(description="The webhook-id header; the same on every attempt.")
    event_type: str
    state: Literal["pending", "sending", "delivered", "failed"] = Field(
        description="Where the delivery stands now."
    )
    attempt: int
    status_code: int | None = Field(description="The receiver's status; null if none came.")
    latency_ms: int
    response_body: str | None = Field(description="The start of the receiver's answer.")
    error: str | None
    attempted_at: datetime


class AttemptQuery(BaseModel):
    """How many of the latest attempts; unknown query parameters are rejected."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE, description="Attempts to list.")


class AttemptList(BaseModel):
    """The latest attempts, newest first."""

    items: list[AttemptRead]
