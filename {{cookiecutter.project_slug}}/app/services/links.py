"""Emailed links: a random token that only the email carries, and its hash, which the
database keeps until the link is used or expires."""

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam

from app.models.email_verification import EmailVerification
from app.models.password_reset import PasswordReset

_TOKEN_BYTES = 32


def digest(token: str) -> str:
    """Tokens are 256 random bits, so a fast hash suffices: there is nothing to guess."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_link(
    user_id: uuid.UUID, now: datetime, lifetime: timedelta, **columns: Any
) -> tuple[str, dict[str, Any]]:
    """A fresh token, and the row (with the table's own `columns`) that keeps its hash."""
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    row = {
        "id": uuid.uuid4(),
        "user_id": user_id,
        "token_hash": digest(token),
        "expires_at": now + lifetime,
        "used_at": None,
        "created_at": now,
        **columns,
    }
    return token, row


def usable(link: type[PasswordReset | EmailVerification]) -> tuple[ColumnElement[bool], ...]:
    """Where a row of the link's table works: its token (`token_hash`), unused, unexpired
    (at `now`)."""
    return (
        link.token_hash == bindparam("token_hash"),
        link.used_at.is_(None),
        link.expires_at > bindparam("now"),
    )
