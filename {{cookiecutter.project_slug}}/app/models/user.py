"""People who sign in with an email and a password."""

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base

EMAIL_MAX_LENGTH = 254


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
{%- if cookiecutter.database == "mysql" %}
    # Stored lower-cased, so the unique constraint is case-insensitive; compared byte for
    # byte, since the table's collation would take accented or full-width letters as equal.
    email: Mapped[str] = mapped_column(
        String(EMAIL_MAX_LENGTH, collation="utf8mb4_bin"), unique=True
    )
{%- else %}
    # Stored lower-cased, so the unique constraint is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), unique=True)
{%- endif %}
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool]
    is_superuser: Mapped[bool]
    # Part of every token; raising it (password change, deactivation) voids all of them.
    token_version: Mapped[int]
    # When the owner followed a verification link sent to `email`; None until then.
    email_verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
