"""Request and response bodies for users."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, JsonValue

from app.core.passwords import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from app.models.user import EMAIL_MAX_LENGTH

Email = Annotated[EmailStr, Field(max_length=EMAIL_MAX_LENGTH)]
Password = Annotated[
    str,
    Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH, pattern=r"^[^\x00]*$"),
]

_USER_EXAMPLE: dict[str, JsonValue] = {
    "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "email": "ada@example.com",
    "is_active": True,
    "is_superuser": False,
    "created_at": "2026-01-15T09:30:00Z",
    "updated_at": "2026-01-15T09:30:00Z",
}


class UserRegister(BaseModel):
    """Sign-up. Any other field (`id`, `is_superuser`...) is ignored: the server decides those."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "ada@example.com", "password": "correct horse battery"}]
        }
    )

    email: Email
    password: Password


class EmailRequest(BaseModel):
    """An address to send a link to."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ada@example.com"}]})

    email: Email


class PasswordReset(BaseModel):
    """Choose a new password with the token of a reset link."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"token": "the token from the link", "new_password": "a new passphrase"}]
        }
    )

    token: str = Field(min_length=1, max_length=128)
    new_password: Password


class LinkAccepted(BaseModel):
    """The answer to a request for a link, the same whether or not one was sent."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"detail": "If an account has this address, a link is on its way to it."}]
        }
    )

    detail: str


class EmailVerify(BaseModel):
    """The token of a verification link."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"token": "the token from the link"}]}
    )

    token: str = Field(min_length=1, max_length=128)


class UserRead(BaseModel):
    """A user as others may see it: never the password hash."""

    model_config = ConfigDict(json_schema_extra={"examples": [_USER_EXAMPLE]})

    id: uuid.UUID
    email: str
    is_active: bool
    is_superuser: bool
    created_at: datetime
    updated_at: datetime


class UserPage(BaseModel):
    """One page of users, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [_USER_EXAMPLE], "limit": 50, "offset": 0, "next_offset": None}]
        }
    )

    items: list[UserRead]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")


class EmailChange(BaseModel):
    """A new email address, given together with the current password."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"current_password": "correct horse battery", "email": "ada@example.org"}]
        },
    )

    current_password: Annotated[str, Field(max_length=PASSWORD_MAX_LENGTH)]
    email: Email


class UserAdminUpdate(BaseModel):
    """What a superuser may change about any user; fields left out stay as they are."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"is_active": False}]}
    )

    email: Email | None = None
    is_active: bool | None = None
    is_superuser: bool | None = None


class PasswordChange(BaseModel):
    """A new password, given together with the current one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"current_password": "correct horse battery", "new_password": "tr0ub4dor&3 x"}
            ]
        },
    )

    current_password: Annotated[str, Field(max_length=PASSWORD_MAX_LENGTH)]
    new_password: Password
