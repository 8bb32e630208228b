"""Request and response bodies for API keys."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from app.core.auth import Scope
{%- if cookiecutter.auth == "jwt_and_api_key" %}
from app.core.passwords import PASSWORD_MAX_LENGTH
{%- endif %}
from app.models.api_key import NAME_MAX_LENGTH
from app.schemas.common import NO_NUL_PATTERN, UTCDatetime

_KEY_EXAMPLE: dict[str, JsonValue] = {
    "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "prefix": "a1b2c3d4e5f6",
    "name": "nightly export",
    "scopes": ["items:read"],
    "expires_at": None,
    "last_used_at": "2026-01-15T09:30:00Z",
    "revoked_at": None,
    "created_at": "2026-01-01T00:00:00Z",
}
{%- if cookiecutter.auth == "jwt_and_api_key" %}


class ApiKeyCreate(BaseModel):
    """A new key: what it is for, what it may do, optionally when it stops working, and your
    current password (a key outlives sign-ins, so a stolen access token alone cannot make one)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "nightly export",
                    "scopes": ["items:read"],
                    "current_password": "correct horse battery",
                }
            ]
        },
    )

    current_password: Annotated[str, Field(max_length=PASSWORD_MAX_LENGTH)]
{%- else %}


class ApiKeyCreate(BaseModel):
    """A new key: what it is for, what it may do, and optionally when it stops working."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "nightly export", "scopes": ["items:read"]}]},
    )
{%- endif %}

    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NO_NUL_PATTERN)]
    scopes: Annotated[set[Scope], Field(min_length=1)]
    expires_at: UTCDatetime | None = None

    @model_validator(mode="after")
    def _expires_in_the_future(self) -> Self:
        if self.expires_at is not None and self.expires_at <= datetime.now(UTC):
            raise ValueError("expires_at must be in the future")
        return self


class ApiKeyRead(BaseModel):
    """A key as listed: its public prefix, never the key or its hash."""

    model_config = ConfigDict(json_schema_extra={"examples": [_KEY_EXAMPLE]})

    id: uuid.UUID
    prefix: str
    name: str
    scopes: list[str]
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class ApiKeyCreated(ApiKeyRead):
    """A new key, with the secret `key`: store it now, it is not shown again."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_KEY_EXAMPLE, "key": "sk_a1b2c3d4e5f6_Zm9vYmFy..."}]}
    )

    key: str


class ApiKeyPage(BaseModel):
    """One page of keys, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [_KEY_EXAMPLE], "limit": 50, "offset": 0, "next_offset": None}]
        }
    )

    items: list[ApiKeyRead]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")
