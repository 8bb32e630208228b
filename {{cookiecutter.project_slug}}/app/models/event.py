"""The event source: one row per change that clients may hear about, written in the change's
own transaction, so an event exists if and only if its change committed.

`seq` orders events as they were written; `id` is what clients see and resume from. Rows
older than `EVENT_RETENTION_HOURS` are deleted.
"""

import uuid
from datetime import datetime
from typing import Any

{% if cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
{%- else -%}
from sqlalchemy import JSON, BigInteger, Index, Integer, String
{%- endif %}
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class Event(Base):
    __tablename__ = "events"
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    # A user's events in order (replay), and the oldest first (retention).
    __table_args__ = (Index(None, "owner_id", "seq"), Index(None, "occurred_at"))
{%- else %}
    __table_args__ = (Index(None, "occurred_at"),)  # the oldest first (retention)
{%- endif %}

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[uuid.UUID] = mapped_column(unique=True)
    type: Mapped[str] = mapped_column(String(64))
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    # The user whose resource changed: only they hear of it.
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
{%- endif %}
    occurred_at: Mapped[datetime]
    # The resource as the API returns it
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
