"""Request and response bodies for items, with every length limit enforced before the database."""

import uuid
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.models.item import DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH
from app.schemas.common import PageQuery, StorableText, UTCDatetime

# At least one visible character and no NUL; length counts characters, as the columns do.
Title = Annotated[
    str, Field(min_length=1, max_length=TITLE_MAX_LENGTH, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$")
]
Description = Annotated[StorableText, Field(max_length=DESCRIPTION_MAX_LENGTH)]
ItemSort = Literal["created_at", "-created_at", "updated_at", "-updated_at", "title", "-title"]

_ITEM_EXAMPLE: dict[str, JsonValue] = {
    "id": "0f6a4f4e-8c1b-4a8e-9d5c-2b7d2f0c9a11",
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    "owner_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
{%- endif %}
    "title": "Write the quarterly report",
    "description": "Numbers from finance arrive on Monday.",
    "version": 1,
    "created_at": "2026-01-15T09:30:00Z",
    "updated_at": "2026-01-15T09:30:00Z",
}


class ItemCreate(BaseModel):
    """What a client sends to create an item; the server sets id, version and timestamps."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"title": "Write the quarterly report"}]},
    )

    title: Title
    description: Description | None = None


class ItemUpdate(BaseModel):
    """A partial update: fields left out keep their value; `description` may be set to null."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"title": "Write the annual report"}]},
    )

    # Optional but never null; SkipJsonSchema keeps `null` out of the documented schema.
    title: Title | SkipJsonSchema[None] = None
    description: Description | None = None

    @model_validator(mode="after")
    def _title_not_null(self) -> Self:
        if "title" in self.model_fields_set and self.title is None:
            raise ValueError("title cannot be null; leave it out to keep the current title")
        return self


class ItemRead(BaseModel):
    """An item as stored."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ITEM_EXAMPLE]})

    id: uuid.UUID
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    owner_id: uuid.UUID
{%- endif %}
    title: str
    description: str | None
    version: int = Field(description="Increases on every change; sent back as the ETag.")
    created_at: datetime
    updated_at: datetime


class ItemPage(BaseModel):
    """One page of items and where the next page starts."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [_ITEM_EXAMPLE], "limit": 50, "offset": 0, "next_offset": None}]
        }
    )

    items: list[ItemRead]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")


class ItemListQuery(PageQuery):
    """Paging, filtering and sorting for the item list; unknown parameters are rejected."""

    q: Annotated[StorableText, Field(max_length=TITLE_MAX_LENGTH)] | None = Field(
        default=None, description="Case-insensitive text the title must contain."
    )
    created_after: UTCDatetime | None = Field(
        default=None, description="Only items created at or after this time."
    )
    created_before: UTCDatetime | None = Field(
        default=None, description="Only items created before this time."
    )
    sort: ItemSort = Field(
        default="-created_at", description="Field to sort by; a leading `-` sorts descending."
    )
