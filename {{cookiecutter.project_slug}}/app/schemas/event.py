{%- set jwt = cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
"""Events: what clients hear about a change, the same over every channel.

Each event has an id (the same on every delivery of it), a type, the time it was written
and `data`, the resource as the API returns it. `Event` is the union of every type, told
apart by `type`; the OpenAPI document carries each one's schema.
"""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import MAX_PAGE_SIZE
from app.schemas.item import ItemRead
{%- if jwt %}
from app.schemas.user import UserRead
{%- endif %}


class _Envelope(BaseModel):
    id: uuid.UUID = Field(description="Unique per event; a repeated delivery carries the same.")
    timestamp: datetime = Field(description="When the change was written.")


class ItemChanged(_Envelope):
    """An item was created or changed."""

    type: Literal["item.created", "item.updated"]
    data: ItemRead


class ItemRef(BaseModel):
    """What is left of a deleted item: its id."""

    id: uuid.UUID


class ItemDeleted(_Envelope):
    """An item was deleted."""

    type: Literal["item.deleted"]
    data: ItemRef
{%- if jwt %}


class AccountChanged(_Envelope):
    """Your account changed: its address or standing (`user.updated`), or its password, which
    ended every session (`user.password_changed`)."""

    type: Literal["user.updated", "user.password_changed"]
    data: UserRead


Event = Annotated[ItemChanged | ItemDeleted | AccountChanged, Field(discriminator="type")]
{%- else %}


Event = Annotated[ItemChanged | ItemDeleted, Field(discriminator="type")]
{%- endif %}


class EventQuery(BaseModel):
    """Where a page of events starts; unknown query parameters are rejected."""

    model_config = ConfigDict(extra="forbid")

    after: uuid.UUID | None = Field(
        default=None, description="The id of the last event you have; omit for the oldest kept."
    )
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE, description="Events per page.")


class EventPage(BaseModel):
    """Events in the order they were written; ask again `after` the last one for more."""

    items: list[Event]
