"""API keys: only a keyed hash of each key is stored, found by its public prefix."""

import uuid
from datetime import datetime

{% if cookiecutter.auth == "jwt_and_api_key" -%}
from sqlalchemy import ForeignKey, String
{%- else -%}
from sqlalchemy import String
{%- endif %}
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base

NAME_MAX_LENGTH = 100


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
{%- endif %}
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
