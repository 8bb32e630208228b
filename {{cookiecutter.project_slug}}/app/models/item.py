"""The example resource: a titled item with optimistic-locking version and timestamps."""

import uuid
from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 2000


class Item(Base):
    __tablename__ = "items"
    # One index per filter or sort the list endpoint offers; the id breaks ties.
    __table_args__ = (
        Index(None, "created_at", "id"),
        Index(None, "updated_at", "id"),
        Index(None, "title", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX_LENGTH))
    version: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
