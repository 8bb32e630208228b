"""Background tasks: the outbox a request writes them to, and the record of their runs.

A row is written in the same transaction as the change that asks for the task, so the task
exists if and only if that change committed. The worker's relay sends due rows to the
broker; the worker runs each at most to completion once (`done`), retries failures later
(`pending` again, with a later `due_at`) and gives up after the last attempt (`dead`).
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class Task(Base):
    __tablename__ = "tasks"
    # The relay's query: due rows of one state, oldest first.
    __table_args__ = (Index(None, "state", "due_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending: waits for the relay | queued: sent | running: claimed | done | dead: out of attempts
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int]
    # When the relay (re)sends the row: a pending task's next try, a running task's lease end
    due_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
