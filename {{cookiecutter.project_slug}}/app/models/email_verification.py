"""Email-verification links, for a new account's address or a change of address: only a
hash of each token is kept, and each works once."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.models.user import EMAIL_MAX_LENGTH


class EmailVerification(Base):
    __tablename__ = "email_verifications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The address the link was sent to, and verifies.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    # For a change of address, the account's address when the change was asked for: the
    # link takes effect only while the account still has it. None: verify `email` in place.
    replaces: Mapped[str | None] = mapped_column(String(EMAIL_MAX_LENGTH))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256, hex
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
