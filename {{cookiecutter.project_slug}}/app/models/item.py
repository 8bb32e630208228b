"""The example resource: a titled item with optimistic-locking version and timestamps."""

import uuid
from datetime import datetime

{% if cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
from sqlalchemy import ForeignKey, Index, String
{%- else -%}
from sqlalchemy import Index, String
{%- endif %}
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 2000


class Item(Base):
    __tablename__ = "items"
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    # Lists are per owner: one index per sort the list endpoint offers; the id breaks ties.
    __table_args__ = (
        Index(None, "owner_id", "created_at", "id"),
        Index(None, "owner_id", "updated_at", "id"),
        Index(None, "owner_id", "title", "id"),
    )
{%- else %}
    # One index per filter or sort the list endpoint offers; the id breaks ties.
    __table_args__ = (
        Index(None, "created_at", "id"),
        Index(None, "updated_at", "id"),
        Index(None, "title", "id"),
    )
{%- endif %}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
{%- endif %}
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX_LENGTH))
    version: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
